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


def test_a_given_image_deploys_under_the_stack_file_s_model_version() -> None:
    from stack_config.component_args import model_service_args

    raw = raw_sections("dev")
    image = "registry.example.com/model@sha256:" + "b" * 64
    config = config_with("dev", model={**raw["model"], "image": image, "version": "2.4.1"})
    args = model_service_args(config, None, None)
    assert (args.image, args.model_version) == (image, "2.4.1")


def test_the_monitoring_stack_keeps_metrics_as_long_as_the_stack_file_says() -> None:
    from stack_config.component_args import monitoring_args

    for name in ("prod", "dev"):
        assert monitoring_args(config_with(name)).retention == raw_sections(name)["monitoring"]["retention"]
    assert {raw_sections("prod")["monitoring"]["retention"], raw_sections("dev")["monitoring"]["retention"]} \
        == {"30d", "3d"}, "the two stacks keep different retentions, so a dropped value cannot pass for either"


def test_the_model_s_monitoring_watches_its_canary_rollout() -> None:
    from types import SimpleNamespace

    from stack_config.component_args import model_monitoring_args

    model, monitoring, canary = object(), object(), SimpleNamespace(name="canary")
    args = model_monitoring_args(config_with("prod"), monitoring, model, canary=canary)  # type: ignore[arg-type]
    assert (args.model, args.monitoring, args.rollout) == (model, monitoring, canary)


def test_verifying_alb_target_groups_gives_the_rollouts_controller_the_cluster_s_oidc_provider() -> None:
    from types import SimpleNamespace

    from stack_config.component_args import argo_rollouts_args

    config = config_with("prod")
    assert config.model.rollout.traffic_routing == "alb" and config.model.rollout.verify_target_groups
    cluster = SimpleNamespace(oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.eks.example/id/X")
    verification = argo_rollouts_args(config, None, cluster).target_group_verification  # type: ignore[arg-type]
    assert verification is not None
    assert (verification.oidc_provider_arn, verification.region) == (cluster.oidc_provider_arn, config.aws.region)
    raw = raw_sections("prod")
    unverified = config_with("prod", model={**raw["model"], "rollout": {**raw["model"]["rollout"],
                                                                         "verifyTargetGroups": False}})
    assert argo_rollouts_args(unverified, None, cluster).target_group_verification is None  # type: ignore[arg-type]
