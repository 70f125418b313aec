"""ModelMonitoring: how one model is scraped, alerted on and shown; one instance per model."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .labels import standard_labels
from .monitoring_dashboards import (
    DASHBOARD_LABEL,
    FOLDER,
    FOLDER_ANNOTATION,
    dashboard_uid,
    model_dashboard,
)
from .monitoring_rules import (
    RUNBOOKS_URL,
    ModelAlertThresholds,
    ModelTarget,
    RolloutSignals,
    ScaleToZeroSignals,
    model_rule_groups,
    rollout_rule_groups,
)

MONITORING_API = "monitoring.coreos.com/v1"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")


@dataclass
class ModelMonitoringArgs:
    """Inputs of `ModelMonitoring`. Names follow `ModelService`: the Service is named after the model."""

    model_name: str
    """The model's name: its Service, container and the `model` label of its metrics."""
    namespace: str | None = None
    """Namespace the model runs in (defaults to `model_name`, as `ModelService` does)."""
    monitoring_namespace: pulumi.Input[str] = "monitoring"
    """Where the ServiceMonitor, rules and dashboard live (the `MonitoringStack` namespace)."""
    port_name: str = "http"
    """Name of the Service port serving `/metrics` (ModelService calls it `http`)."""
    availability: float = 0.999
    """Share of inference requests that must not fail with a 5xx (the error budget is the rest)."""
    latency_p99_seconds: float = 0.5
    """The 99th percentile inference latency objective, in seconds."""
    thresholds: ModelAlertThresholds = field(default_factory=ModelAlertThresholds)
    """When the alerts fire; the defaults are production values."""
    scrape_interval: str = "30s"
    runbook_url: str = RUNBOOKS_URL
    """Base of the alerts' `runbook_url` (each alert appends `#<its name in lower case>`)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What installs the monitoring.coreos.com CRDs, typically the `MonitoringStack`."""
    scale_to_zero: ScaleToZeroSignals | None = None
    """When the model scales to zero: zero replicas on purpose is not an outage, and the dashboard shows wake-ups."""
    rollout: RolloutSignals | None = None
    """When the model is released as a canary (Argo Rollouts): alerts and a dashboard row on the rollout's state."""


def validate_model_monitoring_args(args: ModelMonitoringArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    problems = []
    for name in ("model_name", "namespace", "port_name"):
        value = getattr(args, name)
        if value is not None and not _DNS_LABEL.match(value):
            problems.append(f"{name}: got {value!r}; must be a DNS label (lowercase letters, digits, '-')")
    if not 0.0 < args.availability < 1.0:
        problems.append(f"availability: got {args.availability}; must be between 0 and 1 exclusive, e.g. 0.999")
    if args.latency_p99_seconds <= 0:
        problems.append(f"latency_p99_seconds: got {args.latency_p99_seconds}; must be > 0")
    if not _DURATION.match(args.scrape_interval):
        problems.append(f"scrape_interval: got {args.scrape_interval!r}; must be a duration such as 30s")
    return problems


def model_target(args: ModelMonitoringArgs) -> ModelTarget:
    """The model's series: `job` is the Service's `app.kubernetes.io/name` label, i.e. the model name."""
    return ModelTarget(model=args.model_name, namespace=args.namespace or args.model_name, job=args.model_name)


def model_rules(args: ModelMonitoringArgs) -> list[dict[str, Any]]:
    """The rule groups `ModelMonitoring` deploys (tests render the same ones for promtool)."""
    groups = model_rule_groups(model_target(args), args.availability, args.latency_p99_seconds, args.thresholds,
                               args.runbook_url, scale_to_zero=args.scale_to_zero)
    if args.rollout is not None:
        groups += rollout_rule_groups(model_target(args), args.rollout, args.runbook_url)
    return groups


class ModelMonitoring(pulumi.ComponentResource):
    """Scrapes one model, alerts on it and draws it, next to a shared monitoring stack.

    Creates a ServiceMonitor for the model's Service, a PrometheusRule with the model's SLO
    recording rules and alerts, and a dashboard ConfigMap for Grafana's sidecar. Every name,
    alert label and dashboard uid derives from the model and instance names, so any number of
    models can share one stack.
    """

    service_monitor_name: pulumi.Output[str]
    """Name of the model's ServiceMonitor."""
    rule_name: pulumi.Output[str]
    """Name of the model's PrometheusRule."""
    dashboard_uid: pulumi.Output[str]
    """Grafana uid of the model's dashboard (unique per instance name, at most 40 characters)."""

    def __init__(self, name: str, args: ModelMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-model-platform:index:ModelMonitoring", name, None, opts)
        problems = validate_model_monitoring_args(args)
        if problems:
            raise ValueError(f"ModelMonitoring {name!r}: " + "; ".join(problems))
        self._args = args
        self._target = model_target(args)
        self._labels = standard_labels(args.model_name, "monitoring")
        # ServiceMonitor and PrometheusRule are custom resources: their CRDs, and the namespace
        # everything lives in, come from the stack and must exist first.
        after_stack = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        monitor = self._create_service_monitor(name, after_stack)
        rule = self._create_rules(name, after_stack)
        uid = dashboard_uid("model", name)
        self._create_dashboard(name, uid, after_stack)

        # A CustomResource's fields are dynamic (read through __getattr__), so the SDK types no `metadata`.
        self.service_monitor_name = cast(Any, monitor).metadata["name"]
        self.rule_name = cast(Any, rule).metadata["name"]
        self.dashboard_uid = pulumi.Output.from_input(uid)
        self.register_outputs({
            "service_monitor_name": self.service_monitor_name,
            "rule_name": self.rule_name,
            "dashboard_uid": self.dashboard_uid,
        })

    def _metadata(self, **extra: Any) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(namespace=self._args.monitoring_namespace,
                                          labels={**self._labels, **extra.pop("labels", {})}, **extra)

    def _create_service_monitor(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        a, t = self._args, self._target
        return k8s.apiextensions.CustomResource(
            f"{name}-service-monitor", api_version=MONITORING_API, kind="ServiceMonitor",
            metadata=self._metadata(),
            spec={
                "jobLabel": "app.kubernetes.io/name",  # job = the model name, which the rules select on
                "namespaceSelector": {"matchNames": [t.namespace]},
                "selector": {"matchLabels": {"app.kubernetes.io/name": a.model_name,
                                             "app.kubernetes.io/component": "inference"}},
                "endpoints": [{"port": a.port_name, "path": "/metrics", "interval": a.scrape_interval}],
                # A canary's pods and the stable's differ by this label (as `rollouts_pod_template_hash`): the
                # canary analysis compares them. Pods of a plain Deployment do not have it.
                "podTargetLabels": ["rollouts-pod-template-hash"],
            },
            opts=opts,
        )

    def _create_rules(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{name}-rules", api_version=MONITORING_API, kind="PrometheusRule",
            metadata=self._metadata(), spec={"groups": model_rules(self._args)}, opts=opts,
        )

    def _create_dashboard(self, name: str, uid: str, opts: pulumi.ResourceOptions) -> None:
        a = self._args
        dashboard = model_dashboard(uid, self._target, a.availability, a.latency_p99_seconds, a.scale_to_zero,
                                    rollout=a.rollout)
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=self._metadata(labels=DASHBOARD_LABEL, annotations={FOLDER_ANNOTATION: FOLDER}),
            data={f"{uid}.json": json.dumps(dashboard, indent=1, sort_keys=True)},
            opts=opts,
        )
