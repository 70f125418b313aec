"""Run a Pulumi program under `pulumi.runtime.set_mocks` and record what it declares.

This is the shared harness: the synth command and the tests both use it, so a
test sees exactly what `python -m tools.synth` writes.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from components import testing
from components.testing import (
    SECRET_MASK,
    FakeCloud,
    PlatformMocks,
    RecordingMonitor,
    Registration,
    mask_secrets,
    unwrap_secrets,
)

__all__ = ["SECRET_MASK", "Registration", "Synthesis", "mask_secrets", "run", "run_main", "unwrap_secrets"]


class _RecordingMonitor(RecordingMonitor):
    """The shipped recording monitor, keeping a URN registered twice instead of failing: the example checks
    count registrations themselves (tools/api_surface/examples.py) and report every duplicate at once."""

    def __init__(self, mocks: PlatformMocks):
        super().__init__(mocks, refuse_duplicates=False)


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
        """Every Kubernetes object (not Helm releases, providers or patches of objects made elsewhere) as its manifest."""
        objects = []
        for r in self.resources:
            if not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh/") or r.type.endswith("Patch"):
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


def run(program: Callable[[], Any], *, project: str = "gpu-model-platform", stack: str = "test",
        config: Optional[dict[str, str]] = None, secret_keys: Optional[list[str]] = None,
        cloud: Optional[FakeCloud] = None) -> Synthesis:
    """Run `program` under the shipped mocks in a fresh runtime context and return what it declared.

    Each call is isolated (its own root stack and config), so many programs can run one after another
    in one process. Exceptions from the program propagate (with `registered_resources`).
    """
    result = testing.run(program, project=project, stack=stack, config=config, secret_keys=secret_keys,
                         monitor=_RecordingMonitor(PlatformMocks(cloud or FakeCloud())))
    return Synthesis(project=project, stack=stack, resources=result.registrations, stack_outputs=result.stack_outputs)


def run_main(main_path: Path, **kwargs: Any) -> Synthesis:
    """Run a Pulumi program's `__main__.py` under mocks (see `run`)."""
    return run(lambda: runpy.run_path(str(main_path), run_name="__main__"), **kwargs)
