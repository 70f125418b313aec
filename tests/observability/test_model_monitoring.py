"""ModelMonitoring: scrapes the Service ModelService creates, alerts with SLO-derived thresholds, never
collides with another model's monitoring, and waits for the stack's CRDs."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache

import pulumi
import pytest

from components.observability.model_monitoring import (
    ModelMonitoring,
    ModelMonitoringArgs,
    model_rules,
    scale_to_zero_signals,
    validate_model_monitoring_args,
)
from components.observability.monitoring_alertmanager import AlertReceiver
from components.observability.monitoring_rules import (
    RUNBOOKS_URL,
    BurnRateWindow,
    ModelAlertThresholds,
    alert_names,
    error_ratio_record,
)
from components.observability.monitoring_stack import MonitoringStack, MonitoringStackArgs
from components.serving.model_service import ModelService, ModelServiceArgs, ServedModel
from stack_config import component_args as build
from tests.harness import components, only, stack_config
from tests.monitoring import crds
from tools.synth import Synthesis

DIGEST_IMAGE = "registry.example/model@sha256:" + "0" * 64
M = ServedModel("m")
MODEL_ALERTS = ["ModelDown", "ModelErrorBudgetBurn", "ModelLatencyP99AboveSlo", "ModelPodsRestarting",
                "ModelScrapeTargetMissing"]


def _stack_and_models(*models: tuple[str, str], opts: pulumi.ResourceOptions) -> None:
    stack = MonitoringStack("monitoring", MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("p4ssw0rd!")),
                            opts)
    for name, namespace in models:
        service = ModelService(name, ModelServiceArgs(image=DIGEST_IMAGE, namespace=namespace, team=f"{namespace}-team"),
                               opts)
        ModelMonitoring(f"{name}-monitoring", ModelMonitoringArgs(
            model=service, monitoring=stack, runbook_url=RUNBOOKS_URL), opts)


@cache
def two_models() -> Synthesis:
    return components(lambda opts: _stack_and_models(("fraud-detector", "fraud"), ("churn-predictor", "churn"),
                                                     opts=opts))


def objects(synthesis: Synthesis, kind: str) -> list[dict]:
    return [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == kind]


def of_model(synthesis: Synthesis, kind: str, model: str) -> dict:
    return only([m for m in objects(synthesis, kind) if m["metadata"]["labels"].get("app.kubernetes.io/name") == model],
                f"{kind} of {model}")


# ------------------------------------------------------------------------------------------- scraping

@pytest.mark.parametrize("model", ["fraud-detector", "churn-predictor"])
def test_the_service_monitor_selects_the_models_service_and_its_named_port(model):
    synthesis = two_models()
    service = of_model(synthesis, "Service", model)
    monitor = of_model(synthesis, "ServiceMonitor", model)["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    endpoint = only(monitor["endpoints"], "endpoint")
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # The rules select job=<model>: the job comes from this Service label.
    assert service["metadata"]["labels"][monitor["jobLabel"]] == model


def test_the_model_is_scraped_from_the_monitoring_namespace_its_network_policy_admits():
    synthesis = two_models()
    monitor = of_model(synthesis, "ServiceMonitor", "fraud-detector")
    policy = of_model(synthesis, "NetworkPolicy", "fraud-detector")
    allowed = {v for rule in policy["spec"]["ingress"] for peer in rule["from"]
               for e in peer["namespaceSelector"]["matchExpressions"] for v in e["values"]}
    assert monitor["metadata"]["namespace"] in allowed


# ------------------------------------------------------------------------------------------- rules

def test_every_model_alert_is_there_with_severity_summary_description_and_runbook():
    rules = of_model(two_models(), "PrometheusRule", "fraud-detector")["spec"]["groups"]
    assert alert_names(rules) == MODEL_ALERTS
    for rule in (r for g in rules for r in g["rules"] if "alert" in r):
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["labels"]["service"] == "fraud-detector" and rule["labels"]["namespace"] == "fraud"
        assert rule["labels"]["team"] == "fraud-team", "the team label routes the alert to the model's team"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["annotations"]["runbook_url"].endswith(f"docs/runbooks.md#{rule['alert'].lower()}")
        assert 'model="fraud-detector"' in rule["expr"] or 'container="fraud-detector"' in rule["expr"] \
            or 'job="fraud-detector"' in rule["expr"], rule["alert"]


def test_an_outage_pages_and_slow_burns_open_tickets():
    rules = [r for g in model_rules(ModelMonitoringArgs(model=M)) for r in g["rules"] if "alert" in r]
    severities = {(r["alert"], r["labels"].get("window")): r["labels"]["severity"] for r in rules}
    assert severities[("ModelDown", None)] == "critical"
    assert severities[("ModelErrorBudgetBurn", "1h")] == severities[("ModelErrorBudgetBurn", "6h")] == "critical"
    assert severities[("ModelErrorBudgetBurn", "1d")] == severities[("ModelErrorBudgetBurn", "3d")] == "warning"


@pytest.mark.parametrize(("availability", "fast_threshold"), [(0.999, "0.0144"), (0.99, "0.144"), (0.9995, "0.0072")])
def test_burn_rate_thresholds_follow_the_availability_objective(availability, fast_threshold):
    rules = model_rules(ModelMonitoringArgs(model=M, availability=availability))
    fast = next(r for g in rules for r in g["rules"] if r.get("labels", {}).get("window") == "1h")
    assert fast["expr"].count(f"> {fast_threshold}") == 2, fast["expr"]
    assert error_ratio_record("1h") in fast["expr"] and error_ratio_record("5m") in fast["expr"]


def test_every_burn_window_has_its_recording_rule():
    windows = (BurnRateWindow("critical", "20s", "6s", 14.4, "0s"),)
    groups = model_rules(ModelMonitoringArgs(model=M, thresholds=ModelAlertThresholds(burn_rate_windows=windows)))
    records = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    assert records == {error_ratio_record("20s"), error_ratio_record("6s")}


def test_the_latency_alert_uses_the_latency_objective():
    rules = model_rules(ModelMonitoringArgs(model=M, latency_p99_seconds=0.25))
    latency = next(r for g in rules for r in g["rules"] if r.get("alert") == "ModelLatencyP99AboveSlo")
    assert latency["expr"].rstrip().endswith("> 0.25") and "histogram_quantile(0.99" in latency["expr"]


def test_server_errors_count_against_the_budget_and_bad_requests_do_not():
    record = next(r for g in model_rules(ModelMonitoringArgs(model=M)) for r in g["rules"] if "record" in r)
    numerator = record["expr"].split("/\n")[0]
    assert 'status=~"5.."' in numerator and 'route=~".*/infer"' in numerator


# ------------------------------------------------------------------------------------------- no collisions

def test_two_models_never_share_an_object_an_alert_identity_or_a_dashboard():
    synthesis = two_models()
    identities = [(m["apiVersion"], m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"])
                  for _, m in synthesis.kubernetes_objects()]
    assert not [i for i, n in Counter(identities).items() if n > 1]
    alerts = [(r["alert"], tuple(sorted(r["labels"].items()))) for m in objects(synthesis, "PrometheusRule")
              for g in m["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 2 * len(MODEL_ALERTS) and not [a for a, n in Counter(alerts).items() if n > 1]
    dashboards = [json.loads(v) for m in objects(synthesis, "ConfigMap") for v in (m.get("data") or {}).values()
                  if "panels" in v]
    uids = [d["uid"] for d in dashboards]
    assert len(uids) == 3 and len(set(uids)) == 3 and all(len(u) <= 40 for u in uids), uids
    assert len({d["title"] for d in dashboards}) == 3


def test_long_instance_names_still_give_distinct_short_dashboard_uids():
    long_a, long_b = "a" * 60 + "-one", "a" * 60 + "-two"
    synthesis = components(lambda opts: [ModelMonitoring(n, ModelMonitoringArgs(model=ServedModel(m)), opts)
                                         for n, m in ((long_a, "m-one"), (long_b, "m-two"))])
    uids = [json.loads(v)["uid"] for m in objects(synthesis, "ConfigMap") for v in m["data"].values()]
    assert len(set(uids)) == 2 and all(len(u) <= 40 and re.fullmatch(r"[a-z0-9-]+", u) for u in uids), uids


# ------------------------------------------------------------------------------------------- ordering

def test_monitors_rules_and_dashboards_wait_for_the_stack_and_its_crds():
    synthesis = two_models()
    release = only(synthesis.of_type("kubernetes:helm.sh/v3:Release"))
    component = only([r for r in synthesis.of_type("gpu-model-platform:index:ModelMonitoring")
                      if r.name == "fraud-detector-monitoring"])
    children = synthesis.children_of(component.urn)
    assert {c.type.rsplit(":", 1)[-1] for c in children} == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
    for child in children:
        assert release.urn in child.options["dependencies"], child.name


def test_the_stack_config_maps_to_args_with_the_objectives_and_the_stacks_namespace():
    config = stack_config("prod")
    model = ServedModel(config.model.name, namespace=config.model_namespace)
    synthesis = components(lambda opts: ModelMonitoring("model-monitoring", build.model_monitoring_args(
        config, MonitoringStack("monitoring", build.monitoring_args(config), opts), model), opts))
    rule = only([m for m in objects(synthesis, "PrometheusRule") if "my-ai-model" in json.dumps(m["spec"])])
    assert rule["metadata"]["namespace"] == config.monitoring.namespace
    budget = f"{14.4 * (1 - config.monitoring.slo.availability):.6g}"
    assert f"> {budget}" in json.dumps(rule["spec"])


# ------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("changes", "message"), [
    ({"model": "fraud-detector"}, "model: got 'fraud-detector' (str); must be a ModelService or a ServedModel"),
    ({"model": ServedModel("My_Model")}, "model.name: got 'My_Model'"),
    ({"model": ServedModel("m", namespace="a.b")}, "model.namespace: got 'a.b'"),
    ({"model": ServedModel("m", service_labels={"app": "m"})}, "model.service_labels: got {'app': 'm'}; must include "
                                                               "app.kubernetes.io/name"),
    ({"availability": 1.0}, "availability: got 1.0; must be between 0 and 1 exclusive"),
    ({"latency_p99_seconds": 0}, "latency_p99_seconds: got 0; must be > 0"),
    ({"scrape_interval": "often"}, "scrape_interval: got 'often'"),
    ({"team": "Fraud Team"}, "team: got 'Fraud Team'"),
])
def test_invalid_args_are_refused_naming_the_field(changes, message):
    args = ModelMonitoringArgs(**{"model": M, **changes})
    assert any(message in p for p in validate_model_monitoring_args(args)), validate_model_monitoring_args(args)
    with pytest.raises(ValueError, match="ModelMonitoring 'mm'") as caught:
        components(lambda opts: ModelMonitoring("mm", args, opts))
    assert [r.type for r in caught.value.registered_resources] == ["pulumi:providers:kubernetes"]


def test_the_names_come_from_the_model_service_so_they_cannot_drift():
    def build(opts):
        service = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE, name="fraud-detector", namespace="ml"),
                               opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service), opts)

    synthesis = components(build)
    service = of_model(synthesis, "Service", "fraud-detector")
    monitor = of_model(synthesis, "ServiceMonitor", "fraud-detector")["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": ["ml"]}
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert only(monitor["endpoints"], "endpoint")["port"] == "metrics"
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}


def test_a_team_given_to_the_monitoring_overrides_the_models():
    rules = model_rules(ModelMonitoringArgs(model=ServedModel("m", team="a"), team="b"))
    assert {r["labels"]["team"] for g in rules for r in g["rules"] if "alert" in r} == {"b"}


def test_without_a_runbook_base_url_alerts_carry_no_runbook_link():
    rules = model_rules(ModelMonitoringArgs(model=M))
    assert all("runbook_url" not in r["annotations"] for g in rules for r in g["rules"] if "alert" in r)


def test_two_monitorings_of_one_model_are_refused_naming_both():
    def build(opts):
        service = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE), opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service), opts)
        ModelMonitoring("fraud-alerts", ModelMonitoringArgs(model=service), opts)

    with pytest.raises(ValueError, match="ModelMonitoring 'fraud-alerts': model: .* already created by ModelMonitoring "
                                         "'fraud-monitoring'") as caught:
        components(build)
    assert not [r for r in caught.value.registered_resources if r.name.startswith("fraud-alerts")]


def test_the_component_registers_its_outputs():
    component = next(r for r in two_models().of_type("gpu-model-platform:index:ModelMonitoring"))
    assert set(component.component_outputs) == {"service_monitor_name", "rule_name", "dashboard_uid"}
    assert all(component.component_outputs.values())


def test_the_model_custom_resources_match_the_pinned_crds_strictly():
    custom = [m for _, m in two_models().kubernetes_objects(masked=False) if m["apiVersion"] == "monitoring.coreos.com/v1"]
    assert len(custom) == 6
    for m in custom:
        assert crds.problems(m) == [], (m["kind"], m["metadata"]["name"])


# ------------------------------------------------------------------------------------------- chains

def _refusal(build) -> tuple[str, list]:
    with pytest.raises(ValueError) as caught:
        components(build)
    return str(caught.value), caught.value.registered_resources


def test_a_monitoring_namespace_the_models_network_policy_does_not_admit_is_refused():
    def build(opts):
        service = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE, monitoring_namespace="monitoring"), opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service, monitoring="observability"), opts)

    message, registered = _refusal(build)
    assert "ModelMonitoring 'fraud-monitoring': monitoring: got 'observability'" in message
    assert "monitoring_namespace='observability'" in message
    assert not [r for r in registered if r.name.startswith("fraud-monitoring")]


def test_a_model_closed_to_every_prometheus_cannot_be_monitored():
    def build(opts):
        service = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE, monitoring_namespace=None), opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service), opts)

    assert "monitoring: got 'monitoring'" in _refusal(build)[0]


def _stack_with_receivers(opts, *teams: tuple[str, ...]) -> MonitoringStack:
    receivers = [AlertReceiver(name=f"r{i}", type="webhook", severities=("critical",),
                               url=pulumi.Output.secret("https://hooks.example/x"), teams=t)
                 for i, t in enumerate(teams)]
    return MonitoringStack("monitoring", MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("p4ssw0rd!"),
                                                             receivers=receivers), opts)


def test_a_team_no_receiver_routes_is_refused_when_every_receiver_routes_by_team():
    def build(opts):
        stack = _stack_with_receivers(opts, ("fraud",), ("churn",))
        service = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE, team="frad"), opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service, monitoring=stack), opts)

    message, _ = _refusal(build)
    assert "team: got 'frad'; no receiver of the MonitoringStack routes it (they route churn, fraud)" in message


def test_a_routed_team_or_a_catch_all_receiver_is_accepted():
    def build(opts):
        stack = _stack_with_receivers(opts, ("fraud",), ())
        service = ModelService("churn", ModelServiceArgs(image=DIGEST_IMAGE, team="churn"), opts)
        ModelMonitoring("churn-monitoring", ModelMonitoringArgs(model=service, monitoring=stack), opts)

    assert objects(components(build), "PrometheusRule")


def _warnings_of(build, monkeypatch) -> list[str]:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    components(build)
    return [w for w in warned if w.startswith("MonitoringStack 'monitoring': ")]


def test_a_receiver_routed_to_a_team_no_watched_model_has_is_warned_about_naming_the_field(monkeypatch):
    def build(opts):
        stack = _stack_with_receivers(opts, ("fraud",), ("churn", "frud"))
        # Models declared after the stack all count: the check runs once the program has declared everything.
        for team in ("fraud", "churn"):
            service = ModelService(team, ModelServiceArgs(image=DIGEST_IMAGE, team=team), opts)
            ModelMonitoring(f"{team}-monitoring", ModelMonitoringArgs(model=service, monitoring=stack), opts)

    assert _warnings_of(build, monkeypatch) == [
        "MonitoringStack 'monitoring': receivers[1].teams: routes 'frud', which no model watched with this stack has "
        "(theirs: churn, fraud), so the route never matches; fix the team, or ignore this if models of another "
        "program use this stack"]


def test_routes_every_watched_model_has_or_a_stack_watching_no_model_here_are_not_warned_about(monkeypatch):
    def every_team_watched(opts):
        stack = _stack_with_receivers(opts, ("fraud",), ())
        service = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE, team="fraud"), opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service, monitoring=stack), opts)

    def models_elsewhere(opts):  # a platform program: the team programs watch their models with this stack
        _stack_with_receivers(opts, ("fraud",), ("churn",))

    assert _warnings_of(every_team_watched, monkeypatch) == []
    assert _warnings_of(models_elsewhere, monkeypatch) == []


def test_the_children_wait_for_the_monitoring_stack_given_as_an_object():
    synthesis = two_models()
    rule = next(r for r in synthesis.resources if r.name == "fraud-detector-monitoring-rules")
    # A component as a dependency stands for its children: the chart installing the CRDs among them.
    release = next(r for r in synthesis.resources if r.type == "kubernetes:helm.sh/v3:Release")
    assert release.urn in rule.options["dependencies"]


def test_scale_to_zero_signals_come_from_the_model_scale_to_zero_and_must_be_of_this_model():
    from components.serving.scale_to_zero import KedaHttpAddOn, KedaHttpAddOnArgs, ModelScaleToZero, ModelScaleToZeroArgs

    def build(opts):
        keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)
        asleep = ModelService("fraud", ModelServiceArgs(image=DIGEST_IMAGE, replicas=0, replica_owner="keda"), opts)
        other = ModelService("churn", ModelServiceArgs(image=DIGEST_IMAGE), opts)
        driver = ModelScaleToZero("fraud-scale-to-zero", ModelScaleToZeroArgs(model=asleep, add_on=keda,
                                                                               max_wait_seconds=300), opts)
        signals = scale_to_zero_signals(ModelMonitoringArgs(model=asleep, scale_to_zero=driver))
        assert signals is not None and signals.route_name == "fraud-scale-to-zero" and signals.wake_up_for == "420s"
        assert signals.deployment == "fraud" and signals.holder_namespace == "keda"
        ModelMonitoring("churn-monitoring", ModelMonitoringArgs(model=other, scale_to_zero=driver), opts)

    assert "scale_to_zero: got 'fraud'; acts on another model than 'churn'" in _refusal(build)[0]
