"""The stack configuration, declared once: type, default, allowed values, description.

Keys are camelCase as Pulumi stack files spell them; every section rejects
unknown keys. Secret fields are `SecretStr` and must be set with
`pulumi config set --secret` (the loader refuses plain text). Rules that span
several fields live in each section's `_check` validator and name the fields.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from components.capacity.gpu_instances import (
    GPU_COUNT_BY_INSTANCE_TYPE,
    GPU_INSTANCE_FAMILIES,
    gpus_per_node,
    instance_type_problem,
    unsupported_reason,
)
from components.capacity.gpu_scheduling import default_gpu_labels
from components.cluster.eks_cluster import ADDON_VERSIONS, CORE_ADDONS, LOG_RETENTION_DAYS
from components.cluster.eks_versions import DEFAULT_KUBERNETES_VERSION, unrecorded_version_problem
from components.cluster.storage import DEFAULT_STORAGE_CLASS
from components.serving.load_balancer_controller import DEFAULT_SSL_POLICY, SSL_POLICY_RE
from components.serving.model_endpoint import CERTIFICATE_ARN_RE, HOST_RE, WAF_ACL_ARN_RE, ZONE_ID_RE, is_ipv4_cidr
from components.serving.model_image import VERSION_RE
from components.serving.model_registry import LOCAL_ADDRESS_RE
from components.serving.runtimes import RUNTIMES
from stack_config.catalogue import catalogue_problems, catalogue_views

PROJECT = "gpu-model-platform"

DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")]
Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")]
Port = Annotated[int, Field(ge=1, le=65535)]
AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
IamRoleArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")]


class Section(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True,
        hide_input_in_errors=False,
    )


def _problem(field: str, value: object, allowed: str) -> str:
    return f"{field}: got {value!r}; {allowed}"


def _raise_all(problems: list[str]) -> None:
    if problems:
        raise ValueError(" | ".join(problems))


class AwsConfig(Section):
    """Where AWS resources live and how they are tagged."""

    region: AwsRegion = Field(description="AWS region, e.g. `us-west-2`.")
    default_tags: dict[str, str] = Field(
        default_factory=dict, description="Tags applied to every AWS resource (provider default tags)."
    )


class SubnetRef(Section):
    """An existing subnet and the zone it is in (zones are checked offline)."""

    id: Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")] = Field(description="Subnet id.")
    availability_zone: str = Field(description="The subnet's availability zone, e.g. `us-west-2a`.")


class NetworkConfig(Section):
    """Create a VPC, or use an existing one."""

    create: bool = Field(default=False, description="Create a VPC (true) or use `vpcId` and the subnets (false).")
    cidr: str = Field(default="10.0.0.0/16", description="VPC CIDR when created.")
    availability_zones: list[str] = Field(
        default_factory=list, description="Zones to spread subnets over when created (at least two)."
    )
    nat_gateways: Literal["single", "perZone"] = Field(
        default="single", description="One NAT gateway (cheap) or one per zone (no cross-zone dependency)."
    )
    vpc_id: Optional[Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")]] = Field(
        default=None, description="Existing VPC id (when `create` is false)."
    )
    private_subnets: list[SubnetRef] = Field(default_factory=list, description="Existing private subnets.")
    public_subnets: list[SubnetRef] = Field(default_factory=list, description="Existing public subnets.")

    @model_validator(mode="after")
    def _check(self) -> NetworkConfig:
        problems = []
        try:
            network = ipaddress.ip_network(self.cidr)
        except ValueError:
            network = None
            problems.append(_problem("cidr", self.cidr, "must be an IPv4 CIDR such as 10.0.0.0/16"))
        if self.create:
            if len(set(self.availability_zones)) < 2:
                problems.append(_problem(
                    "availabilityZones", self.availability_zones, "a created network needs at least two distinct zones"))
            elif len(set(self.availability_zones)) != len(self.availability_zones) or len(self.availability_zones) > 6:
                problems.append(_problem(
                    "availabilityZones", self.availability_zones, "must be 2..6 distinct zones (no zone twice)"))
            if network is not None and (network.version != 4 or not network.is_private
                                        or not 16 <= network.prefixlen <= 20):
                problems.append(_problem(
                    "cidr", self.cidr, "a created VPC needs a private IPv4 range from /16 to /20 (pods take VPC addresses)"))
        else:
            if self.vpc_id is None:
                problems.append(_problem("vpcId", None, "required when create is false"))
            zones = {s.availability_zone for s in self.private_subnets}
            if len(zones) < 2:
                problems.append(_problem(
                    "privateSubnets", sorted(zones), "existing private subnets must span at least two zones"))
        _raise_all(problems)
        return self


class StackReferenceConfig(Section):
    """Outputs of another Pulumi stack that owns the cluster."""

    stack: str = Field(description="Fully qualified stack name, e.g. `acme/platform-infra/prod`.")
    kubeconfig_output: str = Field(default="kubeconfig", description="Output holding the kubeconfig.")
    cluster_name_output: str = Field(default="clusterName", description="Output holding the cluster name.")
    oidc_provider_arn_output: str = Field(default="oidcProviderArn", description="Output holding the IRSA OIDC provider ARN.")


class NodeGroupScaling(Section):
    """Sizes of a node group."""

    min_size: int = Field(ge=0, le=1000, description="Minimum nodes (0 lets an idle group cost nothing).")
    max_size: int = Field(ge=1, le=1000, description="Maximum nodes.")
    desired_size: int = Field(ge=0, le=1000, description="Initial nodes; an autoscaler owns it afterwards.")

    def _scaling_problems(self) -> list[str]:
        problems = []
        if self.min_size > self.max_size:
            problems.append(_problem("minSize", self.min_size, f"must be <= maxSize ({self.max_size})"))
        if not self.min_size <= self.desired_size <= self.max_size:
            problems.append(_problem(
                "desiredSize", self.desired_size, f"must be within minSize..maxSize ({self.min_size}..{self.max_size})"))
        return problems


class SystemNodeGroupConfig(NodeGroupScaling):
    """The small on-demand CPU group for system pods and monitoring."""

    instance_types: list[str] = Field(default_factory=lambda: ["m7i.large"], min_length=1, description="CPU instance types.")
    min_size: int = Field(default=2, ge=1, le=100, description="Minimum nodes.")
    max_size: int = Field(default=4, ge=1, le=100, description="Maximum nodes.")
    desired_size: int = Field(default=2, ge=1, le=100, description="Initial nodes.")
    disk_size_gib: int = Field(default=50, ge=20, le=16384, description="Root volume size (GiB).")

    @model_validator(mode="after")
    def _check(self) -> SystemNodeGroupConfig:
        _raise_all(self._scaling_problems())
        return self


class ClusterConfig(Section):
    """The Kubernetes cluster: created on EKS, an existing EKS cluster, or a local one."""

    mode: Literal["create", "existing", "local"] = Field(
        description="`create` an EKS cluster, use an `existing` one, or a `local` kind/minikube/k3d context."
    )
    name: Optional[DnsLabel] = Field(
        default=None, description="Cluster name (create: the EKS name; existing: the cluster to look up).")
    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}$")] = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description="Kubernetes minor version of a created cluster; one in EKS standard support (refused after its "
                    "recorded end of standard support, components/cluster/eks_versions.py).")
    stack_reference: Optional[StackReferenceConfig] = Field(
        default=None, description="Take an existing cluster from another stack's outputs instead of by name."
    )
    endpoint_public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the public API endpoint; empty means the endpoint is private only.",
    )
    admin_role_arns: list[IamRoleArn] = Field(
        default_factory=list, description="IAM roles granted cluster admin (access entries); include the deploy role.")
    viewer_role_arns: list[IamRoleArn] = Field(
        default_factory=list, description="IAM roles granted read-only cluster access (e.g. the preview role).")
    preview_role_arns: list[IamRoleArn] = Field(
        default_factory=list,
        description="IAM roles of CI preview and plan jobs: read everything but Secrets and dry-run changes, never "
                    "apply them (RBAC plus an admission policy; see docs/delivery.md). The view policy cannot "
                    "dry-run.")
    refresh_role_arns: list[IamRoleArn] = Field(
        default_factory=list,
        description="IAM roles of CI's drift check (`pulumi refresh`, main only): read everything, Secrets included "
                    "(a refresh reads every resource), change nothing.")
    log_retention_days: int = Field(default=90, description="Days CloudWatch keeps control-plane logs (created clusters).")
    addon_versions: dict[Literal[CORE_ADDONS], Annotated[str, StringConstraints(  # type: ignore[valid-type]
        pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+-eksbuild\.[0-9]+$")]] = Field(
        default_factory=dict,
        description="EKS add-on versions overriding the pinned ones for the Kubernetes version, "
                    "e.g. `{coredns: v1.13.2-eksbuild.1}`.")
    storage_class: Optional[Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]] = Field(
        default=None,
        description=f"create: name of the default encrypted gp3 StorageClass the cluster gets (`{DEFAULT_STORAGE_CLASS}` "
                    "when unset); existing: the StorageClass the platform's volumes use (it must exist and provision "
                    "encrypted volumes with WaitForFirstConsumer, see docs/aws-platform.md); local: unset uses the "
                    "cluster's default class.")
    enforces_network_policies: Optional[bool] = Field(
        default=None,
        description="existing, local: state that the cluster's CNI enforces NetworkPolicies (required true: the model "
                    "always declares one). A created cluster's VPC CNI is configured to enforce them.")
    protect: bool = Field(default=False, description="Protect the created cluster and its secrets key from `pulumi destroy`.")
    kube_context: Optional[str] = Field(default=None, description="kubeconfig context of the local cluster (mode `local`).")
    system_node_group: SystemNodeGroupConfig = Field(
        default_factory=SystemNodeGroupConfig, description="CPU node group for system pods (created clusters only)."
    )

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        problems = []
        if self.mode == "existing" and (self.name is None) == (self.stack_reference is None):
            problems.append(_problem(
                "name/stackReference", None, "an existing cluster needs exactly one of name or stackReference"))
        if self.mode == "create" and self.name is None:
            problems.append(_problem("name", None, "required when mode is create"))
        if self.mode in ("existing", "local") and self.enforces_network_policies is not True:
            problems.append(_problem(
                "enforcesNetworkPolicies", self.enforces_network_policies,
                "state true for a cluster whose CNI enforces NetworkPolicies (VPC CNI with enableNetworkPolicy, Calico, "
                "Cilium; kind >= v0.24): the model's NetworkPolicy is all that keeps other pods from calling it"))
        if self.mode == "local" and not self.kube_context:
            problems.append(_problem("kubeContext", self.kube_context, "required when mode is local (e.g. kind-gpu-model)"))
        if self.mode == "create":
            if not self.admin_role_arns:
                problems.append(_problem("adminRoleArns", [], "a created cluster needs at least one admin role "
                                         "(the deploy role): no one else can reach its API"))
            if self.log_retention_days not in LOG_RETENTION_DAYS:
                problems.append(_problem("logRetentionDays", self.log_retention_days,
                                         f"allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}"))
            # Past the end of standard support the cluster component warns: refusing would block every run of an
            # existing cluster, rollbacks and the upgrade included (the policy pack refuses a new cluster on it).
            unrecorded = unrecorded_version_problem(self.kubernetes_version)
            if unrecorded:
                problems.append(_problem("kubernetesVersion", self.kubernetes_version, unrecorded))
            if self.enforces_network_policies is False:
                problems.append(_problem("enforcesNetworkPolicies", False, "a created cluster's VPC CNI always "
                                         "enforces NetworkPolicies; remove the key"))
            pinned = {**ADDON_VERSIONS.get(self.kubernetes_version, {}), **self.addon_versions}
            missing = [addon for addon in CORE_ADDONS if addon not in pinned]
            if missing:
                problems.append(_problem(
                    "kubernetesVersion", self.kubernetes_version,
                    f"no pinned add-on versions for it (pinned: {', '.join(ADDON_VERSIONS)}); set addonVersions for "
                    f"{', '.join(missing)}"))
        for cidr in self.endpoint_public_access_cidrs:
            try:
                network = ipaddress.ip_network(cidr)
            except ValueError:
                problems.append(_problem("endpointPublicAccessCidrs", cidr, "must be a CIDR such as 203.0.113.0/24"))
                continue
            if network.prefixlen == 0:
                problems.append(_problem("endpointPublicAccessCidrs", cidr, "the API endpoint must not be open to the world"))
        shared = set(self.preview_role_arns) & (set(self.admin_role_arns) | set(self.viewer_role_arns))
        shared |= set(self.refresh_role_arns) & (set(self.admin_role_arns) | set(self.viewer_role_arns)
                                                 | set(self.preview_role_arns))
        if shared:
            problems.append(_problem("previewRoleArns", sorted(shared),
                                     "a role has one access entry: list it in previewRoleArns, refreshRoleArns or "
                                     "adminRoleArns/viewerRoleArns, not two"))
        if self.refresh_role_arns and not self.preview_role_arns:
            problems.append(_problem("refreshRoleArns", self.refresh_role_arns, "comes with previewRoleArns (the "
                                     "preview access that holds both groups to read and dry-run)"))
        if self.preview_role_arns and self.mode == "local":
            problems.append(_problem("previewRoleArns", self.preview_role_arns, "needs an EKS cluster (mode create or "
                                     "existing)"))
        _raise_all(problems)
        return self


class TaintConfig(Section):
    """A node taint in Kubernetes spelling."""

    key: str = Field(description="Taint key.")
    value: str = Field(default="true", description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(default="NoSchedule", description="Taint effect.")


def _default_taints() -> list[TaintConfig]:
    return [TaintConfig(key="nvidia.com/gpu", value="true", effect="NoSchedule")]


class GpuNodeGroupConfig(NodeGroupScaling):
    """The EKS managed node group that carries the GPUs."""

    enabled: bool = Field(default=True, description="Create the GPU node group (false on CPU-only stacks).")
    instance_types: list[str] = Field(
        default_factory=lambda: ["g5.xlarge"], min_length=1,
        description=f"GPU instance types (families: {', '.join(GPU_INSTANCE_FAMILIES)}); several for SPOT.",
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(default="ON_DEMAND", description="EC2 capacity type.")
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = Field(
        default="AL2023_x86_64_NVIDIA", description="EKS-optimised GPU AMI family."
    )
    min_size: int = Field(default=0, ge=0, le=1000, description="Minimum nodes (0: scale to zero when idle).")
    max_size: int = Field(default=2, ge=1, le=1000, description="Maximum nodes.")
    desired_size: int = Field(default=0, ge=0, le=1000, description="Initial nodes; the autoscaler owns it afterwards.")
    disk_size_gib: int = Field(default=100, ge=20, le=16384, description="Encrypted gp3 root volume size (GiB).")
    labels: dict[str, str] = Field(default_factory=default_gpu_labels, description="Node labels GPU pods select on.")
    taints: list[TaintConfig] = Field(default_factory=_default_taints, description="Node taints GPU pods must tolerate.")
    group_per_zone: bool = Field(
        default=False,
        description="One managed node group per zone (sizes shared out over the zones) instead of one over all zones: "
                    "what Cluster Autoscaler needs to add a node in the zone a pending pod must go to "
                    "(`model.zoneSpread: required`).")

    @model_validator(mode="after")
    def _check(self) -> GpuNodeGroupConfig:
        problems = self._scaling_problems()
        for instance_type in self.instance_types:
            problem = instance_type_problem(instance_type)
            if problem:
                problems.append(_problem("instanceTypes", instance_type, problem))
        if self.capacity_type == "SPOT" and len(set(self.instance_types)) < 2:
            problems.append(_problem(
                "instanceTypes", self.instance_types, "SPOT needs at least two instance types to survive capacity shortages"))
        if not any(t.effect == "NoSchedule" for t in self.taints):
            problems.append(_problem(
                "taints", [t.model_dump() for t in self.taints], "need a NoSchedule taint, or CPU pods fill the GPU nodes"))
        _raise_all(problems)
        return self


class RegistryConfig(Section):
    """Where model images are pushed."""

    mode: Literal["ecr", "local"] = Field(default="ecr", description="An ECR repository, or a local registry (kind/k3d).")
    name: Optional[DnsLabel] = Field(default=None, description="Repository name (defaults to the model name).")
    keep_images: int = Field(default=30, ge=1, le=1000, description="How many images the lifecycle policy keeps.")
    scan_on_push: bool = Field(default=True, description="Scan images for vulnerabilities on push.")
    force_delete: bool = Field(default=False, description="Allow deleting a repository that still holds images (never in prod).")
    local_address: Annotated[str, StringConstraints(pattern=LOCAL_ADDRESS_RE.pattern)] = Field(
        default="localhost:5001", description="host:port of the local registry (mode `local`).")


class ResourceAmounts(Section):
    """CPU and memory quantities."""

    cpu: Quantity = Field(description="CPU, e.g. `500m` or `2`.")
    memory: Quantity = Field(description="Memory, e.g. `2Gi`.")


class ModelResources(Section):
    """Container resource requests and limits."""

    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="1", memory="2Gi"), description="Requests.")
    limits: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="2", memory="4Gi"), description="Limits.")


class AutoscalingConfig(Section):
    """HorizontalPodAutoscaler settings of the model."""

    enabled: bool = Field(default=False, description="Create an HPA.")
    min_replicas: int = Field(default=1, ge=1, le=1000, description="HPA minimum replicas.")
    max_replicas: int = Field(default=4, ge=1, le=1000, description="HPA maximum replicas.")
    target_cpu_utilization: int = Field(
        default=70, ge=1, le=100, description="Target average CPU utilisation (%), when the pods scale on `cpu` "
                                              "(`autoscaling.pods.metric`); set with another metric it is refused.")

    @model_validator(mode="after")
    def _check(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(_problem("minReplicas", self.min_replicas, f"must be <= maxReplicas ({self.max_replicas})"))
        return self


class BatchingConfig(Section):
    """Dynamic batching of the inference server."""

    max_batch_size: int = Field(default=32, ge=1, le=4096, description="Largest batch the server forms.")
    window_ms: int = Field(default=2, ge=0, le=1000, description="How long a request may wait for others to batch with.")


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# A repository (registry host with optional port, then path components, as the OCI distribution spec
# names them) followed by a digest, and no `:tag` anywhere after the host.
IMAGE_BY_DIGEST_RE = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+@sha256:[0-9a-f]{64}$")
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
Hostname = Annotated[str, StringConstraints(pattern=rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")]
ScaleDuration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(s|m|h)$")]
# A request may be held from 10 s to an hour: longer than an ALB's idle timeout can cover (4000 s) is refused,
# and a GPU cold start (node, image, model) is minutes. Idle from one minute to a day before going to zero.
MAX_WAIT_RANGE_SECONDS = (10, 3600)
IDLE_PERIOD_RANGE_SECONDS = (60, 86400)


class ScaleToZeroConfig(Section):
    """Request-driven scaling down to zero replicas (KEDA HTTP add-on): an idle model costs no GPU."""

    enabled: bool = Field(default=False, description="Scale the model on its requests, down to zero replicas when idle; "
                                                     "the first request wakes it (instead of `autoscaling`).")
    idle_period: ScaleDuration = Field(
        default="15m", description="No request for this long and the model goes to zero replicas (KEDA `cooldownPeriod`); "
                                   "1m to 24h.")
    max_wait: ScaleDuration = Field(
        default="10m", description="Longest a request is held while the model wakes (GPU node, image pull, model load); "
                                   "then it gets 503 with `Retry-After`. 10s to 1h.")
    max_replicas: int = Field(default=1, ge=1, le=1000, description="Most replicas under load.")
    target_concurrency: int = Field(default=16, ge=1, le=100000,
                                    description="Concurrent requests per replica before another is added.")
    retry_after_seconds: int = Field(default=60, ge=1, le=3600,
                                     description="`Retry-After` of the 503 given to a request that outwaited `maxWait`.")
    hosts: list[Hostname] = Field(
        default_factory=list, description="Public hostnames of the model (its endpoint's); the Service's in-cluster "
                                          "names are always routed.")
    keda_namespace: DnsLabel = Field(default="keda", description="Namespace of KEDA and its HTTP add-on.")

    @model_validator(mode="after")
    def _check(self) -> ScaleToZeroConfig:
        problems = []
        for key, value, (low, high) in (("maxWait", self.max_wait, MAX_WAIT_RANGE_SECONDS),
                                        ("idlePeriod", self.idle_period, IDLE_PERIOD_RANGE_SECONDS)):
            if not low <= duration_seconds(value) <= high:
                problems.append(_problem(key, value, f"must be between {low} s and {high} s"))
        _raise_all(problems)
        return self

    @property
    def idle_seconds(self) -> int:
        return duration_seconds(self.idle_period)

    @property
    def max_wait_seconds(self) -> int:
        return duration_seconds(self.max_wait)


class CanaryStepConfig(Section):
    """One canary step: shift to `weight` percent, pass the analysis, then optionally pause."""

    weight: int = Field(ge=1, le=99, description="Percent of replicas on the new version (of requests, with the ALB).")
    pause: Optional[Annotated[str, StringConstraints(pattern=r"^([0-9]+(s|m|h)|manual)$")]] = Field(
        default=None, description="After the analysis passes: wait this long (`10m`), or `manual` to wait for "
                                  "`kubectl argo rollouts promote`.")


class RolloutAnalysisConfig(Section):
    """How each canary step is judged: the model's alert expressions on the canary's pods, alone and against the stable's."""

    window: ScaleDuration = Field(default="5m", description="Range of every query; the first measurement waits this long.")
    interval: ScaleDuration = Field(default="1m", description="Time between measurements.")
    measurements: int = Field(default=3, ge=1, le=100, description="Measurements per step; all must pass.")
    min_requests: int = Field(default=100, ge=1, le=10_000_000, description=(
        "Fewest requests the canary must answer per window; fewer and the step is inconclusive: the rollout "
        "pauses instead of promoting a version nobody used."))
    error_burn_rate: float = Field(default=14.4, gt=0, le=1000, description=(
        "The canary fails above this many times the error budget (1 - `monitoring.slo.availability`); "
        "14.4 is the paging burn rate of the error-budget alert."))
    max_error_ratio_increase: float = Field(default=0.01, ge=0, lt=1, description=(
        "The canary fails when its 5xx share exceeds the stable's by more than this."))
    max_latency_increase_seconds: float = Field(default=0.1, ge=0, le=60, description=(
        "The canary fails when its p99 latency exceeds the stable's by more than this (and always above "
        "`monitoring.slo.latencyP99Seconds`)."))


class RolloutConfig(Section):
    """How a new model version reaches the pods: at once (`direct`) or as a canary gated on the SLO signals."""

    strategy: Literal["direct", "canary"] = Field(default="direct", description=(
        "`direct`: the Deployment's rolling update; `canary`: an Argo Rollout runs the Deployment's pods in steps, "
        "each judged by `analysis`, aborting back to the stable version on failure."))
    steps: list[CanaryStepConfig] = Field(
        default_factory=lambda: [CanaryStepConfig(weight=10), CanaryStepConfig(weight=50)],
        description="Canary steps, weights strictly increasing; full promotion follows the last.")
    analysis: RolloutAnalysisConfig = Field(default_factory=RolloutAnalysisConfig, description="Canary analysis.")
    progress_deadline: ScaleDuration = Field(default="30m", description=(
        "A canary pod not available after this long (GPU node, image pull, model load) aborts the update."))
    traffic_routing: Literal["replicas", "alb"] = Field(default="replicas", description=(
        "`replicas`: the canary's share is its share of replicas; `alb`: each step's weight is the canary's share of "
        "requests at the model's load balancer (weighted target groups; needs `model.endpoint`)."))
    verify_target_groups: bool = Field(default=True, description=(
        "With `trafficRouting: alb`: the controller reads the load balancer back (an IRSA role allowed only "
        "`elasticloadbalancing:Describe*`) to confirm each weight and the stable's targets before going on; false: "
        "no AWS credentials, a weight counts as set once written on the Ingress."))
    controller_namespace: DnsLabel = Field(default="argo-rollouts", description="Namespace of the Argo Rollouts controller.")

    @model_validator(mode="after")
    def _check(self) -> RolloutConfig:
        problems = []
        weights = [step.weight for step in self.steps]
        if self.strategy == "canary" and (not weights or weights != sorted(set(weights))):
            problems.append(_problem("steps", weights, "need at least one step, weights strictly increasing"))
        if not 60 <= duration_seconds(self.progress_deadline) <= 7200:
            problems.append(_problem("progressDeadline", self.progress_deadline, "must be between 60 s and 7200 s"))
        _raise_all(problems)
        return self


class EndpointConfig(Section):
    """The model's HTTPS endpoint: an Application Load Balancer, its certificate and DNS name (AWS stacks)."""

    host: Annotated[str, StringConstraints(pattern=HOST_RE.pattern, max_length=253)] = Field(
        description="DNS name clients call, e.g. `model.example.com` (lower case, no wildcard).")
    hosted_zone_id: Annotated[str, StringConstraints(pattern=ZONE_ID_RE.pattern)] = Field(
        description="Route 53 hosted zone holding `host`: the alias record to the load balancer goes there, and "
                    "the certificate's validation record when `certificateArn` is not set.")
    scheme: Literal["internal", "internet-facing"] = Field(
        default="internal",
        description="`internal`: reachable from the VPC only (private subnets); `internet-facing`: public (public "
                    "subnets). Changing it replaces the load balancer.")
    certificate_arn: Optional[Annotated[str, StringConstraints(pattern=CERTIFICATE_ARN_RE.pattern)]] = Field(
        default=None,
        description="An issued ACM certificate for `host` in `aws.region`; unset: one is requested and validated "
                    "through `hostedZoneId`.")
    allowed_cidrs: list[str] = Field(
        default_factory=list,
        description="Source CIDRs the load balancer accepts (its security group); empty: any source.")
    waf_acl_arn: Optional[Annotated[str, StringConstraints(pattern=WAF_ACL_ARN_RE.pattern)]] = Field(
        default=None, description="Regional WAFv2 web ACL to associate with the load balancer.")
    ssl_policy: Annotated[str, StringConstraints(pattern=SSL_POLICY_RE.pattern)] = Field(
        default=DEFAULT_SSL_POLICY, description="ELB security policy of the HTTPS listener (TLS 1.2 at least).")
    path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")] = Field(
        default="/v2", description="Path prefix routed to the model (Open Inference Protocol v2 under `/v2`); models "
                                   "sharing a host each take their own, e.g. `/v2/models/<name>`.")
    group: Optional[DnsLabel] = Field(
        default=None, description="Share one load balancer with the stack's other endpoints of this group "
                                  "(an IngressGroup); their scheme, allowedCidrs, wafAclArn and sslPolicy must agree. "
                                  "Unset: a load balancer of its own.")
    install_controller: bool = Field(
        default=True,
        description="Install the AWS Load Balancer Controller; false when the cluster already runs one (it must "
                    "serve the `alb` IngressClass).")

    @model_validator(mode="after")
    def _check(self) -> EndpointConfig:
        # The load balancer is IPv4 only (`ip-address-type: ipv4`).
        _raise_all([_problem("allowedCidrs", cidr, "must be an IPv4 CIDR such as 203.0.113.0/24")
                    for cidr in self.allowed_cidrs if not is_ipv4_cidr(cidr)])
        return self


class GpuSharingConfig(Section):
    """How a small model shares a GPU (docs/gpu-sharing.md)."""

    mode: Literal["timeSlicing", "mig"] = Field(default="timeSlicing", description=(
        "`timeSlicing`: one replica of a GPU of the shared pool (`sharedGpuPool`), no memory isolation; `mig`: a MIG "
        "slice of an A100/H100 GPU node (`migProfile`), isolated in memory and faults."))
    mig_profile: Optional[Annotated[str, StringConstraints(pattern=r"^[1-7]g\.[0-9]+gb$")]] = Field(
        default=None, description="The MIG slice with `mode: mig`, e.g. `1g.10gb` (the GPU family's profiles). The "
        "GPU node group is cut into one MIG layout holding every MIG model's profile (docs/gpu-sharing.md).")


class ModelConfig(Section):
    """The model service: image, scale, resources, network exposure."""

    name: DnsLabel = Field(default="my-ai-model", description="Model and Kubernetes object name (label `app`).")
    namespace: Optional[DnsLabel] = Field(default=None, description="Namespace (defaults to the model name).")
    team: Optional[DnsLabel] = Field(
        default=None, description="The team that owns the model: the `team` label of its objects and alerts, which "
                                  "`monitoring.receivers[].teams` route on.")
    # A Kubernetes label value that is also a Docker tag: it labels the Deployment and starts the image tag.
    version: Optional[Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)]] = Field(
        default=None, description="Model version; defaults to the trained model's metadata.")
    build_context: str = Field(default="app", description="Docker build context, relative to the project.")
    dockerfile: str = Field(default="Dockerfile", description="Dockerfile inside the build context.")
    image_variant: Literal["cpu", "gpu"] = Field(default="gpu", description="Image flavour: CUDA runtime or CPU only.")
    container_port: Port = Field(default=8080, description="Port the server listens on.")
    service_port: Port = Field(default=80, description="Port of the Service.")
    replicas: int = Field(default=1, ge=1, le=1000, description="Replicas (the HPA's minimum when autoscaling).")
    gpus_per_pod: int = Field(default=1, ge=0, le=8, description="`nvidia.com/gpu` per pod (0: CPU only).")
    resources: ModelResources = Field(default_factory=ModelResources, description="CPU and memory requests and limits.")
    env: dict[EnvName, str] = Field(default_factory=dict, description="Extra environment variables of the server.")
    batching: BatchingConfig = Field(default_factory=BatchingConfig, description="Dynamic batching.")
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Horizontal pod autoscaling.")
    zone_spread: Literal["required", "preferred"] = Field(
        default="preferred", description="`required`: never stack replicas in one zone; `preferred`: try not to.")
    allowed_namespaces: list[DnsLabel] = Field(
        default_factory=list, description="Namespaces whose pods may call the model (monitoring always may)."
    )
    service_account_role_arn: Optional[IamRoleArn] = Field(
        default=None, description="IAM role for the pods (IRSA annotation)."
    )
    termination_grace_period_seconds: int = Field(default=30, ge=5, le=600, description="Time to drain before SIGKILL.")
    image: Optional[str] = Field(
        default=None,
        description="Deploy this image, `<repository>@sha256:<64 hex>` (a tag is refused), and build none: CI "
                    "sets it to the digest it built, tested and scanned, and a rollback to an earlier one. Unset, "
                    "`pulumi up` builds and pushes the image from `buildContext`.")
    scale_to_zero: ScaleToZeroConfig = Field(
        default_factory=ScaleToZeroConfig, description="Scale on requests down to zero replicas (replaces `autoscaling`).")
    rollout: RolloutConfig = Field(
        default_factory=RolloutConfig, description="How a new version reaches the pods: direct, or a canary gated on its SLOs.")
    runtime: Literal["model-server", "vllm", "triton"] = Field(
        default="model-server",
        description="The server the image runs (docs/runtimes.md): `model-server` (this repository's, built from "
                    "`buildContext`), `vllm` (vLLM 0.34.0) or `triton` (Triton 2.51.0), whose ports, health paths and "
                    "metric names the probes, alerts, dashboard and canary then use; the image's own entrypoint starts "
                    "it. Another runtime needs `image`; `vllm` takes exactly one of `apiKeys` (it reads it from "
                    "`VLLM_API_KEY`, set from the key's Secret), `triton` checks no key and needs "
                    "`authentication: none`.")
    authentication: Literal["apiKeys", "none"] = Field(
        default="apiKeys",
        description="`apiKeys`: the server answers only requests carrying one of `apiKeys` "
                    "(`Authorization: Bearer <key>`); `none` turns that off, and must be said explicitly "
                    "(the policy pack refuses it in production with an endpoint).")
    api_keys: dict[DnsLabel, SecretStr] = Field(
        default_factory=dict,
        description="Accepted API keys by name (secrets), e.g. `primary` and, while rotating, `secondary`: "
                    "`pulumi config set --secret --path 'model.apiKeys.primary' <key>`.")
    endpoint: Optional[EndpointConfig] = Field(
        default=None, description="HTTPS endpoint on an Application Load Balancer (AWS stacks); unset: in-cluster only.")
    slo: Optional[SloConfig] = Field(
        default=None, description="This model's objectives (its alerts and canary limits); unset: `monitoring.slo`.")
    priority: Optional[Literal["production", "development", "batch"]] = Field(
        default=None, description="PriorityClass of the model's pods (with `tenancy`); unset: its team's `priority`.")
    gpu_sharing: Optional[GpuSharingConfig] = Field(
        default=None, description="Share a GPU instead of taking `gpusPerPod` whole ones (needs `gpusPerPod: 1`).")

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        problems = []
        if self.image is not None and not IMAGE_BY_DIGEST_RE.match(self.image):
            problems.append(_problem("image", self.image, "must be <repository>@sha256:<64 lowercase hex>, by digest "
                                     "and without a tag (a tag can be moved; a digest names one image)"))
        if self.scale_to_zero.enabled and self.autoscaling.enabled:
            problems.append(_problem("scaleToZero.enabled", True, "and autoscaling.enabled would give the Deployment two "
                                     "replica owners (KEDA's HPA and ours); enable one of them"))
        if self.rollout.strategy == "canary" and self.scale_to_zero.enabled:
            problems.append(_problem("rollout.strategy", "canary", "and scaleToZero.enabled cannot be combined: a canary is "
                                     "judged on live traffic against running stable replicas, and a model at zero has "
                                     "neither; use rollout.strategy direct, or disable scaleToZero"))
        if self.rollout.strategy == "canary" and self.rollout.traffic_routing == "alb" and self.endpoint is None:
            problems.append(_problem("rollout.trafficRouting", "alb", "needs model.endpoint: the weights are set at the "
                                     "model's load balancer; allowed values: replicas (no endpoint needed) or alb "
                                     "with model.endpoint"))
        if self.gpus_per_pod > 0 and self.image_variant != "gpu":
            problems.append(_problem("imageVariant", self.image_variant, "must be gpu when gpusPerPod > 0"))
        if self.container_port < 1024:
            problems.append(_problem("containerPort", self.container_port, "must be >= 1024 (the server runs as non-root)"))
        if self.authentication == "apiKeys" and not self.api_keys:
            problems.append(_problem("apiKeys", {}, "at least one key (as a secret) while authentication is apiKeys; "
                                     "or set authentication: none explicitly"))
        if self.runtime != "model-server" and self.image is None:
            problems.append(_problem("runtime", self.runtime, "needs model.image (its vendor's image by digest): only "
                                     "model-server is built from buildContext"))
        reads = RUNTIMES[self.runtime]
        if self.authentication == "apiKeys" and reads.api_keys == "none":
            problems.append(_problem("runtime", self.runtime, "checks no API key, so it cannot read apiKeys; set "
                                     "authentication: none and authenticate in front of it"))
        if self.authentication == "apiKeys" and reads.api_keys == "env" and len(self.api_keys) > 1:
            problems.append(_problem("apiKeys", sorted(self.api_keys), f"{self.runtime} reads exactly one key (from "
                                     f"{reads.api_key_env}); rotate by replacing it"))
        if self.authentication == "none" and self.api_keys:
            problems.append(_problem("authentication", "none", f"contradicts the apiKeys given ({', '.join(self.api_keys)})"))
        _raise_all(problems)
        return self


class ReceiverConfig(Section):
    """An Alertmanager receiver; URLs and keys are secrets."""

    name: DnsLabel = Field(description="Receiver name.")
    type: Literal["slack", "pagerduty", "webhook"] = Field(description="Receiver kind.")
    severities: list[Literal["critical", "warning", "info"]] = Field(
        min_length=1, description="Alert severities routed to this receiver."
    )
    url: Optional[SecretStr] = Field(default=None, description="Slack or webhook URL (secret).")
    routing_key: Optional[SecretStr] = Field(default=None, description="PagerDuty Events v2 routing key (secret).")
    channel: Optional[str] = Field(default=None, description="Slack channel, e.g. `#ml-alerts`.")
    teams: list[DnsLabel] = Field(
        default_factory=list, description="Only alerts of these teams (`model.team`); empty: every alert of the "
                                          "listed severities.")

    @model_validator(mode="after")
    def _check(self) -> ReceiverConfig:
        if self.type == "pagerduty" and self.routing_key is None:
            raise ValueError(_problem("routingKey", None, "required for a pagerduty receiver"))
        if self.type in ("slack", "webhook") and self.url is None:
            raise ValueError(_problem("url", None, f"required for a {self.type} receiver"))
        return self


class SloConfig(Section):
    """Service level objectives the alerts are derived from."""

    availability: float = Field(default=0.999, gt=0.9, lt=1.0, description="Share of inference requests that succeed.")
    latency_p99_seconds: float = Field(default=0.5, gt=0, le=60, description="p99 inference latency objective.")


class LogsConfig(Section):
    """Every container's logs (Fluent Bit on every node): CloudWatch Logs on AWS, Loki on the local stack."""

    enabled: bool = Field(default=False, description="Collect container logs (`LogCollection`).")
    namespace: DnsLabel = Field(default="logging", description="Namespace of Fluent Bit (and Loki).")
    retention_days: int = Field(default=30, description="CloudWatch Logs retention in days (one of the values "
                                                        "CloudWatch offers: 1, 3, 5, 7, 14, 30, 60, 90, ...).")
    loki_retention: Duration = Field(default="168h", description="Loki's retention on the local stack.")


class TracesConfig(Section):
    """The model server's OpenTelemetry spans, through a Collector, to X-Ray on AWS or Tempo on the local stack."""

    enabled: bool = Field(default=False, description="Run an OpenTelemetry Collector and point the server at it.")
    namespace: DnsLabel = Field(default="tracing", description="Namespace of the Collector (and Tempo).")
    sample_ratio: float = Field(default=0.05, ge=0, le=1, description="Share of new traces the server keeps "
                                                                      "(`OTEL_TRACES_SAMPLER_ARG`).")


class MonitoringConfig(Section):
    """Prometheus, Grafana and Alertmanager."""

    enabled: bool = Field(default=True, description="Install the monitoring stack.")
    namespace: DnsLabel = Field(default="monitoring", description="Namespace of the stack.")
    retention: Duration = Field(default="15d", description="Prometheus retention, e.g. `3d`, `30d`.")
    storage_size: Quantity = Field(default="50Gi", description="Prometheus volume size.")
    storage_class: Optional[str] = Field(
        default=None,
        description="StorageClass of the Prometheus and Alertmanager volumes; unset uses `cluster.storageClass` (on a "
                    "created cluster, the encrypted gp3 class it gets). Must name a class the cluster has.")
    grafana_admin_password: Optional[SecretStr] = Field(default=None, description="Grafana admin password (secret).")
    receivers: list[ReceiverConfig] = Field(default_factory=list, description="Alertmanager receivers.")
    slo: SloConfig = Field(default_factory=SloConfig, description="Service level objectives.")
    runbook_base_url: Optional[Annotated[str, StringConstraints(pattern=r"^\S+$")]] = Field(
        default=None, description="Base of every alert's `runbook_url` annotation (`<base>#<alert>`), e.g. your "
                                  "rendered copy of docs/runbooks.md; unset: alerts carry no runbook link.")
    grafana_url: Optional[Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$")]] = Field(
        default=None, description="Grafana's URL as on-call engineers reach it: the base of every model alert's "
                                  "`dashboard_url` and `logs_url`. Required on AWS stacks with `logs.enabled`; the "
                                  "local stack defaults to http://localhost:3000 (a port-forward).")
    logs: LogsConfig = Field(default_factory=LogsConfig, description="Container log collection.")
    traces: TracesConfig = Field(default_factory=TracesConfig, description="Request traces.")
    managed_prometheus: bool = Field(
        default=False, description="Also remote-write every sample to an Amazon Managed Service for Prometheus "
                                   "workspace the program creates (AWS stacks); rules and alerts stay in the cluster.")

    @model_validator(mode="after")
    def _check(self) -> MonitoringConfig:
        problems = []
        if self.enabled and self.grafana_admin_password is None:
            problems.append(_problem("grafanaAdminPassword", None, "required (as a secret) when monitoring is enabled"))
        names = [r.name for r in self.receivers]
        if len(names) != len(set(names)):
            problems.append(_problem("receivers", names, "receiver names must be unique"))
        _raise_all(problems)
        return self


# --- node and pod autoscaling (issue 8) -------------------------------------------------------------

AutoscalingDuration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(s|m|h)$")]
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
# Shorter than a GPU node's boot plus model load, and nodes would be removed between two bursts of
# one workload; longer than two hours, and an idle GPU node costs more than it saves in cold starts.
SCALE_DOWN_SECONDS_RANGE = (60, 7200)


def duration_seconds(duration: str) -> int:
    """`90s`, `5m`, `2h` as seconds."""
    return int(duration[:-1]) * _DURATION_UNITS[duration[-1]]


def _most_gpus_of(model: ModelConfig) -> int:
    """Whole GPUs a model may hold at once (a shared one counts in its pool: stack_config/gpu_sharing.py)."""
    if model.gpu_sharing is not None:
        return 0
    autoscaling, asleep = model.autoscaling, model.scale_to_zero
    most = autoscaling.max_replicas if autoscaling.enabled else model.replicas
    return (asleep.max_replicas if asleep.enabled else most) * model.gpus_per_pod


def _family(instance_type: str) -> str:
    return instance_type.split(".")[0]


class KarpenterConfig(Section):
    """The Karpenter NodePool and EC2NodeClass that replace the GPU managed node group."""

    instance_families: list[str] = Field(
        default_factory=list,
        description="GPU instance families Karpenter may launch (default: the families of `gpuNodeGroup.instanceTypes`).")
    capacity_types: list[Literal["spot", "on-demand"]] = Field(
        default_factory=list,
        description="EC2 capacity types (default: spot then on-demand when `gpuNodeGroup.capacityType` is SPOT, "
                    "else on-demand only). With both, Karpenter launches spot and falls back to on-demand.")
    max_gpus: int = Field(default=4, ge=1, le=1000, description="NodePool limit on the total `nvidia.com/gpu` of its nodes.")
    max_gpus_per_node: int = Field(default=1, ge=1, le=8, description="Largest GPU count of one node Karpenter may pick.")
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = Field(
        default="WhenEmptyOrUnderutilized",
        description="Remove nodes only when empty, or also replace underused ones with fewer or cheaper nodes.")
    disruption_budget: Annotated[str, StringConstraints(pattern=r"^((100|[0-9]{1,2})%|[0-9]+)$")] = Field(
        default="1", description="How many nodes (count or percent) Karpenter may disrupt at once.")
    expire_after: Annotated[str, StringConstraints(pattern=r"^([0-9]+h|Never)$")] = Field(
        default="720h", description="Replace nodes older than this (picks up AMI and security fixes), or `Never`.")
    ami_alias: Optional[Annotated[str, StringConstraints(pattern=r"^(al2023|bottlerocket)@v[0-9][0-9.]*$")]] = Field(
        default=None,
        description="Pinned EKS-optimised AMI alias, e.g. `al2023@v20260714` (default for AL2023; "
                    "required for Bottlerocket). `latest` is refused: it would roll every node on each release.")
    spot_service_linked_role: Literal["check", "create"] = Field(
        default="check",
        description="With spot capacity, EC2 needs the account's `AWSServiceRoleForEC2Spot`: `check` stops the preview "
                    "with the fix when it is missing, `create` creates it (only one stack per account may).")

    @model_validator(mode="after")
    def _check(self) -> KarpenterConfig:
        problems = []
        for family in self.instance_families:
            if unsupported_reason(family):
                problems.append(_problem("instanceFamilies", family, f"refused: {unsupported_reason(family)}"))
            elif family not in GPU_INSTANCE_FAMILIES:
                problems.append(_problem("instanceFamilies", family,
                                         f"not a supported NVIDIA GPU family (allowed: {', '.join(GPU_INSTANCE_FAMILIES)})"))
        if len(set(self.capacity_types)) != len(self.capacity_types):
            problems.append(_problem("capacityTypes", self.capacity_types, "list each capacity type once"))
        _raise_all(problems)
        return self

    def families(self, node_group: GpuNodeGroupConfig) -> list[str]:
        """The configured families, or those of the GPU node group's instance types, in order."""
        return list(self.instance_families) or list(dict.fromkeys(_family(t) for t in node_group.instance_types))

    def capacity(self, node_group: GpuNodeGroupConfig) -> list[str]:
        """The configured capacity types, or the node group's (spot falling back to on-demand)."""
        if self.capacity_types:
            return list(self.capacity_types)
        return ["spot", "on-demand"] if node_group.capacity_type == "SPOT" else ["on-demand"]


class PodAutoscalingConfig(Section):
    """What the model's HorizontalPodAutoscaler scales on."""

    metric: Literal["cpu", "inFlightRequests", "batchQueueDepth"] = Field(
        default="batchQueueDepth",
        description="`batchQueueDepth` (requests waiting to join a batch) or `inFlightRequests` (received, not yet "
                    "answered), both per pod from the server's own metrics through prometheus-adapter; or `cpu`.")
    target_per_pod: float = Field(
        default=16, gt=0, le=100000,
        description="Average value of the metric per pod the HPA keeps (ignored for `cpu`, which uses "
                    "`model.autoscaling.targetCpuUtilization`).")
    scale_down_stabilization_seconds: int = Field(
        default=600, ge=60, le=3600,
        description="The HPA removes pods only if the metric stayed low this long (a pod gone may be a GPU node gone).")
    scale_down_pods_per_minute: int = Field(default=1, ge=1, le=100, description="At most this many pods removed per minute.")


class NodeAutoscalingConfig(Section):
    """GPU capacity that follows demand: the node provisioner and the model's pod autoscaling signal."""

    provisioner: Literal["clusterAutoscaler", "karpenter"] = Field(
        default="clusterAutoscaler",
        description="`clusterAutoscaler` scales the GPU managed node group (from zero); `karpenter` replaces the "
                    "managed node group with a Karpenter NodePool.")
    scale_down_unneeded_time: AutoscalingDuration = Field(
        default="10m",
        description="How long a GPU node must be unneeded before it is removed (Cluster Autoscaler "
                    "`--scale-down-unneeded-time`, Karpenter `consolidateAfter`); 1m to 2h.")
    scale_down_delay_after_add: AutoscalingDuration = Field(
        default="10m", description="Cluster Autoscaler: no scale-down this long after a scale-up; 1m to 2h.")
    spot_first: bool = Field(
        default=False,
        description="Cluster Autoscaler with a SPOT GPU group: add an on-demand GPU group of the same instance types "
                    "(also at zero when idle), and let the priority expander try the SPOT group first and fall back "
                    "to it; otherwise `least-waste`.")
    karpenter: KarpenterConfig = Field(default_factory=KarpenterConfig, description="Karpenter settings.")
    pods: PodAutoscalingConfig = Field(default_factory=PodAutoscalingConfig, description="Pod autoscaling signal.")

    @model_validator(mode="after")
    def _check(self) -> NodeAutoscalingConfig:
        problems = []
        low, high = SCALE_DOWN_SECONDS_RANGE
        for key in ("scale_down_unneeded_time", "scale_down_delay_after_add"):
            value = getattr(self, key)
            if not low <= duration_seconds(value) <= high:
                problems.append(_problem(to_camel(key), value, "must be between 1m and 2h"))
        _raise_all(problems)
        return self

    def stack_problems(self, config: StackConfig) -> list[str]:
        """Problems that span sections, each naming the key (for `StackConfig._check`)."""
        problems = []
        if config.cluster.mode == "local":
            problems.append(_problem("autoscaling.provisioner", self.provisioner,
                                     "node autoscaling needs an EKS cluster (cluster.mode create or existing)"))
        if self.pods.metric != "cpu" and not config.monitoring.enabled:
            problems.append(_problem("autoscaling.pods.metric", self.pods.metric,
                                     "needs monitoring.enabled (Prometheus holds the server's metrics); or use cpu"))
        for index, view in enumerate(config.catalogue()):
            hpa = view.model.autoscaling
            if self.pods.metric != "cpu" and "target_cpu_utilization" in hpa.model_fields_set:
                key = f"models[{index}]" if config.models else "model"
                problems.append(_problem(
                    f"{key}.autoscaling.targetCpuUtilization", hpa.target_cpu_utilization,
                    f"has no effect: the model's pods scale on autoscaling.pods.metric {self.pods.metric!r} "
                    f"(targetPerPod {self.pods.target_per_pod:g}); remove it, or set autoscaling.pods.metric to cpu"))
        if self.spot_first and (self.provisioner != "clusterAutoscaler" or config.gpu_node_group.capacity_type != "SPOT"):
            problems.append(_problem("autoscaling.spotFirst", True,
                                     "needs provisioner clusterAutoscaler and gpuNodeGroup.capacityType SPOT (an "
                                     "on-demand GPU group is added as the fallback; Karpenter prefers spot by itself)"))
        if self.provisioner == "karpenter":
            problems += self._karpenter_problems(config)
        elif config.gpu_node_group.enabled and any(v.model.zone_spread == "required" for v in config.catalogue()) \
                and not config.gpu_node_group.group_per_zone and len(config.zones()) > 1:
            problems.append(_problem(
                "gpuNodeGroup.groupPerZone", False,
                "set it to true with model.zoneSpread required and Cluster Autoscaler: it adds a node from one zone of a "
                "multi-zone group, so a replica that must go to another zone would stay pending (or use provisioner "
                "karpenter, or zoneSpread preferred)"))
        if self.provisioner != "karpenter" and config.gpu_node_group.enabled and self._most_model_gpus(config):
            node_group = config.gpu_node_group
            capacity = node_group.max_size * gpus_per_node(node_group.instance_types)
            if self._most_model_gpus(config) > capacity:
                problems.append(_problem(
                    "gpuNodeGroup.maxSize", node_group.max_size,
                    f"its {capacity} GPUs are fewer than the {self._most_model_gpus(config)} the model may ask for "
                    "(replicas x model.gpusPerPod): the autoscaler could never place the last pods"))
        return problems

    @staticmethod
    def _most_model_gpus(config: StackConfig) -> int:
        """The GPUs every model of the stack may ask for at once (replicas at their most x GPUs per pod)."""
        return sum(_most_gpus_of(view.model) for view in config.catalogue())

    def _karpenter_problems(self, config: StackConfig) -> list[str]:
        karpenter, node_group = self.karpenter, config.gpu_node_group
        gpus_per_pod = max(view.model.gpus_per_pod for view in config.catalogue())
        problems = []
        if config.cluster.stack_reference is not None:
            problems.append(_problem("autoscaling.provisioner", "karpenter",
                                     "needs the cluster security group, which a cluster from cluster.stackReference "
                                     "does not give; use clusterAutoscaler or cluster.name"))
        if not node_group.enabled:
            problems.append(_problem("autoscaling.provisioner", "karpenter",
                                     "needs gpuNodeGroup.enabled (its labels, taints, AMI and disk describe the GPU nodes)"))
            return problems
        families = karpenter.families(node_group)
        fitting = sorted(count for instance_type, count in GPU_COUNT_BY_INSTANCE_TYPE.items()
                         if _family(instance_type) in families and max(gpus_per_pod, 1) <= count <= karpenter.max_gpus_per_node)
        if not fitting:
            problems.append(_problem(
                "autoscaling.karpenter.maxGpusPerNode", karpenter.max_gpus_per_node,
                f"no instance type of {families} has between model.gpusPerPod ({gpus_per_pod}) and this many GPUs"))
        elif karpenter.max_gpus < fitting[0]:
            problems.append(_problem(
                "autoscaling.karpenter.maxGpus", karpenter.max_gpus,
                f"below the GPUs of one node ({fitting[0]}): Karpenter could never launch a node"))
        elif self._most_model_gpus(config) > karpenter.max_gpus:
            problems.append(_problem(
                "autoscaling.karpenter.maxGpus", karpenter.max_gpus,
                f"below the {self._most_model_gpus(config)} GPUs the model may ask for "
                "(replicas x model.gpusPerPod): the last pods would stay pending"))
        wanted_family = "bottlerocket" if node_group.ami_type.startswith("BOTTLEROCKET") else "al2023"
        if karpenter.ami_alias is None and wanted_family == "bottlerocket":
            problems.append(_problem("autoscaling.karpenter.amiAlias", None,
                                     "required with gpuNodeGroup.amiType BOTTLEROCKET_x86_64_NVIDIA "
                                     "(pin a release, e.g. bottlerocket@v1.2.3)"))
        elif karpenter.ami_alias is not None and not karpenter.ami_alias.startswith(wanted_family + "@"):
            problems.append(_problem("autoscaling.karpenter.amiAlias", karpenter.ami_alias,
                                     f"must be a {wanted_family}@... alias to match gpuNodeGroup.amiType {node_group.ami_type}"))
        return problems


# --- delivery: how CI reaches the cluster (issue 15) ------------------------------------------------------

# GitHub-hosted runner labels (`ubuntu-24.04`, `windows-latest`, `macos-15`...): their addresses are
# Azure's, shared and changing, so neither a VPC nor an endpoint allow-list can admit them alone.
GITHUB_HOSTED_LABEL_RE = re.compile(r"^(ubuntu|windows|macos)-[a-z0-9.-]+$")
RunnerLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]


class DeliveryConfig(Section):
    """How CI's preview and deploy jobs of this stack reach its Kubernetes API (docs/delivery.md)."""

    runner: Literal["vpc", "public"] = Field(
        default="vpc",
        description="`vpc`: self-hosted runners inside the VPC (or a network routed to it) use the private "
                    "endpoint, and the program opens the cluster security group's port 443 to `runnerCidrs`; "
                    "`public`: runners whose fixed egress addresses are `runnerCidrs` use the public endpoint, "
                    "which must admit them in `cluster.endpointPublicAccessCidrs`.")
    runner_labels: list[RunnerLabel] = Field(
        default_factory=lambda: ["self-hosted", "linux", "x64"], min_length=1,
        description="`runs-on` labels of the stack's preview, plan and deploy jobs, e.g. an actions-runner-controller "
                    "scale set name. GitHub-hosted labels are refused: their addresses are neither in your VPC nor "
                    "fixed.")
    runner_cidrs: list[str] = Field(
        default_factory=list, description="Where the runners' API traffic comes from (private ranges for `vpc`, "
                                          "public egress addresses for `public`).")
    preview_runner_labels: list[RunnerLabel] = Field(
        default_factory=list,
        description="`runs-on` labels of the separate, ephemeral runner pool that previews this stack for same-"
                    "repository pull requests (it reaches the API from `runnerCidrs` too, but never runs a plan, "
                    "deploy or drift job). Each pool needs a label the other lacks, so neither kind of job can "
                    "land on the other's runners. Required.")
    repository: Optional[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]] = Field(
        default=None,
        description="The GitHub repository (`OWNER/REPO`) whose deploy workflow on main signs the images this stack "
                    "runs (keyless cosign): the identity the cluster's admission policy admits.")
    signed_images_only: bool = Field(
        default=True,
        description="Install Sigstore's policy-controller and admit, in the model's namespace, only images signed by "
                    "`repository`'s deploy workflow on main (ImageAdmission). Off only for a first deploy by hand, "
                    "whose image nobody signed (docs/delivery.md).")

    def stack_problems(self, config: StackConfig) -> list[str]:
        """Problems that span sections, each naming the key (for `StackConfig._check`)."""
        problems, cluster = [], config.cluster
        hosted = [label for label in self.runner_labels if GITHUB_HOSTED_LABEL_RE.match(label)]
        if hosted:
            problems.append(_problem("delivery.runnerLabels", hosted, "GitHub-hosted runners cannot reach a restricted "
                                     "endpoint: their addresses are not in the VPC and not fixed; use self-hosted "
                                     "runner labels"))
        hosted = [label for label in self.preview_runner_labels if GITHUB_HOSTED_LABEL_RE.match(label)]
        if hosted:
            problems.append(_problem("delivery.previewRunnerLabels", hosted, "a preview reaches the API too: use "
                                     "self-hosted runner labels"))
        if not self.preview_runner_labels:
            problems.append(_problem("delivery.previewRunnerLabels", [], "required: the ephemeral pool that previews "
                                     "this repository's pull requests (runnerLabels run plans and deploys only)"))
        elif (not set(self.preview_runner_labels) - set(self.runner_labels)
              or not set(self.runner_labels) - set(self.preview_runner_labels)):
            problems.append(_problem("delivery.previewRunnerLabels", self.preview_runner_labels,
                                     f"must have a label runnerLabels {self.runner_labels} lacks, and lack one it "
                                     "has: a pull request's job must never land on a deploy runner, nor a deploy "
                                     "job on a pull request's"))
        if self.signed_images_only and self.repository is None:
            problems.append(_problem("delivery.repository", None, "required with signedImagesOnly: the OWNER/REPO "
                                     "whose deploy workflow signs the images the cluster admits"))
        if cluster.mode == "local":
            problems.append(_problem("delivery", "set", "CI deploys EKS stacks only; a local cluster is deployed by hand"))
            return problems
        networks = []
        for cidr in self.runner_cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr))
            except ValueError:
                problems.append(_problem("delivery.runnerCidrs", cidr, "must be a CIDR such as 10.40.0.0/20"))
        if not self.runner_cidrs:
            problems.append(_problem("delivery.runnerCidrs", [], f"required: where runner {self.runner!r} traffic to "
                                     "the API comes from"))
        if self.runner == "vpc":
            public = [str(n) for n in networks if not n.is_private]
            if public:
                problems.append(_problem("delivery.runnerCidrs", public, "runner vpc reaches the private endpoint "
                                         "from private addresses only"))
            if cluster.stack_reference is not None:
                problems.append(_problem("delivery.runner", "vpc", "needs the cluster security group, which a "
                                         "cluster from cluster.stackReference does not give; open port 443 in the "
                                         "stack that owns the cluster"))
        else:
            allowed = [ipaddress.ip_network(c) for c in cluster.endpoint_public_access_cidrs
                       if _is_cidr(c)]
            if not allowed:
                problems.append(_problem("delivery.runner", "public", "the cluster has no public endpoint "
                                         "(cluster.endpointPublicAccessCidrs is empty): use runner vpc"))
            outside = [str(n) for n in networks
                       if not any(n.version == a.version and n.subnet_of(a) for a in allowed)]
            if allowed and outside:
                problems.append(_problem("delivery.runnerCidrs", outside, "not admitted by "
                                         f"cluster.endpointPublicAccessCidrs {cluster.endpoint_public_access_cidrs}: "
                                         "CI could not reach the API"))
        return problems


class SharedGpuPoolConfig(NodeGroupScaling):
    """A GPU node group whose GPUs are time-sliced for small models, labelled and tainted apart from whole-GPU nodes."""

    replicas: int = Field(default=4, ge=2, le=48, description="Models one GPU is shared between (time-slicing "
                                                              "replicas; each pod asks for one).")
    instance_types: list[str] = Field(default_factory=list, description="GPU instance types; default: "
                                                                        "`gpuNodeGroup.instanceTypes`.")
    min_size: int = Field(default=0, ge=0, le=1000, description=(
        "Minimum nodes; 0 lets an idle pool cost nothing (its node-template tags tell Cluster Autoscaler the shares "
        "a node will offer, so it scales up from zero)."))
    max_size: int = Field(default=2, ge=1, le=1000, description="Maximum nodes.")
    desired_size: int = Field(default=0, ge=0, le=1000, description="Initial nodes; the autoscaler owns it afterwards.")

    @model_validator(mode="after")
    def _check(self) -> SharedGpuPoolConfig:
        problems = self._scaling_problems()
        problems += [_problem("instanceTypes", t, instance_type_problem(t)) for t in self.instance_types
                     if instance_type_problem(t)]
        _raise_all(problems)
        return self


# --- tenancy: teams as tenants of the cluster (issue 25; rules in stack_config/tenancy.py) -------------------------

Priority = Literal["production", "development", "batch"]


class TeamConfig(Section):
    """One team of the catalogue: its namespace, quota, default priority and who of it may read."""

    name: DnsLabel = Field(description="The team, as the catalogue's `models[].team` names it.")
    namespace: Optional[DnsLabel] = Field(
        default=None, description="The team's namespace (`tenancy.namespaces: perTeam`); default: the team's name.")
    gpus: int = Field(default=0, ge=0, le=10000, description="Whole GPUs its pods may request together "
                                                              "(`requests.nvidia.com/gpu` quota).")
    shared_gpus: int = Field(default=0, ge=0, le=100000, description=(
        "Time-sliced GPU replicas its pods may request together (quota on the shared pool's advertised resource, "
        "docs/gpu-sharing.md)."))
    mig_slices: int = Field(default=0, ge=0, le=100000, description=(
        "MIG slices its pods may request together, for each profile its models use (`nvidia.com/mig-<profile>`)."))
    cpu: Quantity = Field(default="16", description="CPU its pods may request and be limited to together.")
    memory: Quantity = Field(default="64Gi", description="Memory its pods may request and be limited to together.")
    priority: Priority = Field(default="production", description=(
        "PriorityClass of the team's models unless a model sets `priority`: `production` serving preempts "
        "`development` serving, which preempts `batch` (docs/tenancy.md)."))
    read_role_arns: list[IamRoleArn] = Field(default_factory=list, description=(
        "IAM roles of the team: an EKS access entry maps each to the team's group, bound to `view` in its "
        "namespaces only."))


class TenancyConfig(Section):
    """Teams as tenants: a namespace per team (or per model) with quotas, default sizes, priorities, read access."""

    namespaces: Literal["perTeam", "perModel"] = Field(default="perTeam", description=(
        "`perTeam`: a team's models share its namespace and its quota; `perModel`: each model has its own "
        "namespace, whose quota is its share of the team's."))
    teams: list[TeamConfig] = Field(min_length=1, description="Every team with a model in the catalogue.")
    container_defaults: ModelResources = Field(
        default_factory=lambda: ModelResources(requests=ResourceAmounts(cpu="250m", memory="512Mi"),
                                               limits=ResourceAmounts(cpu="1", memory="1Gi")),
        description="Requests and limits of a container that states none (LimitRange), so quotas admit it.")

    def team(self, name: Optional[str]) -> Optional[TeamConfig]:
        return next((t for t in self.teams if t.name == name), None)


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


class StackConfig(Section):
    """The whole stack configuration (keys under the `gpu-model-platform:` namespace)."""

    aws: Optional[AwsConfig] = Field(default=None, description="AWS region and tags (all but the local stack).")
    network: Optional[NetworkConfig] = Field(default=None, description="VPC to create or use (created clusters).")
    cluster: ClusterConfig = Field(description="The Kubernetes cluster.")
    gpu_node_group: GpuNodeGroupConfig = Field(default_factory=GpuNodeGroupConfig, description="GPU nodes.")
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="Image registry.")
    model: Optional[ModelConfig] = Field(
        default=None, description="The stack's one model (a one-item catalogue; its resources keep their first names, "
                                  "e.g. `model`, `model-endpoint`). Exactly one of `model` and `models`.")
    models: list[ModelConfig] = Field(
        default_factory=list, description="The model catalogue: every entry is a model with its own team, image, GPUs, "
                                          "scaling, SLOs, endpoint and release (resource names carry the entry's "
                                          "`name`; see docs/catalogue.md). Exactly one of `model` and `models`.")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig, description="Monitoring and alerting.")
    autoscaling: Optional[NodeAutoscalingConfig] = Field(
        default=None, description="GPU node autoscaling and the model's pod autoscaling signal (none: fixed sizes).")
    delivery: Optional[DeliveryConfig] = Field(
        default=None, description="How CI's jobs reach this stack's cluster API (required for every stack CI "
                                  "previews or deploys; none for a stack deployed by hand).")
    shared_gpu_pool: Optional[SharedGpuPoolConfig] = Field(
        default=None, description="Time-sliced GPU nodes for models with `gpuSharing.mode: timeSlicing` "
                                  "(docs/gpu-sharing.md); none: every GPU model takes whole GPUs.")
    tenancy: Optional[TenancyConfig] = Field(
        default=None, description="Teams as tenants (namespaces, quotas, priorities, read access); none: each model "
                                  "creates its own namespace, without quota.")

    @model_validator(mode="after")
    def _check(self) -> StackConfig:
        problems = []
        on_aws = self.cluster.mode in ("create", "existing")
        if on_aws and self.aws is None:
            problems.append(_problem("aws", None, f"required when cluster.mode is {self.cluster.mode}"))
        if self.cluster.mode == "create" and self.network is None:
            problems.append(_problem("network", None, "required when cluster.mode is create"))
        if self.cluster.mode == "existing" and self.gpu_node_group.enabled and self.network is None:
            problems.append(_problem("network", None, "required for the GPU node group's subnets on an existing cluster"))
        if self.aws is not None and self.network is not None:
            zones = self.network.availability_zones if self.network.create else [
                s.availability_zone for s in (*self.network.private_subnets, *self.network.public_subnets)]
            elsewhere = [z for z in zones if not re.fullmatch(re.escape(self.aws.region) + r"[a-z]", z)]
            if elsewhere:
                problems.append(_problem("network.availabilityZones" if self.network.create else "network.privateSubnets",
                                         elsewhere, f"zones must be in aws.region {self.aws.region} (e.g. {self.aws.region}a)"))
        if self.cluster.mode == "local":
            if self.registry.mode != "local":
                problems.append(_problem("registry.mode", self.registry.mode, "must be local when cluster.mode is local"))
            if self.gpu_node_group.enabled:
                problems.append(_problem("gpuNodeGroup.enabled", True, "must be false when cluster.mode is local (no GPUs)"))
            if self.monitoring.managed_prometheus:
                problems.append(_problem("monitoring.managedPrometheus", True,
                                         "must be false when cluster.mode is local (no AWS account to hold a workspace)"))
        elif self.monitoring.enabled and self.monitoring.logs.enabled and self.monitoring.grafana_url is None:
            problems.append(_problem("monitoring.grafanaUrl", None, "required with monitoring.logs.enabled on an AWS "
                                     "stack: every model alert links to Grafana there (e.g. https://grafana.example.com)"))
        if self.cluster.mode == "create" and self.monitoring.storage_class not in (
                None, self.cluster.storage_class or DEFAULT_STORAGE_CLASS):
            problems.append(_problem("monitoring.storageClass", self.monitoring.storage_class,
                                     f"a created cluster has one StorageClass, "
                                     f"{self.cluster.storage_class or DEFAULT_STORAGE_CLASS!r} (cluster.storageClass); "
                                     "unset it or set it to that"))
        if self.gpu_node_group.group_per_zone and len(self.zones()) < 2:
            problems.append(_problem("gpuNodeGroup.groupPerZone", True,
                                     "needs a network over two or more zones (network.availabilityZones or "
                                     "network.privateSubnets)"))
        if self.registry.mode == "local" and on_aws:
            problems.append(_problem("registry.mode", "local", "an EKS cluster cannot pull from a local registry; use ecr"))
        problems += catalogue_problems(self)
        if self.autoscaling is not None and self.catalogue():
            problems += self.autoscaling.stack_problems(self)
        if self.delivery is not None:
            problems += self.delivery.stack_problems(self)
        _raise_all(problems)
        return self

    def model_problems(self) -> list[str]:
        """Problems of `model` (this stack's, or one catalogue entry's view) with the rest of the stack."""
        problems = []
        if self.model.gpus_per_pod > 0 and not self.gpu_node_group.enabled:
            problems.append(_problem("model.gpusPerPod", self.model.gpus_per_pod, "must be 0 without a GPU node group"))
        if self.model.rollout.strategy == "canary" and not self.monitoring.enabled:
            problems.append(_problem("model.rollout.strategy", "canary", "needs monitoring.enabled (the canary analysis "
                                     "queries the stack's Prometheus)"))
        if self.model.endpoint is not None:
            problems += self._endpoint_problems(self.model.endpoint)
        return problems

    def catalogue(self) -> list[StackConfig]:
        """One view of the stack per model, `model` set to it: `[self]` with `model:`, one per `models:` entry."""
        return catalogue_views(self)

    def zones(self) -> list[str]:
        """The zones GPU nodes can use: the created network's, or those of the existing private subnets."""
        if self.network is None:
            return []
        if self.network.create:
            return list(dict.fromkeys(self.network.availability_zones))
        return list(dict.fromkeys(s.availability_zone for s in self.network.private_subnets))

    def _endpoint_problems(self, endpoint: EndpointConfig) -> list[str]:
        if self.cluster.mode == "local":
            return [_problem("model.endpoint", endpoint.host, "needs an EKS cluster (cluster.mode create or existing); "
                             "on a local cluster use kubectl port-forward (docs/getting-started.md)")]
        if self.network is None:
            return [_problem("model.endpoint", endpoint.host, "needs the network section (the load balancer's VPC "
                             "and subnets)")]
        if endpoint.scheme == "internet-facing" and not self.network.create and not self.network.public_subnets:
            return [_problem("model.endpoint.scheme", endpoint.scheme, "needs network.publicSubnets (an internet-facing "
                             "load balancer lives in public subnets)")]
        return []

    @property
    def model_namespace(self) -> str:
        return self.model.namespace or self.model.name

    @property
    def registry_name(self) -> str:
        return self.registry.name or self.model.name

    def registry_name_for(self, stack: str) -> str:
        """The repository name in this stack: `registry.name`, else `<model.name>-<stack>` for ECR, so two stacks
        sharing one AWS account never claim the same repository (a local registry keeps the model name)."""
        if self.registry.name or self.registry.mode == "local":
            return self.registry_name
        return f"{self.model.name}-{stack.lower()}"


# Stack config keys are the sections, e.g. `gpu-model-platform:gpuNodeGroup`.
SECTION_KEYS: dict[str, str] = {
    name: (field.alias or name) for name, field in StackConfig.model_fields.items()
}

_CAMEL_RE = re.compile(r"^[a-z][A-Za-z0-9]*$")
assert all(_CAMEL_RE.match(key) for key in SECTION_KEYS.values())
