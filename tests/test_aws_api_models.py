"""Everything the AWS platform sends is a value AWS accepts, checked against botocore's bundled API models
(EKS, EC2, Auto Scaling, CloudWatch Logs), for every stack that runs on AWS."""

from __future__ import annotations

import re

import pytest

from components.capacity.gpu_instances import GPU_COUNT_BY_INSTANCE_TYPE, is_gpu_instance_type
from components.cluster.eks_cluster import LOG_RETENTION_DAYS
from tests.aws_platform import (
    ADDON,
    ASG_TAG,
    EKS_CLUSTER,
    LAUNCH_TEMPLATE,
    NODE_GROUP,
    build_platform,
    config_of,
    enum,
    platform,
    shapes,
)

AWS_STACKS = ["dev", "prod"]
BOTTLEROCKET = "BOTTLEROCKET_x86_64_NVIDIA"


def _all(stack: str, type_token: str) -> list:
    return platform(stack).of_type(type_token)


def _limits(service: str, shape: str) -> tuple[int, int]:
    s = shapes(service)[shape]
    return s.get("min", 0), s["max"]


def _doc_values(service: str, shape: str, member: str) -> str:
    return shapes(service)[shape]["members"][member]["documentation"]


# --- instance types ------------------------------------------------------------------------------------


def test_every_gpu_instance_type_the_platform_knows_is_an_ec2_instance_type():
    unknown = sorted(set(GPU_COUNT_BY_INSTANCE_TYPE) - set(enum("ec2", "InstanceType")))
    assert unknown == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_configured_instance_types_exist_and_the_gpu_groups_are_gpu_instances(stack):
    ec2_types = set(enum("ec2", "InstanceType"))
    for group in _all(stack, NODE_GROUP):
        types = group.inputs["instanceTypes"]
        assert set(types) <= ec2_types, (group.name, types)
        is_gpu = group.name.startswith("gpu-nodes")
        assert all(is_gpu_instance_type(t) is is_gpu for t in types), (group.name, types)


# --- EKS ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_groups_send_ami_and_capacity_types_and_taint_effects_eks_accepts(stack):
    for group in _all(stack, NODE_GROUP):
        assert group.inputs["amiType"] in enum("eks", "AMITypes"), group.name
        assert group.inputs["capacityType"] in enum("eks", "CapacityTypes"), group.name
        for taint in group.inputs.get("taints") or []:
            assert taint["effect"] in enum("eks", "TaintEffect"), (group.name, taint)
            assert _limits("eks", "taintKey")[0] <= len(taint["key"]) <= _limits("eks", "taintKey")[1]
            assert len(taint["value"]) <= _limits("eks", "taintValue")[1]
        for key, value in group.inputs["labels"].items():
            assert len(key) <= _limits("eks", "labelKey")[1] and len(value) <= _limits("eks", "labelValue")[1]
        for key, value in group.inputs["tags"].items():
            assert len(key) <= _limits("eks", "TagKey")[1] and len(value) <= _limits("eks", "TagValue")[1], key
        scaling = group.inputs["scalingConfig"]
        assert 0 <= scaling["minSize"] <= scaling["desiredSize"] <= scaling["maxSize"], group.name


def test_the_bottlerocket_gpu_ami_is_one_eks_accepts():
    p = build_platform(config_of("dev", gpuNodeGroup={"amiType": BOTTLEROCKET}), with_model=False)
    assert p.gpu_node_group().inputs["amiType"] == BOTTLEROCKET in enum("eks", "AMITypes")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_cluster_sends_log_types_authentication_mode_and_support_type_eks_accepts(stack):
    [cluster] = _all(stack, EKS_CLUSTER)
    assert set(cluster.inputs["enabledClusterLogTypes"]) <= set(enum("eks", "LogType"))
    assert cluster.inputs["accessConfig"]["authenticationMode"] in enum("eks", "AuthenticationMode")
    assert cluster.inputs["upgradePolicy"]["supportType"] in enum("eks", "SupportType")
    assert re.fullmatch(shapes("eks")["ClusterName"]["pattern"] + "$", cluster.inputs["name"])
    assert len(cluster.inputs["name"]) <= _limits("eks", "ClusterName")[1]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_addons_and_access_entries_use_values_eks_accepts(stack):
    for addon in _all(stack, ADDON):
        for field in ("resolveConflictsOnCreate", "resolveConflictsOnUpdate"):
            assert addon.inputs[field] in enum("eks", "ResolveConflicts"), (addon.name, field)
        version = addon.inputs.get("addonVersion")
        assert version is None or re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", version), (addon.name, version)
    valid_entry_types = _doc_values("eks", "CreateAccessEntryRequest", "type")
    for entry in _all(stack, "aws:eks/accessEntry:AccessEntry"):
        assert f"<code>{entry.inputs['type']}</code>" in valid_entry_types, entry.name
    for association in _all(stack, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
        assert association.inputs["accessScope"]["type"] in enum("eks", "AccessScopeType")


# --- EC2 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_launch_templates_send_metadata_options_volume_types_and_tag_targets_ec2_accepts(stack):
    templates = _all(stack, LAUNCH_TEMPLATE)
    assert len(templates) == 2, "the system group's and the GPU group's"
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] in enum("ec2", "LaunchTemplateHttpTokensState")
        assert metadata["httpEndpoint"] in enum("ec2", "LaunchTemplateInstanceMetadataEndpointState")
        assert metadata["instanceMetadataTags"] in enum("ec2", "LaunchTemplateInstanceMetadataTagsState")
        hop_doc = _doc_values("ec2", "LaunchTemplateInstanceMetadataOptionsRequest", "HttpPutResponseHopLimit")
        assert "Integers from 1 to 64" in hop_doc and 1 <= metadata["httpPutResponseHopLimit"] <= 64
        for mapping in template.inputs["blockDeviceMappings"]:
            assert mapping["ebs"]["volumeType"] in enum("ec2", "VolumeType"), template.name
            assert mapping["ebs"]["encrypted"] == "true", template.name
        for spec in template.inputs["tagSpecifications"]:
            assert spec["resourceType"] in enum("ec2", "ResourceType"), spec["resourceType"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_network_resources_send_domain_and_endpoint_types_ec2_accepts(stack):
    for eip in _all(stack, "aws:ec2/eip:Eip"):
        assert eip.inputs["domain"] in enum("ec2", "DomainType")
    for endpoint in _all(stack, "aws:ec2/vpcEndpoint:VpcEndpoint"):
        assert endpoint.inputs["vpcEndpointType"] in enum("ec2", "VpcEndpointType")


# --- Auto Scaling, CloudWatch Logs --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_autoscaler_tags_fit_auto_scalings_tag_limits(stack):
    key_min, key_max = _limits("autoscaling", "TagKey")
    _, value_max = _limits("autoscaling", "TagValue")
    tags = _all(stack, ASG_TAG)
    assert tags
    for tag in tags:
        assert key_min <= len(tag.inputs["tag"]["key"]) <= key_max and len(tag.inputs["tag"]["value"]) <= value_max


def test_the_log_retentions_allowed_are_exactly_those_cloudwatch_accepts():
    documented = re.search(r"Possible values are: ([\d, and]+)\.", shapes("logs")["Days"]["documentation"]).group(1)
    assert tuple(int(d) for d in re.findall(r"\d+", documented)) == LOG_RETENTION_DAYS
