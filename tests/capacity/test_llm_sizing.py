"""An LLM is refused on a GPU its weights and a minimal KV cache do not fit; tensor parallelism stays in one node."""

from __future__ import annotations

import pytest

from components.capacity.gpu_instances import GPU_COUNT_BY_INSTANCE_TYPE, GPU_INSTANCE_FAMILIES
from components.capacity.llm_sizing import GPU_MEMORY_GIB_BY_FAMILY, LlmSizing, fitting_instance_types

EIGHT_B = LlmSizing(parameters_billions=8)
SEVENTY_B = LlmSizing(parameters_billions=70, tensor_parallel=8)


def test_every_supported_gpu_family_has_its_gpu_memory():
    assert set(GPU_MEMORY_GIB_BY_FAMILY) == set(GPU_INSTANCE_FAMILIES)


def test_an_8b_model_in_bf16_takes_about_15_gib_and_fits_one_48_gb_l40s():
    assert EIGHT_B.weights_gib == pytest.approx(14.9, abs=0.05)
    assert EIGHT_B.fit_problem("g6e.xlarge") is None
    assert EIGHT_B.disk_gib() == 18


def test_an_8b_model_does_not_fit_a_16_gib_t4():
    problem = EIGHT_B.fit_problem("g4dn.xlarge")
    assert problem is not None and "16.9 GiB per GPU" in problem and "14.7 GiB usable" in problem


def test_a_70b_model_fits_eight_a100s_or_four_l40s_but_not_two():
    assert SEVENTY_B.fit_problem("p4d.24xlarge") is None
    assert LlmSizing(70, tensor_parallel=4).fit_problem("g6e.12xlarge") is None
    assert "use a larger GPU or a larger tensor_parallel" in LlmSizing(70, tensor_parallel=2).fit_problem("g6e.12xlarge")


def test_tensor_parallelism_beyond_one_nodes_gpus_is_refused():
    problem = LlmSizing(70, tensor_parallel=8).fit_problem("g6e.12xlarge")
    assert problem is not None and "4 GPU(s)" in problem and "span nodes" in problem


def test_a_longer_context_needs_more_room():
    assert LlmSizing(8, min_kv_cache_gib=2).fit_problem("g6.xlarge") is None
    assert LlmSizing(8, min_kv_cache_gib=8).fit_problem("g6.xlarge") is not None


def test_the_fitting_types_of_a_70b_model_start_with_the_smallest_node_that_holds_it():
    fits = fitting_instance_types(LlmSizing(70, tensor_parallel=4))
    assert fits[0] == "g6e.12xlarge"
    assert all(GPU_COUNT_BY_INSTANCE_TYPE[t] >= 4 for t in fits)
    assert "g5.12xlarge" not in fits  # 4 x 24 GiB cannot hold 130 GiB


def test_an_unknown_instance_type_is_named():
    assert "m5.large: GPU memory unknown" in LlmSizing(8).fit_problem("m5.large")


def test_a_gpu_node_group_for_an_llm_refuses_an_instance_type_the_model_does_not_fit():
    from components._args import InvalidArgs
    from components.capacity.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
    from tests.harness import components

    def group(types: list[str]):
        return lambda opts: GpuNodeGroup("llm-nodes", GpuNodeGroupArgs(
            cluster_name="c", subnet_ids=["subnet-1"], instance_types=types, llm=EIGHT_B), opts)

    with pytest.raises(InvalidArgs, match=r"instance_types: g4dn.xlarge: 14.9 GiB of weights"):
        components(group(["g4dn.xlarge"]))
    assert components(group(["g6e.xlarge"])).of_type("aws:eks/nodeGroup:NodeGroup")


def test_gpu_memory_quoted_in_decimal_gigabytes_is_counted_in_gib():
    # NVIDIA quotes the L40S's memory as 48 GB: 48e9 bytes are 44.7 GiB, and a model needing 45 GiB does not fit.
    assert GPU_MEMORY_GIB_BY_FAMILY["g6e"] == pytest.approx(48e9 / 2**30, abs=0.05)
    assert GPU_MEMORY_GIB_BY_FAMILY["g5"] == 24  # AWS lists the A10G in GiB already
    assert LlmSizing(20, min_kv_cache_gib=4).fit_problem("g6e.xlarge") is not None  # 37.3 + 4 GiB > 44.7 x 0.92
