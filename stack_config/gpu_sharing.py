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
from components.capacity.mig import MigLayout, mig_layout
from stack_config.tenancy import most_pods


def _family(instance_type: str) -> str:
    return instance_type.split(".")[0]


def time_sliced(model: Any) -> bool:
    return model.gpu_sharing is not None and model.gpu_sharing.mode == "timeSlicing"


def _mig_profile(model: Any) -> str | None:
    sharing = model.gpu_sharing
    return sharing.mig_profile if sharing is not None and sharing.mode == "mig" else None


def uses_mig(config: Any) -> bool:
    return any(_mig_profile(v.model) is not None for v in config.catalogue())


def gpu_memory(config: Any) -> str | None:
    """The MIG memory of the GPU node group's GPUs (40gb, 80gb), None unless they are all of one MIG family's size."""
    memories = {MIG_FAMILIES.get(_family(t)) for t in config.gpu_node_group.instance_types}
    return memories.pop() if len(memories) == 1 else None


def chosen_layout(config: Any) -> MigLayout | None:
    """The MIG layout the GPU node group is cut into: the one that holds every profile its MIG models ask for."""
    profiles = {p for v in config.catalogue() if (p := _mig_profile(v.model)) is not None}
    memory = gpu_memory(config)
    return mig_layout(memory, profiles) if profiles and memory is not None else None


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
    if uses_mig(config) and not problems:
        problems += _layout_problems(config)
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


def _key(config: Any, index: int) -> str:
    return f"models[{index}]" if config.models else "model"


def _layout_problems(config: Any) -> list[str]:
    """The GPU node group's MIG models share one layout of the MIG manager's config, and no model there asks for
    whole GPUs (every GPU of the group is cut into slices: none is advertised as `nvidia.com/gpu`)."""
    views = list(enumerate(config.catalogue()))
    if config.autoscaling is not None and config.autoscaling.provisioner == "karpenter":
        return ["autoscaling.provisioner: got 'karpenter'; MIG models need the managed GPU node group, whose nodes "
                "carry their MIG layout label (nvidia.com/mig.config)"]
    if config.gpu_node_group.ami_type.startswith("BOTTLEROCKET"):
        return [f"gpuNodeGroup.amiType: got {config.gpu_node_group.ami_type!r}; MIG models need the GPU Operator's "
                "device plugin, which the MIG manager restarts after cutting the GPUs (Bottlerocket ships its own)"]
    if chosen_layout(config) is None:
        mig = [(i, _mig_profile(v.model)) for i, v in views if _mig_profile(v.model) is not None]
        profiles = sorted({p for _, p in mig})
        return [f"{_key(config, mig[-1][0])}.gpuSharing.migProfile: got {mig[-1][1]!r}; the MIG profiles of "
                f"gpuNodeGroup's models ({', '.join(profiles)}) share no layout of the MIG manager's config "
                "(components/capacity/mig_layouts.json): give them one profile, or profiles of one layout such as "
                "all-balanced"]
    return [f"{_key(config, i)}.gpuSharing: got none; gpuNodeGroup's GPUs are cut into MIG slices for the MIG "
            "models, so a whole-GPU model has no nvidia.com/gpu there: give it a MIG profile too"
            for i, v in views if v.model.gpu_sharing is None and v.model.gpus_per_pod > 0]


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
