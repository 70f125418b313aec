"""What every EKS managed node group of the platform shares: its IAM role, its hardened launch
template, and the cluster-autoscaler tags that let a group scale up from zero.

Both the CPU system group (inside `Cluster`) and `GpuNodeGroup` are built from these, so a
security default is written once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from ..capacity.gpu_scheduling import GPU_RESOURCE, GpuScheduling

# The AWS managed policies a node needs, and no more: join the cluster, pull images.
# `AmazonEC2ContainerRegistryPullOnly` (2024) replaces ReadOnly's list/describe rights with pulls only.
NODE_MANAGED_POLICIES: tuple[str, ...] = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
# Only when the cluster's VPC CNI takes its rights from the node role (a cluster we did not create).
# Created clusters give the CNI its own IRSA role, so no pod that reaches IMDS can touch ENIs.
CNI_MANAGED_POLICY = "AmazonEKS_CNI_Policy"

# One hop: the node itself (and host-network pods: the VPC CNI, kube-proxy) reach IMDSv2, pod-network
# containers do not, so no pod can take the node role's credentials. Nothing the platform runs needs IMDS
# from the pod network: AWS-calling pods use IRSA, Cluster Autoscaler and Karpenter are given their region,
# and the EBS CSI driver falls back to Kubernetes metadata (aws-ebs-csi-driver docs/install.md, "Metadata",
# v1.56.0). EKS uses 1 for AL2023 managed nodes too (User Guide, latest/ug/nodes/al2023.adoc).
IMDS_HOP_LIMIT = 1
ROOT_VOLUME_TYPE = "gp3"
# AL2023 boots from /dev/xvda. Bottlerocket keeps its OS on /dev/xvda and images and logs on the data
# volume /dev/xvdb, which is the one that needs the configured size.
_DATA_DEVICE = {"AL2023": "/dev/xvda", "BOTTLEROCKET": "/dev/xvdb"}
_OS_DEVICE = "/dev/xvda"

AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler"


def managed_policy_arn(partition: pulumi.Input[str], policy: str) -> pulumi.Output[str]:
    """The ARN of an AWS managed policy in the given partition (`aws`, `aws-cn`, `aws-us-gov`)."""
    return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy)


def node_policies(attach_cni_policy: bool) -> tuple[str, ...]:
    """The managed policies a node role gets."""
    return NODE_MANAGED_POLICIES + ((CNI_MANAGED_POLICY,) if attach_cni_policy else ())


def assume_role_policy(service: str) -> str:
    """A trust policy letting one AWS service principal assume the role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                       "Action": ["sts:AssumeRole", "sts:TagSession"] if service == "eks.amazonaws.com"
                       else "sts:AssumeRole"}],
    }, sort_keys=True)


def create_node_role(name: str, *, partition: pulumi.Input[str], attach_cni_policy: bool,
                     tags: dict[str, str], parent: pulumi.Resource
                     ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The nodes' IAM role with only the managed policies nodes need; returns it and its attachments."""
    role = aws.iam.Role(
        f"{name}-node-role",
        description="EKS managed nodes: join the cluster and pull images",
        assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-node-{policy}",
            role=role.name,
            policy_arn=managed_policy_arn(partition, policy),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for policy in node_policies(attach_cni_policy)
    ]
    return role, attachments


def block_device_mappings(ami_type: str, disk_size_gib: int) -> list[aws.ec2.LaunchTemplateBlockDeviceMappingArgs]:
    """Encrypted gp3 volumes: the data (root) volume at the configured size, and Bottlerocket's OS volume."""
    family = ami_type.split("_")[0]
    data_device = _DATA_DEVICE[family]
    mappings = [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name=data_device,
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=disk_size_gib, volume_type=ROOT_VOLUME_TYPE, encrypted="true", delete_on_termination="true"),
    )]
    if data_device != _OS_DEVICE:
        # No size: the OS volume keeps the AMI snapshot's; only encryption and type are overridden.
        mappings.insert(0, aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=_OS_DEVICE,
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_type=ROOT_VOLUME_TYPE, encrypted="true", delete_on_termination="true"),
        ))
    return mappings


def create_launch_template(name: str, *, ami_type: str, disk_size_gib: int, tags: dict[str, str],
                           parent: pulumi.Resource) -> aws.ec2.LaunchTemplate:
    """A launch template that requires IMDSv2 and encrypts every volume; EKS still picks the AMI."""
    return aws.ec2.LaunchTemplate(
        f"{name}-launch-template",
        description="EKS managed nodes: IMDSv2 only, encrypted gp3 volumes",
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=IMDS_HOP_LIMIT,
            instance_metadata_tags="disabled",
        ),
        block_device_mappings=block_device_mappings(ami_type, disk_size_gib),
        # Instances and volumes carry the same tags as the node group (cost allocation per group).
        tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                            for kind in ("instance", "volume", "network-interface")],
        update_default_version=True,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def autoscaler_node_template_tags(scheduling: GpuScheduling | None, gpus_per_node: int = 0,
                                  advertised: Mapping[str, int] | None = None) -> dict[str, str]:
    """The cluster-autoscaler tags describing a node before it exists, so a group at zero can scale up.

    cluster-autoscaler reads labels, taints and extended resources of an empty group from these
    (`k8s.io/cluster-autoscaler/node-template/{label,taint,resources}/<name>`, values `<value>`,
    `<value>:<effect>` and the quantity: kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md,
    "Auto-Discovery Setup"); auto-discovery finds the group by `.../enabled`. `advertised` (resource -> count
    per node) replaces the whole-GPU count where the device plugin advertises shares or slices instead.
    """
    tags = {f"{AUTOSCALER_TAG_PREFIX}/enabled": "true"}
    if scheduling is not None:
        tags.update({f"{AUTOSCALER_TAG_PREFIX}/node-template/label/{k}": v for k, v in scheduling.node_labels.items()})
        tags.update({f"{AUTOSCALER_TAG_PREFIX}/node-template/taint/{t.key}": f"{t.value}:{t.effect}"
                     for t in scheduling.taints})
    resources = dict(advertised) if advertised else ({GPU_RESOURCE: gpus_per_node} if gpus_per_node else {})
    tags.update({f"{AUTOSCALER_TAG_PREFIX}/node-template/resources/{name}": str(count)
                 for name, count in sorted(resources.items())})
    return tags


def autoscaler_owner_tag_key(cluster_name: pulumi.Input[str]) -> pulumi.Output[str]:
    """`k8s.io/cluster-autoscaler/<cluster>`: the auto-discovery tag naming the cluster that owns a group."""
    return pulumi.Output.concat(AUTOSCALER_TAG_PREFIX, "/", cluster_name)


def first_autoscaling_group(resources: Sequence[Any] | None) -> str:
    """The name of a managed node group's Auto Scaling group (EKS creates exactly one per group)."""
    names = autoscaling_group_names(resources)
    return names[0] if names else ""


def autoscaling_group_names(resources: Sequence[Any] | None) -> list[str]:
    """Every Auto Scaling group name in a node group's `resources` output."""
    names = []
    for resource in resources or []:
        groups = field_of(resource, "autoscaling_groups") or []
        names += [field_of(group, "name") for group in groups if field_of(group, "name")]
    return names


def field_of(value: object, key: str) -> Any:
    """A field of a typed output (snake_case property) or of a plain dict (camelCase key, as mocks send)."""
    if isinstance(getattr(type(value), key, None), property):
        return getattr(value, key)
    if isinstance(value, dict):
        return value.get("".join(w.capitalize() if i else w for i, w in enumerate(key.split("_"))), value.get(key))
    return getattr(value, key, None)
