"""The GPU cost dashboard's prices, from the stack config and `tools.cost`'s dated price table.

A whole GPU costs its node's hourly price over the node's GPUs (the dearest instance type the group may
launch); a time-sliced share, the shared pool's node price over its GPUs times `sharedGpuPool.replicas`. An
instance type without a price gives GPU-hours only.
"""

from __future__ import annotations

from typing import Any, Optional

from components.capacity.gpu_instances import gpus_per_node
from components.observability.gpu_cost import GpuCostDashboardArgs
from stack_config.gpu_sharing import instance_types as shared_instance_types
from tools.cost.prices import INSTANCE_HOUR


def builds_cost_dashboard(config: Any) -> bool:
    """A catalogue (`models:`) on a stack with monitoring and GPUs gets the dashboard."""
    return bool(config.models) and config.monitoring.enabled and config.gpu_node_group.enabled


def _per_gpu(instance_types: list[str], shares: int = 1) -> Optional[float]:
    prices = [INSTANCE_HOUR[t] for t in instance_types if t in INSTANCE_HOUR]
    if len(prices) != len(instance_types):
        return None
    return round(max(prices) / (gpus_per_node(instance_types) * shares), 4)


def gpu_cost_dashboard_args(config: Any) -> GpuCostDashboardArgs:
    prices = {"nvidia_com_gpu": _per_gpu(list(config.gpu_node_group.instance_types))}
    if config.shared_gpu_pool is not None:
        prices["nvidia_com_gpu_shared"] = _per_gpu(shared_instance_types(config), config.shared_gpu_pool.replicas)
    return GpuCostDashboardArgs(namespace=config.monitoring.namespace, hourly_prices=prices)
