"""Fakes for Kubernetes objects: server-assigned names, Helm release status."""

from __future__ import annotations

from typing import Any

from ._registry import FakeCloud, fake_resource


@fake_resource("kubernetes:", prefix=True)
def kubernetes_object(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(inputs.get("metadata") or {})
    # Pulumi auto-names objects without a name: logical name plus a suffix.
    metadata.setdefault("name", f"{name}-{cloud.digest(name)[:8]}")
    return {"metadata": metadata}


@fake_resource("kubernetes:helm.sh/v3:Release")
def helm_release(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    release_name = inputs.get("name") or f"{name}-{cloud.digest(name)[:8]}"
    return {
        "name": release_name,
        "status": {
            "name": release_name,
            "namespace": inputs.get("namespace", "default"),
            "chart": inputs.get("chart"),
            "version": inputs.get("version"),
            "revision": 1,
            "status": "deployed",
        },
    }
