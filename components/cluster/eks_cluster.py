"""Cluster: the Kubernetes cluster and the provider every Kubernetes object of the program goes through.

Three modes: `create` an EKS cluster, use an `existing` one (by name, or from another stack's
outputs), or a `local` kubeconfig context (kind, minikube, k3d) with no AWS at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _claims
from .._args import DnsSubdomain, Problem, between, checked_args, got, one_of, problems_of
from ..aws_tags import component_tags
from ..labels import standard_labels
from .eks_nodes import (
    assume_role_policy,
    autoscaler_node_template_tags,
    create_launch_template,
    create_node_role,
    field_of,
    managed_policy_arn,
)
from .eks_versions import (
    ADDON_VERSIONS,
    CORE_ADDONS,
    DEFAULT_KUBERNETES_VERSION,
    EBS_CSI_ADDON,
    support_ended_warning,
    unrecorded_version_problem,
)
from .irsa import TOKEN_AUDIENCE, irsa_trust_policy
from .storage import (
    DEFAULT_STORAGE_CLASS,
    EBS_CSI_NAMESPACE,
    EBS_CSI_SERVICE_ACCOUNT,
    create_default_storage_class,
    create_ebs_csi_role,
    create_volumes_key,
)

LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
# Control-plane log types: the API, who did what (audit), and who authenticated as whom.
DEFAULT_LOG_TYPES: tuple[LogType, ...] = ("api", "audit", "authenticator")
# Retention values CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                                       2192, 2557, 2922, 3288, 3653)

# DaemonSets that must run before any node can become Ready (EKS reports them ACTIVE with zero nodes);
# coredns and the EBS CSI controller are Deployments that never become ACTIVE without a node, so they come after.
_BEFORE_NODES = ("vpc-cni", "kube-proxy")
_AFTER_NODES = ("coredns", EBS_CSI_ADDON)
# VPC CNI add-on configuration: enforce NetworkPolicies (its network policy agent is off unless asked). Key and
# string value as the Amazon EKS User Guide gives them (awsdocs/amazon-eks-user-guide,
# latest/ug/networking/eks-networking-add-ons.adoc: `--configuration-values '{"enableNetworkPolicy": "true"}'`).
VPC_CNI_CONFIGURATION: dict[str, str] = {"enableNetworkPolicy": "true"}
CNI_NAMESPACE, CNI_SERVICE_ACCOUNT = "kube-system", "aws-node"

ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "AmazonEKSViewPolicy"
SYSTEM_NODE_AMI_TYPE = "AL2023_x86_64_STANDARD"
SYSTEM_NODE_LABELS = {"workload": "system"}


@dataclass
class SystemNodeGroup:
    """The small on-demand CPU group of a created cluster: system pods and monitoring never need a GPU."""

    instance_types: list[str] = field(default_factory=lambda: ["m7i.large"])
    """CPU instance types."""
    min_size: int = 2
    """Minimum nodes (2: CoreDNS and the autoscaler survive a node loss)."""
    max_size: int = 4
    """Maximum nodes."""
    desired_size: int = 2
    """Initial nodes; an autoscaler owns the number afterwards."""
    disk_size_gib: Annotated[int, between(20, 16384)] = 50
    """Encrypted gp3 root volume size."""

    def _rules(self) -> list[Problem]:
        if not 1 <= self.min_size <= self.desired_size <= self.max_size:
            return [("min_size/desired_size/max_size", f"got {self.min_size}/{self.desired_size}/{self.max_size}; "
                                                       "need 1 <= min <= desired <= max")]
        return []


@dataclass
class ClusterStackReference:
    """Outputs of another Pulumi stack that owns an existing cluster."""

    stack: str
    """Fully qualified stack name, e.g. `acme/platform-infra/prod`."""
    kubeconfig_output: str = "kubeconfig"
    """Output holding the kubeconfig."""
    cluster_name_output: str = "clusterName"
    """Output holding the cluster name."""
    oidc_provider_arn_output: str = "oidcProviderArn"
    """Output holding the IRSA OIDC provider ARN."""


@dataclass
class ClusterArgs:
    """Inputs of `Cluster`. Only the fields of the chosen `mode` matter."""

    mode: Literal["create", "existing", "local"]
    """`create` an EKS cluster, use an `existing` one, or a `local` kubeconfig context."""
    name: str | None = None
    """create: the EKS cluster name; existing: the cluster to look up (or use `stack_reference`)."""
    subnet_ids: Sequence[pulumi.Input[str]] | pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    """create: private subnets (two zones at least) for the control-plane ENIs and the system nodes."""
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """create: Kubernetes minor version, one whose end of EKS standard support is recorded
    (`eks_versions.STANDARD_SUPPORT_ENDS`); past that date every run warns."""
    endpoint_public_access_cidrs: list[str] = field(default_factory=list)
    """create: CIDRs allowed to reach the public API endpoint; empty keeps the endpoint private only."""
    admin_role_arns: list[str] = field(default_factory=list)
    """create: IAM roles granted cluster admin through access entries (include the deploy role)."""
    viewer_role_arns: list[str] = field(default_factory=list)
    """create: IAM roles granted read-only access (e.g. the preview role)."""
    log_types: tuple[LogType, ...] = DEFAULT_LOG_TYPES
    """create: control-plane log types sent to CloudWatch."""
    log_retention_days: Annotated[int, one_of(LOG_RETENTION_DAYS)] = 90
    """create: how long CloudWatch keeps the control-plane logs."""
    addon_versions: dict[str, str | None] = field(default_factory=dict)
    """create: add-on versions overriding `ADDON_VERSIONS[kubernetes_version]` (None: EKS's default)."""
    storage_class: DnsSubdomain | None = None
    """create: name of the default StorageClass created (encrypted gp3, `gp3` when None); existing: the
    StorageClass the platform's volumes use (it must exist; see docs/aws-platform.md); local: None for the
    cluster's default class."""
    enforces_network_policies: bool | None = None
    """existing, local: your statement that the cluster's CNI enforces NetworkPolicies (a created cluster's
    VPC CNI is configured to); False or None refuses a cluster the model's NetworkPolicy would not protect."""
    system_node_group: SystemNodeGroup = field(default_factory=SystemNodeGroup)
    """create: the CPU group for system pods."""
    kms_key_deletion_window_days: Annotated[int, between(7, 30)] = 30
    """create: waiting period before a deleted secrets or volumes key is gone (7..30 days)."""
    protect: bool = False
    """create: protect the cluster and its keys from `pulumi destroy`, and keep released volumes (prod)."""
    stack_reference: ClusterStackReference | None = None
    """existing: take the cluster from another stack's outputs instead of looking it up by name."""
    kube_context: str | None = None
    """local: the kubeconfig context, e.g. `kind-gpu-model`."""
    tags: dict[str, str] = field(default_factory=dict)
    """create: extra AWS tags (the provider's default tags apply anyway)."""

    def resolved_addon_versions(self) -> dict[str, str | None]:
        """The version of each core add-on: the pinned table for the Kubernetes version, then overrides."""
        return {**ADDON_VERSIONS.get(self.kubernetes_version, {}), **self.addon_versions}

    def _rules(self) -> list[Problem]:
        if self.mode == "create":
            return self._create_rules()
        problems: list[Problem] = []
        if self.mode == "existing" and bool(self.name) == bool(self.stack_reference):
            problems.append(("name/stack_reference", "an existing cluster needs exactly one of them"))
        if self.enforces_network_policies is not True:
            problems.append(("enforces_network_policies", got(self.enforces_network_policies, "a cluster this "
                             "program does not create must state that its CNI enforces NetworkPolicies (True), or the "
                             "model's NetworkPolicy protects nothing")))
        if self.mode == "local" and not self.kube_context:
            problems.append(("kube_context", "required when mode is local"))
        return problems

    def _create_rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.name:
            problems.append(("name", "required when mode is create"))
        if not self.admin_role_arns:
            problems.append(("admin_role_arns", "required when mode is create; with API authentication and no "
                                                "creator admin, only these roles reach the cluster (include the deploy role)"))
        if isinstance(self.subnet_ids, (list, tuple)) and len(self.subnet_ids) < 2:
            problems.append(("subnet_ids", f"got {len(self.subnet_ids)}; EKS needs subnets in at least two zones"))
        problems += [("endpoint_public_access_cidrs", got(c, "the API endpoint must not be open to the world"))
                     for c in self.endpoint_public_access_cidrs if _is_world(c)]
        unknown = sorted(set(self.addon_versions) - set(CORE_ADDONS))
        if unknown:
            problems.append(("addon_versions", got(unknown, f"allowed add-ons: {', '.join(CORE_ADDONS)}")))
        unrecorded = unrecorded_version_problem(self.kubernetes_version)
        if unrecorded:
            problems.append(("kubernetes_version", got(self.kubernetes_version, unrecorded)))
        missing = [a for a in CORE_ADDONS if a not in self.resolved_addon_versions()]
        if missing:
            problems.append(("addon_versions", f"no pinned versions of {missing} for Kubernetes "
                                               f"{self.kubernetes_version} (pinned: {', '.join(ADDON_VERSIONS)}); set them"))
        return problems


def _is_world(cidr: str) -> bool:
    return cidr.strip().endswith("/0")


def validate_cluster_args(args: ClusterArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def eks_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (short-lived tokens, no stored credential)."""
    user = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
        "interactiveMode": "Never",
    }}
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name,
                      "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}],
        "users": [{"name": cluster_name, "user": user}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
    }, sort_keys=True)


def _issuer(identities: Sequence[Any]) -> str:
    """The OIDC issuer URL in a cluster's `identities` output."""
    return str(field_of(field_of(identities[0], "oidcs")[0], "issuer"))


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN."""
    parts = arn.split(":")
    return parts[1], parts[3], parts[4]


def oidc_provider_arn_for(cluster_arn: str, issuer_url: str) -> str:
    """The IAM OIDC provider ARN of a cluster's issuer (where `eksctl` and Terraform create it)."""
    partition, _, account = _arn_parts(cluster_arn)
    return f"arn:{partition}:iam::{account}:oidc-provider/{issuer_url.removeprefix('https://')}"


def issuer_url_for(oidc_provider_arn: str) -> str:
    """The issuer URL behind an IAM OIDC provider ARN."""
    return "https://" + oidc_provider_arn.split(":oidc-provider/", 1)[1]


class Cluster(pulumi.ComponentResource):
    """The cluster the platform runs on, the Kubernetes provider for it, and where its volumes come from.

    Mode `create`: an EKS cluster with a private API endpoint (public only from listed CIDRs),
    envelope encryption of Secrets with a rotating KMS key, control-plane logs with retention,
    access entries (API authentication only; no creator admin left behind), the OIDC provider for
    IRSA, the core add-ons at pinned versions (the VPC CNI enforcing NetworkPolicies, and the EBS CSI
    driver, each with its own IRSA role), a default encrypted gp3 StorageClass (its own KMS key,
    WaitForFirstConsumer), and a small on-demand CPU node group for system pods. Mode `existing`: looks
    the cluster up by name or takes it from another stack, and records the StorageClass and NetworkPolicy
    enforcement its owner states. Mode `local`: a kubeconfig context. Every mode ends in `provider`.
    """

    provider: k8s.Provider
    """The Kubernetes provider every Kubernetes object of the program must use."""
    kubeconfig: pulumi.Output[str] | None
    """The kubeconfig (a secret; it uses `aws eks get-token`). None for a local cluster."""
    cluster_name: pulumi.Output[str]
    """The EKS cluster name (the kube context for a local cluster)."""
    cluster_arn: pulumi.Output[str] | None
    """The EKS cluster ARN (None when local, or when taken from a stack reference)."""
    oidc_provider_arn: pulumi.Output[str] | None
    """The IAM OIDC provider ARN, for IRSA trust policies (None when local)."""
    oidc_issuer_url: pulumi.Output[str] | None
    """The cluster's OIDC issuer URL, `https://oidc.eks...` (None when local)."""
    node_security_group_id: pulumi.Output[str] | None
    """The EKS cluster security group, which managed nodes join (None when local or from a stack reference)."""
    system_node_role_arn: pulumi.Output[str] | None
    """The system node group's IAM role (created clusters only)."""
    storage_class_name: str | None
    """The StorageClass persistent volumes use: the one created (create), the configured one (existing), or
    None for the cluster's default (local, or existing without one configured)."""
    network_policy_enforcement: str
    """Who enforces NetworkPolicies: `vpc-cni` (created: the add-on is configured to), `stated` (existing,
    local: the operator's statement in config)."""
    node_prerequisites: list[pulumi.Resource]
    """What every node group must wait for: the VPC CNI and kube-proxy add-ons (created clusters; nodes are
    not Ready before the CNI runs). Empty otherwise."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        args = checked_args("Cluster", name, args, ClusterArgs)
        if args.mode == "create":
            _claims.claim("Cluster", name, opts, [_claims.Claim("aws", "EKS cluster", str(args.name), field="name")])
        super().__init__("gpu-model-platform:index:Cluster", name, None, opts)
        self._args = args
        self.kubeconfig = self.cluster_arn = self.oidc_provider_arn = self.oidc_issuer_url = None
        self.node_security_group_id = self.system_node_role_arn = None
        self.storage_class_name = args.storage_class
        self.network_policy_enforcement = "stated"
        self.node_prerequisites = []

        if args.mode == "create":
            self._warn_if_support_ended(name)
            self._create(name)
        elif args.mode == "existing" and args.stack_reference is not None:
            self._from_stack_reference(name, args.stack_reference)
        elif args.mode == "existing":
            self._look_up(name)
        else:
            self.cluster_name = pulumi.Output.from_input(cast(str, args.kube_context))  # validated: set in local mode
            self.provider = k8s.Provider(f"{name}-kubernetes", context=args.kube_context,
                                         opts=pulumi.ResourceOptions(parent=self))

        # The stack policies (policy/platform_policies) read these outputs: for a cluster this program does
        # not create, they are the only place the StorageClass and NetworkPolicy enforcement are declared.
        self.register_outputs({
            "kubeconfig": self.kubeconfig,
            "cluster_name": self.cluster_name,
            "cluster_arn": self.cluster_arn,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_issuer_url": self.oidc_issuer_url,
            "node_security_group_id": self.node_security_group_id,
            "system_node_role_arn": self.system_node_role_arn,
            "mode": args.mode,
            "storage_class_name": self.storage_class_name,
            "network_policy_enforcement": self.network_policy_enforcement,
        })

    # --- create ------------------------------------------------------------------------------------

    def _warn_if_support_ended(self, name: str) -> None:
        # A warning, not a refusal: the cluster may already exist, and a rollback or the upgrade must still run.
        warning = support_ended_warning(self._args.kubernetes_version, date.today())
        if warning:
            pulumi.log.warn(f"Cluster {name!r}: {warning}", resource=self)

    def _create(self, name: str) -> None:
        a = self._args
        self._tags = component_tags("cluster", name, a.tags)
        self._partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        cluster = self._create_control_plane(name)
        oidc = self._create_oidc_provider(name, cluster)
        access = self._create_access_entries(name, cluster)
        volumes_key = create_volumes_key(name, cluster_name=str(a.name), deletion_window_days=a.kms_key_deletion_window_days,
                                         protect=a.protect, tags=self._tags, parent=self)
        roles = {"vpc-cni": self._irsa_role(name, "vpc-cni", oidc, CNI_NAMESPACE, CNI_SERVICE_ACCOUNT),
                 EBS_CSI_ADDON: self._ebs_csi_role(name, oidc, volumes_key)}
        network = self._create_addons(name, cluster, roles, _BEFORE_NODES, [])
        system_nodes = self._create_system_node_group(name, cluster, network)
        addons = network + self._create_addons(name, cluster, roles, _AFTER_NODES, [system_nodes])

        config = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data,
                                   cluster.arn).apply(lambda v: eks_kubeconfig(v[0], v[1], v[2], _arn_parts(v[3])[1]))
        self.kubeconfig = pulumi.Output.secret(config)
        # Every Kubernetes object waits for the deployer's access entry, for nodes with DNS and for the
        # volume driver: nothing is created before a claim can bind.
        self.provider = k8s.Provider(f"{name}-kubernetes", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[*access, *addons]))
        self.storage_class_name = a.storage_class or DEFAULT_STORAGE_CLASS
        create_default_storage_class(name, class_name=self.storage_class_name, key=volumes_key, retain=a.protect,
                                     labels=standard_labels(name, "storage"), provider=self.provider, parent=self)
        self.network_policy_enforcement = "vpc-cni"
        self.node_prerequisites = list(network)
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer_url = self._issuer
        self.node_security_group_id = cluster.vpc_config.cluster_security_group_id

    def _create_control_plane(self, name: str) -> aws.eks.Cluster:
        a = self._args
        keep = pulumi.ResourceOptions(parent=self, protect=a.protect)
        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes Secrets in EKS cluster {a.name}",
            enable_key_rotation=True,
            deletion_window_in_days=a.kms_key_deletion_window_days,
            tags=self._tags,
            opts=keep,
        )
        role = aws.iam.Role(f"{name}-cluster-role", description=f"EKS control plane of {a.name}",
                            assume_role_policy=assume_role_policy("eks.amazonaws.com"), tags=self._tags,
                            opts=pulumi.ResourceOptions(parent=self))
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-AmazonEKSClusterPolicy", role=role.name,
            policy_arn=managed_policy_arn(self._partition, "AmazonEKSClusterPolicy"),
            opts=pulumi.ResourceOptions(parent=self))
        # The managed policy has no KMS rights: the control plane may use this one key, and only for Secrets.
        key_use = aws.iam.RolePolicy(
            f"{name}-cluster-secrets-key", role=role.id,
            policy=key.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                "Resource": arn}]}, sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self))
        # EKS writes to this group by name; creating it first gives the logs a retention (else: forever).
        logs = aws.cloudwatch.LogGroup(f"{name}-control-plane-logs", name=f"/aws/eks/{a.name}/cluster",
                                       retention_in_days=a.log_retention_days, tags=self._tags,
                                       opts=pulumi.ResourceOptions(parent=self))
        public = bool(a.endpoint_public_access_cidrs)
        # The cluster name is what people and CI type (`aws eks update-kubeconfig --name`) and what the
        # log group above is named after, so it is set from config rather than auto-named.
        return aws.eks.Cluster(
            f"{name}-eks",
            name=a.name,
            version=a.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=a.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=list(a.endpoint_public_access_cidrs) if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn)),
            enabled_cluster_log_types=list(a.log_types),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False),
            # The core add-ons are EKS managed add-ons below, at pinned versions, not unmanaged defaults.
            bootstrap_self_managed_addons=False,
            # Extended support costs six times the standard hourly fee: upgrade instead.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, protect=a.protect, depends_on=[policy, key_use, logs]),
        )

    def _create_oidc_provider(self, name: str, cluster: aws.eks.Cluster) -> aws.iam.OpenIdConnectProvider:
        self._issuer = cluster.identities.apply(_issuer)
        # No thumbprint: IAM trusts the EKS issuer's certificate authority itself.
        return aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=self._issuer, client_id_lists=[TOKEN_AUDIENCE], tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self))

    def _create_access_entries(self, name: str, cluster: aws.eks.Cluster) -> list[aws.eks.AccessPolicyAssociation]:
        grants = [(arn, ADMIN_POLICY) for arn in self._args.admin_role_arns] + \
                 [(arn, VIEW_POLICY) for arn in self._args.viewer_role_arns]
        associations = []
        for principal, policy in grants:
            role_name = principal.rsplit("/", 1)[-1]
            entry = aws.eks.AccessEntry(f"{name}-access-{role_name}", cluster_name=cluster.name,
                                        principal_arn=principal, type="STANDARD", tags=self._tags,
                                        opts=pulumi.ResourceOptions(parent=self))
            associations.append(aws.eks.AccessPolicyAssociation(
                f"{name}-access-{role_name}-{policy}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=pulumi.Output.concat("arn:", self._partition, f":eks::aws:cluster-access-policy/{policy}"),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=self)))
        return associations

    def _irsa_role(self, name: str, role: str, oidc: aws.iam.OpenIdConnectProvider, namespace: str,
                   service_account: str, policy: str = "AmazonEKS_CNI_Policy") -> aws.iam.Role:
        """An add-on's role, trusted only by its service account, with one AWS managed policy."""
        created = aws.iam.Role(
            f"{name}-{role}-role", description=f"{role} ({namespace}:{service_account}) through IRSA",
            assume_role_policy=oidc.arn.apply(lambda arn: irsa_trust_policy(arn, namespace, service_account)),
            tags=self._tags, opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicyAttachment(f"{name}-{role}-{policy.rsplit('/', 1)[-1]}", role=created.name,
                                     policy_arn=managed_policy_arn(self._partition, policy),
                                     opts=pulumi.ResourceOptions(parent=self))
        return created

    def _ebs_csi_role(self, name: str, oidc: aws.iam.OpenIdConnectProvider, key: aws.kms.Key) -> aws.iam.Role:
        trust = oidc.arn.apply(lambda arn: irsa_trust_policy(arn, EBS_CSI_NAMESPACE, EBS_CSI_SERVICE_ACCOUNT))
        role, self._ebs_csi_policies = create_ebs_csi_role(name, trust_policy=trust, partition=self._partition, key=key,
                                                           tags=self._tags, parent=self)
        return role

    def _create_addons(self, name: str, cluster: aws.eks.Cluster, roles: dict[str, aws.iam.Role],
                       addons: Sequence[str], after: list[pulumi.Resource]) -> list[pulumi.Resource]:
        versions = self._args.resolved_addon_versions()
        created: list[pulumi.Resource] = []
        for addon in addons:
            role = roles.get(addon)
            # The driver must hold its policies before its first CreateVolume, or the first claims fail.
            policies = self._ebs_csi_policies if addon == EBS_CSI_ADDON else []
            created.append(aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                addon_version=versions[addon],
                service_account_role_arn=role.arn if role is not None else None,
                configuration_values=json.dumps(VPC_CNI_CONFIGURATION, sort_keys=True) if addon == "vpc-cni" else None,
                # The program owns the add-ons' configuration: drift made by hand is overwritten.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=self._tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, *policies]),
            ))
        return created

    def _create_system_node_group(self, name: str, cluster: aws.eks.Cluster,
                                  addons: list[pulumi.Resource]) -> aws.eks.NodeGroup:
        system = self._args.system_node_group
        tags = {**self._tags, "node-group": "system", **autoscaler_node_template_tags(None)}
        role, attachments = create_node_role(f"{name}-system", partition=self._partition, attach_cni_policy=False,
                                             tags=self._tags, parent=self)
        template = create_launch_template(f"{name}-system", ami_type=SYSTEM_NODE_AMI_TYPE,
                                          disk_size_gib=system.disk_size_gib, tags=tags, parent=self)
        group = aws.eks.NodeGroup(
            f"{name}-system-nodes",
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=self._args.subnet_ids,
            ami_type=SYSTEM_NODE_AMI_TYPE,
            capacity_type="ON_DEMAND",
            instance_types=list(system.instance_types),
            labels=dict(SYSTEM_NODE_LABELS),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=system.min_size, max_size=system.max_size, desired_size=system.desired_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            tags=tags,
            # An autoscaler owns the node count once it runs; `pulumi up` must not reset it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, *addons],
                                        ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.system_node_role_arn = role.arn
        return group

    # --- existing ----------------------------------------------------------------------------------

    def _look_up(self, name: str) -> None:
        found = aws.eks.get_cluster_output(name=self._args.name, opts=pulumi.InvokeOutputOptions(parent=self))
        issuer = found.identities.apply(_issuer)
        config = pulumi.Output.all(found.name, found.endpoint, found.certificate_authorities, found.arn).apply(
            lambda v: eks_kubeconfig(v[0], v[1], str(field_of(v[2][0], "data")), _arn_parts(v[3])[1]))
        self.kubeconfig = pulumi.Output.secret(config)
        self.provider = k8s.Provider(f"{name}-kubernetes", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.cluster_name = found.name
        self.cluster_arn = found.arn
        self.oidc_issuer_url = issuer
        self.oidc_provider_arn = pulumi.Output.all(found.arn, issuer).apply(lambda v: oidc_provider_arn_for(*v))
        self.node_security_group_id = found.vpc_config.cluster_security_group_id

    def _from_stack_reference(self, name: str, ref: ClusterStackReference) -> None:
        other = pulumi.StackReference(f"{name}-stack", stack_name=ref.stack, opts=pulumi.ResourceOptions(parent=self))
        self.kubeconfig = pulumi.Output.secret(other.require_output(ref.kubeconfig_output))
        self.provider = k8s.Provider(f"{name}-kubernetes", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.cluster_name = other.require_output(ref.cluster_name_output)
        self.oidc_provider_arn = other.require_output(ref.oidc_provider_arn_output)
        self.oidc_issuer_url = self.oidc_provider_arn.apply(issuer_url_for)
