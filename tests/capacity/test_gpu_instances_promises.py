"""What the GPU instance table promises (issue 29): which types are GPU types, which are refused and why, and the
GPU count a node group can rely on."""

from __future__ import annotations

from components.capacity import gpu_instances
from components.capacity.gpu_instances import (
    GPU_INSTANCE_FAMILIES,
    gpus_per_node,
    instance_type_problem,
    is_gpu_instance_type,
    unsupported_reason,
)

VOLTA = "V100 (Volta) GPUs: CUDA 13, which the model image uses, dropped Volta"


def test_a_family_counts_one_gpu_on_its_single_gpu_sizes_and_its_own_count_on_the_multi_gpu_ones():
    # The table is built at import; calling the builder here is what lets a defect in it be seen.
    assert gpu_instances._family("g5", ("xlarge", "2xlarge"), {"12xlarge": 4, "48xlarge": 8}) == {
        "g5.xlarge": 1, "g5.2xlarge": 1, "g5.12xlarge": 4, "g5.48xlarge": 8}


def test_a_group_can_rely_only_on_the_gpu_count_of_its_smallest_type():
    assert gpus_per_node(["g5.12xlarge", "g5.xlarge"]) == 1
    assert gpus_per_node(("p4d.24xlarge", "g6e.12xlarge")) == 4
    assert gpus_per_node(["p5.48xlarge"]) == 8


def test_only_listed_nvidia_types_are_gpu_types():
    assert is_gpu_instance_type("g6e.xlarge") is True
    assert is_gpu_instance_type("m5.large") is False
    assert is_gpu_instance_type("p3.2xlarge") is False


def test_volta_types_and_families_are_refused_with_the_reason():
    assert unsupported_reason("p3.2xlarge") == VOLTA
    assert unsupported_reason("p3dn.24xlarge") == VOLTA
    assert unsupported_reason("p3") == VOLTA
    assert unsupported_reason("g5.xlarge") is None
    assert instance_type_problem("p3.8xlarge") == f"refused: {VOLTA}"


def test_a_supported_type_has_no_problem_and_any_other_is_refused_naming_the_supported_families():
    assert instance_type_problem("g6.xlarge") is None
    assert instance_type_problem("p5e.48xlarge") is None
    assert GPU_INSTANCE_FAMILIES == ("g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e")
    assert instance_type_problem("m5.large") == (
        "not a supported NVIDIA GPU instance type (families: g4dn, g5, g6, g6e, p4d, p4de, p5, p5e)")
