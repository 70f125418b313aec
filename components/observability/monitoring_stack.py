"""MonitoringStack: Prometheus, Alertmanager and Grafana (kube-prometheus-stack), and the GPU monitoring."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import (
    SECRET,
    ChartVersion,
    Constraint,
    DnsSubdomain,
    Duration,
    Problem,
    Quantity,
    between,
    checked_args,
    children_wait_for_checks,
    got,
    matches,
    problems_of,
    quantity_value,
)
from .._charts import PinnedChart, extra_values_problems
from ..aws_tags import component_tags
from ..capacity.gpu_scheduling import GpuScheduling
from ..labels import standard_labels
from .grafana_aws import GrafanaAwsAccess, grafana_aws_values, grafana_reader_role
from .managed_prometheus import PROMETHEUS_SERVICE_ACCOUNT, RemoteWrite
from .monitoring_alertmanager import (
    AlertReceiver,
    NotificationTiming,
    receiver_problems,
    rendered_config,
)
from .monitoring_dashboards import (
    DASHBOARD_LABEL,
    FOLDER,
    FOLDER_ANNOTATION,
    dashboard_uid,
    gpu_dashboard,
)
from .monitoring_rules import (
    DCGM_JOB,
    GpuAlertThresholds,
    gpu_rule_groups,
)

# Pinned: tag kube-prometheus-stack-88.5.3 of prometheus-community/helm-charts (operator v0.93.1,
# grafana chart 12.11.1, kube-state-metrics 8.4.0, prometheus-node-exporter 4.56.1). Every values
# key below exists in that tag's values.yaml or in those subcharts' (charts/kube-prometheus-stack-88.5.3.keys.tsv).
CHART = "kube-prometheus-stack"
CHART_VERSION = "88.5.3"
CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
PINNED_CHART = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
MONITORING_API = "monitoring.coreos.com/v1"

_QUANTITY = re.compile(r"^([0-9]+)(Mi|Gi|Ti)$")
StackNamespace = Annotated[str, matches(r"[a-z0-9]([-a-z0-9]{0,47}[a-z0-9])?",
                                        "must be a DNS label of at most 49 characters (node-exporter's namespace "
                                        "appends -node-exporter)")]
VolumeSize = Annotated[str, matches(_QUANTITY.pattern.strip("^$"), "must be a size in Mi, Gi or Ti such as 50Gi")]
Password = Annotated[str, Constraint("must be at least 8 characters", lambda v: len(v) >= 8).validator(), SECRET]


@dataclass(frozen=True)
class PodResources:
    """Requests, and a memory limit: no CPU limit, since throttling a TSDB only makes it fall behind."""

    cpu: Quantity
    """CPU request, e.g. `500m`."""
    memory: Quantity
    """Memory request, e.g. `2Gi`."""
    memory_limit: Quantity
    """Memory limit: the pod is restarted above it instead of starving its node."""

    def values(self) -> dict[str, Any]:
        """The chart's `resources` block."""
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": {"memory": self.memory_limit}}

    def _rules(self) -> list[Problem]:
        if quantity_value(self.memory_limit) < quantity_value(self.memory):  # type: ignore[operator]
            return [("memory_limit", got(self.memory_limit, f"must be >= memory ({self.memory})"))]
        return []


@dataclass(frozen=True)
class MonitoringResources:
    """Resources of each pod of the stack."""

    prometheus: PodResources = PodResources("500m", "2Gi", "4Gi")
    alertmanager: PodResources = PodResources("50m", "128Mi", "256Mi")
    grafana: PodResources = PodResources("100m", "256Mi", "512Mi")
    operator: PodResources = PodResources("100m", "128Mi", "256Mi")
    kube_state_metrics: PodResources = PodResources("50m", "128Mi", "256Mi")
    node_exporter: PodResources = PodResources("20m", "32Mi", "64Mi")


@dataclass
class MonitoringStackArgs:
    """Inputs of `MonitoringStack`. Defaults suit a production cluster; the stack config trims them."""

    grafana_admin_password: pulumi.Input[Password]
    """Grafana's admin password; kept in a Kubernetes Secret, never in Helm values."""
    namespace: StackNamespace = "monitoring"
    """Namespace of the stack; node-exporter gets `<namespace>-node-exporter`."""
    retention: Duration = "15d"
    """How long Prometheus keeps samples (a Prometheus duration)."""
    storage_size: VolumeSize = "50Gi"
    """Prometheus volume size; `retentionSize` is 85% of it."""
    storage_class: Optional[DnsSubdomain] = None
    """StorageClass of the volumes (`Cluster.storage_class_name`); the cluster's default class when None."""
    alertmanager_storage_size: VolumeSize = "2Gi"
    """Alertmanager volume size (silences and notification log survive restarts)."""
    receivers: list[AlertReceiver] = field(default_factory=list)
    """Where alerts go, by severity and team; without any, nobody is notified."""
    notification_timing: NotificationTiming = field(default_factory=NotificationTiming)
    resources: MonitoringResources = field(default_factory=MonitoringResources)
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The labels and taints of GPU nodes: every monitoring pod stays away from them but node-exporter, which
    tolerates their taints to watch their disks."""
    dcgm_exporter_namespace: Optional[pulumi.Input[str]] = None
    """Namespace of the DCGM exporter's Service; None looks in every namespace."""
    gpu_alerts: GpuAlertThresholds = field(default_factory=GpuAlertThresholds)
    scrape_interval: Duration = "30s"
    """Prometheus's scrape and rule evaluation interval."""
    runbook_url: Optional[str] = None
    """Base of the alerts' `runbook_url` (each alert appends `#<its name in lower case>`); None: no link."""
    remote_write: Optional[RemoteWrite] = None
    """Also send every sample to an AMP workspace (`ManagedPrometheus.remote_write`); rules and alerts stay here."""
    grafana_data_sources: list[dict[str, Any]] = field(default_factory=list)
    """More Grafana data sources (logs and traces: `alert_links.data_sources`), provisioned beside Prometheus."""
    chart_version: ChartVersion = CHART_VERSION
    """kube-prometheus-stack chart version; change it together with the values this module builds."""
    ready_timeout_minutes: Annotated[int, between(1, 120)] = 20
    """How long `pulumi up` waits for Prometheus and Alertmanager to run with their volumes bound before it
    fails (first installs pull images, provision volumes and may wait for a node)."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the ones this component builds (checked against the pinned
    chart's keys). Anything set here is yours to keep secure and working across chart upgrades."""
    grafana_aws: Optional[GrafanaAwsAccess] = None
    """Let Grafana read CloudWatch Logs and X-Ray (an IRSA role of its own, grafana_aws.py); None: no AWS access."""

    def _rules(self) -> list[Problem]:
        return receiver_problems(self.receivers) + extra_values_problems(
            "extra_values", self.extra_values, PINNED_CHART.at(self.chart_version))


def validate_monitoring_stack_args(args: MonitoringStackArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def off_gpu_nodes(scheduling: GpuScheduling) -> dict[str, Any]:
    """Node affinity that refuses every node carrying a GPU node label."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [{"key": k, "operator": "NotIn", "values": [v]}
                             for k, v in sorted(scheduling.node_labels.items())]}]}}}


def _retention_size(storage: str) -> str | None:
    """85% of the volume: Prometheus drops old blocks before the disk fills (units are powers of 2)."""
    match = _QUANTITY.match(storage)
    if not match:
        return None
    amount, unit = int(match.group(1)), {"Mi": "MB", "Gi": "GB", "Ti": "TB"}[match.group(2)]
    return f"{max(1, amount * 85 // 100)}{unit}"


def _volume(size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def helm_values(args: MonitoringStackArgs, grafana_secret: pulumi.Input[str], alertmanager_secret: pulumi.Input[str],
                node_exporter_namespace: pulumi.Input[str]) -> dict[str, Any]:
    """kube-prometheus-stack values from typed args; secrets appear only as Secret names."""
    r = args.resources
    # Every pod: away from GPU nodes, and tolerating no taint (node-exporter's chart tolerates all).
    placement = {"affinity": off_gpu_nodes(args.gpu_scheduling), "tolerations": []}
    # Nil selectors would mean "only objects labelled for this release"; ours carry no release label.
    selectors = {f"{kind}SelectorNilUsesHelmValues": False
                 for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig")}
    prometheus_spec: dict[str, Any] = {
        "retention": args.retention, "scrapeInterval": args.scrape_interval, "evaluationInterval": args.scrape_interval,
        **selectors, "storageSpec": _volume(args.storage_size, args.storage_class),
        "resources": r.prometheus.values(), **placement,
    }
    if _retention_size(args.storage_size):
        prometheus_spec["retentionSize"] = _retention_size(args.storage_size)
    prometheus: dict[str, Any] = {"prometheusSpec": prometheus_spec}
    if args.remote_write is not None:  # managed_prometheus.py: SigV4 with the IRSA role of this service account
        prometheus_spec["remoteWrite"] = [args.remote_write.spec()]
        prometheus["serviceAccount"] = {"create": True, "name": PROMETHEUS_SERVICE_ACCOUNT, "annotations": {
            "eks.amazonaws.com/role-arn": args.remote_write.role_arn}}
    ((label, label_value),) = DASHBOARD_LABEL.items()
    return {
        # Helm installs CRDs on the first install only: before a chart upgrade that changes them, apply
        # the new ones (`kubectl apply --server-side -f` the chart's charts/crds/crds/). The chart's own
        # upgrade job stays off, said here rather than left to the default: it pulls busybox by the tag
        # `latest` (values.yaml of kube-prometheus-stack-88.5.3, crds.upgradeJob.image.busybox).
        "crds": {"enabled": True, "upgradeJob": {"enabled": False}},
        "defaultRules": {"create": True},
        "prometheusOperator": {"resources": r.operator.values(), **placement,
                               "admissionWebhooks": {"patch": {"resources": r.operator.values(), **placement}}},
        "prometheus": prometheus,
        "alertmanager": {"enabled": True, "alertmanagerSpec": {
            # The routing config holds receiver URLs and keys: it comes from our own Secret.
            "useExistingSecret": True, "configSecret": alertmanager_secret,
            "storage": _volume(args.alertmanager_storage_size, args.storage_class),
            "resources": r.alertmanager.values(), **placement}},
        "grafana": {
            "enabled": True,
            "admin": {"existingSecret": grafana_secret, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {
                "enabled": True, "label": label, "labelValue": label_value,
                "searchNamespace": "ALL", "folderAnnotation": FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True}}},
            **({"additionalDataSources": args.grafana_data_sources} if args.grafana_data_sources else {}),
            "resources": r.grafana.values(), **placement},
        "kube-state-metrics": {"resources": r.kube_state_metrics.values(), **placement},
        # node-exporter runs on every node, GPU nodes included: their disks fill with images and weights.
        # It tolerates exactly the GPU taints (not the chart's tolerate-everything default).
        "prometheus-node-exporter": {"namespaceOverride": node_exporter_namespace,
                                     "resources": r.node_exporter.values(), "affinity": {},
                                     "tolerations": args.gpu_scheduling.tolerations()},
    }


# What the gate waits for: the operator's `Available` condition, True only once every pod of the Prometheus
# (Alertmanager) StatefulSet is running and ready, which a pod whose claim cannot bind never is
# (prometheus-operator pkg/apis/monitoring/v1/types.go `Available`, pkg/operator/statefulset_reporter.go,
# v0.93). pulumi-kubernetes awaits a `pulumi.com/waitFor` condition on create and update of any resource,
# Patch resources included (provider/pkg/await/await.go `Creation`, provider/pkg/metadata/overrides.go
# `ReadyCondition`; present since 4.18): the patch below only adds that annotation to the custom resources
# the chart creates, and its create waits until the operator reports them Available.
READY_CONDITION = "condition=Available"
_GATED = (("Prometheus", "prometheus"), ("Alertmanager", "alertmanager"))


def routes_no_model_has(receivers: Sequence[AlertReceiver], model_teams: set[Optional[str]]) -> list[str]:
    """Each receiver's team that no model watched with the stack has (a typo on the receiver's side): a warning,
    not a refusal, because models of other programs may use a shared stack. With no model watched in this
    program, the stack serves models declared elsewhere: nothing to compare with."""
    if not model_teams:
        return []
    teams = sorted(t for t in model_teams if t)
    return [f"receivers[{i}].teams: routes {team!r}, which no model watched with this stack has (theirs: "
            f"{', '.join(teams) or 'no team'}), so the route never matches; fix the team, or ignore this if models "
            "of another program use this stack"
            for i, receiver in enumerate(receivers) for team in receiver.teams if team not in teams]


def _after_declarations(check: Callable[[], None]) -> None:
    """Run `check` once the program has declared everything: Pulumi calls the program synchronously inside its
    event loop, then awaits the registrations (pulumi 3.272.0, runtime/stack.py `run_pulumi_func`), so the loop's
    next turn comes after the last declaration."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = asyncio.get_event_loop()
    loop.call_soon(check)


def chart_fullname(release_name: str) -> str:
    """kube-prometheus-stack's `fullname` (templates/_helpers.tpl at the pinned tag): the release name when it
    contains the chart name, else `<release>-kube-prometheus-stack`, truncated to 26 characters."""
    name = release_name if CHART in release_name else f"{release_name}-{CHART}"
    return name[:26].rstrip("-")


def custom_resource_name(release_name: str, suffix: str) -> str:
    """The name of the Prometheus (`prometheus`) or Alertmanager (`alertmanager`) custom resource the chart
    creates (`kube-prometheus-stack.<suffix>.crname`, with cleanPrometheusOperatorObjectNames unset)."""
    return f"{chart_fullname(release_name)}-{suffix}"


def _pod_security(enforce: str, audit_and_warn: str) -> dict[str, str]:
    return {"pod-security.kubernetes.io/enforce": enforce, "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": audit_and_warn, "pod-security.kubernetes.io/warn": audit_and_warn}


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana for the platform, and what watches the GPUs.

    Creates a namespace for the stack and one for node-exporter, a Secret with Grafana's admin
    credentials and one with the Alertmanager configuration, the kube-prometheus-stack Helm
    release, and, once its CRDs exist, a ServiceMonitor for the DCGM exporter, the GPU alert
    rules, and the GPU dashboard. Every pod but node-exporter stays off GPU nodes.
    """

    namespace: pulumi.Output[str]
    """The stack's namespace, where `ModelMonitoring` puts its monitors, rules and dashboards."""
    release_name: pulumi.Output[str]
    """Name of the kube-prometheus-stack Helm release."""
    grafana_admin_secret: pulumi.Output[str]
    """Name of the Secret holding Grafana's admin user and password."""
    alertmanager_config_secret: pulumi.Output[str]
    """Name of the Secret holding `alertmanager.yaml`."""
    gpu_dashboard_uid: pulumi.Output[str]
    """Grafana uid of the GPU dashboard."""
    namespace_name: str
    """The stack's namespace, known at declaration: a model's NetworkPolicy must admit it to `metrics`."""
    prometheus_url: pulumi.Output[str]
    """In-cluster URL of its Prometheus (the operator's own `prometheus-operated` Service), e.g. for canary analysis."""
    routed_teams: Optional[frozenset[str]]
    """Teams its receivers route by (`AlertReceiver.teams`); None when some receiver takes every team's alerts."""

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        args = checked_args("MonitoringStack", name, args, MonitoringStackArgs)
        _claims.claim("MonitoringStack", name, opts, [
            _claims.kubernetes("Namespace", args.namespace, field="namespace"),
            _claims.kubernetes("Namespace", f"{args.namespace}-node-exporter", field="namespace")])
        super().__init__("gpu-model-platform:index:MonitoringStack", name, None, children_wait_for_checks(args, opts))
        self._args = args
        self._labels = standard_labels(name, "monitoring")
        ns, exporter_ns = self._create_namespaces(name)
        grafana_secret, alertmanager_secret = self._create_secrets(name, ns)
        release = self._create_release(name, ns, exporter_ns, grafana_secret, alertmanager_secret)
        # ServiceMonitor and PrometheusRule are the chart's CRDs: they must exist first.
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        self._create_dcgm_monitor(name, ns, after_crds)
        self._create_gpu_rules(name, ns, after_crds)
        self._await_volumes_bound(name, ns, release)
        uid = dashboard_uid("gpus", name)
        self._create_gpu_dashboard(name, ns, uid)

        self.namespace = ns
        self.namespace_name = args.namespace
        # The operator's own Service for every Prometheus it runs, whatever the release is called.
        self.prometheus_url = pulumi.Output.from_input(f"http://prometheus-operated.{args.namespace}.svc:9090")
        catch_all = not args.receivers or any(not r.teams for r in args.receivers)
        self.routed_teams = None if catch_all else frozenset(t for r in args.receivers for t in r.teams)
        self._model_teams: set[Optional[str]] = set()
        _after_declarations(functools.partial(self._warn_routes_no_model_has, name))
        # `name` is always set on the Release, so its output is never None (the SDK types it Optional).
        self.release_name = cast(pulumi.Output[str], release.name)
        self.grafana_admin_secret = grafana_secret
        self.alertmanager_config_secret = alertmanager_secret
        self.gpu_dashboard_uid = pulumi.Output.from_input(uid)
        self.register_outputs({
            "namespace": self.namespace,
            "release_name": self.release_name,
            "grafana_admin_secret": self.grafana_admin_secret,
            "alertmanager_config_secret": self.alertmanager_config_secret,
            "gpu_dashboard_uid": self.gpu_dashboard_uid,
        })

    def _metadata(self, ns: pulumi.Input[str], **extra: Any) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(namespace=ns, labels={**self._labels, **extra.pop("labels", {})}, **extra)

    def record_model_team(self, team: Optional[str]) -> None:
        """Called by `ModelMonitoring` for each model it watches with this stack (None: a model without a team)."""
        self._model_teams.add(team)

    def _warn_routes_no_model_has(self, name: str) -> None:
        for problem in routes_no_model_has(self._args.receivers, self._model_teams):
            pulumi.log.warn(f"MonitoringStack {name!r}: {problem}", resource=self)

    def _create_namespaces(self, name: str) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        # The charts set restricted-style security contexts, but the containers the operator adds
        # (config reloaders, sidecars) are not checked here: enforce `baseline`, and audit and warn
        # on `restricted` so a gap shows in audit logs and kubectl warnings instead of blocking a rollout.
        stack = k8s.core.v1.Namespace(f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
            name=self._args.namespace, labels=self._labels | _pod_security("baseline", "restricted")), opts=child)
        # node-exporter reads the host (hostNetwork, hostPID, hostPath /proc /sys /): only `privileged`
        # admits it, so it gets a namespace of its own and the rest of the stack stays baseline.
        exporter = k8s.core.v1.Namespace(f"{name}-node-exporter-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{self._args.namespace}-node-exporter",
            labels=self._labels | _pod_security("privileged", "baseline")), opts=child)
        return stack.metadata.name, exporter.metadata.name

    def _create_secrets(self, name: str, ns: pulumi.Output[str]) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        grafana = k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata=self._metadata(ns), type="Opaque",
            string_data=pulumi.Output.secret({"admin-user": "admin", "admin-password": self._args.grafana_admin_password}),
            opts=child)
        alertmanager = k8s.core.v1.Secret(
            f"{name}-alertmanager-config", metadata=self._metadata(ns), type="Opaque",
            # The operator reads the file under this key (Alertmanager spec.configSecret).
            string_data={"alertmanager.yaml": rendered_config(self._args.receivers, self._args.notification_timing)},
            opts=child)
        return grafana.metadata.name, alertmanager.metadata.name

    def _create_release(self, name: str, ns: pulumi.Output[str], exporter_ns: pulumi.Output[str],
                        grafana_secret: pulumi.Output[str], alertmanager_secret: pulumi.Output[str]) -> k8s.helm.v3.Release:
        a = self._args
        values = helm_values(a, grafana_secret, alertmanager_secret, exporter_ns)
        if a.grafana_aws is not None:  # the CloudWatch and X-Ray data sources read with Grafana's own role
            role_arn = grafana_reader_role(name, a.grafana_aws, a.namespace,
                                           component_tags("monitoring-stack", name, {}), self)
            values["grafana"].update(grafana_aws_values(a.grafana_aws, role_arn))
        return _charts.release(
            f"{name}-kube-prometheus-stack", PINNED_CHART.at(a.chart_version), ns, values, a.extra_values,
            pulumi.ResourceOptions(parent=self),
            # First installs pull a dozen images and provision two volumes: Helm's 5 minutes are tight.
            timeout=900,
        )

    def _await_volumes_bound(self, name: str, ns: pulumi.Output[str], release: k8s.helm.v3.Release) -> None:
        """`up` fails, naming the resource, while Prometheus or Alertmanager cannot run (Helm itself never sees
        the StatefulSets the operator creates, so it reports success with their claims Pending)."""
        minutes = f"{self._args.ready_timeout_minutes}m"
        for kind, suffix in _GATED:
            k8s.apiextensions.CustomResourcePatch(
                f"{name}-{suffix}-ready",
                api_version=MONITORING_API, kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=cast(pulumi.Output[str], release.name).apply(functools.partial(custom_resource_name, suffix=suffix)),
                    namespace=ns, annotations={"pulumi.com/waitFor": READY_CONDITION}),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release],
                                            custom_timeouts=pulumi.CustomTimeouts(create=minutes, update=minutes)))

    def _create_dcgm_monitor(self, name: str, ns: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
        exporter_ns = self._args.dcgm_exporter_namespace
        k8s.apiextensions.CustomResource(
            f"{name}-dcgm-exporter", api_version=MONITORING_API, kind="ServiceMonitor",
            metadata=self._metadata(ns),
            spec={
                "jobLabel": "app.kubernetes.io/name",  # job="dcgm-exporter", whatever the release is called
                "namespaceSelector": {"matchNames": [exporter_ns]} if exporter_ns else {"any": True},
                "selector": {"matchLabels": {"app.kubernetes.io/name": DCGM_JOB}},
                "endpoints": [{
                    "port": "metrics", "path": "/metrics", "interval": self._args.scrape_interval,
                    # The exporter's namespace/pod/container name the pod using the GPU. Dropping the
                    # target's own ones keeps idle GPUs from being attributed to the exporter pod.
                    "honorLabels": True,
                    "relabelings": [
                        {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"},
                        {"action": "labeldrop", "regex": "namespace|pod|container"},
                    ],
                }],
            },
            opts=opts,
        )

    def _create_gpu_rules(self, name: str, ns: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
        k8s.apiextensions.CustomResource(
            f"{name}-gpu-rules", api_version=MONITORING_API, kind="PrometheusRule",
            metadata=self._metadata(ns),
            spec={"groups": gpu_rule_groups(self._args.gpu_alerts, runbook_url=self._args.runbook_url)},
            opts=opts,
        )

    def _create_gpu_dashboard(self, name: str, ns: pulumi.Output[str], uid: str) -> None:
        k8s.core.v1.ConfigMap(
            f"{name}-gpu-dashboard",
            metadata=self._metadata(ns, labels=DASHBOARD_LABEL, annotations={FOLDER_ANNOTATION: FOLDER}),
            data={"gpus.json": json.dumps(gpu_dashboard(uid), indent=1, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self),
        )
