"""ModelMonitoring: how one model is scraped, alerted on and shown; one instance per model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import _claims, _options
from .._args import DnsLabel, Duration, PositiveNumber, Problem, Ratio, checked_args, got, problems_of
from ..labels import standard_labels
from ..serving.model_service import ModelService, ServedModel
from ..serving.progressive_delivery import ModelCanary
from ..serving.scale_to_zero import ModelScaleToZero
from .alert_links import AlertLinks, resolved, with_links, with_log_links
from .monitoring_dashboards import (
    DASHBOARD_LABEL,
    FOLDER,
    FOLDER_ANNOTATION,
    dashboard_uid,
    model_dashboard,
)
from .monitoring_rules import (
    ModelAlertThresholds,
    ModelTarget,
    RolloutSignals,
    ScaleToZeroSignals,
    TokenLatencyObjectives,
    model_rule_groups,
    rollout_rule_groups,
)
from .monitoring_stack import MonitoringStack

MONITORING_API = "monitoring.coreos.com/v1"


@dataclass
class ModelMonitoringArgs:
    """Inputs of `ModelMonitoring`: the model and the monitoring stack themselves, so names cannot drift."""

    model: Union[ModelService, ServedModel]
    """The model to watch: its `ModelService` (or a `ServedModel` for a server deployed some other way)."""
    monitoring: Union[MonitoringStack, DnsLabel] = "monitoring"
    """Where Prometheus runs: the `MonitoringStack` (its namespace gets the monitors, rules and dashboard, which wait
    for its CRDs, and its receivers must route the model's team), or the namespace of a Prometheus Operator stack run
    some other way. A `ModelService`'s NetworkPolicy must admit that namespace (its `monitoring_namespace`)."""
    team: Optional[DnsLabel] = None
    """The team its alerts are routed to (label `team`); defaults to the model's own team."""
    availability: Ratio = 0.999
    """Share of inference requests that must not fail with a 5xx (the error budget is the rest)."""
    latency_p99_seconds: PositiveNumber = 0.5
    """The 99th percentile inference latency objective, in seconds."""
    thresholds: ModelAlertThresholds = field(default_factory=ModelAlertThresholds)
    """When the alerts fire; the defaults are production values."""
    scrape_interval: Duration = "30s"
    runbook_url: Optional[str] = None
    """Base of the alerts' `runbook_url` (each alert appends `#<its name in lower case>`); None: no link."""
    scale_to_zero: Union[ModelScaleToZero, ScaleToZeroSignals, None] = None
    """The model's `ModelScaleToZero` (or its signals, for a model scaled some other way): zero replicas on purpose is
    not an outage, and the dashboard shows wake-ups."""
    rollout: Union[ModelCanary, RolloutSignals, None] = None
    """The model's `ModelCanary` (or its signals): alerts and a dashboard row on the rollout's state."""
    alert_links: Optional[AlertLinks] = None
    """Links on every model alert to its dashboard panel and the model's logs, and from the dashboard to the
    logs (alert_links.py); None: no links."""
    tokens: TokenLatencyObjectives | None = None
    """An LLM server's p99 time-to-first-token and inter-token latency objectives: alerts and the dashboard's
    objective lines (its runtime must expose those histograms)."""

    def _rules(self) -> list[Problem]:
        return [*_admission_problems(self), *_team_problems(self), *_driver_problems(self), *_token_problems(self)]


def _token_problems(args: ModelMonitoringArgs) -> list[Problem]:
    """Token objectives need a runtime that exposes time-to-first-token and inter-token histograms."""
    if args.tokens is None:
        return []
    try:
        args.tokens.checks(served_model(args).runtime.signals)
    except ValueError as error:
        return [("tokens", got(args.tokens, f"{error}: runtime {served_model(args).runtime.name!r} does not"))]
    return []


def monitoring_namespace(args: ModelMonitoringArgs) -> str:
    m = args.monitoring
    return m.namespace_name if isinstance(m, MonitoringStack) else m


def _admission_problems(args: ModelMonitoringArgs) -> list[Problem]:
    """The model's NetworkPolicy must let this Prometheus reach `metrics`, or every target is down."""
    model, namespace = args.model, monitoring_namespace(args)
    if isinstance(model, ModelService) and model.monitoring_namespace != namespace:
        return [("monitoring", got(namespace, f"the NetworkPolicy of ModelService {model.served.name!r} admits "
                                              f"{model.monitoring_namespace!r} to its metrics port, not this "
                                              "namespace: every scrape would be refused; set its "
                                              f"monitoring_namespace={namespace!r}"))]
    return []


def _team_problems(args: ModelMonitoringArgs) -> list[Problem]:
    """With receivers routed by team only, a team none routes (a typo on either side) gets no notification."""
    m = args.monitoring
    team = args.team or served_model(args).team
    routed = m.routed_teams if isinstance(m, MonitoringStack) else None
    if routed is None:
        return []
    if team is None or team not in routed:
        return [("team", got(team, f"no receiver of the MonitoringStack routes it (they route {', '.join(sorted(routed))}"
                                   "), so its alerts would notify nobody; fix the team, or add a receiver for it"))]
    return []


def _driver_problems(args: ModelMonitoringArgs) -> list[Problem]:
    """A ModelScaleToZero or ModelCanary given here must act on the model watched."""
    served = served_model(args)
    problems: list[Problem] = []
    for field_name, driver in (("scale_to_zero", args.scale_to_zero), ("rollout", args.rollout)):
        if isinstance(driver, (ModelScaleToZero, ModelCanary)) and driver.model.served.name != served.name:
            problems.append((field_name, got(driver.model.served.name, f"acts on another model than {served.name!r}: "
                                                                       "give this model's own")))
    return problems


def validate_model_monitoring_args(args: ModelMonitoringArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def served_model(args: ModelMonitoringArgs) -> ServedModel:
    """The watched model as plain names (a `ModelService` knows its own at declaration)."""
    return args.model.served if isinstance(args.model, ModelService) else args.model


def model_target(args: ModelMonitoringArgs) -> ModelTarget:
    """The model's series: `job` is the Service's `app.kubernetes.io/name` label, i.e. the model name."""
    served = served_model(args)
    return ModelTarget(model=served.name, namespace=served.model_namespace, job=served.name,
                       team=args.team or served.team, signals=served.runtime.signals)


# After the longest hold, a wake-up still unfinished pages (one more evaluation's worth of margin).
WAKE_UP_MARGIN_SECONDS = 120


def scale_to_zero_signals(args: ModelMonitoringArgs) -> Optional[ScaleToZeroSignals]:
    driver = args.scale_to_zero
    if not isinstance(driver, ModelScaleToZero):
        return driver
    return ScaleToZeroSignals(deployment=driver.model.served.name, route_name=driver.route_name,
                              wake_up_for=f"{driver.max_wait_seconds + WAKE_UP_MARGIN_SECONDS}s",
                              holder_namespace=driver.proxy_namespace)


def rollout_signals(args: ModelMonitoringArgs) -> Optional[RolloutSignals]:
    driver = args.rollout
    return RolloutSignals(rollout=driver.model.served.name) if isinstance(driver, ModelCanary) else driver


def model_rules(args: ModelMonitoringArgs) -> list[dict[str, Any]]:
    """The rule groups `ModelMonitoring` deploys (tests render the same ones for promtool)."""
    groups = model_rule_groups(model_target(args), args.availability, args.latency_p99_seconds, args.thresholds,
                               args.runbook_url, scale_to_zero=scale_to_zero_signals(args),
                               tokens=args.tokens)
    rollout = rollout_signals(args)
    if rollout is not None:
        groups += rollout_rule_groups(model_target(args), rollout, args.runbook_url)
    return groups


class ModelMonitoring(pulumi.ComponentResource):
    """Scrapes one model, alerts on it and draws it, next to a shared monitoring stack.

    Creates a ServiceMonitor for the model's Service (its `metrics` port), a PrometheusRule with the
    model's SLO recording rules and alerts (labelled with the model's team), and a dashboard ConfigMap
    for Grafana's sidecar. Every name, alert label and dashboard uid derives from the model and
    instance names, so any number of models share one stack. Every child waits for the `MonitoringStack`
    (which installs the ServiceMonitor and PrometheusRule CRDs) when given one.
    """

    service_monitor_name: pulumi.Output[str]
    """Name of the model's ServiceMonitor."""
    rule_name: pulumi.Output[str]
    """Name of the model's PrometheusRule."""
    dashboard_uid: pulumi.Output[str]
    """Grafana uid of the model's dashboard (unique per instance name, at most 40 characters)."""

    def __init__(self, name: str, args: ModelMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        args = checked_args("ModelMonitoring", name, args, ModelMonitoringArgs)
        served = served_model(args)
        _claims.claim("ModelMonitoring", name, opts, [_claims.Claim(
            "kubernetes", "monitoring of model", served.name, served.model_namespace, field="model")])
        super().__init__("gpu-model-platform:index:ModelMonitoring", name, None, opts)
        self._args = args
        self._served = served
        if isinstance(args.monitoring, MonitoringStack):
            args.monitoring.record_model_team(args.team or served.team)
        self._target = model_target(args)
        self._labels = standard_labels(served.name, "monitoring") | (
            {"team": self._target.team} if self._target.team else {})
        # ServiceMonitor and PrometheusRule are custom resources: their CRDs, and the namespace everything
        # lives in, come from the stack. A component's own `depends_on` does not hold back its children.
        after = [*_options.dependencies(opts), *([args.monitoring] if isinstance(args.monitoring, MonitoringStack) else [])]
        children = pulumi.ResourceOptions(parent=self, depends_on=after)
        monitor = self._create_service_monitor(name, children)
        rule = self._create_rules(name, children)
        uid = dashboard_uid("model", name)
        self._create_dashboard(name, uid, children)

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
        return k8s.meta.v1.ObjectMetaArgs(namespace=monitoring_namespace(self._args),
                                          labels={**self._labels, **extra.pop("labels", {})}, **extra)

    def _create_service_monitor(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        served = self._served
        return k8s.apiextensions.CustomResource(
            f"{name}-service-monitor", api_version=MONITORING_API, kind="ServiceMonitor",
            metadata=self._metadata(),
            spec={
                "jobLabel": "app.kubernetes.io/name",  # job = the model name, which the rules select on
                "namespaceSelector": {"matchNames": [served.model_namespace]},
                "selector": {"matchLabels": served.selector()},
                "endpoints": [{"port": served.metrics_port, "path": served.runtime.metrics_path,
                               "interval": self._args.scrape_interval}],
                # A canary's pods and the stable's differ by this label (as `rollouts_pod_template_hash`): the
                # canary analysis compares them. Pods of a plain Deployment do not have it.
                "podTargetLabels": ["rollouts-pod-template-hash"],
            },
            opts=opts,
        )

    def _create_rules(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        groups, links = model_rules(self._args), self._args.alert_links
        spec: pulumi.Input[dict[str, Any]] = {"groups": groups}
        if links is not None:  # alert_links.py: each alert links to its panel and the model's logs
            uid = dashboard_uid("model", name)
            spec = resolved(links).apply(lambda known: {"groups": with_links(
                groups, known, self._target, self._dashboard(uid, known))})
        return k8s.apiextensions.CustomResource(
            f"{name}-rules", api_version=MONITORING_API, kind="PrometheusRule",
            metadata=self._metadata(), spec=spec, opts=opts,
        )

    def _dashboard(self, uid: str, links: Optional[AlertLinks] = None) -> dict[str, Any]:
        """The model's dashboard; with (resolved) links, its panels link to the logs."""
        a = self._args
        dashboard = model_dashboard(uid, self._target, a.availability, a.latency_p99_seconds,
                                    scale_to_zero_signals(a), rollout=rollout_signals(a), tokens=a.tokens)
        return dashboard if links is None else with_log_links(dashboard, links, self._target)

    def _create_dashboard(self, name: str, uid: str, opts: pulumi.ResourceOptions) -> None:
        def as_json(links: Optional[AlertLinks]) -> str:
            return json.dumps(self._dashboard(uid, links), indent=1, sort_keys=True)

        links = self._args.alert_links
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=self._metadata(labels=DASHBOARD_LABEL, annotations={FOLDER_ANNOTATION: FOLDER}),
            data={f"{uid}.json": as_json(None) if links is None else resolved(links).apply(as_json)},
            opts=opts,
        )
