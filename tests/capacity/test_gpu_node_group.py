"""GpuNodeGroup: GPU nodes only GPU pods land on, hardened, that can sit at zero and scale back up."""

from __future__ import annotations

import json

import pytest

from components.capacity.gpu_node_group import (
    GpuNodeGroup,
    GpuNodeGroupArgs,
    validate_gpu_node_group_args,
)
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.cluster.eks_nodes import IMDS_HOP_LIMIT, NODE_MANAGED_POLICIES
from stack_config import ConfigError
from tests.aws_platform import (
    ASG_TAG,
    ATTACHMENT,
    LAUNCH_TEMPLATE,
    ROLE,
    ROLE_POLICY,
    build_platform,
    config_of,
    descendants,
    platform,
)
from tools.synth import run

EKS_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
AWS_STACKS = ["dev", "prod"]


def _template(stack: str) -> dict:
    [template] = descendants(platform(stack).synthesis, "GpuNodeGroup", LAUNCH_TEMPLATE)
    return template.inputs


def _group(**changes) -> GpuNodeGroupArgs:
    return GpuNodeGroupArgs(**{"cluster_name": "c", "subnet_ids": ["subnet-a", "subnet-b"], **changes})


# --- one source of truth for scheduling ------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_model_pods_select_the_node_groups_labels_and_tolerate_its_taints(stack):
    p = platform(stack)
    group = p.gpu_node_group().inputs
    pod = p.deployment()["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == group["labels"]
    taints = {(t["key"], t["value"], t["effect"]) for t in group["taints"]}
    tolerated = {(t["key"], t["value"], EKS_EFFECT[t["effect"]]) for t in pod["tolerations"] if t["operator"] == "Equal"}
    assert taints and taints <= tolerated, (taints, tolerated)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodes_and_pods_take_labels_and_taints_from_the_same_scheduling_object(stack):
    p = platform(stack)
    gpu_nodes = p.components["gpu_nodes"]
    assert p.components["model"]._args.gpu_scheduling is gpu_nodes.scheduling, "one object, not two equal literals"


def test_changing_the_configured_taint_moves_nodes_and_pods_together():
    p = build_platform(config_of("dev", gpuNodeGroup={
        "taints": [{"key": "example.com/gpu", "value": "a100", "effect": "NoExecute"},
                   {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
        "labels": {"example.com/accelerator": "nvidia"}}))
    group = p.gpu_node_group().inputs
    pod = p.deployment()["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == group["labels"] == {"example.com/accelerator": "nvidia"}
    assert {"key": "example.com/gpu", "value": "a100", "effect": "NO_EXECUTE"} in group["taints"]
    assert {"key": "example.com/gpu", "operator": "Equal", "value": "a100", "effect": "NoExecute"} in pod["tolerations"]


# --- the launch template ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodes_require_imdsv2_with_one_hop_so_pods_never_see_the_node_role(stack):
    metadata = _template(stack)["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == IMDS_HOP_LIMIT == 1
    assert metadata["httpEndpoint"] == "enabled"
    [system] = descendants(platform(stack).synthesis, "Cluster", LAUNCH_TEMPLATE)
    assert system.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1, "system nodes too"


def test_what_runs_in_the_pod_network_and_calls_aws_is_given_its_region_instead_of_imds():
    """Cluster Autoscaler and Karpenter would otherwise ask IMDS, which one hop keeps from pods."""
    from tests.autoscaling_platform import stack as autoscaled
    autoscaler = autoscaled("prod").values("cluster-autoscaler-release")
    assert autoscaler["awsRegion"] == "us-west-2"
    karpenter = autoscaled("dev", "karpenter").values("karpenter-controller")
    assert {"name": "AWS_REGION", "value": "us-west-2"} in karpenter["controller"]["env"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_root_volume_is_encrypted_gp3_of_the_configured_size(stack):
    [mapping] = _template(stack)["blockDeviceMappings"]
    assert mapping["deviceName"] == "/dev/xvda"
    assert mapping["ebs"] == {"volumeSize": config_of(stack).gpu_node_group.disk_size_gib, "volumeType": "gp3",
                              "encrypted": "true", "deleteOnTermination": "true"}


def test_bottlerocket_sizes_its_data_volume_and_encrypts_both():
    p = build_platform(config_of("dev", gpuNodeGroup={"amiType": "BOTTLEROCKET_x86_64_NVIDIA"}), with_model=False)
    [template] = descendants(p.synthesis, "GpuNodeGroup", LAUNCH_TEMPLATE)
    mappings = {m["deviceName"]: m["ebs"] for m in template.inputs["blockDeviceMappings"]}
    assert sorted(mappings) == ["/dev/xvda", "/dev/xvdb"]
    assert all(ebs["encrypted"] == "true" and ebs["volumeType"] == "gp3" for ebs in mappings.values())
    assert mappings["/dev/xvdb"]["volumeSize"] == 100 and "volumeSize" not in mappings["/dev/xvda"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_node_group_uses_the_templates_latest_version(stack):
    group = platform(stack).gpu_node_group().inputs
    template = platform(stack).synthesis.named("gpu-nodes-launch-template")
    assert group["launchTemplate"] == {"id": template.id, "version": str(template.outputs["latestVersion"])}
    assert "diskSize" not in group, "the size lives in the launch template"


# --- capacity and scaling --------------------------------------------------------------------------


def test_dev_scales_to_zero_on_spot():
    group = platform("dev").gpu_node_group().inputs
    assert group["scalingConfig"]["minSize"] == 0 and group["scalingConfig"]["desiredSize"] == 0
    assert group["capacityType"] == "SPOT" and len(group["instanceTypes"]) >= 2


def test_prod_is_on_demand_and_never_below_one_node():
    group = platform("prod").gpu_node_group().inputs
    assert group["capacityType"] == "ON_DEMAND"
    assert group["scalingConfig"]["minSize"] >= 1


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_later_runs_leave_the_node_count_to_the_autoscaler(stack):
    assert platform(stack).gpu_node_group().options["ignoreChanges"] == ["scalingConfig.desiredSize"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_group_runs_the_configured_gpu_ami_and_instance_types(stack):
    config = config_of(stack).gpu_node_group
    group = platform(stack).gpu_node_group().inputs
    assert group["amiType"] == config.ami_type == "AL2023_x86_64_NVIDIA"
    assert group["instanceTypes"] == config.instance_types
    assert group["updateConfig"] == {"maxUnavailable": 1}


# --- scale from zero ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_autoscaler_node_template_tags_describe_labels_taints_and_gpus_on_the_group_and_its_asg(stack):
    p = platform(stack)
    group = p.gpu_node_group()
    config = config_of(stack).gpu_node_group
    expected = {"k8s.io/cluster-autoscaler/enabled": "true",
                "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "1"}
    expected |= {f"k8s.io/cluster-autoscaler/node-template/label/{k}": v for k, v in config.labels.items()}
    expected |= {f"k8s.io/cluster-autoscaler/node-template/taint/{t.key}": f"{t.value}:{t.effect}"
                 for t in config.taints}
    assert expected.items() <= group.inputs["tags"].items()
    cluster_name = config_of(stack).cluster.name
    tags = descendants(p.synthesis, "GpuNodeGroup", ASG_TAG)
    for group in p.gpu_node_groups():
        assert expected.items() <= group.inputs["tags"].items(), group.name
        asg_name = group.outputs["resources"][0]["autoscalingGroups"][0]["name"]
        asg_tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
                    for t in tags if t.inputs["autoscalingGroupName"] == asg_name}
        assert asg_tags == expected | {f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"}, group.name
    assert len(tags) == len(p.gpu_node_groups()) * (len(expected) + 1), "every tag belongs to one of the groups"
    assert all(t.inputs["tag"]["propagateAtLaunch"] is False for t in tags)


def test_the_gpu_count_tag_is_the_smallest_instance_types():
    p = build_platform(config_of("dev", gpuNodeGroup={"instanceTypes": ["g5.12xlarge", "g6.48xlarge"]}),
                       with_model=False)
    tags = p.gpu_node_group().inputs["tags"]
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == "4"
    assert p.components["gpu_nodes"].gpus_per_node == 4


# --- the node role -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_node_role_has_only_the_managed_policies_nodes_need_and_no_wildcards(stack):
    synthesis = platform(stack).synthesis
    [role] = descendants(synthesis, "GpuNodeGroup", ROLE)
    policies = sorted(a.inputs["policyArn"] for a in descendants(synthesis, "GpuNodeGroup", ATTACHMENT))
    assert policies == sorted(f"arn:aws:iam::aws:policy/{p}" for p in NODE_MANAGED_POLICIES)
    assert not descendants(synthesis, "GpuNodeGroup", ROLE_POLICY), "no inline policies"
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert platform(stack).gpu_node_group().inputs["nodeRoleArn"] == role.outputs["arn"]


# --- outputs and validation ---------------------------------------------------------------------------


def test_outputs_give_issue_8_its_extension_points():
    p = platform("dev")
    [component] = [r for r in p.synthesis.resources if r.type == "gpu-model-platform:index:GpuNodeGroup"]
    outputs = component.component_outputs
    assert outputs["autoscaling_group_names"] == [p.gpu_node_group().outputs["resources"][0]["autoscalingGroups"][0]["name"]]
    assert outputs["node_role_arn"].startswith("arn:aws:iam::123456789012:role/")
    assert outputs["node_group_name"] and outputs["gpus_per_node"] == 1


@pytest.mark.parametrize("changes, message", [
    ({"instance_types": ["m5.large"]}, "instance_types[0]: got 'm5.large'; not a supported NVIDIA GPU instance type"),
    ({"min_size": 3, "max_size": 2, "desired_size": 2}, "min_size/max_size: got 3/2"),
    ({"desired_size": 5, "max_size": 2}, "desired_size: got 5; must be within min_size..max_size (0..2)"),
    ({"capacity_type": "SPOT"}, "SPOT needs at least two instance types"),
    ({"ami_type": "AL2_x86_64_GPU"}, "ami_type: got 'AL2_x86_64_GPU'"),
    ({"capacity_type": "RESERVED"}, "capacity_type: got 'RESERVED'"),
    ({"scheduling": GpuScheduling(taints=(Taint("nvidia.com/gpu", "true", "PreferNoSchedule"),))},
     "need a NoSchedule taint"),
])
def test_bad_args_are_refused_before_anything_is_registered(changes, message):
    args = _group(**changes)
    assert any(message in p for p in validate_gpu_node_group_args(args)), validate_gpu_node_group_args(args)
    with pytest.raises(ValueError, match="GpuNodeGroup 'gpu'") as caught:
        run(lambda: GpuNodeGroup("gpu", args))
    assert caught.value.registered_resources == []


@pytest.mark.parametrize("changes, message", [
    ({"instanceTypes": ["m7i.xlarge"]}, "gpuNodeGroup.instanceTypes: got 'm7i.xlarge'; not a supported NVIDIA GPU"),
    ({"minSize": 3, "maxSize": 2, "desiredSize": 2}, "gpuNodeGroup.minSize: got 3; must be <= maxSize (2)"),
    ({"minSize": 0, "maxSize": 2, "desiredSize": 3}, "gpuNodeGroup.desiredSize: got 3; must be within minSize..maxSize"),
    ({"capacityType": "SPOT", "instanceTypes": ["g5.xlarge"]}, "gpuNodeGroup.instanceTypes: got ['g5.xlarge']; SPOT"),
    ({"amiType": "AL2023_x86_64_STANDARD"}, "gpuNodeGroup.amiType: got 'AL2023_x86_64_STANDARD'; allowed:"),
    ({"taints": []}, "gpuNodeGroup.taints: got []; need a NoSchedule taint"),
])
def test_bad_gpu_node_group_config_is_a_clear_config_error(changes, message):
    with pytest.raises(ConfigError) as caught:
        config_of("dev", gpuNodeGroup=changes)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_an_existing_cluster_without_subnets_for_gpu_nodes_is_a_config_error():
    from stack_config import RawConfig, load, read_stack_file
    from tests.harness import TEST_SECRETS, raw_sections, stack_file
    raw = read_stack_file(stack_file("dev"), TEST_SECRETS)
    sections = raw_sections("dev")
    sections["cluster"] = {"mode": "existing", "name": "shared", "enforcesNetworkPolicies": True}
    sections.pop("network")
    with pytest.raises(ConfigError) as caught:
        load(RawConfig(sections=sections, secret_paths=raw.secret_paths))
    assert any("network: got None; required for the GPU node group's subnets" in p for p in caught.value.problems)


# --- one group per zone (prod: required zone spread with Cluster Autoscaler) ---------------------------------


def test_prod_has_one_gpu_group_per_zone_each_in_its_zones_subnet():
    p = platform("prod")
    subnets = {r.id: r.inputs["availabilityZone"] for r in p.of_type("aws:ec2/subnet:Subnet")
               if r.name.startswith("network-private-")}
    groups = {g.name: g.inputs for g in p.gpu_node_groups()}
    zones = config_of("prod").network.availability_zones
    assert sorted(groups) == sorted(f"gpu-nodes-group-{zone}" for zone in zones)
    for zone in zones:
        assert [subnets[s] for s in groups[f"gpu-nodes-group-{zone}"]["subnetIds"]] == [zone]
    assert p.components["gpu_nodes"].zones == zones


def test_per_zone_groups_share_out_the_sizes_and_keep_the_total_floor():
    groups = [g.inputs["scalingConfig"] for g in platform("prod").gpu_node_groups()]
    config = config_of("prod").gpu_node_group
    assert [g["minSize"] for g in groups] == [1, 1, 0]
    assert sum(g["minSize"] for g in groups) == config.min_size, "the two-node floor stays two nodes"
    assert sum(g["maxSize"] for g in groups) == config.max_size
    assert all(g["minSize"] <= g["desiredSize"] <= g["maxSize"] for g in groups)


def test_dev_keeps_one_group_over_its_zones():
    p = platform("dev")
    [group] = p.gpu_node_groups()
    assert group.name == "gpu-nodes-group" and len(group.inputs["subnetIds"]) == 2


def test_the_autoscaling_group_output_lists_every_zones_group():
    p = platform("prod")
    [component] = [r for r in p.synthesis.resources if r.type == "gpu-model-platform:index:GpuNodeGroup"]
    expected = [g.outputs["resources"][0]["autoscalingGroups"][0]["name"] for g in p.gpu_node_groups()]
    assert sorted(component.component_outputs["autoscaling_group_names"]) == sorted(expected)
    assert len(component.component_outputs["node_group_names"]) == 3


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_gpu_nodes_are_created_after_the_vpc_cni_and_kube_proxy_addons(stack):
    p = platform(stack)
    addons = {a.inputs["addonName"]: a.urn for a in p.of_type("aws:eks/addon:Addon")}
    for group in p.gpu_node_groups():
        for addon in ("vpc-cni", "kube-proxy"):
            assert addons[addon] in group.options["dependencies"], (group.name, addon)


def test_required_zone_spread_with_one_multi_zone_group_is_a_config_error_naming_the_fix():
    with pytest.raises(ConfigError) as caught:
        config_of("prod", gpuNodeGroup={"groupPerZone": False})
    assert any(p.startswith("gpu-model-platform:gpuNodeGroup.groupPerZone: got False; set it to true")
               for p in caught.value.problems), caught.value.problems


def test_one_group_per_zone_needs_two_zones_or_more():
    from components.capacity.gpu_node_group import share
    assert share(2, 3) == [1, 1, 0] and share(6, 3) == [2, 2, 2] and share(2, 3, at_least=1) == [1, 1, 1]
    assert share(7, 3) == [3, 2, 2]


# --- Volta ----------------------------------------------------------------------------------------------------


def test_volta_instances_are_refused_with_the_reason():
    problems = validate_gpu_node_group_args(_group(instance_types=["p3.2xlarge"]))
    assert problems == ["instance_types[0]: got 'p3.2xlarge'; refused: V100 (Volta) GPUs: CUDA 13, which the model "
                        "image uses, dropped Volta"]
    with pytest.raises(ConfigError) as caught:
        config_of("dev", gpuNodeGroup={"instanceTypes": ["p3dn.24xlarge", "g5.xlarge"]})
    assert any("gpuNodeGroup.instanceTypes: got 'p3dn.24xlarge'; refused: V100 (Volta)" in p and "CUDA 13" in p
               for p in caught.value.problems), caught.value.problems
    with pytest.raises(ConfigError) as caught:
        config_of("dev", autoscaling={"provisioner": "karpenter", "spotFirst": False,
                                      "karpenter": {"instanceFamilies": ["p3"]}})
    assert any("autoscaling.karpenter.instanceFamilies: got 'p3'; refused: V100 (Volta)" in p
               for p in caught.value.problems), caught.value.problems


def test_advertised_shares_replace_the_whole_gpu_count_in_the_template_and_are_checked():
    from components._args import InvalidArgs
    from components.capacity.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
    from tests.harness import components

    def group(**fields):
        return GpuNodeGroup("g", GpuNodeGroupArgs(cluster_name="c", subnet_ids=["s1", "s2"],
                                                  instance_types=["g5.12xlarge"], **fields))

    shared = components(lambda opts: group(advertised_per_gpu={"nvidia.com/gpu.shared": 3}))
    tags = {r.inputs["tag"]["key"]: r.inputs["tag"]["value"] for r in shared.of_type("aws:autoscaling/tag:Tag")}
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu.shared"] == "12"  # 4 GPUs x 3
    assert "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" not in tags
    with pytest.raises(InvalidArgs, match=r"advertised_per_gpu"):
        components(lambda opts: group(advertised_per_gpu={"nvidia.com/gpu shared": 3}))
    with pytest.raises(InvalidArgs, match=r"advertised_per_gpu"):
        components(lambda opts: group(advertised_per_gpu={"nvidia.com/gpu.shared": 0}))
