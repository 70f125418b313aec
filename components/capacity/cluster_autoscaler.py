"""ClusterAutoscaler: GPU nodes appear when model pods are pending and go away when they sit idle.

Also home of what the platform's autoscaling parts share: the IRSA trust policy, the node affinity
that keeps controllers off GPU nodes, and `AutoscalerMonitoring`, the monitoring stack's view of
either provisioner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import (
    ChartVersion,
    DnsLabel,
    PositiveInt,
    Problem,
    ShortDuration,
    checked_args,
    got,
    one_of,
    problems_of,
)
from .._charts import PinnedChart, extra_values_problems
from ..aws_regions import AwsRegion
from ..aws_tags import component_tags
from ..cluster.eks_versions import DEFAULT_KUBERNETES_VERSION
from ..cluster.irsa import ROLE_ARN_ANNOTATION, TOKEN_AUDIENCE, controller_role, irsa_trust_policy  # noqa: F401 (re-exported)
from ..labels import standard_labels
from .gpu_scheduling import GpuScheduling

# The official chart (kubernetes/autoscaler, cluster-autoscaler/charts/cluster-autoscaler at tag
# cluster-autoscaler-chart-9.59.0); every values key used below is in that tag's values.yaml.
CHART = "cluster-autoscaler"
CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
CHART_VERSION = "9.59.0"
PINNED_CHART = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
# Cluster Autoscaler must match the cluster's minor version (cluster-autoscaler/README.md, "Releases");
# the chart's own default (appVersion) is 1.35.0, and its Chart.yaml sets no kubeVersion constraint. Latest
# patch of each minor EKS still gives standard support (components/cluster/eks_versions.py), from the repository's
# release tags (cluster-autoscaler-1.34.5, cluster-autoscaler-1.35.2, read 2026-11-30).
IMAGE_TAGS: dict[str, str] = {"1.34": "v1.34.5", "1.35": "v1.35.2"}
METRICS_PORT_NAME = "http"  # the chart's Service port (service.portName)

RUNBOOKS_URL = "docs/runbooks.md"
"""This repository's runbooks; alerts link a runbook (`<base>#<alert name in lower case>`) only when given a base."""

# Priority given to each preference tier of the priority expander (higher wins); anything else gets 1.
_TIER_PRIORITIES = (50, 40, 30, 20, 10)


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where an autoscaler serves its metrics: what a ServiceMonitor selects, and the `job` it gives them."""

    namespace: str
    """Namespace of the Service."""
    service_labels: dict[str, str]
    """Labels of the Service (the chart's instance and name labels)."""
    port: str
    """Name of the Service port serving `/metrics`."""
    job: str
    """The Service's name, which Prometheus gives the series as `job`."""


def aws_account_of(oidc_provider_arn: str) -> tuple[str, str]:
    """(partition, account id) of an IAM OIDC provider ARN: where the cluster and its roles live."""
    parts = oidc_provider_arn.split(":")
    return parts[1], parts[4]


def off_gpu_node_affinity(scheduling: GpuScheduling, *extra: dict[str, Any]) -> dict[str, Any]:
    """Required node affinity away from every GPU node label (nodes without the label qualify)."""
    expressions = [{"key": k, "operator": "NotIn", "values": [v]} for k, v in sorted(scheduling.node_labels.items())]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": expressions + list(extra)}]}}}


def alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str,
          runbook_url: str | None) -> dict[str, Any]:
    """One alerting rule with the platform's annotations (a runbook link only with a runbook base URL)."""
    runbook = {"runbook_url": f"{runbook_url}#{name.lower()}"} if runbook_url else {}
    return {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description, **runbook}}


def unschedulable_pods_alert(for_: str, runbook_url: str | None) -> dict[str, Any]:
    """Pods that no node, existing or new, could take: from kube-state-metrics, so either provisioner."""
    return alert(
        "PodsUnschedulable",
        "sum by (namespace) (kube_pod_status_unschedulable) > 0",
        for_, "warning",
        "Pods in {{ $labels.namespace }} cannot be scheduled",
        "{{ $value }} pod(s) in {{ $labels.namespace }} have been unschedulable for "
        f"{for_}: the autoscaler could not add a node for them (group at its maximum size, GPU limit "
        "reached, no capacity for the instance types, or no node group matches).",
        runbook_url)


def cluster_autoscaler_policy(cluster_name: str, partition: str, account: str, region: str) -> dict[str, Any]:
    """The autoscaler's permissions: read anything it must see, resize only this cluster's groups.

    The read-only calls take no resource-level permissions (hence `*`, pinned to the region);
    the two mutating ones are limited to Auto Scaling groups tagged as owned by this cluster, a tag
    EKS puts on every managed node group's Auto Scaling group.
    """
    owned = {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "DiscoverNodeGroups", "Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        # Labels and taints of a managed node group still at zero nodes (cluster-autoscaler AWS README).
        {"Sid": "ReadManagedNodeGroups", "Effect": "Allow", "Action": "eks:DescribeNodegroup",
         "Resource": f"arn:{partition}:eks:{region}:{account}:nodegroup/{cluster_name}/*/*"},
        {"Sid": "ResizeOwnedGroupsOnly", "Effect": "Allow",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Resource": f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*",
         "Condition": {"StringEquals": owned}},
    ]}


def priority_expander_tiers(tiers: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    """The priority expander's ConfigMap data: each tier's exact group names, more preferred first, then the rest."""
    priorities = {str(priority): [f"^{re.escape(name)}$" for name in tier]
                  for priority, tier in zip(_TIER_PRIORITIES, tiers, strict=False) if tier}
    priorities["1"] = [".*"]
    return priorities


@dataclass
class ClusterAutoscalerArgs:
    """Inputs of `ClusterAutoscaler`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster: auto-discovery finds its node groups by `k8s.io/cluster-autoscaler/<cluster_name>`."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider (IRSA): the role trusts the autoscaler's service account only."""
    region: AwsRegion
    """AWS region of the cluster."""
    kubernetes_version: Annotated[str, one_of(IMAGE_TAGS, "supported (the autoscaler must match the cluster's "
                                                          "minor version):")] = DEFAULT_KUBERNETES_VERSION
    """The cluster's minor version: picks the matching autoscaler image (`IMAGE_TAGS`)."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The GPU node labels: the autoscaler never runs on a node carrying them."""
    system_node_selector: dict[str, str] = field(default_factory=dict)
    """Labels of the system node group, when it has some (a created cluster's `workload: system`)."""
    scale_down_unneeded_time: ShortDuration = "10m"
    """How long a node must be unneeded before it is removed (short in dev, longer in prod)."""
    scale_down_delay_after_add: ShortDuration = "10m"
    """No scale-down this long after a scale-up."""
    priority_tiers: list[pulumi.Input[Sequence[str]]] = field(default_factory=list)
    """Auto Scaling group names by preference, most preferred tier first (e.g. SPOT groups, then on-demand
    ones). Non-empty: the priority expander, falling back tier by tier, then `least-waste`. Empty: `least-waste`."""
    namespace: DnsLabel = "kube-system"
    """Namespace of the release."""
    replicas: PositiveInt = 2
    """Replicas (one leads, the other takes over at once); a PodDisruptionBudget keeps one up."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `cluster-autoscaler` chart version."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags of the IAM role."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the ones this component builds (checked against the pinned
    chart's keys). Anything set here is yours to keep secure and working across chart upgrades."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if len(self.priority_tiers) > len(_TIER_PRIORITIES):
            problems.append(("priority_tiers", got(len(self.priority_tiers), f"at most {len(_TIER_PRIORITIES)} tiers")))
        return problems + extra_values_problems("extra_values", self.extra_values, PINNED_CHART.at(self.chart_version))


def validate_cluster_autoscaler_args(args: ClusterAutoscalerArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class ClusterAutoscaler(pulumi.ComponentResource):
    """Cluster Autoscaler for EKS managed node groups, GPU groups at zero included.

    Creates an IAM role for the autoscaler's service account (IRSA) that may resize only the Auto
    Scaling groups this cluster owns, and the official chart: auto-discovery by tags, the priority
    expander when preference tiers are given (SPOT first, falling back), scale-down timing from the
    args, two replicas on system nodes only behind a PodDisruptionBudget. `AutoscalerMonitoring`
    scrapes it and alerts on it.
    """

    role_arn: pulumi.Output[str]
    """The autoscaler's IAM role."""
    service_account: str
    """The autoscaler's Kubernetes service account (in `namespace`), the only subject the role trusts."""
    namespace: str
    """Namespace of the release."""
    release_name: pulumi.Output[str]
    """The Helm release (also the Deployment's, the Service's and the metrics `job`'s name)."""
    metrics: MetricsEndpoint
    """Where its metrics are served."""

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ClusterAutoscaler", name, args, ClusterAutoscalerArgs)
        _claims.claim("ClusterAutoscaler", name, opts, [_claims.helm_release(name, args.namespace)])
        super().__init__("gpu-model-platform:index:ClusterAutoscaler", name, None, opts)
        self._args = args
        self.namespace = args.namespace
        # The release, its Deployment, Service and service account are all named after the component.
        self._release = self.service_account = name
        # The chart's Service: named `fullnameOverride`, with its instance and name labels, port `http`.
        self.metrics = MetricsEndpoint(namespace=args.namespace, port=METRICS_PORT_NAME, job=name, service_labels={
            "app.kubernetes.io/instance": name, "app.kubernetes.io/name": f"aws-{CHART}"})
        role = self._create_role(name)
        release = self._create_release(name, role)

        self.role_arn = role.arn
        # `name` is always set on the Release, so its output is never None (the SDK types it Optional).
        self.release_name = cast(pulumi.Output[str], release.name)
        self.register_outputs({"role_arn": self.role_arn, "service_account": self.service_account,
                               "namespace": self.namespace, "release_name": self.release_name})

    def _create_role(self, name: str) -> aws.iam.Role:
        a = self._args

        def policy(values: list[str]) -> str:
            cluster, oidc = values
            partition, account = aws_account_of(oidc)
            return json.dumps(cluster_autoscaler_policy(cluster, partition, account, a.region), sort_keys=True)

        return controller_role(
            f"{name}-role", f"{name}-policy",
            description="cluster-autoscaler (IRSA): resize this cluster's node groups",
            oidc_provider_arn=a.oidc_provider_arn, namespace=a.namespace, service_account=self.service_account,
            policy=pulumi.Output.all(a.cluster_name, a.oidc_provider_arn).apply(policy),
            tags=component_tags("cluster-autoscaler", name, a.tags), parent=self)

    def _values(self, role_arn: pulumi.Input[str]) -> dict[str, Any]:
        """The chart values (keys from the pinned chart's values.yaml)."""
        a = self._args
        extra_args: dict[str, Any] = {
            "expander": "priority,least-waste" if a.priority_tiers else "least-waste",
            "scale-down-unneeded-time": a.scale_down_unneeded_time,
            "scale-down-delay-after-add": a.scale_down_delay_after_add,
            # Model pods keep only scratch in their /tmp emptyDir: it must not pin an idle GPU node.
            "skip-nodes-with-local-storage": False,
            # Same-shaped groups in several zones grow evenly instead of filling one zone first.
            "balance-similar-node-groups": True,
        }
        values: dict[str, Any] = {
            "cloudProvider": "aws",
            "awsRegion": a.region,
            "autoDiscovery": {"clusterName": a.cluster_name},
            "fullnameOverride": self._release,
            "image": {"tag": IMAGE_TAGS[a.kubernetes_version]},
            "replicaCount": a.replicas,
            "rbac": {"serviceAccount": {"name": self.service_account,
                                        "annotations": {ROLE_ARN_ANNOTATION: role_arn}}},
            "extraArgs": extra_args,
            "podDisruptionBudget": {"maxUnavailable": 1},
            "priorityClassName": "system-cluster-critical",
            "nodeSelector": dict(a.system_node_selector),
            "affinity": {
                **off_gpu_node_affinity(a.gpu_scheduling),
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100, "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": self._release}}}}]},
            },
            "tolerations": [],
            "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}},
        }
        if a.priority_tiers:
            values["expanderPriorities"] = pulumi.Output.all(*a.priority_tiers).apply(priority_expander_tiers)
        return values

    def _create_release(self, name: str, role: aws.iam.Role) -> k8s.helm.v3.Release:
        a = self._args
        return _charts.release(f"{name}-release", PINNED_CHART.at(a.chart_version), a.namespace,
                               self._values(role.arn), a.extra_values, pulumi.ResourceOptions(parent=self),
                               name=self._release, max_history=5, cleanup_on_fail=True)

    def alert_rules(self, runbook_url: str | None = None) -> list[dict[str, Any]]:
        """Alerts on the autoscaler itself: not running, scale-ups failing."""
        job, ns = self.metrics.job, self.metrics.namespace
        return [
            alert("ClusterAutoscalerDown", f'absent(up{{job="{job}", namespace="{ns}"}} == 1)', "10m", "warning",
                  "Cluster Autoscaler is not running",
                  f"No {job} target in {ns} has been up for 10m: pending pods get no new nodes and idle GPU nodes "
                  "are not removed (they keep costing money).", runbook_url),
            alert("ClusterAutoscalerScaleUpFailing",
                  "sum(increase(cluster_autoscaler_failed_scale_ups_total[30m])) > 0", "0m", "warning",
                  "Cluster Autoscaler scale-ups are failing",
                  "{{ $value }} scale-up(s) failed in the last 30 minutes (spot or on-demand capacity shortage, "
                  "quota, or a launch template problem); the autoscaler backs off the group and tries the next.",
                  runbook_url),
        ]


@dataclass
class AutoscalerMonitoringArgs:
    """Inputs of `AutoscalerMonitoring`."""

    metrics: MetricsEndpoint
    """The autoscaler's metrics (`ClusterAutoscaler.metrics` or `Karpenter.metrics`)."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """Its own alert rules (`alert_rules()` of either)."""
    namespace: DnsLabel = "monitoring"
    """The monitoring stack's namespace: the ServiceMonitor and the PrometheusRule go there."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """The monitoring stack: its CRDs must exist first."""
    labels: dict[str, str] = field(default_factory=dict)
    """Extra labels, should the monitoring stack select monitors and rules by label."""
    runbook_url: Optional[str] = None
    """Base of every alert's `runbook_url`; None: no link."""
    unschedulable_for: ShortDuration = "15m"
    """How long a pod may stay unschedulable (a GPU node's cold start included) before it alerts."""
    scrape_interval: ShortDuration = "30s"
    """How often Prometheus scrapes the autoscaler."""


class AutoscalerMonitoring(pulumi.ComponentResource):
    """The monitoring stack's view of the node autoscaler.

    Creates, once the monitoring stack's CRDs exist, a ServiceMonitor for the autoscaler's metrics
    and a PrometheusRule with its alerts and PodsUnschedulable (pods no new node could take).
    """

    alert_names: list[str]
    """The alerts it defines (each has a section in docs/runbooks.md)."""

    def __init__(self, name: str, args: AutoscalerMonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("AutoscalerMonitoring", name, args, AutoscalerMonitoringArgs)
        m = args.metrics
        _claims.claim("AutoscalerMonitoring", name, opts, [
            _claims.kubernetes("monitoring.coreos.com/ServiceMonitor", m.job, args.namespace, field="metrics"),
            _claims.kubernetes("monitoring.coreos.com/PrometheusRule", f"{m.job}-alerts", args.namespace,
                               field="metrics")])
        super().__init__("gpu-model-platform:index:AutoscalerMonitoring", name, None, opts)
        rules = [*args.rules, unschedulable_pods_alert(args.unschedulable_for, args.runbook_url)]
        labels = {**standard_labels(m.job, "autoscaler"), **args.labels}
        # ServiceMonitor and PrometheusRule are the monitoring stack's CRDs: they must exist first.
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=m.job, namespace=args.namespace, labels=labels),
            spec={"namespaceSelector": {"matchNames": [m.namespace]},
                  "selector": {"matchLabels": dict(m.service_labels)},
                  "endpoints": [{"port": m.port, "path": "/metrics", "interval": args.scrape_interval}]},
            opts=after)
        k8s.apiextensions.CustomResource(
            f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{m.job}-alerts", namespace=args.namespace, labels=labels),
            spec={"groups": [{"name": m.job, "rules": rules}]},
            opts=after)
        self.alert_names = [r["alert"] for r in rules]
        self.register_outputs({"alert_names": self.alert_names})
