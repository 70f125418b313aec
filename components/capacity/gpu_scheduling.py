"""The one source of truth for how GPU workloads find GPU nodes.

A GPU node group (or Karpenter NodePool) labels and taints its nodes from a
`GpuScheduling`; workloads derive their nodeSelector and tolerations from the
same object, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from .._args import LabelKey, LabelValue, PositiveInt

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

# EKS's node group API spells taint effects differently from Kubernetes.
_EKS_TAINT_EFFECT: dict[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}

GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class Taint:
    """A Kubernetes node taint."""

    key: LabelKey
    value: LabelValue
    effect: TaintEffect = "NoSchedule"

    def eks_effect(self) -> str:
        """The effect as the EKS node group API spells it (`NO_SCHEDULE`, ...)."""
        return _EKS_TAINT_EFFECT[self.effect]

    def as_string(self) -> str:
        """`key=value:Effect`, the form kubectl and cluster-autoscaler tags use."""
        return f"{self.key}={self.value}:{self.effect}"


def default_gpu_labels() -> dict[str, str]:
    """`k8s.amazonaws.com/accelerator` tells cluster-autoscaler a new node's GPUs are still coming up
    (device plugin not ready yet), so it does not add a second node for the same pending pod."""
    return {"nvidia.com/gpu.present": "true", "workload": "gpu-inference", "k8s.amazonaws.com/accelerator": "nvidia"}


def default_gpu_taints() -> tuple[Taint, ...]:
    return (Taint(key=GPU_RESOURCE, value="true", effect="NoSchedule"),)


@dataclass(frozen=True)
class GpuScheduling:
    """Labels and taints carried by GPU nodes, and what pods need to land there."""

    node_labels: dict[LabelKey, LabelValue] = field(default_factory=default_gpu_labels)
    taints: tuple[Taint, ...] = field(default_factory=default_gpu_taints)
    max_gpus_per_node: Optional[PositiveInt] = None
    """The most GPUs one of these nodes has (node groups fill it in): a pod asking for more is refused."""

    def node_selector(self) -> dict[str, str]:
        """A nodeSelector matching every GPU node label."""
        return dict(self.node_labels)

    def tolerations(self) -> list[dict[str, str]]:
        """Kubernetes tolerations for every GPU node taint."""
        return [
            {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            for t in self.taints
        ]
