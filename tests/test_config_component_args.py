"""stack_config.component_args: what the stack file says reaches the components' args (the mutation audit of the
module found these mappings unguarded)."""
from __future__ import annotations

from stack_config.component_args import _runtime_fields, cluster_args, splits_at_load_balancer
from stack_config.loader import read_stack_file
from tests.harness import TEST_SECRETS, raw_sections, stack_file


def config_with(name: str, **sections):
    """A stack file's typed config with some sections replaced (its secrets stay secret)."""
    from stack_config import RawConfig, load

    raw = read_stack_file(stack_file(name), TEST_SECRETS)
    return load(RawConfig(sections={**raw.sections, **sections}, secret_paths=raw.secret_paths))


def test_the_cluster_gets_the_stack_file_s_log_retention_and_system_group_bounds() -> None:
    for name, retention, minimum in (("prod", 365, 2), ("dev", 30, 1)):
        args = cluster_args(config_with(name), None)
        assert args.log_retention_days == retention
        assert (args.system_node_group.min_size, args.system_node_group.max_size) == (minimum,
                                                                                     raw_sections(name)["cluster"]
                                                                                     ["systemNodeGroup"]["maxSize"])


def test_another_runtime_s_liveness_path_reaches_the_probes() -> None:
    from components.serving.runtimes import RUNTIMES

    runtime = "vllm"
    raw = raw_sections("dev")
    image = "registry.example.com/vllm-openai@sha256:" + "a" * 64
    fields = _runtime_fields(config_with("dev", model={**raw["model"], "runtime": runtime, "image": image}))
    assert fields["probes"].liveness_path == RUNTIMES[runtime].liveness_path is not None
    assert fields["probes"].readiness_path == RUNTIMES[runtime].readiness_path


def test_prod_s_alb_canary_splits_traffic_at_the_load_balancer() -> None:
    assert splits_at_load_balancer(config_with("prod")) is True
