"""GPU sharing in the stack config: the rules (the args it gives components: stack_config/gpu_sharing_args.py).

A model with `gpuSharing.mode: timeSlicing` asks for one `nvidia.com/gpu.shared` and lands on the shared pool
(`sharedGpuPool`), a GPU node group labelled `nvidia.com/device-plugin.config: time-sliced` (so the device plugin
advertises each GPU `replicas` times under the shared name) and tainted apart. A model with `mode: mig` asks for
one `nvidia.com/mig-<profile>` on the whole-GPU nodes, which then carry the `mig-mixed` device plugin config.
Facts and their source: components/capacity/gpu_sharing.py.

Takes the config by duck typing (`stack_config.catalogue` imports it for `stack_config.schema`'s validator).
"""

from __future__ import annotations

from typing import Any

from components.capacity.gpu_instances import gpus_per_node
from components.capacity.gpu_sharing import MIG_FAMILIES, MIG_PROFILES
from stack_config.tenancy import most_pods


def _family(instance_type: str) -> str:
    return instance_type.split(".")[0]


def time_sliced(model: Any) -> bool:
    return model.gpu_sharing is not None and model.gpu_sharing.mode == "timeSlicing"


def uses_mig(config: Any) -> bool:
    return any(v.model.gpu_sharing is not None and v.model.gpu_sharing.mode == "mig" for v in config.catalogue())


def sharing_problems(config: Any) -> list[str]:
    """Each sharing model has what it needs, and the shared pool can hold every time-sliced replica at once."""
    problems, pool = [], config.shared_gpu_pool
    shared_pods = 0
    for index, view in enumerate(config.catalogue()):
        key, model = f"models[{index}]" if config.models else "model", view.model
        if model.gpu_sharing is None:
            continue
        if model.gpus_per_pod != 1:
            problems.append(f"{key}.gpusPerPod: got {model.gpus_per_pod}; a model sharing a GPU asks for exactly one "
                            "share (the device plugin refuses more: failRequestsGreaterThanOne)")
        if model.gpu_sharing.mode == "timeSlicing":
            shared_pods += most_pods(model)
            if pool is None:
                problems.append(f"{key}.gpuSharing.mode: got 'timeSlicing'; needs sharedGpuPool (the time-sliced "
                                "GPU nodes)")
        else:
            problems += _mig_problems(config, key, model)
    if pool is not None:
        problems += _pool_problems(config, pool, shared_pods)
    return problems


def _mig_problems(config: Any, key: str, model: Any) -> list[str]:
    families = {_family(t) for t in config.gpu_node_group.instance_types}
    memories = {MIG_FAMILIES.get(f) for f in families}
    profile = model.gpu_sharing.mig_profile
    if None in memories or len(memories) != 1:
        return [f"{key}.gpuSharing.mode: got 'mig'; gpuNodeGroup.instanceTypes must all be one MIG-capable family's "
                f"GPU size ({', '.join(sorted(MIG_FAMILIES))}: A100/H100), got {sorted(families)}"]
    allowed = MIG_PROFILES[memories.pop()]
    if profile not in allowed:
        return [f"{key}.gpuSharing.migProfile: got {profile!r}; allowed on these GPUs: {', '.join(allowed)}"]
    return []


def _pool_problems(config: Any, pool: Any, shared_pods: int) -> list[str]:
    problems = []
    if not config.gpu_node_group.enabled:
        problems.append("sharedGpuPool: got set; needs gpuNodeGroup.enabled (the pool copies its AMI, disk and taints)")
    if config.autoscaling is not None and config.autoscaling.provisioner == "karpenter":
        problems.append("sharedGpuPool: got set; not with autoscaling.provisioner karpenter (the pool is a managed node "
                        "group scaled by Cluster Autoscaler)")
    capacity = pool.max_size * gpus_per_node(instance_types(config)) * pool.replicas
    if shared_pods > capacity:
        problems.append(f"sharedGpuPool.maxSize: got {pool.max_size}; its {capacity} GPU shares (maxSize x GPUs per "
                        f"node x replicas) are fewer than the {shared_pods} the time-sliced models may ask for")
    if not shared_pods:
        problems.append("sharedGpuPool: got set; no model has gpuSharing.mode timeSlicing: it would idle at minSize")
    return problems


def instance_types(config: Any) -> list[str]:
    """The shared pool's instance types: its own, else the GPU node group's."""
    return list(config.shared_gpu_pool.instance_types or config.gpu_node_group.instance_types)
