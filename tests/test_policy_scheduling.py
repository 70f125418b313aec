"""GPU capacity and zone spread, rule by rule: how many GPUs a pod needs, how many a pool's node has, which
selectors and taints keep a pod off a pool, and which pools Cluster Autoscaler cannot grow in the zone a pod needs."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.scheduling import gpu_workloads_fit_a_node_pool as fit
from policy.platform_policies.scheduling import pod_gpus
from policy.platform_policies.scheduling import required_zone_spread_is_satisfiable as spread
from tests.test_platform_policies import AUTOSCALER, GPU_LABELS, HELM, NODE_POOL, SUBNETS, group, messages, model
from tests.test_policy import stack_violations


def _labelled(name: str, labels: dict, subnets: list[str] | None = None) -> tuple[str, str, dict]:
    kind, logical, props = group(name, subnets)
    return kind, logical, {**props, "labels": labels}


def _fit(resources: list, config: dict | None = None) -> list[str]:
    return messages(stack_violations(fit, resources, config))


def _container(requests: object = None, limits: object = None) -> dict:
    resources = {section: {"nvidia.com/gpu": value} for section, value in (("requests", requests), ("limits", limits))
                 if value is not None}
    return {"name": "c", "resources": resources}


@pytest.mark.parametrize("spec, gpus", [
    ({"containers": [_container("1", "1"), _container("2", "2")]}, 3),
    ({"containers": [_container(limits="2")]}, 2),
    ({"containers": [_container(requests=1)]}, 1),
    ({"containers": [_container("1", "1")], "initContainers": [_container("4", "4"), _container("2")]}, 4),
    ({"containers": [_container("2", "2")], "initContainers": [_container("1", "1")]}, 2),
    ({"containers": [_container("lots")]}, 0),
    ({"containers": [{"name": "cpu"}]}, 0),
])
def test_a_pod_needs_its_containers_gpus_together_or_its_largest_init_containers(spec, gpus):
    assert pod_gpus(spec) == gpus


def test_the_refusal_names_the_workload_its_gpus_its_selector_and_the_fix():
    assert _fit([group(), model(gpus=2)]) == [
        f"Deployment 'model-deployment': its pods ask for 2 nvidia.com/gpu with nodeSelector {GPU_LABELS}, and no GPU "
        "node pool can take them (EKS node group 'gpu-nodes-group' has 1 nvidia.com/gpu per node); build the pods' "
        "nodeSelector and tolerations from the pool's GpuScheduling and keep gpusPerPod within one node"]


def test_a_group_of_mixed_instance_types_counts_its_smallest_node():
    assert _fit([group(instanceTypes=["g5.12xlarge", "g5.48xlarge"]), model(gpus=4)]) == []
    [message] = _fit([group(instanceTypes=["g5.12xlarge", "g5.xlarge"]), model(gpus=4)])
    assert "has 1 nvidia.com/gpu per node" in message


def test_a_group_of_unknown_instance_types_is_no_gpu_pool():
    [message] = _fit([group(instanceTypes=["m5.large"]), model()])
    assert "(the stack has no GPU node group or NodePool)" in message


def test_exactly_as_many_gpus_as_a_node_has_fit():
    assert _fit([group(instanceTypes=["g5.48xlarge"]), model(gpus=8)]) == []
    assert len(_fit([group(instanceTypes=["g5.48xlarge"]), model(gpus=9)])) == 1


def test_one_pool_that_takes_the_pods_is_enough_and_every_other_pools_reason_is_named():
    small, large = group("small-group"), group("large-group", instanceTypes=["g5.12xlarge"])
    assert _fit([small, large, model(gpus=4)]) == []
    [message] = _fit([small, _labelled("other-group", {"workload": "x"}), model(gpus=2)])
    assert ("(EKS node group 'small-group' has 1 nvidia.com/gpu per node; EKS node group 'other-group' lacks the "
            "label(s) {'nvidia.com/gpu.present': 'true', 'workload': 'gpu-inference'})") in message, message


def test_a_selector_on_labels_every_node_has_needs_no_pool_label():
    selector = {**GPU_LABELS, "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "g5.xlarge",
                "topology.kubernetes.io/zone": "us-west-2a", "beta.kubernetes.io/os": "linux"}
    assert _fit([group(), model(selector=selector)]) == []
    [message] = _fit([group(), model(selector={**GPU_LABELS, "example.com/kubernetes.io/x": "y"})])
    assert "lacks the label(s) {'example.com/kubernetes.io/x': 'y'}" in message


@pytest.mark.parametrize("effect, refused", [("NO_SCHEDULE", True), ("NO_EXECUTE", True), ("PREFER_NO_SCHEDULE", False)])
def test_only_taints_that_keep_pods_off_need_a_toleration(effect, refused):
    taints = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"},
              {"key": "dedicated", "value": "ml", "effect": effect}]
    found = _fit([group(taints=taints), model()])
    assert len(found) == refused, found


def test_a_pod_whose_selector_or_tolerations_are_still_unknown_is_left_to_the_update():
    unknown_selector = model()
    unknown_selector[2]["spec"]["template"]["spec"]["nodeSelector"] = UNKNOWN_STRING_VALUE
    unknown_tolerations = model()
    unknown_tolerations[2]["spec"]["template"]["spec"]["tolerations"] = UNKNOWN_STRING_VALUE
    assert _fit([unknown_selector]) == [] and _fit([unknown_tolerations]) == []


def _karpenter(operator: str, values: list[str]) -> tuple[str, str, dict]:
    return NODE_POOL, "karpenter-node-pool", {"metadata": {"name": "gpu"}, "spec": {"template": {
        "metadata": {"labels": GPU_LABELS}, "spec": {
            "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
            "requirements": [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g5"]},
                             {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": operator,
                              "values": values}]}}}}


def test_a_karpenter_pool_takes_up_to_its_largest_listed_gpu_count_or_one_below_its_lt_bound():
    assert _fit([_karpenter("In", ["1", "4"]), model(gpus=4)]) == []
    assert "has 4 nvidia.com/gpu per node" in _fit([_karpenter("In", ["4", "1"]), model(gpus=5)])[0]
    assert _fit([_karpenter("Lt", ["5"]), model(gpus=4)]) == []
    assert "has 4 nvidia.com/gpu per node" in _fit([_karpenter("Lt", ["5"]), model(gpus=5)])[0]


def test_a_karpenter_pool_without_a_gpu_count_bound_is_no_gpu_pool():
    [message] = _fit([_karpenter("Gt", ["0"]), model()])
    assert "(the stack has no GPU node group or NodePool)" in message


def test_a_karpenter_pool_with_an_untolerated_taint_is_named():
    pool = _karpenter("In", ["1"])
    pool[2]["spec"]["template"]["spec"]["taints"].append({"key": "team", "value": "a", "effect": "NoSchedule"})
    [message] = _fit([pool, model()])
    assert "NodePool 'karpenter-node-pool' has the untolerated taint(s) ['team=a:NoSchedule']" in message


def test_a_stated_pools_taints_must_be_tolerated_too():
    config = {"existingGpuNodePools": [{"name": "team-gpus", "labels": GPU_LABELS, "gpusPerNode": 1,
                                        "taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]}]}
    [message] = _fit([model()], config)
    assert "the cluster's node pool 'team-gpus' (pack config) has the untolerated taint(s) ['team=a:NoSchedule']" \
        in message


# ---- zone spread -------------------------------------------------------------------------------------------------

def _spread(resources: list) -> list[str]:
    return messages(stack_violations(spread, resources))


MULTI_ZONE = group(subnets=["subnet-a", "subnet-b"])


def test_the_autoscaler_chart_is_recognised_by_either_name():
    other = (HELM, "cluster-autoscaler-release", {"chart": "autoscaler/cluster-autoscaler", "values": {}})
    assert len(_spread([other, *SUBNETS, MULTI_ZONE, model(spread=True)])) == 1
    unrelated = (HELM, "karpenter-release", {"chart": "karpenter", "values": {}})
    assert _spread([unrelated, *SUBNETS, MULTI_ZONE, model(spread=True)]) == []


def test_the_refusal_names_the_zones_and_the_fix():
    assert _spread([AUTOSCALER, *SUBNETS, MULTI_ZONE, model(spread=True)]) == [
        "Deployment 'model-deployment': requires its replicas spread over zones (DoNotSchedule on "
        "topology.kubernetes.io/zone), but EKS node group 'gpu-nodes-group', which Cluster Autoscaler scales for it, "
        "spans ['us-west-2a', 'us-west-2b']: the autoscaler adds a node from one zone of a group, so a replica that "
        "must go to another zone stays pending; use one node group per zone (gpuNodeGroup.groupPerZone)"]


def test_a_subnet_of_unknown_zone_counts_as_a_zone_of_its_own():
    [message] = _spread([AUTOSCALER, *SUBNETS, group(subnets=["subnet-a", "subnet-z"]), model(spread=True)])
    assert "spans ['us-west-2a', 'zone of subnet-z']" in message
    assert _spread([AUTOSCALER, *SUBNETS, group(subnets=["subnet-a", "subnet-a"]), model(spread=True)]) == []


def test_subnets_still_unknown_or_a_karpenter_pool_leave_the_spread_to_the_provisioner():
    unknown = group(subnets=["subnet-a", UNKNOWN_STRING_VALUE])
    assert _spread([AUTOSCALER, *SUBNETS, unknown, model(spread=True)]) == []
    karpenter = (NODE_POOL, "gpu-pool", {"spec": {"template": {"metadata": {"labels": GPU_LABELS}, "spec": {
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]}}}})
    assert _spread([AUTOSCALER, *SUBNETS, MULTI_ZONE, karpenter, model(spread=True)]) == []


@pytest.mark.parametrize("constraint", [
    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"},
])
def test_only_a_required_spread_over_zones_is_checked(constraint):
    workload = model()
    workload[2]["spec"]["template"]["spec"]["topologySpreadConstraints"] = [constraint]
    assert _spread([AUTOSCALER, *SUBNETS, MULTI_ZONE, workload]) == []


def test_a_multi_zone_group_the_pods_cannot_land_on_is_not_their_concern():
    other = _labelled("gpu-nodes-group", {"workload": "batch"}, ["subnet-a", "subnet-b"])
    assert _spread([AUTOSCALER, *SUBNETS, other, model(spread=True)]) == []
    unknown_selector = model(spread=True)
    unknown_selector[2]["spec"]["template"]["spec"]["nodeSelector"] = UNKNOWN_STRING_VALUE
    assert _spread([AUTOSCALER, *SUBNETS, MULTI_ZONE, unknown_selector]) == []


def test_each_spanning_group_is_reported():
    groups = [group("a-group", subnets=["subnet-a", "subnet-b"]), group("b-group", subnets=["subnet-b", "subnet-c"])]
    found = _spread([AUTOSCALER, *SUBNETS, *groups, model(spread=True)])
    assert [("a-group" in m, "b-group" in m) for m in found] == [(True, False), (False, True)], found




def test_each_violation_is_reported_on_the_workload():
    urn = "urn:pulumi:test::gpu-model-platform::kubernetes:apps/v1:Deployment::model-deployment"
    assert [u for _, u in stack_violations(fit, [group(), model(gpus=2)])] == [urn]
    assert [u for _, u in stack_violations(spread, [AUTOSCALER, *SUBNETS, MULTI_ZONE, model(spread=True)])] == [urn]
