"""The exact bounds of "the model fits this node" and the order the fitting types are offered in (issue 29)."""

from __future__ import annotations

from components.capacity.llm_sizing import LlmSizing, fitting_instance_types

# 2**29 parameters of 2 bytes are exactly 1 GiB of weights, so the bounds below are exact in floating point.
ONE_GIB_MODEL = 2**29 / 1e9


def test_a_model_needing_exactly_the_usable_memory_of_a_gpu_fits_and_a_little_more_does_not():
    # g4dn: 16 GiB per GPU, half of it usable here: 1 GiB of weights + 7 GiB of KV cache is exactly 8 GiB.
    assert LlmSizing(ONE_GIB_MODEL, min_kv_cache_gib=7).fit_problem("g4dn.xlarge", utilization=0.5) is None
    assert LlmSizing(ONE_GIB_MODEL, min_kv_cache_gib=7.5).fit_problem("g4dn.xlarge", utilization=0.5) == (
        "g4dn.xlarge: 1.0 GiB of weights + 7.5 GiB KV cache over 1 GPU(s) needs 8.5 GiB per GPU, 8.0 GiB usable "
        "(16 GiB x 0.5); use a larger GPU or a larger tensor_parallel")


def test_tensor_parallelism_beyond_the_nodes_gpus_is_refused_naming_the_node_and_the_way_out():
    assert LlmSizing(8, tensor_parallel=2).fit_problem("g6e.xlarge") == (
        "g6e.xlarge has 1 GPU(s): tensor_parallel 2 would span nodes, which needs pipeline parallelism")


def test_a_type_of_a_known_family_but_not_in_the_gpu_table_is_unknown_naming_the_known_families():
    families = "g4dn, g5, g6, g6e, p4d, p4de, p5, p5e"
    assert LlmSizing(8).fit_problem("g5.3xlarge") == f"g5.3xlarge: GPU memory unknown (families: {families})"
    assert LlmSizing(8).fit_problem("m5.large") == f"m5.large: GPU memory unknown (families: {families})"


def test_the_fitting_types_come_cheapest_family_first_then_fewest_gpus_first():
    # 13B in bf16 (24.2 GiB + 2 GiB KV cache) is too big for a 24 GiB A10G or L4 and fits an L40S or larger.
    assert fitting_instance_types(LlmSizing(13)) == [
        "g6e.xlarge", "g6e.2xlarge", "g6e.4xlarge", "g6e.8xlarge", "g6e.16xlarge", "g6e.12xlarge", "g6e.24xlarge",
        "g6e.48xlarge", "p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "p5e.48xlarge"]


def test_no_type_fits_a_model_larger_than_every_node():
    assert fitting_instance_types(LlmSizing(1000, tensor_parallel=8)) == []
