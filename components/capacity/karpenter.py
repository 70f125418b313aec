"""Karpenter: GPU nodes launched straight from pending pods, instead of a managed node group.

The NodePool carries the same labels and taints as `GpuScheduling`, so the model's nodeSelector
and tolerations work unchanged whichever provisioner a stack picks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import (
    ChartVersion,
    DnsLabel,
    PositiveInt,
    Problem,
    between,
    checked_args,
    checked_by,
    got,
    matches,
    non_empty,
    problems_of,
)
from .._charts import PinnedChart, extra_values_problems
from ..aws_regions import AwsRegion
from ..aws_tags import component_tags
from ..cluster.irsa import controller_role
from ..labels import standard_labels
from .cluster_autoscaler import (
    MetricsEndpoint,
    alert,
    aws_account_of,
    off_gpu_node_affinity,
)
from .gpu_instances import GPU_INSTANCE_FAMILIES, unsupported_reason
from .gpu_scheduling import GPU_RESOURCE, GpuScheduling

# The official charts (aws/karpenter-provider-aws charts/karpenter and charts/karpenter-crd, version
# 1.14.1, supporting Kubernetes 1.30 to 1.36 per docs/upgrading/compatibility.md); values keys from
# that version's values.yaml. The CRDs come from their own chart so `helm upgrade` updates them.
CHART_REPOSITORY = "oci://public.ecr.aws/karpenter"
CHART_VERSION = "1.14.1"
CONTROLLER_CHART = PinnedChart("karpenter", CHART_REPOSITORY, CHART_VERSION, f"karpenter-{CHART_VERSION}.keys.tsv")
CRD_CHART = PinnedChart("karpenter-crd", CHART_REPOSITORY, CHART_VERSION)
# The CRDs the karpenter-crd chart installs (and owns): cluster-wide, so one Karpenter per cluster.
CRD_NAMES = ("nodepools.karpenter.sh", "nodeclaims.karpenter.sh", "ec2nodeclasses.karpenter.k8s.aws")
# EKS-optimised AL2023 release whose notes list amazon-eks-node-al2023-x86_64-nvidia-1.35 (awslabs/amazon-eks-ami,
# CHANGELOG "AMI Release v20260714"; the same release covers 1.33 to 1.36, so it fits the cluster's 1.35). Pinned:
# `@latest` would roll every node on each AMI release (Karpenter docs, "Managing AMIs").
DEFAULT_AMI_ALIAS = "al2023@v20260714"
API_GROUP = "karpenter.sh"
NODE_CLASS_GROUP = "karpenter.k8s.aws"
# The node IAM role's managed policies, as Karpenter's reference CloudFormation template lists them
# minus SSM (no shell on GPU nodes) and the CNI policy (a created cluster's VPC CNI has its own role).
NODE_MANAGED_POLICIES: tuple[str, ...] = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
CNI_MANAGED_POLICY = "AmazonEKS_CNI_Policy"
# EC2 events Karpenter acts on before a node goes away (reference CloudFormation template).
INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
# Interruption notices are useless once the instance is gone (two minutes for spot): keep them five.
QUEUE_RETENTION_SECONDS = 300
CapacityType = Literal["spot", "on-demand"]
Duration = Annotated[str, matches(r"([0-9]+(s|m|h))+", "must be a duration such as 30s, 10m or 1h")]
# EC2 launches no spot instance in an account without this role; nothing else creates it on a fresh account
# (Karpenter's getting-started guide runs `aws iam create-service-linked-role --aws-service-name spot.amazonaws.com`).
SPOT_SERVICE = "spot.amazonaws.com"
SPOT_SERVICE_LINKED_ROLE = "AWSServiceRoleForEC2Spot"


def spot_role_problem(found: Sequence[str]) -> str | None:
    """The message when the account has no EC2 Spot service-linked role (None when it has)."""
    if SPOT_SERVICE_LINKED_ROLE in found:
        return None
    return (f"the AWS account has no {SPOT_SERVICE_LINKED_ROLE}, without which EC2 launches no spot instance; "
            "set autoscaling.karpenter.spotServiceLinkedRole: create (or run `aws iam create-service-linked-role "
            f"--aws-service-name {SPOT_SERVICE}` once per account), or drop spot from the capacity types")


def karpenter_controller_policy(cluster_name: str, partition: str, account: str, region: str, *,
                                node_role_arn: str, instance_profile_arn: str, queue_arn: str,
                                subnet_ids: Sequence[str], security_group_ids: Sequence[str]) -> dict[str, Any]:
    """The controller's permissions: Karpenter's reference controller policy, narrowed to this cluster.

    Narrower than the reference: subnets and security groups by id instead of any in the region; no
    capacity reservations or placement groups (unused); no instance-profile management (the
    EC2NodeClass names a profile created here); the one node role to pass.
    """
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    any_nodepool = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    request_owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
                     "aws:RequestTag/eks:eks-cluster-name": cluster_name}
    launched = [f"{ec2}:*:{kind}/*" for kind in
                ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")]
    return {"Version": "2012-10-17", "Statement": [
        # Amazon's published AMIs and their snapshots, and only our subnets and security groups.
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*",
                      *[f"{ec2}:{account}:subnet/{s}" for s in subnet_ids],
                      *[f"{ec2}:{account}:security-group/{g}" for g in security_group_ids]]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": f"{ec2}:*:launch-template/*",
         "Condition": {"StringEquals": owned, "StringLike": any_nodepool}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], "Resource": launched,
         "Condition": {"StringEquals": request_owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": launched,
         "Condition": {"StringEquals": {**request_owned,
                                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": f"{ec2}:*:instance/*",
         "Condition": {"StringEquals": owned, "StringLike": any_nodepool,
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow", "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Condition": {"StringEquals": owned, "StringLike": any_nodepool}},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}}},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Action": "iam:GetInstanceProfile",
         "Resource": instance_profile_arn},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": f"arn:{partition}:eks:{region}:{account}:cluster/{cluster_name}"},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow",
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], "Resource": queue_arn},
        # Read-only calls without resource-level permissions.
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {"Sid": "AllowUnscopedInstanceProfileListAction", "Effect": "Allow", "Action": "iam:ListInstanceProfiles",
         "Resource": "*"},
    ]}


def interruption_queue_policy(queue_arn: str) -> dict[str, Any]:
    """EventBridge (and SQS) may send to the queue; nothing may reach it without TLS."""
    return {"Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": [
        {"Sid": "AllowEventBridge", "Effect": "Allow",
         "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
         "Action": "sqs:SendMessage", "Resource": queue_arn},
        {"Sid": "DenyHTTP", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}


def _family_problem(family: str) -> str | None:
    if unsupported_reason(family):
        return f"refused: {unsupported_reason(family)}"
    return None if family in GPU_INSTANCE_FAMILIES else f"allowed: {', '.join(GPU_INSTANCE_FAMILIES)}"


@dataclass
class KarpenterArgs:
    """Inputs of `Karpenter`. Defaults: on-demand single-GPU g5/g6 nodes, at most four GPUs in all."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster (API authentication: nodes join through an access entry)."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider (IRSA): the controller role trusts Karpenter's service account only."""
    region: AwsRegion
    """AWS region of the cluster."""
    subnet_ids: Sequence[pulumi.Input[str]] | pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets GPU nodes launch in."""
    security_group_ids: Sequence[pulumi.Input[str]] | pulumi.Input[Sequence[pulumi.Input[str]]]
    """Security groups of the nodes (the EKS cluster security group, as managed nodes have)."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """Labels and taints of the GPU nodes: the NodePool applies them, GPU pods match them."""
    instance_families: Annotated[list[Annotated[str, checked_by(_family_problem)]], non_empty()] = field(
        default_factory=lambda: ["g5", "g6"])
    """NVIDIA GPU instance families Karpenter may choose from."""
    capacity_types: Annotated[list[CapacityType], non_empty()] = field(default_factory=lambda: ["on-demand"])
    """`spot` and/or `on-demand`; with both, Karpenter launches spot and falls back to on-demand."""
    max_gpus: PositiveInt = 4
    """NodePool limit: total `nvidia.com/gpu` of all its nodes."""
    max_gpus_per_node: PositiveInt = 1
    """Largest GPU count of a node Karpenter may pick."""
    ami_alias: Annotated[str, matches(r"(al2023|bottlerocket)@v[0-9][0-9.]*",
                                      f"a pinned alias such as {DEFAULT_AMI_ALIAS}")] = DEFAULT_AMI_ALIAS
    """Pinned EKS-optimised AMI alias (`al2023@v...` or `bottlerocket@v...`); the accelerated variant is chosen
    for GPU instance types."""
    disk_size_gib: Annotated[int, between(20, 16384)] = 100
    """Encrypted gp3 root volume (AL2023) or data volume (Bottlerocket)."""
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmptyOrUnderutilized"
    """Remove empty nodes only, or also replace underused ones."""
    consolidate_after: Duration = "10m"
    """How long a node must be empty or underused before Karpenter acts."""
    disruption_budget: Annotated[str, matches(r"((100|[0-9]{1,2})%|[0-9]+)", "a node count or a percentage")] = "1"
    """Nodes (count or percent) Karpenter may disrupt at once."""
    expire_after: Annotated[str, matches(r"([0-9]+(s|m|h))+|Never", "a duration such as 720h, or Never")] = "720h"
    """Nodes older than this are replaced (new AMI, fixes); `Never` keeps them."""
    attach_cni_policy: bool = False
    """Give the node role `AmazonEKS_CNI_Policy` (only when the cluster's VPC CNI has no IRSA role of its own)."""
    spot_service_linked_role: Literal["check", "create"] = "check"
    """With spot capacity: `check` that the account has the EC2 Spot service-linked role (the program stops with
    the fix if not), or `create` it (once per account: a second stack creating it fails)."""
    namespace: DnsLabel = "kube-system"
    """Namespace of the controller."""
    replicas: PositiveInt = 2
    """Controller replicas (leader election), spread over zones behind a PodDisruptionBudget."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `karpenter` and `karpenter-crd` chart version."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags (roles, queue, rules, and every node Karpenter launches)."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the controller chart's (checked against the pinned chart's
    keys). Anything set here is yours to keep secure and working across chart upgrades."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.max_gpus_per_node > self.max_gpus:
            problems.append(("max_gpus", got(self.max_gpus, f"must be >= max_gpus_per_node ({self.max_gpus_per_node})")))
        return problems + extra_values_problems("extra_values", self.extra_values,
                                                CONTROLLER_CHART.at(self.chart_version))


def validate_karpenter_args(args: KarpenterArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class Karpenter(pulumi.ComponentResource):
    """Karpenter provisioning GPU nodes for the model, scoped to this cluster.

    Creates the node IAM role, its instance profile and EKS access entry; the controller's IAM role
    (IRSA, Karpenter's reference policy narrowed to this cluster's tags, subnets, security groups,
    node role and queue); the interruption queue (SQS, encrypted, TLS only) fed by EventBridge rules
    for spot interruptions, rebalance recommendations, instance state changes and scheduled
    maintenance; the CRD and controller charts (controller on system nodes only, behind a
    PodDisruptionBudget); an EC2NodeClass (pinned AMI, IMDSv2 only, encrypted gp3) and a NodePool
    (GPU labels and taints from `gpu_scheduling`, instance families, capacity types, consolidation,
    a disruption budget and a limit on total GPUs). `AutoscalerMonitoring` scrapes it and alerts on it.
    """

    scheduling: GpuScheduling
    """The labels and taints the nodes carry: build GPU pods' nodeSelector and tolerations from it."""
    controller_role_arn: pulumi.Output[str]
    """The controller's IAM role."""
    node_role_arn: pulumi.Output[str]
    """The IAM role of the nodes Karpenter launches."""
    node_role_name: pulumi.Output[str]
    """Its name."""
    instance_profile_name: pulumi.Output[str]
    """The instance profile the EC2NodeClass launches nodes with."""
    interruption_queue_name: pulumi.Output[str]
    """The SQS queue of interruption events (Karpenter's `settings.interruptionQueue`)."""
    node_pool_name: str
    """The GPU NodePool."""
    node_class_name: str
    """Its EC2NodeClass."""
    service_account: str
    """The controller's service account, the only subject its role trusts."""
    metrics: MetricsEndpoint
    """Where the controller serves its metrics."""

    def __init__(self, name: str, args: KarpenterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("Karpenter", name, args, KarpenterArgs)
        _claims.claim("Karpenter", name, opts, [
            *[_claims.kubernetes("CustomResourceDefinition", crd) for crd in CRD_NAMES],
            _claims.helm_release(name, args.namespace), _claims.helm_release(f"{name}-crd", args.namespace)])
        super().__init__("gpu-model-platform:index:Karpenter", name, None, opts)
        self._args = args
        self._release = name
        self._tags = component_tags("karpenter", name, args.tags)
        # Pods scheduled from it learn the largest node Karpenter may launch: asking for more is refused.
        self.scheduling = dataclasses.replace(args.gpu_scheduling, max_gpus_per_node=args.max_gpus_per_node)
        self.service_account = name
        self.node_pool_name = self.node_class_name = f"{name}-gpu"
        # The chart's Service: named `fullnameOverride`, with its name and instance labels, port `http-metrics`.
        self.metrics = MetricsEndpoint(namespace=args.namespace, port="http-metrics", job=name, service_labels={
            "app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": name})
        self._account = pulumi.Output.from_input(args.oidc_provider_arn).apply(aws_account_of)

        node_role, profile, access = self._create_node_identity(name)
        queue = self._create_interruption_queue(name)
        controller_role = self._create_controller_role(name, node_role, profile, queue)
        controller = self._create_controller(name, controller_role, queue)
        self._spot_role: pulumi.Output[str] | None = None
        self._create_node_pool(name, profile, [controller, access, *self._ensure_spot_role(name)])

        self.controller_role_arn = controller_role.arn
        self.node_role_arn = node_role.arn
        self.node_role_name = node_role.name
        self.instance_profile_name = profile.name
        self.interruption_queue_name = queue.name
        self.register_outputs({
            "controller_role_arn": self.controller_role_arn, "node_role_arn": self.node_role_arn,
            "node_role_name": self.node_role_name, "instance_profile_name": self.instance_profile_name,
            "interruption_queue_name": self.interruption_queue_name, "node_pool_name": self.node_pool_name,
            "node_class_name": self.node_class_name, "service_account": self.service_account,
            "spot_service_linked_role": self._spot_role,
        })

    # --- AWS ------------------------------------------------------------------------------------------

    def _create_node_identity(self, name: str) -> tuple[aws.iam.Role, aws.iam.InstanceProfile, aws.eks.AccessEntry]:
        a = self._args
        role = aws.iam.Role(
            f"{name}-node-role",
            description="Nodes launched by Karpenter: join the cluster and pull images",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                sort_keys=True),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        policies = NODE_MANAGED_POLICIES + ((CNI_MANAGED_POLICY,) if a.attach_cni_policy else ())
        for policy in policies:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=role.name,
                policy_arn=pulumi.Output.concat("arn:", self._account.apply(lambda pa: pa[0]), f":iam::aws:policy/{policy}"),
                opts=pulumi.ResourceOptions(parent=self))
        profile = aws.iam.InstanceProfile(f"{name}-node-profile", role=role.name, tags=self._tags,
                                          opts=pulumi.ResourceOptions(parent=self))
        # The cluster authenticates through access entries only: nodes need one of type EC2_LINUX.
        access = aws.eks.AccessEntry(f"{name}-node-access", cluster_name=a.cluster_name, principal_arn=role.arn,
                                     type="EC2_LINUX", tags=self._tags, opts=pulumi.ResourceOptions(parent=self))
        return role, profile, access

    def _ensure_spot_role(self, name: str) -> list[pulumi.Resource]:
        """The EC2 Spot service-linked role: created on request, else checked (the NodePool waits for either)."""
        a = self._args
        if "spot" not in a.capacity_types:
            return []
        if a.spot_service_linked_role == "create":
            return [aws.iam.ServiceLinkedRole(f"{name}-spot-role", aws_service_name=SPOT_SERVICE,
                                              description="EC2 Spot: launch the spot instances Karpenter asks for",
                                              opts=pulumi.ResourceOptions(parent=self))]
        roles = aws.iam.get_roles_output(name_regex=f"^{SPOT_SERVICE_LINKED_ROLE}$",
                                         path_prefix=f"/aws-service-role/{SPOT_SERVICE}/",
                                         opts=pulumi.InvokeOutputOptions(parent=self))

        def check(found: Sequence[str]) -> str:
            problem = spot_role_problem(found)
            if problem:
                raise ValueError(f"Karpenter {name!r}: {problem}")
            return SPOT_SERVICE_LINKED_ROLE

        # A registered output, so the engine awaits it: the preview fails, before anything is created, in an
        # account that could never run a spot node.
        self._spot_role = roles.names.apply(check)
        return []

    def _create_interruption_queue(self, name: str) -> aws.sqs.Queue:
        queue = aws.sqs.Queue(f"{name}-interruptions", message_retention_seconds=QUEUE_RETENTION_SECONDS,
                              sqs_managed_sse_enabled=True, tags=self._tags, opts=pulumi.ResourceOptions(parent=self))
        aws.sqs.QueuePolicy(f"{name}-interruptions-policy", queue_url=queue.url,
                            policy=queue.arn.apply(lambda arn: json.dumps(interruption_queue_policy(arn), sort_keys=True)),
                            opts=pulumi.ResourceOptions(parent=self))
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", description=f"Karpenter interruption handling: {event}",
                                            event_pattern=json.dumps(pattern, sort_keys=True), tags=self._tags,
                                            opts=pulumi.ResourceOptions(parent=self))
            aws.cloudwatch.EventTarget(f"{name}-{event}-target", rule=rule.name, arn=queue.arn,
                                       target_id="KarpenterInterruptionQueueTarget",
                                       opts=pulumi.ResourceOptions(parent=self))
        return queue

    def _create_controller_role(self, name: str, node_role: aws.iam.Role, profile: aws.iam.InstanceProfile,
                                queue: aws.sqs.Queue) -> aws.iam.Role:
        a = self._args
        def policy(values: list[Any]) -> str:
            cluster, (partition, account), node_role_arn, profile_arn, queue_arn, subnets, groups = values
            return json.dumps(karpenter_controller_policy(
                cluster, partition, account, a.region, node_role_arn=node_role_arn, instance_profile_arn=profile_arn,
                queue_arn=queue_arn, subnet_ids=subnets, security_group_ids=groups), sort_keys=True)

        return controller_role(
            f"{name}-controller-role", f"{name}-controller-policy",
            description="Karpenter controller (IRSA): launch and remove this cluster's GPU nodes",
            oidc_provider_arn=a.oidc_provider_arn, namespace=a.namespace, service_account=self.service_account,
            policy=pulumi.Output.all(a.cluster_name, self._account, node_role.arn, profile.arn, queue.arn,
                                     a.subnet_ids, a.security_group_ids).apply(policy),
            tags=self._tags, parent=self)

    # --- Kubernetes -----------------------------------------------------------------------------------

    def _controller_values(self, role_arn: pulumi.Input[str], queue_name: pulumi.Input[str]) -> dict[str, Any]:
        a = self._args
        # Never on a GPU node, and never on a node Karpenter itself manages (it could remove its own host).
        affinity = off_gpu_node_affinity(a.gpu_scheduling, {"key": f"{API_GROUP}/nodepool", "operator": "DoesNotExist"})
        return {
            "fullnameOverride": self._release,
            "replicas": a.replicas,
            "serviceAccount": {"name": self.service_account, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
            "settings": {"clusterName": a.cluster_name, "interruptionQueue": queue_name},
            # The controller asks IMDS for its region when AWS_REGION is unset (pkg/operator/operator.go at
            # v1.14.1); pods cannot reach IMDS through the nodes' one-hop limit, so the region is given.
            "affinity": {**affinity, "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname"}]}},
            "podDisruptionBudget": {"name": self._release, "maxUnavailable": 1},
            "controller": {"env": [{"name": "AWS_REGION", "value": a.region}],
                           "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
        }

    def _create_controller(self, name: str, role: aws.iam.Role, queue: aws.sqs.Queue) -> k8s.helm.v3.Release:
        a = self._args
        crds = _charts.release(f"{name}-crds", CRD_CHART.at(a.chart_version), a.namespace, {}, {},
                               pulumi.ResourceOptions(parent=self), name=f"{name}-crd", max_history=5)
        return _charts.release(
            f"{name}-controller", CONTROLLER_CHART.at(a.chart_version), a.namespace,
            self._controller_values(role.arn, queue.name), a.extra_values,
            pulumi.ResourceOptions(parent=self, depends_on=[crds]), name=name,
            # The CRDs belong to the release above, which upgrades them; this one must not install its copy.
            skip_crds=True, max_history=5, cleanup_on_fail=True)

    def _node_class_spec(self, instance_profile: pulumi.Input[str]) -> dict[str, Any]:
        """The EC2NodeClass spec (karpenter.k8s.aws/v1)."""
        a = self._args
        family = a.ami_alias.split("@")[0]
        # AL2023 boots and stores images on /dev/xvda; Bottlerocket keeps images on its data volume /dev/xvdb.
        device = "/dev/xvdb" if family == "bottlerocket" else "/dev/xvda"
        return {
            "amiSelectorTerms": [{"alias": a.ami_alias}],
            "instanceProfile": instance_profile,
            "subnetSelectorTerms": pulumi.Output.from_input(a.subnet_ids).apply(lambda ids: [{"id": i} for i in ids]),
            "securityGroupSelectorTerms": pulumi.Output.from_input(a.security_group_ids).apply(
                lambda ids: [{"id": i} for i in ids]),
            # IMDSv2 only, one hop: pods (IRSA) never see the node role's credentials.
            "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpTokens": "required",
                                "httpPutResponseHopLimit": 1},
            "blockDeviceMappings": [{"deviceName": device, "rootVolume": family != "bottlerocket", "ebs": {
                "volumeSize": f"{a.disk_size_gib}Gi", "volumeType": "gp3", "encrypted": True,
                "deleteOnTermination": True}}],
            "tags": {**self._tags, "node-group": "gpu"},
        }

    def _node_pool_spec(self) -> dict[str, Any]:
        """The NodePool spec (karpenter.sh/v1): GPU labels and taints, what to launch, when to remove it."""
        a = self._args
        scheduling = a.gpu_scheduling
        return {
            "template": {
                "metadata": {"labels": scheduling.node_selector()},
                "spec": {
                    "nodeClassRef": {"group": NODE_CLASS_GROUP, "kind": "EC2NodeClass", "name": self.node_class_name},
                    "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in scheduling.taints],
                    "requirements": [
                        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": list(a.instance_families)},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(a.capacity_types)},
                        {"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]},
                        {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Lt",
                         "values": [str(a.max_gpus_per_node + 1)]},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                    ],
                    "expireAfter": a.expire_after,
                },
            },
            "disruption": {"consolidationPolicy": a.consolidation_policy, "consolidateAfter": a.consolidate_after,
                           "budgets": [{"nodes": a.disruption_budget}]},
            "limits": {GPU_RESOURCE: str(a.max_gpus)},
        }

    def _create_node_pool(self, name: str, profile: aws.iam.InstanceProfile, after: list[pulumi.Resource]) -> None:
        labels = standard_labels(name, "autoscaler")
        node_class = k8s.apiextensions.CustomResource(
            f"{name}-node-class", api_version=f"{NODE_CLASS_GROUP}/v1", kind="EC2NodeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.node_class_name, labels=labels),
            spec=self._node_class_spec(profile.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        k8s.apiextensions.CustomResource(
            f"{name}-node-pool", api_version=f"{API_GROUP}/v1", kind="NodePool",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.node_pool_name, labels=labels),
            spec=self._node_pool_spec(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[node_class, *after]))

    def alert_rules(self, runbook_url: str | None = None) -> list[dict[str, Any]]:
        """Alerts on Karpenter itself: not running, GPU limit reached."""
        job, ns, pool = self.metrics.job, self.metrics.namespace, self.node_pool_name
        gpus = f'nodepool="{pool}", resource_type="{GPU_RESOURCE}"'
        return [
            alert("KarpenterDown", f'absent(up{{job="{job}", namespace="{ns}"}} == 1)', "10m", "warning",
                  "Karpenter is not running",
                  f"No {job} controller target in {ns} has been up for 10m: pending GPU pods get no nodes, spot "
                  "interruptions are not drained ahead, idle nodes are not removed.", runbook_url),
            alert("KarpenterGpuLimitReached",
                  f"karpenter_nodepools_usage{{{gpus}}}\n  >= on (nodepool, resource_type) karpenter_nodepools_limit{{{gpus}}}",
                  "15m", "warning", "The GPU NodePool is at its GPU limit",
                  "NodePool {{ $labels.nodepool }} has used all the GPUs its limit allows for 15m: new GPU pods "
                  "stay pending until the limit (autoscaling.karpenter.maxGpus) is raised or load drops.",
                  runbook_url),
        ]
