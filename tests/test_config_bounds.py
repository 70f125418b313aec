"""The stack config's bounds, at their exact edges, and the key each refusal names (issue 29's mutation audit found
these unguarded: a GPU group that could no longer scale to zero, 8-GPU nodes refused, a 1% canary step refused...)."""

from __future__ import annotations

import pytest

from stack_config import ConfigError, RawConfig, StackConfig, load
from stack_config.loader import read_stack_file
from tests.aws_platform import config_of
from tests.harness import TEST_SECRETS, raw_sections, stack_file

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
    (3, 3, 2, "gpuNodeGroup.minSize"), (2, 2, 2, None),  # a fixed-size group: min = max
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


def _prod(section: str, **changes) -> dict:
    return {**raw_sections("prod")[section], **changes}


def _karpenter_with(**changes) -> dict:
    return _prod("autoscaling", provisioner="karpenter", karpenter={"instanceFamilies": ["g5"], **changes})


# Mistakes that span sections: each refusal names the key to change, what it got and what would be accepted.
CROSS_SECTION = [
    ("local", {"autoscaling": {"provisioner": "clusterAutoscaler"}},
     "autoscaling.provisioner: got 'clusterAutoscaler'; node autoscaling needs an EKS cluster (cluster.mode create or "
     "existing)"),
    ("prod", {"monitoring": {"enabled": False}, "model": _prod("model", rollout={"strategy": "direct"})},
     "autoscaling.pods.metric: got 'batchQueueDepth'; needs monitoring.enabled (Prometheus holds the server's metrics); "
     "or use cpu"),
    ("prod", {"autoscaling": _prod("autoscaling", spotFirst=True)},
     "autoscaling.spotFirst: got True; needs provisioner clusterAutoscaler and gpuNodeGroup.capacityType SPOT (an "
     "on-demand GPU group is added as the fallback; Karpenter prefers spot by itself)"),
    ("prod", {"gpuNodeGroup": _prod("gpuNodeGroup", groupPerZone=False)},
     "gpuNodeGroup.groupPerZone: got False; set it to true with model.zoneSpread required and Cluster Autoscaler: it "
     "adds a node from one zone of a multi-zone group, so a replica that must go to another zone would stay pending (or "
     "use provisioner karpenter, or zoneSpread preferred)"),
    ("prod", {"autoscaling": _karpenter_with(maxGpusPerNode=1, maxGpus=16), "model": _prod("model", gpusPerPod=2)},
     "autoscaling.karpenter.maxGpusPerNode: got 1; no instance type of ['g5'] has between model.gpusPerPod (2) and this "
     "many GPUs"),
    ("prod", {"autoscaling": _karpenter_with(maxGpusPerNode=4, maxGpus=2), "model": _prod("model", gpusPerPod=4)},
     "autoscaling.karpenter.maxGpus: got 2; below the GPUs of one node (4): Karpenter could never launch a node"),
    ("prod", {"autoscaling": _karpenter_with(maxGpusPerNode=1, maxGpus=4)},
     "autoscaling.karpenter.maxGpus: got 4; below the 6 GPUs the model may ask for (replicas x model.gpusPerPod): the "
     "last pods would stay pending"),
    ("prod", {"autoscaling": _karpenter_with(maxGpus=16),
              "gpuNodeGroup": _prod("gpuNodeGroup", amiType="BOTTLEROCKET_x86_64_NVIDIA")},
     "autoscaling.karpenter.amiAlias: got None; required with gpuNodeGroup.amiType BOTTLEROCKET_x86_64_NVIDIA (pin a "
     "release, e.g. bottlerocket@v1.2.3)"),
    ("prod", {"autoscaling": _karpenter_with(maxGpus=16, amiAlias="bottlerocket@v1.2.3")},
     "autoscaling.karpenter.amiAlias: got 'bottlerocket@v1.2.3'; must be a al2023@... alias to match "
     "gpuNodeGroup.amiType AL2023_x86_64_NVIDIA"),
    ("prod", {"autoscaling": _karpenter_with(instanceFamilies=["g4dn"], maxGpusPerNode=8, maxGpus=6),
              "model": _prod("model", gpusPerPod=4)},  # g4dn nodes of 4 fit, so the check is the model's 24 GPUs
     "autoscaling.karpenter.maxGpus: got 6; below the 24 GPUs the model may ask for (replicas x model.gpusPerPod): the "
     "last pods would stay pending"),
    ("prod", {"autoscaling": _karpenter_with(maxGpus=16), "gpuNodeGroup": {"enabled": False},
              "model": _prod("model", gpusPerPod=0)},
     "autoscaling.provisioner: got 'karpenter'; needs gpuNodeGroup.enabled (its labels, taints, AMI and disk describe "
     "the GPU nodes)"),
    ("dev", {"delivery": {"runnerCidrs": []}},
     "delivery.runnerCidrs: got []; required: where runner 'vpc' traffic to the API comes from"),
    ("dev", {"delivery": {"runnerCidrs": ["8.8.8.0/24", "10.1.0.0/24"]}},
     "delivery.runnerCidrs: got ['8.8.8.0/24']; runner vpc reaches the private endpoint from private addresses only"),
    ("dev", {"delivery": {"runnerLabels": ["ubuntu-24.04"]}},
     "delivery.runnerLabels: got ['ubuntu-24.04']; GitHub-hosted runners cannot reach a restricted endpoint: their "
     "addresses are not in the VPC and not fixed; use self-hosted runner labels"),
    ("local", {"delivery": {"runner": "vpc", "runnerLabels": ["x"], "previewRunnerLabels": ["x-preview"],
                            "repository": "acme/models", "runnerCidrs": ["10.0.0.0/24"]}},
     "delivery: got 'set'; CI deploys EKS stacks only; a local cluster is deployed by hand"),
    ("dev", {"delivery": {"runner": "public", "runnerCidrs": ["198.51.100.0/24"]}},
     "delivery.runnerCidrs: got ['198.51.100.0/24']; not admitted by cluster.endpointPublicAccessCidrs "
     "['203.0.113.0/24']: CI could not reach the API"),
    ("dev", {"delivery": {"runner": "public", "runnerCidrs": ["198.51.100.0/24"]},
             "cluster": {"endpointPublicAccessCidrs": []}},
     "delivery.runner: got 'public'; the cluster has no public endpoint (cluster.endpointPublicAccessCidrs is empty): "
     "use runner vpc"),
    ("local", {"model": {**raw_sections("local")["model"], "endpoint": raw_sections("prod")["model"]["endpoint"]}},
     "model.endpoint: got 'my-ai-model.example.com'; needs an EKS cluster (cluster.mode create or existing); on a local "
     "cluster use kubectl port-forward (docs/getting-started.md)"),
    ("prod", {"network": {**{k: v for k, v in EXISTING.items() if k != "publicSubnets"}, "natGateways": "perZone"}},
     "model.endpoint.scheme: got 'internet-facing'; needs network.publicSubnets (an internet-facing load balancer lives "
     "in public subnets)"),
]


@pytest.mark.parametrize("stack, sections, problem", CROSS_SECTION, ids=[p.split(":")[0] for _, _, p in CROSS_SECTION])
def test_a_mistake_across_sections_is_refused_naming_the_key_and_the_way_out(stack, sections, problem):
    assert _problems(stack, **sections) == [problem]


def _without_keys(stack: str, change) -> list[str]:
    """Problems of a stack file's sections changed by `change` (which may remove keys)."""
    raw = read_stack_file(stack_file(stack), TEST_SECRETS)
    sections = raw_sections(stack)
    change(sections)
    try:
        load(RawConfig(sections=sections, secret_paths=raw.secret_paths))
    except ConfigError as caught:
        return [p.removeprefix(NAMESPACE) for p in caught.problems]
    return []


def _cluster_from_a_stack_reference(sections: dict) -> None:
    cluster = {k: v for k, v in sections["cluster"].items()
               if k not in ("name", "systemNodeGroup", "logRetentionDays", "kubernetesVersion")}
    sections["cluster"] = {**cluster, "mode": "existing", "stackReference": {"stack": "acme/infra/dev"},
                           "enforcesNetworkPolicies": True}


def test_a_vpc_runner_needs_a_cluster_whose_security_group_the_stack_owns():
    assert _without_keys("dev", _cluster_from_a_stack_reference) == [
        "delivery.runner: got 'vpc'; needs the cluster security group, which a cluster from "
        "cluster.stackReference does not give; open port 443 in the stack that owns the cluster"]


def test_karpenter_needs_a_cluster_whose_security_group_the_stack_owns():
    def change(sections: dict) -> None:
        _cluster_from_a_stack_reference(sections)
        sections["autoscaling"] = {**sections["autoscaling"], "provisioner": "karpenter", "spotFirst": False}
        sections["delivery"] = {**sections["delivery"], "runner": "public", "runnerCidrs": ["203.0.113.0/24"]}
    assert _without_keys("dev", change) == [
        "autoscaling.provisioner: got 'karpenter'; needs the cluster security group, which a cluster from "
        "cluster.stackReference does not give; use clusterAutoscaler or cluster.name"]


def test_an_endpoint_needs_the_network_section():
    def change(sections: dict) -> None:
        sections.pop("network")
        sections.pop("autoscaling")
        sections["cluster"] = {**sections["cluster"], "mode": "existing", "enforcesNetworkPolicies": True}
        sections["gpuNodeGroup"] = {"enabled": False}
        sections["model"] = {**sections["model"], "gpusPerPod": 0, "imageVariant": "cpu",
                             "endpoint": raw_sections("prod")["model"]["endpoint"]}
    assert _without_keys("dev", change) == [
        "model.endpoint: got 'my-ai-model.example.com'; needs the network section (the load balancer's VPC and subnets)"]
