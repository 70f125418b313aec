"""The stack config's bounds, at their exact edges, and the key each refusal names (issue 29's mutation audit found
these unguarded: a GPU group that could no longer scale to zero, 8-GPU nodes refused, a 1% canary step refused...)."""

from __future__ import annotations

import pytest

from stack_config import ConfigError, StackConfig
from tests.aws_platform import config_of
from tests.harness import raw_sections

NAMESPACE = "gpu-model-platform:"


def _problems(stack: str, **sections) -> list[str]:
    """The config's problems with the stack file's sections merged with `sections` (empty: it loads)."""
    try:
        config_of(stack, **sections)
    except ConfigError as caught:
        return [p.removeprefix(NAMESPACE) for p in caught.problems]
    return []


def _keys(problems: list[str]) -> list[str]:
    return [p.split(":")[0] for p in problems]


@pytest.mark.parametrize("min_size, desired, max_size, refused_key", [
    (0, 0, 2, None),  # an idle GPU group costs nothing
    (-1, 0, 2, "gpuNodeGroup.minSize"),
    (1, 1, 2, None), (1, 0, 2, "gpuNodeGroup.desiredSize"),  # desired may equal min, not go below it
    (0, 2, 2, None), (0, 3, 2, "gpuNodeGroup.desiredSize"),  # ... and may equal max, not go above it
    (3, 3, 2, "gpuNodeGroup.minSize"),
])
def test_gpu_group_sizes_are_refused_exactly_outside_min_desired_max(min_size, desired, max_size, refused_key):
    problems = _problems("dev", gpuNodeGroup={"minSize": min_size, "desiredSize": desired, "maxSize": max_size})
    assert (_keys(problems)[:1] or [None]) == [refused_key], problems


def test_a_desired_size_outside_the_range_says_the_range():
    assert _problems("dev", gpuNodeGroup={"minSize": 1, "desiredSize": 0, "maxSize": 2}) == [
        "gpuNodeGroup.desiredSize: got 0; must be within minSize..maxSize (1..2)"]
    assert _problems("dev", gpuNodeGroup={"minSize": 3, "desiredSize": 3, "maxSize": 2})[0] == \
        "gpuNodeGroup.minSize: got 3; must be <= maxSize (2)"


def _karpenter(per_node: int) -> dict:
    return {**raw_sections("prod")["autoscaling"], "provisioner": "karpenter",
            "karpenter": {"maxGpusPerNode": per_node, "maxGpus": 16, "instanceFamilies": ["g5"]}}


def test_karpenter_may_pick_8_gpu_nodes_and_no_larger():
    assert _problems("prod", autoscaling=_karpenter(8)) == []
    assert _keys(_problems("prod", autoscaling=_karpenter(9))) == ["autoscaling.karpenter.maxGpusPerNode"]


def test_the_gpu_fit_check_counts_the_smallest_instance_types_gpus():
    # prod may run 6 replicas of 1 GPU: 2 nodes fit only if every node has 4 GPUs, and a g5.xlarge has 1.
    mixed = {"instanceTypes": ["g5.12xlarge", "g5.xlarge"], "minSize": 0, "desiredSize": 0, "maxSize": 2}
    assert _problems("prod", gpuNodeGroup=mixed) == [
        "gpuNodeGroup.maxSize: got 2; its 2 GPUs are fewer than the 6 the model may ask for (replicas x "
        "model.gpusPerPod): the autoscaler could never place the last pods"]
    assert _problems("prod", gpuNodeGroup={**mixed, "instanceTypes": ["g5.12xlarge", "g5.24xlarge"]}) == []
    assert _problems("prod", gpuNodeGroup={**mixed, "maxSize": 6}) == []


@pytest.mark.parametrize("cidrs, refused", [(["10.100.0.0/24"], []), (["not-a-cidr"], ["delivery.runnerCidrs"]),
                                            ([], ["delivery.runnerCidrs"]), (["8.8.8.0/24"], ["delivery.runnerCidrs"])])
def test_runner_cidrs_must_be_private_cidrs_for_a_vpc_runner(cidrs, refused):
    assert _keys(_problems("dev", delivery={"runnerCidrs": cidrs})) == refused


EXISTING = {"create": False, "vpcId": "vpc-0123456789abcdef0", "privateSubnets": [
    {"id": "subnet-0123456789abcdef0", "availabilityZone": "us-west-2a"},
    {"id": "subnet-0123456789abcdef1", "availabilityZone": "us-west-2b"},
    {"id": "subnet-0123456789abcdef2", "availabilityZone": "us-west-2a"}], "publicSubnets": [
    {"id": "subnet-0123456789abcdef3", "availabilityZone": "us-west-2c"}]}


def test_the_zones_of_an_existing_vpc_are_its_private_subnets_zones_each_once():
    config: StackConfig = config_of("dev", network=EXISTING)
    assert config.zones() == ["us-west-2a", "us-west-2b"]
    assert config_of("dev").zones() == ["us-west-2a", "us-west-2b"]


def test_subnets_outside_the_region_are_refused_naming_private_subnets():
    subnets = [{**s, "availabilityZone": s["availabilityZone"].replace("us-west-2", "eu-west-1")}
               for s in EXISTING["privateSubnets"]]
    problems = _problems("dev", network={**EXISTING, "privateSubnets": subnets})
    assert problems == ["network.privateSubnets: got ['eu-west-1a', 'eu-west-1b', 'eu-west-1a']; zones must "
                        "be in aws.region us-west-2 (e.g. us-west-2a)"]


@pytest.mark.parametrize("name, refused", [("fast-encrypted", False), ("gp3.encrypted", False), ("a", False),
                                           ("Fast_X", True), ("-gp3", True)])
def test_any_valid_storage_class_name_is_accepted_for_a_created_cluster(name, refused):
    assert _keys(_problems("dev", cluster={"storageClass": name})) == (["cluster.storageClass"] if refused else [])


def test_monitoring_must_use_the_created_clusters_one_storage_class():
    assert _problems("dev", cluster={"storageClass": "fast"}, monitoring={"storageClass": "fast"}) == []
    assert _keys(_problems("dev", cluster={"storageClass": "fast"}, monitoring={"storageClass": "gp3"})) == [
        "monitoring.storageClass"]


def _steps(*weights: int) -> dict:
    rollout = {**raw_sections("prod")["model"]["rollout"], "steps": [{"weight": w} for w in weights]}
    return {**raw_sections("prod")["model"], "rollout": rollout}


@pytest.mark.parametrize("weights, refused", [((1, 99), []), ((0, 50), ["model.rollout.steps[0].weight"]),
                                              ((10, 100), ["model.rollout.steps[1].weight"]),
                                              ((50, 10), ["model.rollout.steps"]), ((10, 10), ["model.rollout.steps"])])
def test_canary_steps_run_from_1_to_99_percent_strictly_increasing(weights, refused):
    assert _keys(_problems("prod", model=_steps(*weights))) == refused
