"""GPU nodes carry the GPU taint, and every pod that asks for a GPU tolerates it.

The taint keeps CPU-only pods off expensive GPU nodes; a GPU pod without the matching
toleration never schedules, which shows up as a stuck rollout instead of a failed preview.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import NODE_GROUP, WORKLOADS, containers, label, pod_spec, resource_policy
from ._values import UNKNOWN, contains_unknown, get, items, normalize

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_EFFECT = "NoSchedule"
# The EKS node group API spells taint effects in upper snake case.
_EKS_EFFECT = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
# EKS-optimized accelerated AMIs: AL2 spells it GPU, AL2023 and Bottlerocket spell it NVIDIA.
_GPU_AMI_TYPES = ("AL2_x86_64_GPU",)
_GPU_INSTANCE_FAMILIES = ("g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en")


def requests_gpus(spec: Any) -> bool:
    """Whether any container of a pod spec requests or limits `nvidia.com/gpu`."""
    for _, container in containers(spec, ("initContainers", "containers")):
        for section in ("requests", "limits"):
            amount = get(container, "resources", section, GPU_RESOURCE)
            if amount not in (None, UNKNOWN, 0, "0"):
                return True
    return False


def tolerates(toleration: Any, key: str, value: str | None, effect: str) -> bool:
    """Kubernetes' own matching: does this toleration tolerate the taint key=value:effect?"""
    if not isinstance(toleration, dict):
        return False
    t_effect = get(toleration, "effect")
    if t_effect not in (None, "", effect):
        return False
    t_key, operator = get(toleration, "key"), get(toleration, "operator") or "Equal"
    if operator == "Exists":
        return t_key in (None, "", key)
    return operator == "Equal" and t_key == key and (get(toleration, "value") or "") == (value or "")


def _tolerates_gpu_taint(toleration: Any) -> bool:
    """Tolerates `nvidia.com/gpu` with effect NoSchedule, whatever the taint's value."""
    if not isinstance(toleration, dict) or get(toleration, "effect") not in (None, "", GPU_TAINT_EFFECT):
        return False
    operator = get(toleration, "operator") or "Equal"
    return (operator == "Exists" and get(toleration, "key") in (None, "", GPU_TAINT_KEY)) or \
        (operator == "Equal" and get(toleration, "key") == GPU_TAINT_KEY)


def _check_pod_tolerations(resource_type: str, name: str, props: dict) -> Iterator[str]:
    spec = pod_spec(resource_type, props)
    if not requests_gpus(spec):
        return
    tolerations = get(spec, "tolerations")
    if tolerations is UNKNOWN:
        return
    if not any(_tolerates_gpu_taint(t) for t in items(tolerations)):
        yield (f"{label(resource_type, name)}: requests {GPU_RESOURCE} but does not tolerate the GPU node taint "
               f"{GPU_TAINT_KEY}:{GPU_TAINT_EFFECT}; add the toleration {{key: {GPU_TAINT_KEY}, operator: Exists, "
               f"effect: {GPU_TAINT_EFFECT}}} (GpuScheduling.tolerations() does)")


gpu_pods_tolerate_gpu_taint = resource_policy(
    name="gpu-pods-tolerate-gpu-taint",
    description=f"Pods that request {GPU_RESOURCE} tolerate the GPU node taint {GPU_TAINT_KEY}:{GPU_TAINT_EFFECT}.",
    types=WORKLOADS,
    check=_check_pod_tolerations,
    remediation_steps=f"Add a toleration for {GPU_TAINT_KEY} with effect {GPU_TAINT_EFFECT}.",
)


def is_gpu_node_group(props: dict) -> bool:
    """An NVIDIA accelerated AMI type, or GPU instance types."""
    ami_type = get(props, "amiType")
    if isinstance(ami_type, str) and ("NVIDIA" in ami_type or ami_type in _GPU_AMI_TYPES):
        return True
    return any(isinstance(t, str) and t.split(".")[0] in _GPU_INSTANCE_FAMILIES
               for t in items(get(props, "instanceTypes")))


def node_group_taints(props: dict) -> list[tuple[str, str | None, str]]:
    """(key, value, Kubernetes effect) for each known taint of a node group."""
    taints = []
    for taint in items(get(props, "taints")):
        key, value, effect = get(taint, "key"), get(taint, "value"), get(taint, "effect")
        if isinstance(key, str) and isinstance(effect, str):
            taints.append((key, value if isinstance(value, str) else None, _EKS_EFFECT.get(effect, effect)))
    return taints


def _check_node_group_taint(resource_type: str, name: str, props: dict) -> Iterator[str]:
    if not is_gpu_node_group(props) or get(props, "taints") is UNKNOWN:
        return
    if not any(key == GPU_TAINT_KEY and effect == GPU_TAINT_EFFECT for key, _, effect in node_group_taints(props)):
        yield (f"{label(resource_type, name)}: is a GPU node group (amiType {get(props, 'amiType')!r}) without the "
               f"taint {GPU_TAINT_KEY}:{GPU_TAINT_EFFECT}; add taints=[{{key: {GPU_TAINT_KEY}, value: \"true\", "
               "effect: NO_SCHEDULE}] so only GPU workloads land on these nodes")


gpu_node_groups_are_tainted = resource_policy(
    name="gpu-node-groups-are-tainted",
    description=f"GPU node groups (NVIDIA AMI types) carry the taint {GPU_TAINT_KEY}:{GPU_TAINT_EFFECT}.",
    types=(NODE_GROUP,),
    check=_check_node_group_taint,
    remediation_steps=f"Add taint key={GPU_TAINT_KEY}, effect=NO_SCHEDULE to the node group.",
)


def _validate_taint_match(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [(r, normalize(r.props)) for r in args.resources]
    taints = {(key, value, effect)
              for r, props in resources if r.resource_type == NODE_GROUP and is_gpu_node_group(props)
              for key, value, effect in node_group_taints(props) if key == GPU_TAINT_KEY}
    for r, props in resources:
        if r.resource_type not in WORKLOADS:
            continue
        spec = pod_spec(r.resource_type, props)
        tolerations = get(spec, "tolerations")
        if not requests_gpus(spec) or contains_unknown(tolerations):
            continue
        for key, value, effect in sorted(taints, key=str):
            if not any(tolerates(t, key, value, effect) for t in items(tolerations)):
                report_violation(
                    f"{label(r.resource_type, r.name)}: requests {GPU_RESOURCE} but does not tolerate the GPU node "
                    f"groups' taint {key}={value}:{effect}; derive its tolerations from the same GpuScheduling as "
                    "the node group", r.urn)


gpu_taints_and_tolerations_match = StackValidationPolicy(
    name="gpu-taints-and-tolerations-match",
    description="Every GPU pod tolerates the exact taints (key, value, effect) the stack's GPU node groups carry.",
    validate=_validate_taint_match,
    remediation_steps="Build the node group's taints and the pods' tolerations from one GpuScheduling.",
)
