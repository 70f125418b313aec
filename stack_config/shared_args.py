"""What several args modules derive alike from the stack config: the GPU nodes' scheduling and the StorageClass.

Kept apart so that `component_args` and `observability_args` both import it and neither imports the other.
"""

from __future__ import annotations

from typing import Optional

from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.cluster.storage import DEFAULT_STORAGE_CLASS
from stack_config.schema import GpuNodeGroupConfig, StackConfig


def gpu_scheduling(node_group: GpuNodeGroupConfig) -> GpuScheduling:
    """The GPU labels and taints of the stack: nodes carry them, GPU pods match them."""
    return GpuScheduling(
        node_labels=dict(node_group.labels),
        taints=tuple(Taint(key=t.key, value=t.value, effect=t.effect) for t in node_group.taints),
    )


def storage_class(config: StackConfig) -> Optional[str]:
    """The StorageClass the platform's volumes use: monitoring's override, else the cluster's (created: the
    encrypted gp3 class `Cluster` makes; existing: the configured one; None: the cluster's default)."""
    if config.monitoring.storage_class:
        return config.monitoring.storage_class
    if config.cluster.mode == "create":
        return config.cluster.storage_class or DEFAULT_STORAGE_CLASS
    return config.cluster.storage_class
