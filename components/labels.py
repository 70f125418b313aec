"""Kubernetes labels every object of the platform carries, from one place."""

from __future__ import annotations

from typing import Optional

PART_OF = "gpu-model-platform"


def standard_labels(name: str, component: str, version: Optional[str] = None) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels plus the seed's `app: <name>`."""
    labels = {
        "app": name,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }
    if version:
        labels["app.kubernetes.io/version"] = version
    return labels


def selector_labels(name: str) -> dict[str, str]:
    """The subset that selects pods: stable across versions, so selectors never change."""
    return {"app": name, "app.kubernetes.io/name": name}


def restricted_namespace_labels() -> dict[str, str]:
    """Pod Security Admission at `restricted`: enforce, audit and warn."""
    return {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")} | {
        "pod-security.kubernetes.io/enforce-version": "latest"
    }
