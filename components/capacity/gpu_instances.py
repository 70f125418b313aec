"""NVIDIA GPU instance types the platform supports, with their GPU counts.

EC2's API lists every instance type but not what hardware it carries, so the
GPU count per type is kept here (from the EC2 accelerated-computing instance
pages). The count feeds scheduling (`nvidia.com/gpu` requests) and the
cluster-autoscaler node-template tag that lets a group scale up from zero.
Only x86_64 types are listed: the GPU AMIs we allow are x86_64.
"""

from __future__ import annotations


def _family(family: str, single_gpu_sizes: tuple[str, ...], multi: dict[str, int]) -> dict[str, int]:
    types = {f"{family}.{size}": 1 for size in single_gpu_sizes}
    types.update({f"{family}.{size}": count for size, count in multi.items()})
    return types


_G_SINGLE = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")

GPU_COUNT_BY_INSTANCE_TYPE: dict[str, int] = {
    **_family("g4dn", _G_SINGLE, {"12xlarge": 4, "metal": 8}),
    **_family("g5", _G_SINGLE, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    **_family("g6", _G_SINGLE, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    **_family("g6e", _G_SINGLE, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "p4d.24xlarge": 8,
    "p4de.24xlarge": 8,
    "p5.48xlarge": 8,
    "p5e.48xlarge": 8,
}

GPU_INSTANCE_FAMILIES: tuple[str, ...] = tuple(
    sorted({instance_type.split(".")[0] for instance_type in GPU_COUNT_BY_INSTANCE_TYPE})
)


# Families the GPU image cannot run on, with the reason. p3/p3dn carry V100 (Volta, compute capability 7.0):
# CUDA 13, which the image's onnxruntime-gpu needs (app/Dockerfile), dropped Volta (CUDA Toolkit 13.0 release
# notes, "Deprecated or Dropped Features" / "Deprecated Architectures", docs.nvidia.com/cuda/archive/13.0.0).
UNSUPPORTED_FAMILIES: dict[str, str] = {
    "p3": "V100 (Volta) GPUs: CUDA 13, which the model image uses, dropped Volta",
    "p3dn": "V100 (Volta) GPUs: CUDA 13, which the model image uses, dropped Volta",
}


def unsupported_reason(instance_type_or_family: str) -> str | None:
    """Why an instance type (or family) is refused, or None when it is not on the refused list."""
    return UNSUPPORTED_FAMILIES.get(instance_type_or_family.split(".")[0])


def instance_type_problem(instance_type: str) -> str | None:
    """What is wrong with a GPU instance type for this platform (None when supported)."""
    reason = unsupported_reason(instance_type)
    if reason:
        return f"refused: {reason}"
    if not is_gpu_instance_type(instance_type):
        return f"not a supported NVIDIA GPU instance type (families: {', '.join(GPU_INSTANCE_FAMILIES)})"
    return None


def is_gpu_instance_type(instance_type: str) -> bool:
    """True when the instance type carries NVIDIA GPUs the platform supports."""
    return instance_type in GPU_COUNT_BY_INSTANCE_TYPE


def gpus_per_node(instance_types: list[str] | tuple[str, ...]) -> int:
    """The GPU count every node of a group is guaranteed to have (the smallest type's)."""
    return min(GPU_COUNT_BY_INSTANCE_TYPE[t] for t in instance_types)
