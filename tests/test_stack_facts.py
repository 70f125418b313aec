"""What the README and the stack files say each stack runs is read from the program, and follows it."""

from __future__ import annotations

import pytest

from tests.harness import raw_sections, stack, stack_with
from tools import stack_facts


def test_the_readme_table_and_stack_headers_say_what_the_stacks_declare():
    stale = [path.name for path, text in stack_facts.rendered(stack).items() if path.read_text() != text]
    assert not stale, f"{stale}: run `python -m tools.stack_facts`"


def test_prod_never_drops_below_two_gpu_nodes_and_dev_idles_at_none():
    assert "never fewer than 2 GPU nodes" in stack_facts.gpu_nodes(stack("prod"))
    assert "no GPU node while idle" in stack_facts.gpu_nodes(stack("dev"))


def test_the_gpu_floor_follows_the_node_group_config():
    sections = raw_sections("dev")
    group = {**sections["gpuNodeGroup"], "minSize": 1, "desiredSize": 1}
    # The floor is the spot group's; its on-demand fallback keeps a floor of zero.
    assert stack_facts.gpu_nodes(stack_with("dev", gpuNodeGroup=group)).endswith("never fewer than 1 GPU node")


def test_dev_says_zero_pods_is_its_idle_state_and_prod_names_its_replica_bounds():
    assert stack_facts.model_pods(stack("dev")).startswith("0 while idle")
    assert stack_facts.model_pods(stack("prod")).startswith("2 to 6 (HPA")


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_cluster_api_is_described_with_both_of_its_access_paths(name):
    assert stack_facts.cluster_api(stack(name)) == "private (inside the VPC) and public from 203.0.113.0/24"


def test_prods_model_endpoint_is_open_to_any_address_behind_the_waf_and_devs_only_to_its_cidrs():
    assert stack_facts.model_endpoint(stack("prod")) == "internet-facing HTTPS, from any address, behind a WAF web ACL"
    assert "only from 203.0.113.0/24" in stack_facts.model_endpoint(stack("dev"))


def test_a_missing_generated_block_is_an_error_naming_the_file():
    with pytest.raises(SystemExit, match="README.md"):
        stack_facts._replace_between("no markers here", stack_facts.TABLE_BEGIN, stack_facts.TABLE_END, "x", "README.md")
