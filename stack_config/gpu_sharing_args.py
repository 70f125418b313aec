"""GPU sharing's args: the shared pool's node group, the device plugin's configs, a sharing model's GPU resource.

A model with `gpuSharing.mode: timeSlicing` asks for one `nvidia.com/gpu.shared` and lands on the shared pool
(`sharedGpuPool`), a GPU node group labelled `nvidia.com/device-plugin.config: time-sliced` (so the device plugin
advertises each GPU `replicas` times under the shared name) and tainted apart. A model with `mode: mig` asks for
one `nvidia.com/mig-<profile>` on the whole-GPU nodes, which are then cut into the MIG layout that holds every
MIG model's profile (`nvidia.com/mig.config`), carry the `mig-mixed` device plugin config, and get NVIDIA's GPU
Operator with its MIG manager in place of the standalone device plugin and DCGM exporter.
Facts and their source: components/capacity/gpu_sharing.py, mig.py and gpu_operator_chart.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from components.capacity.gpu_node_group import GpuNodeGroupArgs
from components.capacity.gpu_operators import GpuOperatorsArgs
from components.capacity.gpu_scheduling import GpuScheduling
from components.capacity.gpu_sharing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    SHARED_RESOURCE,
    SharedPool,
    device_plugin_configs,
    mig_resource,
    tolerating_shared_pool,
)
from stack_config import component_args as build
from stack_config.gpu_sharing import chosen_layout, instance_types, uses_mig

SHARED_POOL = "gpu-nodes-shared"


def pool(config: Any) -> Optional[SharedPool]:
    return SharedPool(replicas=config.shared_gpu_pool.replicas) if config.shared_gpu_pool is not None else None


def shared_pool_args(config: Any, cluster: Any, network: Any) -> GpuNodeGroupArgs:
    """The GPU group's args with the pool's instance types, sizes, its labels and taint on top, and its shares in the
    node-template tags (so Cluster Autoscaler scales it up from zero for a pod asking for a share)."""
    whole, shared = build.gpu_node_group_args(config, cluster, network), config.shared_gpu_pool
    pool = SharedPool(shared.replicas)
    return dataclasses.replace(
        whole, scheduling=pool.scheduling(whole.scheduling), advertised_per_gpu=pool.advertised_per_gpu(),
        instance_types=instance_types(config), min_size=shared.min_size, max_size=shared.max_size,
        desired_size=shared.desired_size, zone_subnets={})


def _cut(config: Any, args: GpuNodeGroupArgs) -> GpuNodeGroupArgs:
    """A whole-GPU group cut into the chosen MIG layout when a model uses MIG slices: its nodes labelled with the
    layout and the `mig-mixed` device plugin config, its node-template tags counting the slices (scale from zero)."""
    layout = chosen_layout(config)
    if layout is None:
        return args
    return dataclasses.replace(args, scheduling=layout.scheduling(args.scheduling),
                               advertised_per_gpu=layout.advertised_per_gpu())


def gpu_node_group_args(config: Any, cluster: Any, network: Any) -> GpuNodeGroupArgs:
    """The whole-GPU group, cut into the MIG layout when a model uses MIG slices."""
    return _cut(config, build.gpu_node_group_args(config, cluster, network))


def on_demand_fallback_args(config: Any, cluster: Any, network: Any) -> GpuNodeGroupArgs:
    """The whole-GPU group's on-demand fallback (`autoscaling.spotFirst`), cut into the same layout."""
    return _cut(config, build.on_demand_fallback_args(config, cluster, network))


def gpu_operators_args(config: Any, gpu_nodes: Any) -> GpuOperatorsArgs:
    """The device plugin and DCGM exporter on every GPU node (shared pool included), with the sharing configs; with
    MIG, from the GPU Operator, whose MIG manager gets the chosen layout."""
    args = build.gpu_operators_args(config, gpu_nodes)
    if config.shared_gpu_pool is None and not uses_mig(config):
        return args
    replicas = config.shared_gpu_pool.replicas if config.shared_gpu_pool is not None else 2
    # The nodes of either pool carry the whole pool's labels; the device-plugin config label differs by pool, so the
    # standalone DaemonSets select on the rest (the operator's operands go where it finds GPUs).
    common = {k: v for k, v in args.scheduling.node_labels.items() if k != DEVICE_PLUGIN_CONFIG_LABEL}
    scheduling = tolerating_shared_pool(dataclasses.replace(args.scheduling, node_labels=common))
    layout = chosen_layout(config)
    return dataclasses.replace(args, scheduling=scheduling, device_plugin_configs=device_plugin_configs(replicas),
                               mig_layouts=[layout] if layout is not None else [])


def model_gpu(view: Any, gpu_nodes: Any, shared_nodes: Any) -> dict[str, Any]:
    """ModelServiceArgs changes of a sharing model: the resource it asks for and where it runs."""
    sharing = view.model.gpu_sharing
    if sharing is None:
        return {}
    if sharing.mode == "timeSlicing":
        scheduling: GpuScheduling = shared_nodes.scheduling
        return {"gpu_resource": SHARED_RESOURCE, "gpu_scheduling": scheduling}
    return {"gpu_resource": mig_resource(sharing.mig_profile), "gpu_scheduling": gpu_nodes.scheduling}
