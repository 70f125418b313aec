"""Alerts that lead somewhere: every model alert links to the dashboard panel that shows it and to the model's
logs over the alert's window; the dashboard links its panels to the logs; Grafana gets the data sources the
links name; promtool still accepts every rule."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse

import pulumi
import pytest
import yaml

from components._charts import unknown_keys
from components.observability.alert_links import (
    LOGS_UID,
    PANEL_OF_ALERT,
    TRACES_UID,
    AlertLinks,
    data_sources,
    with_links,
    with_log_links,
)
from components.observability.log_collection import loki_output
from components.observability.model_monitoring import ModelMonitoring, ModelMonitoringArgs, model_rules, model_target
from components.observability.monitoring_dashboards import model_dashboard
from components.observability.monitoring_rules import RolloutSignals, alert_names
from components.observability.monitoring_stack import PINNED_CHART, MonitoringStack, MonitoringStackArgs
from components.serving.model_service import ServedModel
from tests.harness import components

LOKI = AlertLinks("https://grafana.example.com/", "loki")
GROUP_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/containers/abc"
CLOUDWATCH = AlertLinks("https://grafana.example.com", "cloudwatch", log_group="/containers/abc",
                        log_group_arn=GROUP_ARN, region="eu-west-1")
ARGS = ModelMonitoringArgs(model=ServedModel("digits", namespace="models"), rollout=RolloutSignals("digits"))


def linked(links: AlertLinks):
    target = model_target(ARGS)
    dashboard = model_dashboard("model-x", target, ARGS.availability, ARGS.latency_p99_seconds, rollout=ARGS.rollout)
    return with_links(model_rules(ARGS), links, target, dashboard), dashboard


def alerts(groups):
    return [r for g in groups for r in g["rules"] if "alert" in r]


def explore(url: str) -> dict:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return json.loads(query["panes"][0])["logs"]


def test_every_model_alert_links_to_an_existing_panel_of_its_dashboard_over_its_window():
    groups, dashboard = linked(LOKI)
    assert set(alert_names(groups)) == set(PANEL_OF_ALERT), "every model alert has a panel, and only those"
    titles = {p["id"]: p["title"] for p in dashboard["panels"]}
    for rule in alerts(groups):
        url = urllib.parse.urlsplit(rule["annotations"]["dashboard_url"])
        query = urllib.parse.parse_qs(url.query)
        assert url.path == "/d/model-x", "no doubled slash from the base URL"
        assert titles[int(query["viewPanel"][0])] == PANEL_OF_ALERT[rule["alert"]]
        assert query["from"] == [f"now-{rule['labels'].get('window', '1h')}"], rule["alert"]


def test_the_logs_link_queries_the_models_containers_by_the_labels_fluent_bit_gives_loki():
    groups, _ = linked(LOKI)
    output = dict(loki_output("loki.logging.svc"))
    assert "namespace=$kubernetes['namespace_name']" in output["labels"]
    assert "container=$kubernetes['container_name']" in output["labels"]
    for rule in alerts(groups):
        pane = explore(rule["annotations"]["logs_url"])
        [query] = pane["queries"]
        assert pane["datasource"] == LOGS_UID and query["datasource"]["type"] == "loki"
        assert query["expr"].startswith('{namespace="models", container="digits"} | json')
        errors_only = rule["alert"] in ("ModelErrorBudgetBurn", "ModelRolloutAborted")
        assert query["expr"].endswith("| status >= 500") == errors_only, rule["alert"]
        assert pane["range"]["from"] == f"now-{rule['labels'].get('window', '1h')}"


def test_on_cloudwatch_the_logs_link_is_a_logs_insights_query_on_the_group():
    groups, _ = linked(CLOUDWATCH)
    burn = next(r for r in alerts(groups) if r["alert"] == "ModelErrorBudgetBurn")
    [query] = explore(burn["annotations"]["logs_url"])["queries"]
    assert query["logGroups"] == [{"arn": GROUP_ARN, "name": "/containers/abc"}] and query["queryMode"] == "Logs"
    assert query["region"] == "eu-west-1" and "logGroupNames" not in query, "the deprecated key is not used"
    assert "kubernetes.namespace_name = 'models' and kubernetes.container_name = 'digits'" in query["expression"]
    assert "status >= 500" in query["expression"] and "request_id" in query["expression"]


def test_links_leave_no_template_delimiters_for_prometheus_to_trip_on():
    for links in (LOKI, CLOUDWATCH):
        for rule in alerts(linked(links)[0]):
            for key in ("dashboard_url", "logs_url"):
                assert "{" not in rule["annotations"][key] and '"' not in rule["annotations"][key]


@pytest.mark.tools("promtool")
def test_promtool_accepts_the_linked_rules(tmp_path):
    for links in (LOKI, CLOUDWATCH):
        path = tmp_path / f"{links.logs}.yml"
        path.write_text(yaml.safe_dump({"groups": linked(links)[0]}))
        result = subprocess.run([shutil.which("promtool"), "check", "rules", str(path)], capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_links_its_alerted_panels_to_the_logs():
    _, dashboard = linked(LOKI)
    with_logs = with_log_links(dashboard, LOKI, model_target(ARGS))
    logs_panel = with_logs["panels"][-1]
    assert logs_panel["type"] == "logs" and logs_panel["datasource"]["uid"] == LOGS_UID
    assert logs_panel["targets"][0]["expr"].endswith("status >= 500")
    ids = [p["id"] for p in with_logs["panels"]]
    assert len(ids) == len(set(ids)), "panel ids stay unique"
    assert logs_panel["gridPos"]["y"] >= max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    linked_titles = {p["title"] for p in with_logs["panels"] if p.get("links")}
    assert linked_titles == set(PANEL_OF_ALERT.values())
    panel = next(p for p in with_logs["panels"] if p["title"] == PANEL_OF_ALERT["ModelErrorBudgetBurn"])
    [link] = panel["links"]
    assert link["url"].startswith("/explore?") and explore(link["url"])["queries"][0]["expr"].endswith("status >= 500")


def test_model_monitoring_deploys_the_links_only_when_asked():
    def rules_of(args):
        synthesis = components(lambda opts: ModelMonitoring("mm", args, opts))
        rule = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "PrometheusRule")
        board = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "ConfigMap")
        return alerts(rule["spec"]["groups"]), json.loads(next(iter(board["data"].values())))

    plain, board = rules_of(ARGS)
    assert not any("logs_url" in r["annotations"] for r in plain) and not any(p.get("links") for p in board["panels"])
    with_args = ModelMonitoringArgs(model=ARGS.model, rollout=ARGS.rollout, alert_links=LOKI)
    linked_rules, board = rules_of(with_args)
    assert all("logs_url" in r["annotations"] and "dashboard_url" in r["annotations"] for r in linked_rules)
    assert all(f"/d/{board['uid']}?" in r["annotations"]["dashboard_url"] for r in linked_rules)


def test_grafana_gets_the_logs_and_traces_sources_the_links_name_with_a_log_to_trace_link():
    sources = data_sources("loki", loki_url="http://logs-loki.logging.svc:3100", tempo_url="http://t.tracing.svc:3200")
    by_uid = {s["uid"]: s for s in sources}
    assert by_uid[LOGS_UID]["type"] == "loki" and by_uid[TRACES_UID]["type"] == "tempo"
    [derived] = by_uid[LOGS_UID]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == TRACES_UID and "trace_id" in derived["matcherRegex"]
    assert by_uid[TRACES_UID]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == LOGS_UID
    cloudwatch = data_sources("cloudwatch", region="eu-west-1")
    assert [s["type"] for s in cloudwatch] == ["cloudwatch"] and cloudwatch[0]["jsonData"]["defaultRegion"] == "eu-west-1"

    synthesis = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough"), grafana_data_sources=sources), opts))
    [release] = synthesis.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["values"]["grafana"]["additionalDataSources"] == sources
    assert unknown_keys(release.inputs["values"], PINNED_CHART.keys_file) == []
