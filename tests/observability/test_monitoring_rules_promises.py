"""The alert rules' promises that a mutation audit (issue 29) found unguarded: every alert links to its runbook,
the latency alert waits as long as configured, a rollout stuck in any failed phase alerts (proven with
promtool), and the model's series selector."""

from __future__ import annotations

import yaml

from components.observability.monitoring_rules import (
    GpuAlertThresholds,
    ModelAlertThresholds,
    ModelTarget,
    RolloutSignals,
    alert_names,
    gpu_rule_groups,
    model_rule_groups,
    rollout_rule_groups,
)
from tests.observability.test_alerting_tools import PROMTOOL, Case, _series, _unit_test_file, needs_promtool, run

RUNBOOKS = "https://runbooks.example/platform"
TARGET = ModelTarget(model="digits", namespace="models", job="digits")


def _alerts(groups: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        found.setdefault(rule["alert"], []).append(rule)
    return found


def test_every_alert_links_to_its_own_runbook_section_when_a_base_url_is_given():
    groups = (gpu_rule_groups(GpuAlertThresholds(), runbook_url=RUNBOOKS)
              + model_rule_groups(TARGET, 0.999, 0.5, runbook_url=RUNBOOKS)
              + rollout_rule_groups(TARGET, RolloutSignals("digits"), runbook_url=RUNBOOKS))
    alerts = _alerts(groups)
    assert len(alerts) == len(alert_names(groups)) >= 16
    for name, rules in alerts.items():
        assert all(r["annotations"]["runbook_url"] == f"{RUNBOOKS}#{name.lower()}" for r in rules), name


def test_the_latency_alert_waits_as_long_as_configured():
    groups = model_rule_groups(TARGET, 0.999, 0.25, ModelAlertThresholds(latency_window="7m", latency_for="17m"))
    [latency] = _alerts(groups)["ModelLatencyP99AboveSlo"]
    assert latency["for"] == "17m"
    assert "[7m]" in latency["expr"] and latency["expr"].endswith("> 0.25")


def test_the_model_series_selector_names_the_target_the_model_and_any_extra_matcher():
    target = ModelTarget(model="digits", namespace="models", job="digits-svc", extra_matchers={"cluster": "eu"})
    assert target.metric_selector() == '{namespace="models", job="digits-svc", cluster="eu", model="digits"}'
    assert target.metric_selector(route='~"/v2/.*"') == (
        '{namespace="models", job="digits-svc", cluster="eu", model="digits", route=~"/v2/.*"}')


# Argo Rollouts v1.9.0 `rollout_info` phases (controller/metrics/prommetrics.go, as progressive_delivery.py records).
STUCK = ("Error", "Timeout", "InvalidSpec")
MOVING = ("Progressing", "Completed", "Paused", "Abort")


def _rollout_cases() -> list[Case]:
    info = {"namespace": "models", "name": "digits", "strategy": "canary", "traffic_router": "ALB"}
    return ([Case(f"stuck: phase {phase}", "ModelRolloutStuck", {_series("rollout_info", {**info, "phase": phase}): "1x30"},
                  "15m", [{"severity": "warning", "service": "digits", "namespace": "models", "name": "digits",
                           "phase": phase}]) for phase in STUCK]
            + [Case(f"not stuck: phase {phase}", "ModelRolloutStuck",
                    {_series("rollout_info", {**info, "phase": phase}): "1x30"}, "15m") for phase in MOVING])


@needs_promtool
def test_promtool_proves_a_rollout_stuck_in_any_failed_phase_alerts_and_a_moving_one_does_not(tmp_path):
    groups = rollout_rule_groups(TARGET, RolloutSignals("digits"))
    for rule in (r for g in groups for r in g["rules"]):
        rule.pop("annotations")
    rules = tmp_path / "rollout.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    result = run(PROMTOOL, "test", "rules", str(_unit_test_file(tmp_path, [rules], _rollout_cases())))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stuck_alert_names_every_failed_phase_and_waits_as_configured():
    [stuck] = _alerts(rollout_rule_groups(TARGET, RolloutSignals("digits", stuck_for="20m")))["ModelRolloutStuck"]
    assert f'phase=~"{"|".join(STUCK)}"' in stuck["expr"] and stuck["for"] == "20m"
