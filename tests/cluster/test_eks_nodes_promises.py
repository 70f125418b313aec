"""What every managed node group shares (issue 29): the node role with only the policies nodes need, the launch
template's IMDSv2 and encrypted volumes, the autoscaler's scale-from-zero tags, and reading the group's ASG name."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.cluster import eks_nodes
from tools.synth import Synthesis, run

TAGS = {"team": "ml"}
PREFIX = "k8s.io/cluster-autoscaler"


class _Owner(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__("test:index:Owner", "owner")


def _nodes(*, ami_type: str = "AL2023_x86_64_NVIDIA", attach_cni_policy: bool = False) -> Synthesis:
    def program() -> None:
        owner = _Owner()
        eks_nodes.create_node_role("gpu", partition="aws-us-gov", attach_cni_policy=attach_cni_policy, tags=TAGS,
                                   parent=owner)
        eks_nodes.create_launch_template("gpu", ami_type=ami_type, disk_size_gib=200, tags=TAGS, parent=owner)
        aws.ssm.Parameter("owner-tag", type="String", value=eks_nodes.autoscaler_owner_tag_key("prod-cluster"),
                          opts=pulumi.ResourceOptions(parent=owner))

    return run(program)


def test_the_node_role_trusts_only_ec2_and_gets_only_the_policies_nodes_need_in_the_clusters_partition():
    synthesis = _nodes()
    role = synthesis.named("gpu-node-role")
    assert json.loads(role.inputs["assumeRolePolicy"]) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    assert role.inputs["description"] == "EKS managed nodes: join the cluster and pull images"
    assert role.inputs["tags"] == TAGS
    attachments = synthesis.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert {a.name: a.inputs["policyArn"] for a in attachments} == {
        "gpu-node-AmazonEKSWorkerNodePolicy": "arn:aws-us-gov:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "gpu-node-AmazonEC2ContainerRegistryPullOnly":
            "arn:aws-us-gov:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"}
    assert all(a.inputs["role"] == role.outputs["name"] and a.parent == role.parent for a in attachments)


def test_the_cni_policy_is_attached_to_the_node_role_only_when_asked():
    attachments = _nodes(attach_cni_policy=True).of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert "arn:aws-us-gov:iam::aws:policy/AmazonEKS_CNI_Policy" in {a.inputs["policyArn"] for a in attachments}
    assert eks_nodes.node_policies(True) == (
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy")


def test_the_eks_control_plane_may_also_tag_its_session():
    assert json.loads(eks_nodes.assume_role_policy("eks.amazonaws.com"))["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
         "Action": ["sts:AssumeRole", "sts:TagSession"]}]


def test_the_launch_template_requires_imdsv2_one_hop_and_tags_instances_volumes_and_interfaces():
    template = _nodes().named("gpu-launch-template").inputs
    assert template["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                           "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
    assert template["tagSpecifications"] == [{"resourceType": kind, "tags": TAGS}
                                             for kind in ("instance", "volume", "network-interface")]
    assert template["description"] == "EKS managed nodes: IMDSv2 only, encrypted gp3 volumes"
    assert template["updateDefaultVersion"] is True, "a changed template reaches the node group"
    assert template["tags"] == TAGS


def test_an_al2023_node_boots_from_one_encrypted_gp3_volume_of_the_configured_size():
    assert _nodes().named("gpu-launch-template").inputs["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 200, "volumeType": "gp3", "encrypted": "true",
                                            "deleteOnTermination": "true"}}]


def test_a_bottlerocket_node_keeps_its_os_volume_first_and_gets_the_configured_size_on_its_data_volume():
    mappings = _nodes(ami_type="BOTTLEROCKET_x86_64_NVIDIA").named("gpu-launch-template").inputs["blockDeviceMappings"]
    assert mappings == [
        {"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}},
        {"deviceName": "/dev/xvdb", "ebs": {"volumeSize": 200, "volumeType": "gp3", "encrypted": "true",
                                            "deleteOnTermination": "true"}}]


def test_the_owner_tag_key_names_the_cluster_for_auto_discovery():
    assert _nodes().named("owner-tag").inputs["value"] == "k8s.io/cluster-autoscaler/prod-cluster"


def test_an_empty_gpu_group_tells_the_autoscaler_its_labels_taints_and_gpus():
    scheduling = GpuScheduling(node_labels={"pool": "gpu"}, taints=(Taint("nvidia.com/gpu", "true", "NoSchedule"),))
    assert eks_nodes.autoscaler_node_template_tags(scheduling, gpus_per_node=4) == {
        f"{PREFIX}/enabled": "true",
        f"{PREFIX}/node-template/label/pool": "gpu",
        f"{PREFIX}/node-template/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{PREFIX}/node-template/resources/nvidia.com/gpu": "4"}
    assert eks_nodes.autoscaler_node_template_tags(None) == {f"{PREFIX}/enabled": "true"}


def test_shares_or_slices_the_device_plugin_advertises_replace_the_whole_gpu_count():
    tags = eks_nodes.autoscaler_node_template_tags(None, gpus_per_node=1,
                                                   advertised={"nvidia.com/mig-1g.10gb": 7, "nvidia.com/gpu.shared": 4})
    assert tags == {f"{PREFIX}/enabled": "true",
                    f"{PREFIX}/node-template/resources/nvidia.com/gpu.shared": "4",
                    f"{PREFIX}/node-template/resources/nvidia.com/mig-1g.10gb": "7"}


def test_the_groups_asg_name_is_read_from_typed_outputs_and_from_the_camel_case_dicts_mocks_send():
    typed = [aws.eks.outputs.NodeGroupResource(autoscaling_groups=[
        aws.eks.outputs.NodeGroupResourceAutoscalingGroup(name="asg-a")])]
    mocked = [{"autoscalingGroups": [{"name": "asg-b"}, {"name": "asg-c"}, {}]}]
    assert eks_nodes.autoscaling_group_names(typed) == ["asg-a"]
    assert eks_nodes.autoscaling_group_names(mocked) == ["asg-b", "asg-c"]
    assert eks_nodes.first_autoscaling_group(mocked) == "asg-b"
    assert eks_nodes.first_autoscaling_group(typed) == "asg-a"
    assert eks_nodes.first_autoscaling_group(None) == ""
