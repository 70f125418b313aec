"""Run a Pulumi program under `pulumi.runtime.set_mocks` and record what it declares.

This is the shared harness: the synth command and the tests both use it, so a
test sees exactly what `python -m tools.synth` writes.
"""

from __future__ import annotations

import contextvars
import gc
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tools.synth.fakes import FakeCloud
from tools.synth.fakes.registry import call_result, resource_outputs

SECRET_MASK = "[secret]"


def _walk(value: Any, visit: Callable[[Any], Any]) -> Any:
    """Rebuild nested dicts and lists, letting `visit` replace any node first (`_DESCEND` keeps going)."""
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
    """A copy of deserialized properties with secrets in plain text (for tests only)."""
    return _walk(value, lambda v: unwrap_secrets(rpc.unwrap_rpc_secret(v)) if rpc.is_rpc_secret(v) else _DESCEND)


def _integral_numbers(value: Any) -> Any:
    """Protobuf carries every number as a double; give whole numbers back their integer form."""
    return _walk(value, lambda v: int(v) if isinstance(v, float) and v.is_integer() else _DESCEND)


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
    raw_inputs: dict
    outputs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    component_outputs: Optional[dict] = None

    @property
    def inputs(self) -> dict:
        """Inputs with secrets in plain text (assertions only; never write these out)."""
        return unwrap_secrets(self.raw_inputs)

    @property
    def masked_inputs(self) -> dict:
        return mask_secrets(self.raw_inputs)

    @property
    def provider_urn(self) -> str:
        """The URN of the provider instance (a provider reference is `<urn>::<id>`)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, cloud: FakeCloud):
        self.cloud = cloud

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = resource_outputs(self.cloud, args.typ, args.name, args.inputs)
        # A fake may give the provider-assigned id (vpc-..., subnet-...); otherwise a stable stand-in.
        resource_id = outputs.pop("id", None)
        return str(resource_id or f"{args.name}-id"), outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return call_result(self.cloud, args.token, args.args)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, also keeping each request's parent, provider and options."""

    def __init__(self, mocks: _Mocks):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        state = self.resources[response.urn].state if response.urn in self.resources else {}
        self.registrations[response.urn] = Registration(
            urn=response.urn, type=request.type, name=request.name, id=response.id, parent=request.parent,
            custom=request.custom, provider=request.provider,
            raw_inputs=_integral_numbers(rpc.deserialize_properties(request.object)),
            outputs=_integral_numbers(state),
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
                "customTimeouts": {"create": request.customTimeouts.create, "update": request.customTimeouts.update,
                                   "delete": request.customTimeouts.delete},
            },
        )
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn in self.registrations:
            self.registrations[request.urn].component_outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class Synthesis:
    """What a program declared: its resources and its stack outputs."""

    project: str
    stack: str
    resources: list[Registration]
    stack_outputs: dict

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Registration:
        """The resource with this logical name; fails listing the names there are."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"expected one resource named {name!r}, found {len(found)}; "
                           f"names: {sorted(r.name for r in self.resources)}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def children_of(self, urn: str) -> list[Registration]:
        return [r for r in self.resources if r.parent == urn]

    def descendants_of(self, urn: str) -> list[Registration]:
        out = []
        for child in self.children_of(urn):
            out += [child, *self.descendants_of(child.urn)]
        return out

    def component_of(self, registration: Registration) -> Optional[Registration]:
        """The nearest enclosing component resource, if any."""
        parent = next((r for r in self.resources if r.urn == registration.parent), None)
        while parent is not None and parent.custom:
            parent = next((r for r in self.resources if r.urn == parent.parent), None)
        return parent

    def kubernetes_objects(self, masked: bool = True) -> list[tuple[Registration, dict]]:
        """Every Kubernetes object (not Helm releases, not providers) as its manifest."""
        objects = []
        for r in self.resources:
            if not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh/"):
                continue
            manifest = r.masked_inputs if masked else r.inputs
            if "apiVersion" in manifest and "kind" in manifest:
                metadata = dict(manifest.get("metadata") or {})
                metadata.setdefault("name", (r.outputs.get("metadata") or {}).get("name"))
                manifest = {**manifest, "metadata": metadata}
                objects.append((r, mask_secrets(manifest) if masked else unwrap_secrets(manifest)))
        return objects

    def helm_releases(self) -> list[Registration]:
        return self.of_type("kubernetes:helm.sh/v3:Release")


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


def _run(program: Callable[[], Any], project: str, stack: str, config: dict[str, str],
         secret_keys: list[str], cloud: FakeCloud) -> Synthesis:
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    mocks = _Mocks(cloud)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config, secret_keys)
    try:
        _sync_await(run_pulumi_func(program))
    except Exception as error:
        # Lets callers check that a failing program registered nothing (or what it did register).
        error.registered_resources = sorted(monitor.registrations.values(), key=lambda r: r.urn)  # type: ignore[attr-defined]
        raise
    root = get_root_resource()
    outputs = {k: _resolve(v) for k, v in sorted(getattr(root, "outputs", {}).items())}
    resources = sorted(monitor.registrations.values(), key=lambda r: r.urn)
    return Synthesis(project=project, stack=stack, resources=resources, stack_outputs=outputs)


def run(program: Callable[[], Any], *, project: str = "gpu-model-platform", stack: str = "test",
        config: Optional[dict[str, str]] = None, secret_keys: Optional[list[str]] = None,
        cloud: Optional[FakeCloud] = None) -> Synthesis:
    """Run `program` under mocks in a fresh runtime context and return what it declared.

    Each call is isolated (its own root stack and config), so many programs can
    run one after another in one process. Exceptions from the program propagate.
    """
    context = contextvars.Context()
    try:
        return context.run(_run, program, project, stack, dict(config or {}), list(secret_keys or []),
                           cloud or FakeCloud())
    finally:
        # Mocked runs leave coroutines behind; collecting them here, not during a later
        # `ast.parse`, avoids CPython 3.11.7's "AST constructor recursion depth mismatch"
        # (python/cpython#106905, fixed in 3.11.8).
        gc.collect()


def run_main(main_path: Path, **kwargs: Any) -> Synthesis:
    """Run a Pulumi program's `__main__.py` under mocks (see `run`)."""
    return run(lambda: runpy.run_path(str(main_path), run_name="__main__"), **kwargs)
