"""Tenancy: teams as tenants of one cluster -- namespaces with GPU, CPU and memory quotas, default container sizes,
serving priorities, and per-team read access.

Quotas: a ResourceQuota per namespace caps the sum of requests (and CPU/memory limits) of its pods. An extended
resource such as a GPU can only be capped on requests (`requests.nvidia.com/gpu`; Kubernetes docs,
concepts/policy/resource-quotas.md, "Resource quota for extended resources", release-1.36), and the quota counts
the resource name the device plugin advertises: a time-sliced replica counts as one of the shared resource, not as
a GPU (see docs/gpu-sharing.md). A quota on CPU and memory makes the API server refuse a pod that states none, so
every namespace also gets a LimitRange giving containers default requests and limits.

Priorities: three PriorityClasses order who keeps a GPU when there are too few -- production serving, then
development serving, then batch. A pending pod of a higher class may preempt (evict) lower ones to fit
(`PreemptLowerPriority`); batch never preempts anyone (`preemptionPolicy: Never`) and goes first.

Read access: each team's IAM roles get an EKS access entry in the team's Kubernetes group (no access policy: RBAC
decides), and that group is bound to the built-in `view` ClusterRole in the team's namespaces only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .._args import DnsLabel, NonNegativeInt, Problem, Quantity, checked_args, got, non_empty, problems_of
from ..labels import restricted_namespace_labels, standard_labels

Priority = Literal["production", "development", "batch"]
# name, value, preemption policy, description. Values sit far below the system classes (2000000000 and up) and
# far apart, so a platform team can slot its own classes between them.
PRIORITY_CLASSES: dict[str, tuple[str, int, str, str]] = {
    "production": ("model-serving-production", 1_000_000, "PreemptLowerPriority",
                   "Production model serving: may preempt development serving and batch pods to get a GPU."),
    "development": ("model-serving-development", 100_000, "PreemptLowerPriority",
                    "Development model serving: may preempt batch pods; preempted by production serving."),
    "batch": ("model-batch", 1_000, "Never",
              "Batch and experiments: never preempts; the first to go when serving needs the GPUs."),
}
GPU_RESOURCE = "nvidia.com/gpu"
# The AWS Load Balancer Controller injects readiness gates into pods of namespaces with this label (as ModelService
# labels the namespaces it creates), so a load balancer target leaves before its pod stops.
_READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}


def priority_class_name(priority: Priority) -> str:
    """The PriorityClass a model of this priority runs with."""
    return PRIORITY_CLASSES[priority][0]


@dataclass
class ContainerDefaults:
    """What a container that states no resources gets (LimitRange `defaultRequest` and `default`)."""

    cpu_request: Quantity = "250m"
    memory_request: Quantity = "512Mi"
    cpu_limit: Quantity = "1"
    memory_limit: Quantity = "1Gi"


@dataclass
class Tenant:
    """One namespace of a team: its quota and who may read it."""

    team: DnsLabel
    namespace: DnsLabel
    gpus: NonNegativeInt = 0
    """`requests.nvidia.com/gpu` of the namespace's pods together (whole GPUs)."""
    cpu: Quantity = "8"
    """`requests.cpu` and `limits.cpu` together."""
    memory: Quantity = "32Gi"
    """`requests.memory` and `limits.memory` together."""
    extended: dict[str, NonNegativeInt] = field(default_factory=dict)
    """More extended resources by the name the device plugin advertises (e.g. `nvidia.com/gpu.shared` of a
    time-sliced pool, `nvidia.com/mig-1g.10gb`), each capped on requests."""
    read_role_arns: Sequence[str] = field(default_factory=list)
    """IAM roles of the team that may read the namespace (kubectl get, logs, events; not Secrets)."""

    def hard(self) -> dict[str, str]:
        """The ResourceQuota's `spec.hard`."""
        quota = {"requests.cpu": self.cpu, "limits.cpu": self.cpu, "requests.memory": self.memory,
                 "limits.memory": self.memory, f"requests.{GPU_RESOURCE}": str(self.gpus)}
        return quota | {f"requests.{name}": str(count) for name, count in sorted(self.extended.items())}


@dataclass
class TenancyArgs:
    """Inputs of `Tenancy`."""

    tenants: Annotated[Sequence[Tenant], non_empty()]
    """One entry per namespace (a team's, or a model's when namespaces are per model)."""
    cluster_name: Optional[pulumi.Input[str]] = None
    """The EKS cluster whose access entries map the teams' roles; None (a local cluster): no access entries."""
    container_defaults: ContainerDefaults = field(default_factory=ContainerDefaults)
    priorities: Sequence[Priority] = ("production", "development", "batch")
    """The PriorityClasses to create (cluster-wide: one Tenancy per cluster creates them)."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        namespaces = [t.namespace for t in self.tenants]
        if len(set(namespaces)) != len(namespaces):
            problems.append(("tenants", got(namespaces, "one tenant per namespace")))
        owners: dict[str, str] = {}
        for tenant in self.tenants:
            for arn in tenant.read_role_arns:
                if owners.setdefault(arn, tenant.team) != tenant.team:
                    problems.append(("tenants", got(arn, f"reads for teams {owners[arn]} and {tenant.team}: one "
                                                         "access entry maps a role to one team's group")))
        if any(t.read_role_arns for t in self.tenants) and self.cluster_name is None:
            problems.append(("cluster_name", got(None, "required for the teams' read_role_arns (EKS access entries)")))
        return problems


def validate_tenancy_args(args: TenancyArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def team_group(team: str) -> str:
    """The Kubernetes group a team's roles act as (never `system:`, which EKS refuses)."""
    return f"gpu-model-platform:team:{team}:view"


class Tenancy(pulumi.ComponentResource):
    """Teams as tenants of the cluster.

    Creates the serving PriorityClasses, and per tenant a restricted namespace with a ResourceQuota, a
    LimitRange and a RoleBinding of the team's group to `view`; per team role an EKS access entry.
    """

    namespaces: dict[str, pulumi.Output[str]]
    """Namespace name by namespace (created here, so models and quotas land in them)."""
    priority_class_names: dict[str, pulumi.Output[str]]
    """PriorityClass name by priority (`production`, `development`, `batch`)."""

    def __init__(self, name: str, args: TenancyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("Tenancy", name, args, TenancyArgs)
        super().__init__("gpu-model-platform:index:Tenancy", name, None, opts)
        self._name = name
        self.priority_class_names = {p: self._priority_class(p) for p in args.priorities}
        self.namespaces = {t.namespace: self._tenant(t, args) for t in args.tenants}
        for team, arns in _roles_by_team(args.tenants).items():
            for arn in arns:
                aws.eks.AccessEntry(f"{name}-{team}-{arn.rsplit('/', 1)[-1]}", cluster_name=args.cluster_name,
                                    principal_arn=arn, type="STANDARD", kubernetes_groups=[team_group(team)],
                                    opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespaces": self.namespaces, "priority_class_names": self.priority_class_names})

    def _priority_class(self, priority: Priority) -> pulumi.Output[str]:
        class_name, value, preemption, description = PRIORITY_CLASSES[priority]
        created = k8s.scheduling.v1.PriorityClass(
            f"{self._name}-{priority}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name, labels=standard_labels(self._name, "tenancy")),
            value=value, global_default=False, preemption_policy=preemption, description=description,
            opts=pulumi.ResourceOptions(parent=self))
        # `metadata.name` is always set above; the SDK types the lifted attribute as Any.
        return cast(pulumi.Output[str], created.metadata.name)

    def _tenant(self, tenant: Tenant, args: TenancyArgs) -> pulumi.Output[str]:
        labels = standard_labels(tenant.namespace, "tenancy") | {"team": tenant.team}
        namespace = k8s.core.v1.Namespace(
            f"{self._name}-{tenant.namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=tenant.namespace, labels=labels | restricted_namespace_labels() | _READINESS_GATE_LABEL),
            opts=pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        metadata = k8s.meta.v1.ObjectMetaArgs(name=f"team-{tenant.team}", namespace=tenant.namespace, labels=labels)
        k8s.core.v1.ResourceQuota(f"{self._name}-{tenant.namespace}-quota", metadata=metadata,
                                  spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=tenant.hard()), opts=inside)
        defaults = args.container_defaults
        k8s.core.v1.LimitRange(
            f"{self._name}-{tenant.namespace}-limits", metadata=metadata,
            spec=k8s.core.v1.LimitRangeSpecArgs(limits=[k8s.core.v1.LimitRangeItemArgs(
                type="Container",
                default_request={"cpu": defaults.cpu_request, "memory": defaults.memory_request},
                default={"cpu": defaults.cpu_limit, "memory": defaults.memory_limit})]),
            opts=inside)
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-{tenant.namespace}-view", metadata=metadata,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
            subjects=[k8s.rbac.v1.SubjectArgs(api_group="rbac.authorization.k8s.io", kind="Group",
                                              name=team_group(tenant.team))],
            opts=inside)
        return cast(pulumi.Output[str], namespace.metadata.name)


def _roles_by_team(tenants: Sequence[Tenant]) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for tenant in tenants:
        for arn in tenant.read_role_arns:
            if arn not in roles.setdefault(tenant.team, []):
                roles[tenant.team].append(arn)
    return roles
