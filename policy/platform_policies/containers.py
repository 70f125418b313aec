"""Every container runs as a non-root user with CPU and memory limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._common import WORKLOADS, containers, label, pod_spec, resource_policy
from ._values import UNKNOWN, get


def _effective(container: dict, spec: Any, key: str) -> Any:
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    value = get(container, "securityContext", key)
    return value if value is not None else get(spec, "securityContext", key)


def _check_non_root(resource_type: str, name: str, props: dict) -> Iterator[str]:
    spec = pod_spec(resource_type, props)
    for where, container in containers(spec):
        non_root = _effective(container, spec, "runAsNonRoot")
        user = _effective(container, spec, "runAsUser")
        if UNKNOWN in (non_root, user):
            continue
        if user == 0:
            yield (f"{label(resource_type, name)}: {where} sets runAsUser: 0 (root); run as a non-zero UID, "
                   "e.g. the image's own non-root user")
        elif non_root is not True:
            yield (f"{label(resource_type, name)}: {where} may run as root; set securityContext.runAsNonRoot: true "
                   "(on the container or the pod) with a non-zero runAsUser")


containers_run_as_non_root = resource_policy(
    name="containers-run-as-non-root",
    description="Every container runs as a non-root user (runAsNonRoot: true, never runAsUser: 0).",
    types=WORKLOADS,
    check=_check_non_root,
    remediation_steps="Set securityContext.runAsNonRoot: true and a non-zero runAsUser on the pod or container.",
)


def _check_limits(resource_type: str, name: str, props: dict) -> Iterator[str]:
    # Ephemeral (debug) containers cannot have resources, so only regular and init containers are checked.
    for where, container in containers(pod_spec(resource_type, props), ("initContainers", "containers")):
        limits = get(container, "resources", "limits")
        if limits is UNKNOWN:
            continue
        missing = [r for r in ("cpu", "memory") if get(limits, r) in (None, "")]
        if missing:
            yield (f"{label(resource_type, name)}: {where} has no {' or '.join(missing)} limit; set "
                   f"{' and '.join('resources.limits.' + r for r in missing)} so one pod cannot starve its node")


containers_have_resource_limits = resource_policy(
    name="containers-have-cpu-and-memory-limits",
    description="Every container sets CPU and memory limits.",
    types=WORKLOADS,
    check=_check_limits,
    remediation_steps="Set resources.limits.cpu and resources.limits.memory on every container.",
)
