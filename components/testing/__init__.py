"""Test a program built from these components without a cloud: Pulumi mocks that know them.

`PlatformMocks` is a `pulumi.runtime.Mocks` that answers every invoke the components make (AWS
partition, region, caller, zones, an existing EKS cluster, the ECR login token) and gives each
resource the outputs the components read back (ids, ARNs, EKS identities, node group Auto Scaling
groups, image digests, server-assigned Kubernetes names), all derived from the type, the logical name
and the inputs, so two runs give the same values. `RecordingMonitor` keeps every registration and
refuses a URN registered twice, as the real engine does (the stock mock monitor silently keeps the
last one). `run` puts both together around one program, in a fresh Pulumi context each time:

    from gpu_model_platform.testing import run

    def program():
        ...  # your components

    registered = run(program)
    deployment = registered.one("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["spec"]["replicas"] == 2

For `@pulumi.runtime.test` style tests, `set_mocks()` installs the same mocks once.
"""

from __future__ import annotations

import contextvars
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from . import _autoscaling, _aws, _images, _kubernetes, _load_balancing  # noqa: F401  (importing them registers their fakes)
from ._registry import FakeCloud, call_result, fake_call, fake_resource, resource_outputs

__all__ = ["SECRET_MASK", "DuplicateUrn", "FakeCloud", "PlatformMocks", "RecordingMonitor", "Registration", "Run",
           "fake_call", "fake_resource", "mask_secrets", "run", "set_mocks", "unwrap_secrets"]


SECRET_MASK = "[secret]"


class DuplicateUrn(Exception):
    """A URN registered twice in one program: the real engine refuses it (`Duplicate resource URN`)."""


@dataclass
class Registration:
    """One resource the program registered, with the options the engine would see."""

    urn: str
    type: str
    name: str
    id: str
    parent: str
    custom: bool
    provider: str
    raw_inputs: dict[str, Any]
    """Inputs as the engine gets them (secrets still wrapped)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    component_outputs: Optional[dict[str, Any]] = None
    """What a component passed to `register_outputs`."""

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs with secrets in plain text (for assertions only; never write these out)."""
        unwrapped: dict[str, Any] = unwrap_secrets(self.raw_inputs)
        return unwrapped

    @property
    def masked_inputs(self) -> dict[str, Any]:
        """Inputs with every secret replaced by `[secret]`: safe to print or write out."""
        masked: dict[str, Any] = mask_secrets(self.raw_inputs)
        return masked

    @property
    def provider_urn(self) -> str:
        """The URN of the provider instance (a provider reference is `<urn>::<id>`)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""



def _walk(value: Any, visit: Callable[[Any], Any]) -> Any:
    replaced = visit(value)
    if replaced is not _DESCEND:
        return replaced
    if isinstance(value, dict):
        return {k: _walk(v, visit) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, visit) for v in value]
    return value


_DESCEND = object()


def mask_secrets(value: Any) -> Any:
    """A copy of deserialized properties with every secret replaced by `[secret]`."""
    return _walk(value, lambda v: SECRET_MASK if rpc.is_rpc_secret(v) else _DESCEND)


def unwrap_secrets(value: Any) -> Any:
    """A copy of deserialized properties with secrets in plain text."""
    return _walk(value, lambda v: unwrap_secrets(rpc.unwrap_rpc_secret(v)) if rpc.is_rpc_secret(v) else _DESCEND)


def integral_numbers(value: Any) -> Any:
    """Protobuf carries every number as a double; give whole numbers back their integer form."""
    return _walk(value, lambda v: int(v) if isinstance(v, float) and v.is_integer() else _DESCEND)


class PlatformMocks(pulumi.runtime.Mocks):
    """Answers the invokes the components make and computes the outputs they read (see the module docstring)."""

    def __init__(self, cloud: FakeCloud | None = None):
        self.cloud = cloud or FakeCloud()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[Optional[str], dict[str, Any]]:
        outputs = resource_outputs(self.cloud, args.typ, args.name, args.inputs)
        # A fake may give the provider-assigned id (vpc-..., subnet-...); otherwise a stable stand-in.
        resource_id = outputs.pop("id", None)
        return str(resource_id or f"{args.name}-id"), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], Optional[list[tuple[str, str]]]]:
        return call_result(self.cloud, args.token, args.args), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, also keeping each registration (parent, provider, options) and every URN in order.

    With `refuse_duplicates`, a URN registered a second time fails the program with `DuplicateUrn`.
    """

    def __init__(self, mocks: pulumi.runtime.Mocks, refuse_duplicates: bool = True):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}
        self.urns: list[str] = []
        """Every URN registered, as often as it was (the stack resource left out)."""
        self.refuse_duplicates = refuse_duplicates

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        if self.refuse_duplicates and response.urn in self.urns:
            raise DuplicateUrn(f"{response.urn} is registered twice: two resources of type {request.type} share the "
                               f"logical name {request.name!r} under the same parent")
        self.urns.append(response.urn)
        state = self.resources[response.urn].state if response.urn in self.resources else {}
        self.registrations[response.urn] = Registration(
            urn=response.urn, type=request.type, name=request.name, id=response.id, parent=request.parent,
            custom=request.custom, provider=request.provider,
            raw_inputs=integral_numbers(rpc.deserialize_properties(request.object)),
            outputs=integral_numbers(state),
            options={
                "protect": request.protect,
                "ignoreChanges": sorted(request.ignoreChanges),
                "dependencies": sorted(request.dependencies),
                "deleteBeforeReplace": request.deleteBeforeReplace,
                "retainOnDelete": request.retainOnDelete,
                "additionalSecretOutputs": sorted(request.additionalSecretOutputs),
                "replaceOnChanges": sorted(request.replaceOnChanges),
                "aliases": sorted(str(a) for a in request.aliases),
                "version": request.version,
                # Only the timeouts that are set (the engine's own defaults apply to the others).
                "customTimeouts": {k: getattr(request.customTimeouts, k) for k in ("create", "update", "delete")
                                   if getattr(request.customTimeouts, k)},
            },
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn in self.registrations:
            self.registrations[request.urn].component_outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def set_mocks(project: str = "project", stack: str = "stack", cloud: FakeCloud | None = None,
              refuse_duplicates: bool = True, monitor: RecordingMonitor | None = None) -> RecordingMonitor:
    """Install `PlatformMocks` (with a `RecordingMonitor`, returned) for the tests of this process.

    Registrations accumulate until the next call: call it again (or use `run`) between programs that
    reuse logical names.
    """
    monitor = monitor or RecordingMonitor(PlatformMocks(cloud), refuse_duplicates)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    return monitor


@dataclass
class Run:
    """What one program registered, and its stack outputs (secrets masked)."""

    registrations: list[Registration]
    stack_outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registration:
        """The single registration of this type (and logical name); fails listing what there is."""
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def __iter__(self) -> Iterator[Registration]:
        return iter(self.registrations)


def run(program: Callable[[], Any], *, project: str = "project", stack: str = "stack",
        config: dict[str, str] | None = None, secret_keys: list[str] | None = None, cloud: FakeCloud | None = None,
        refuse_duplicates: bool = True, monitor: RecordingMonitor | None = None) -> Run:
    """Run `program` under `PlatformMocks` in a fresh Pulumi context and return what it registered.

    Each call is isolated (its own root stack, config and component claims), so many programs run one
    after another in one process. An exception of the program propagates, carrying what was registered
    before it as `registered_resources`. `monitor` replaces the default `RecordingMonitor` (and `cloud`).
    """
    monitor = monitor or RecordingMonitor(PlatformMocks(cloud), refuse_duplicates)
    context = contextvars.Context()
    try:
        return context.run(_run, program, project, stack, dict(config or {}), list(secret_keys or []), monitor)
    finally:
        # Mocked runs leave coroutines behind; collecting them here, not during a later `ast.parse`,
        # avoids CPython 3.11.7's "AST constructor recursion depth mismatch" (python/cpython#106905).
        gc.collect()


def _run(program: Callable[[], Any], project: str, stack: str, config: dict[str, str], secret_keys: list[str],
         monitor: RecordingMonitor) -> Run:
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    set_mocks(project, stack, monitor=monitor)
    pulumi.runtime.set_all_config(config, secret_keys)
    try:
        _sync_await(run_pulumi_func(program))
    except Exception as error:
        # Lets callers check that a failing program registered nothing (or what it did register).
        error.registered_resources = sorted(monitor.registrations.values(), key=lambda r: r.urn)  # type: ignore[attr-defined]
        raise
    root = get_root_resource()
    outputs = {k: _resolve(v) for k, v in sorted(getattr(root, "outputs", {}).items())}
    return Run(sorted(monitor.registrations.values(), key=lambda r: r.urn), outputs)



def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        is_secret = _sync_await(value.is_secret())
        resolved = _resolve(_sync_await(value.future()))
        return SECRET_MASK if is_secret else resolved
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    return value
