"""Alert links' promises that a mutation audit (issue 29) found unguarded: each Grafana data source exactly as
provisioned (uids the links name, AWS credentials, the log-to-trace link), the panel links' fields, the failed
requests panel, and a CloudWatch query without a region or group."""

from __future__ import annotations

import pulumi

from components.observability.alert_links import (
    LOGS_UID,
    TRACES_UID,
    XRAY_PLUGIN,
    AlertLinks,
    data_sources,
    logs_query,
    resolved,
    with_log_links,
)
from components.observability.model_monitoring import model_target
from tests.harness import components
from tests.observability.test_alert_links import ARGS, CLOUDWATCH, LOKI, explore, linked

GROUP = {"arn": "arn:aws:logs:eu-west-1:1:log-group:/c", "name": "/c"}


def test_loki_with_tempo_links_a_log_lines_trace_id_to_its_trace_and_back():
    loki, tempo = data_sources("loki", loki_url="http://loki:3100", tempo_url="http://tempo:3200")
    assert loki == {"name": "Logs", "uid": LOGS_UID, "type": "loki", "access": "proxy", "url": "http://loki:3100",
                    "jsonData": {"derivedFields": [{"name": "trace_id", "matcherRegex": '"trace_id":"(\\w+)"',
                                                    "datasourceUid": TRACES_UID, "url": "$${__value.raw}"}]}}
    assert tempo == {"name": "Traces", "uid": TRACES_UID, "type": "tempo", "access": "proxy", "url": "http://tempo:3200",
                     "jsonData": {"tracesToLogsV2": {"datasourceUid": LOGS_UID, "filterByTraceID": True,
                                                      "customQuery": False}}}
    [alone] = data_sources("loki", loki_url="http://loki:3100")
    assert alone["jsonData"] == {"derivedFields": []}, "no trace link without a traces source"


def test_cloudwatch_and_xray_read_with_grafanas_own_credentials_in_the_region():
    logs, traces = data_sources("cloudwatch", region="eu-west-1", log_group=GROUP, xray=True)
    assert logs == {"name": "Logs", "uid": LOGS_UID, "type": "cloudwatch", "access": "proxy", "jsonData": {
        "authType": "default", "defaultRegion": "eu-west-1", "logGroups": [GROUP]}}
    assert traces == {"name": "Traces", "uid": TRACES_UID, "type": XRAY_PLUGIN, "access": "proxy",
                      "jsonData": {"authType": "default", "defaultRegion": "eu-west-1"}}
    [only_logs] = data_sources("cloudwatch", region="eu-west-1")
    assert "logGroups" not in only_logs["jsonData"]


def test_a_cloudwatch_query_without_region_or_group_uses_the_default_region_and_empty_names():
    query = logs_query(AlertLinks("https://g", "cloudwatch"), model_target(ARGS), errors_only=False)
    assert query["region"] == "default" and query["logGroups"] == [{"arn": "", "name": ""}]
    assert query["expression"] == ("fields @timestamp, request_id, route, status, latency_ms, batch_size, trace_id"
                                   " | filter kubernetes.namespace_name = 'models' and kubernetes.container_name = "
                                   "'digits' | sort @timestamp desc")
    assert logs_query(CLOUDWATCH, model_target(ARGS), errors_only=True)["expression"].endswith(
        " and status >= 500 | sort @timestamp desc")


def test_panel_links_open_in_a_new_tab_with_every_field_the_dashboard_schema_requires():
    _, dashboard = linked(LOKI)
    board = with_log_links(dashboard, LOKI, model_target(ARGS))
    links = [link for p in board["panels"] for link in p.get("links", [])]
    assert links
    for link in links:
        assert {k: v for k, v in link.items() if k not in ("title", "url")} == {
            "type": "link", "tooltip": "", "icon": "external link", "tags": [], "asDropdown": False,
            "includeVars": False, "keepTime": False, "targetBlank": True}
    titles = {p["title"]: p["links"][0]["title"] for p in board["panels"] if p.get("links")}
    assert titles["Server error ratio (5xx) and its objective"] == "Logs of these requests"
    assert titles["Replicas"] == "Logs of the model's containers"
    assert not explore(next(p for p in board["panels"] if p["title"] == "Replicas")["links"][0]["url"])[
        "queries"][0]["expr"].endswith("status >= 500")


def test_the_failed_requests_panel_spans_the_width_below_the_rest_newest_first_and_says_what_it_shows():
    _, dashboard = linked(LOKI)
    panel = with_log_links(dashboard, LOKI, model_target(ARGS))["panels"][-1]
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    assert panel["title"] == "Failed requests (5xx)" and panel["id"] == max(p["id"] for p in dashboard["panels"]) + 1
    assert panel["gridPos"] == {"x": 0, "y": bottom, "w": 24, "h": 10}
    assert panel["options"] == {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"}
    assert panel["description"] == ("The model server's request lines with status >= 500: request_id, route, "
                                    "latency_ms, batch_size and trace_id of each.")
    assert panel["targets"] == [logs_query(LOKI, model_target(ARGS), errors_only=True)]
    empty = with_log_links({**dashboard, "panels": []}, LOKI, model_target(ARGS))["panels"]
    assert [(p["id"], p["gridPos"]["y"]) for p in empty] == [(1, 0)]


def test_the_links_take_the_log_groups_name_and_arn_once_known():
    seen: list[AlertLinks] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        links = AlertLinks("https://g", "cloudwatch", log_group=pulumi.Output.from_input("/c"),
                           log_group_arn=pulumi.Output.from_input(GROUP["arn"]), region="eu-west-1")
        resolved(links).apply(seen.append)

    components(build)
    assert [(s.log_group, s.log_group_arn) for s in seen] == [("/c", GROUP["arn"])]
