"""GpuNodeGroup: an EKS managed node group of NVIDIA GPU instances that can sit at zero when idle."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import pulumi
import pulumi_aws as aws

from .._args import LabelKey, PositiveInt, Problem, between, checked_args, checked_by, got, non_empty, problems_of
from ..aws_tags import component_tags
from ..cluster.eks_nodes import (
    AUTOSCALER_TAG_PREFIX,
    autoscaler_node_template_tags,
    autoscaler_owner_tag_key,
    autoscaling_group_names,
    create_launch_template,
    create_node_role,
    first_autoscaling_group,
)
from .gpu_instances import gpus_per_node as _gpus_per_node
from .gpu_instances import instance_type_problem
from .gpu_scheduling import GpuScheduling
from .llm_sizing import LlmSizing

GPU_AMI_TYPES: tuple[str, ...] = ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA")
CAPACITY_TYPES: tuple[str, ...] = ("ON_DEMAND", "SPOT")
GpuInstanceType = Annotated[str, checked_by(instance_type_problem)]


@dataclass
class GpuNodeGroupArgs:
    """Inputs of `GpuNodeGroup`. Defaults: one on-demand g5.xlarge at most, none while idle."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster the group joins."""
    subnet_ids: Sequence[pulumi.Input[str]] | pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets the nodes launch in (spread over zones for capacity); ignored when `zone_subnets` is set."""
    scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """Labels and taints of the nodes; GPU workloads derive nodeSelector and tolerations from the same object."""
    instance_types: Annotated[list[GpuInstanceType], non_empty()] = field(default_factory=lambda: ["g5.xlarge"])
    """NVIDIA GPU instance types; several for SPOT (any one may run out)."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """EC2 capacity type."""
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = "AL2023_x86_64_NVIDIA"
    """EKS-optimised accelerated AMI (driver and container toolkit included)."""
    min_size: int = 0
    """Minimum nodes; 0 lets an idle group cost nothing."""
    max_size: int = 1
    """Maximum nodes."""
    desired_size: int = 0
    """Initial nodes; the autoscaler owns the number afterwards (later runs never reset it)."""
    disk_size_gib: Annotated[int, between(20, 16384)] = 100
    """Encrypted gp3 root (Bottlerocket: data) volume: CUDA images are large."""
    max_unavailable: PositiveInt = 1
    """Nodes replaced at once during an update (AMI or template change)."""
    attach_cni_policy: bool = False
    """Give the node role `AmazonEKS_CNI_Policy`: only for a cluster whose VPC CNI has no IRSA role of its own
    (a cluster this program did not create)."""
    zone_subnets: dict[str, Sequence[pulumi.Input[str]]] = field(default_factory=dict)
    """One node group per zone, each in that zone's subnets (zone -> subnets); empty: one group over
    `subnet_ids`. Cluster Autoscaler builds a scale-up template from one zone of a group, so a pod that must
    go to another zone (required zone spread) only gets a node from a group in that zone. Sizes are shared
    out: each zone gets its part of `min_size`/`desired_size` (earlier zones first) and of `max_size` (at
    least 1)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """Resources the node groups wait for: the cluster's VPC CNI add-on (`Cluster.node_prerequisites`), without
    which a node never becomes Ready."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags (the provider's default tags apply anyway)."""
    advertised_per_gpu: dict[LabelKey, PositiveInt] = field(default_factory=dict)
    """What the device plugin advertises for each GPU in place of a whole `nvidia.com/gpu`: a time-sliced pool's
    `{"nvidia.com/gpu.shared": replicas}` (`SharedPool.advertised_per_gpu`), a MIG layout's slices per GPU. Cluster
    Autoscaler reads a group at zero from its node-template tags, and knows only whole GPUs from the instance
    type: without these a pod asking for a share or a slice would never scale the group up from zero."""
    llm: LlmSizing | None = None
    """The large language model these nodes serve: every instance type must hold its weights and a minimal KV
    cache on the GPUs of one node (refused here, not after a GPU cold start ends in out-of-memory)."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.llm is not None:
            problems += [("instance_types", problem) for t in self.instance_types
                         if (problem := self.llm.fit_problem(t)) is not None]
        if self.capacity_type == "SPOT" and len(set(self.instance_types)) < 2:
            problems.append(("instance_types", got(self.instance_types, "SPOT needs at least two instance types")))
        if self.min_size < 0 or self.min_size > self.max_size or self.max_size < 1:
            problems.append(("min_size/max_size", f"got {self.min_size}/{self.max_size}; need 0 <= min_size <= "
                                                  "max_size, max_size >= 1"))
        elif not self.min_size <= self.desired_size <= self.max_size:
            problems.append(("desired_size", got(self.desired_size, f"must be within min_size..max_size "
                                                                    f"({self.min_size}..{self.max_size})")))
        problems += [("zone_subnets", f"zone {zone!r} has no subnets") for zone, subnets in self.zone_subnets.items()
                     if isinstance(subnets, (list, tuple)) and not subnets]
        if not any(t.effect == "NoSchedule" for t in self.scheduling.taints):
            problems.append(("scheduling.taints", "need a NoSchedule taint, or CPU pods would fill the GPU nodes"))
        return problems


def share(total: int, parts: int, at_least: int = 0) -> list[int]:
    """`total` split over `parts` as evenly as whole numbers allow, earlier parts first, each >= `at_least`."""
    base, extra = divmod(total, parts)
    return [max(at_least, base + (1 if i < extra else 0)) for i in range(parts)]


def validate_gpu_node_group_args(args: GpuNodeGroupArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def _tag_resource_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", key.removeprefix(f"{AUTOSCALER_TAG_PREFIX}/")).strip("-")


class GpuNodeGroup(pulumi.ComponentResource):
    """GPU nodes for model pods, and only for them.

    Creates the nodes' IAM role (worker and image-pull managed policies only), a launch template
    (IMDSv2 required with one hop, encrypted gp3 volume), the managed node group, or one per zone
    (GPU AMI, labels and taints from `scheduling`, scaling whose desired size an autoscaler owns,
    created after the cluster's VPC CNI), and the cluster-autoscaler node-template tags on each group
    and on its Auto Scaling group, so it can scale up from zero.
    """

    scheduling: GpuScheduling
    """The labels and taints the nodes carry: build GPU pods' nodeSelector and tolerations from it."""
    node_group_name: pulumi.Output[str]
    """The EKS node group name (the first zone's with one group per zone)."""
    node_group_names: pulumi.Output[list[str]]
    """Every EKS node group name (one, or one per zone in `zones` order)."""
    node_group_arn: pulumi.Output[str]
    """The EKS node group ARN (the first zone's with one group per zone)."""
    node_role_arn: pulumi.Output[str]
    """The nodes' IAM role ARN (e.g. for a Karpenter EC2NodeClass or an access entry)."""
    node_role_name: pulumi.Output[str]
    """The nodes' IAM role name."""
    autoscaling_group_names: pulumi.Output[list[str]]
    """The Auto Scaling groups behind the node groups (every zone's): what cluster-autoscaler scales."""
    gpus_per_node: int
    """`nvidia.com/gpu` every node of the group has (the smallest instance type's count)."""
    zones: list[str]
    """The zones with a group of their own (empty: one group over all subnets)."""

    def __init__(self, name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        args = checked_args("GpuNodeGroup", name, args, GpuNodeGroupArgs)
        super().__init__("gpu-model-platform:index:GpuNodeGroup", name, None, opts)
        self._args = args
        self.gpus_per_node = _gpus_per_node(args.instance_types)
        # Pods scheduled from it learn how many GPUs a node has: asking for more is refused at declaration.
        self.scheduling = dataclasses.replace(args.scheduling, max_gpus_per_node=self.gpus_per_node)
        self.zones = list(args.zone_subnets)
        self._tags = component_tags("gpu-node-group", name, {
            "node-group": "gpu", "capacity-type": args.capacity_type, "ami-type": args.ami_type, **args.tags})

        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        role, attachments = create_node_role(name, partition=partition, attach_cni_policy=args.attach_cni_policy,
                                             tags=self._tags, parent=self)
        template = create_launch_template(name, ami_type=args.ami_type, disk_size_gib=args.disk_size_gib,
                                          tags=self._tags, parent=self)
        groups = []
        for suffix, subnets, (low, initial, high) in self._placements():
            group = self._create_node_group(f"{name}-group{suffix}", role, template, attachments, subnets,
                                            low, initial, high)
            self._tag_autoscaling_group(f"{name}-asg{suffix}", group)
            groups.append(group)

        self.node_group_name = groups[0].node_group_name
        self.node_group_names = pulumi.Output.all(*[g.node_group_name for g in groups])
        self.node_group_arn = groups[0].arn
        self.node_role_arn = role.arn
        self.node_role_name = role.name
        self.autoscaling_group_names = pulumi.Output.all(*[g.resources.apply(autoscaling_group_names)
                                                           for g in groups]).apply(lambda lists: sum(lists, []))
        self.register_outputs({
            "node_group_name": self.node_group_name,
            "node_group_names": self.node_group_names,
            "node_group_arn": self.node_group_arn,
            "node_role_arn": self.node_role_arn,
            "node_role_name": self.node_role_name,
            "autoscaling_group_names": self.autoscaling_group_names,
            "gpus_per_node": self.gpus_per_node,
            "zones": self.zones,
        })

    def autoscaler_tags(self) -> dict[str, str]:
        """The cluster-autoscaler node-template tags (labels, taints, and the GPUs or their shares) of this group."""
        advertised = {resource: per_gpu * self.gpus_per_node
                      for resource, per_gpu in self._args.advertised_per_gpu.items()}
        return autoscaler_node_template_tags(self.scheduling, self.gpus_per_node, advertised or None)

    def _placements(self) -> list[tuple[str, pulumi.Input[Sequence[pulumi.Input[str]]], tuple[int, int, int]]]:
        """(logical name suffix, subnets, (min, desired, max)) of each group: one, or one per zone."""
        a = self._args
        if not a.zone_subnets:
            return [("", a.subnet_ids, (a.min_size, a.desired_size, a.max_size))]
        count = len(a.zone_subnets)
        sizes = zip(share(a.min_size, count), share(a.desired_size, count), share(a.max_size, count, at_least=1),
                    strict=True)
        return [(f"-{zone}", list(subnets), (low, initial, max(high, initial)))
                for (zone, subnets), (low, initial, high) in zip(a.zone_subnets.items(), sizes, strict=True)]

    def _create_node_group(self, name: str, role: aws.iam.Role, template: aws.ec2.LaunchTemplate,
                           attachments: Sequence[pulumi.Resource],
                           subnets: pulumi.Input[Sequence[pulumi.Input[str]]], min_size: int, desired_size: int,
                           max_size: int) -> aws.eks.NodeGroup:
        a = self._args
        return aws.eks.NodeGroup(
            name,
            cluster_name=a.cluster_name,
            node_role_arn=role.arn,
            subnet_ids=subnets,
            ami_type=a.ami_type,
            capacity_type=a.capacity_type,
            instance_types=list(a.instance_types),
            labels=self.scheduling.node_selector(),
            taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.eks_effect())
                    for t in self.scheduling.taints],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=min_size, max_size=max_size, desired_size=desired_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=a.max_unavailable),
            # The template's newest version: a template change rolls the nodes.
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id,
                                                                version=template.latest_version.apply(str)),
            tags={**self._tags, **self.autoscaler_tags()},
            # cluster-autoscaler (or a person during an incident) owns the node count: `pulumi up` must not
            # scale a busy group back to its initial size. A node joins only once the VPC CNI runs.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, *a.after],
                                        ignore_changes=["scalingConfig.desiredSize"]),
        )

    def _tag_autoscaling_group(self, name: str, group: aws.eks.NodeGroup) -> None:
        # EKS does not copy node group tags to the Auto Scaling group, where cluster-autoscaler reads them.
        asg = group.resources.apply(first_autoscaling_group)
        tags: list[tuple[str, pulumi.Input[str], str]] = [
            (_tag_resource_name(key), key, value) for key, value in self.autoscaler_tags().items()]
        tags.append(("cluster-owner", autoscaler_owner_tag_key(self._args.cluster_name), "owned"))
        for suffix, key, value in tags:
            aws.autoscaling.Tag(
                f"{name}-{suffix}",
                autoscaling_group_name=asg,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self),
            )
