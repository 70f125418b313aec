"""What the policies share: resource labels, where pod specs live, and the policy factory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._values import get, items, normalize

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
POD = "kubernetes:core/v1:Pod"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
"""An Argo Rollout: with `spec.workloadRef` it runs the pods of the Deployment it names (and owns their count)."""
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_CLUSTER = "aws:eks/cluster:Cluster"

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    POD: ("spec",),
    DEPLOYMENT: ("spec", "template", "spec"),
    STATEFUL_SET: ("spec", "template", "spec"),
    DAEMON_SET: ("spec", "template", "spec"),
    REPLICA_SET: ("spec", "template", "spec"),
    JOB: ("spec", "template", "spec"),
    CRON_JOB: ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOADS = tuple(POD_SPEC_PATHS)
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

_LABELS = {
    ECR_REPOSITORY: "ECR repository",
    NODE_GROUP: "EKS node group",
    LAUNCH_TEMPLATE: "EC2 launch template",
    EKS_CLUSTER: "EKS cluster",
    HELM_RELEASE: "Helm release",
    "aws:eks/addon:Addon": "EKS add-on",
    "aws:iam/role:Role": "IAM role",
}


def label(resource_type: str, name: str) -> str:
    """`Deployment 'model-deployment'`: how messages name a resource (its Pulumi logical name)."""
    kind = _LABELS.get(resource_type) or resource_type.rsplit(":", 1)[-1]
    return f"{kind} {name!r}"


def pod_spec(resource_type: str, props: dict) -> Any:
    """The pod spec of a workload's normalized properties (None when absent, UNKNOWN when unknown)."""
    return get(props, *POD_SPEC_PATHS[resource_type])


def containers(spec: Any, lists: Iterable[str] = CONTAINER_LISTS) -> Iterator[tuple[str, dict]]:
    """(`containers[0] 'name'` description, container) for every container of a pod spec."""
    for list_name in lists:
        for index, container in enumerate(items(get(spec, list_name))):
            if isinstance(container, dict):
                name = get(container, "name")
                yield f"{list_name}[{index}] {name!r}" if isinstance(name, str) else f"{list_name}[{index}]", container


Check = Callable[[str, str, dict], Iterable[str]]
"""(resource type, logical name, normalized properties) -> one message per violation."""


def resource_policy(name: str, description: str, types: Iterable[str], check: Check,
                    remediation_steps: str | None = None) -> ResourceValidationPolicy:
    """A resource policy that runs `check` on the listed types and reports each message it yields."""
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in wanted:
            return
        for message in check(args.resource_type, args.name, normalize(args.props)):
            report_violation(message, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    remediation_steps=remediation_steps)
