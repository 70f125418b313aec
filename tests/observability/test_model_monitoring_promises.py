"""ModelMonitoring's promises that a mutation audit (issue 29) found unguarded: the labels on every object it
creates (Alertmanager routes on `team`), the dashboard uid it reports, an LLM's token-latency alerts, alert links
on the deployed rules, and the values its refusals name."""

from __future__ import annotations

import json

import pytest

from components._args import InvalidArgs
from components.observability.alert_links import AlertLinks
from components.observability.model_monitoring import (
    ModelMonitoring,
    ModelMonitoringArgs,
    validate_model_monitoring_args,
)
from components.observability.monitoring_dashboards import FOLDER, FOLDER_ANNOTATION
from components.observability.monitoring_rules import TokenLatencyObjectives, alert_names
from components.serving.model_service import ServedModel
from components.serving.runtimes import MODEL_SERVER, VLLM
from tests.harness import components, only
from tools.synth import Synthesis

TOKENS = TokenLatencyObjectives(time_to_first_token_p99_seconds=2.0, inter_token_latency_p99_seconds=0.1)
LOKI = AlertLinks("https://grafana.example.com", "loki")


def _watched(**changes) -> tuple[Synthesis, ModelMonitoring]:
    made: list[ModelMonitoring] = []
    args = ModelMonitoringArgs(**{"model": ServedModel("digits", namespace="models", team="vision"), **changes})
    synthesis = components(lambda opts: made.append(ModelMonitoring("digits-monitoring", args, opts)))
    return synthesis, made[0]


def _objects(synthesis: Synthesis) -> dict[str, dict]:
    return {m["kind"]: m for _, m in synthesis.kubernetes_objects(masked=False)}


def test_every_object_carries_the_models_name_the_monitoring_component_and_its_team():
    objects = _objects(_watched()[0])
    assert set(objects) == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
    for kind, manifest in objects.items():
        labels = manifest["metadata"]["labels"]
        assert (labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"], labels["team"]) == (
            "digits", "monitoring", "vision"), kind
    assert objects["ConfigMap"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "team" not in _objects(_watched(model=ServedModel("digits"))[0])["PrometheusRule"]["metadata"]["labels"]


def test_the_dashboard_uid_reported_is_the_one_the_dashboard_carries():
    synthesis, _ = _watched()
    component = only(synthesis.of_type("gpu-model-platform:index:ModelMonitoring"))
    uid = component.component_outputs["dashboard_uid"]
    data = _objects(synthesis)["ConfigMap"]["data"]
    assert list(data) == [f"{uid}.json"] and json.loads(data[f"{uid}.json"])["uid"] == uid


def test_an_llm_gets_its_token_latency_alerts_deployed():
    synthesis, _ = _watched(model=ServedModel("chat", namespace="models", runtime=VLLM), tokens=TOKENS)
    rules = _objects(synthesis)["PrometheusRule"]["spec"]["groups"]
    assert {"ModelTimeToFirstTokenP99AboveSlo", "ModelInterTokenLatencyP99AboveSlo"} <= set(alert_names(rules))


def test_token_objectives_on_a_runtime_without_token_histograms_are_refused_naming_the_runtime():
    args = ModelMonitoringArgs(model=ServedModel("digits", runtime=MODEL_SERVER), tokens=TOKENS)
    problems = validate_model_monitoring_args(args)
    assert any(p.startswith("tokens: got ") and f"runtime {MODEL_SERVER.name!r} does not" in p for p in problems), \
        problems
    assert validate_model_monitoring_args(ModelMonitoringArgs(model=ServedModel("chat", runtime=VLLM),
                                                              tokens=TOKENS)) == []


def test_the_deployed_alerts_link_to_the_dashboard_and_the_logs():
    synthesis, _ = _watched(alert_links=LOKI)
    rules = _objects(synthesis)["PrometheusRule"]["spec"]["groups"]
    alerts = [r for g in rules for r in g["rules"] if "alert" in r]
    assert alerts and all(r["annotations"]["dashboard_url"].startswith("https://grafana.example.com/d/")
                          and "logs_url" in r["annotations"] for r in alerts)


def test_the_scrape_reads_the_runtimes_metrics_path_at_the_configured_interval():
    monitor = _objects(_watched(model=ServedModel("chat", namespace="models", runtime=VLLM),
                                scrape_interval="13s")[0])["ServiceMonitor"]["spec"]
    endpoint = only(monitor["endpoints"], "endpoint")
    assert (endpoint["path"], endpoint["interval"]) == (VLLM.metrics_path, "13s")
    assert monitor["podTargetLabels"] == ["rollouts-pod-template-hash"]
    assert monitor["jobLabel"] == "app.kubernetes.io/name"


def test_the_dashboard_goes_to_the_platforms_grafana_folder_in_the_monitoring_namespace():
    metadata = _objects(_watched(monitoring="observe")[0])["ConfigMap"]["metadata"]
    assert metadata["annotations"] == {FOLDER_ANNOTATION: FOLDER} and metadata["namespace"] == "observe"


def test_a_second_monitoring_of_the_same_model_is_refused_naming_the_model_and_its_namespace():
    def build(opts):
        for name in ("a", "b"):
            ModelMonitoring(name, ModelMonitoringArgs(model=ServedModel("digits", namespace="models")), opts)

    with pytest.raises(InvalidArgs) as caught:
        components(build)
    assert str(caught.value).startswith("ModelMonitoring 'b': model: monitoring of model 'digits' in namespace "
                                        "'models' (through provider 'test-kubernetes') already created by "
                                        "ModelMonitoring 'a'")
