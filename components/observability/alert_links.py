"""Alerts that lead somewhere: links from a model alert to its dashboard panel and to the model's logs.

Each model alert gets two more annotations, ready for the notification and for Grafana's alert list:
`dashboard_url` (the model dashboard with the panel that shows what the alert measures, over the alert's
window) and `logs_url` (Grafana Explore on the logs data source, the model's containers over the same
window; for error alerts only the 5xx request lines). Grafana's data sources come from here too, so the
uids the links use are the ones provisioned: `logs` (Loki or CloudWatch Logs) and `traces` (Tempo), with a
link from a log line's `trace_id` to its trace.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, replace
from typing import Any, Literal, Optional

import pulumi

from .monitoring_rules import ModelTarget

LOGS_UID = "logs"
TRACES_UID = "traces"
XRAY_PLUGIN = "grafana-x-ray-datasource"
"""The X-Ray data source's plugin id (grafana/x-ray-datasource src/plugin.json `id`, tag v2.17.1)."""
XRAY_PLUGIN_VERSION = "2.17.1"
"""Pinned: Grafana installs `<id>@<version>` (pkg/setting/setting_plugins.go `preinstall`, through the grafana chart
12.11.1's `plugins` -> GF_PLUGINS_PREINSTALL_SYNC); v2.17.1 needs Grafana >= 10.4 (its plugin.json)."""

PANEL_OF_ALERT = {
    "ModelDown": "Replicas",
    "ModelErrorBudgetBurn": "Server error ratio (5xx) and its objective",
    "ModelLatencyP99AboveSlo": "Inference latency percentiles",
    "ModelPodsRestarting": "Container restarts (1h)",
    "ModelScrapeTargetMissing": "Replicas",
    "ModelRolloutAborted": "5xx share by pod template (canary and stable)",
    "ModelRolloutPausedTooLong": "Rollout state",
    "ModelRolloutStuck": "Rollout state",
    "ModelRolloutMetricsMissing": "Rollout state",
}
"""The model dashboard panel (by title) that shows what each model alert measures."""
ERROR_ALERTS = frozenset({"ModelErrorBudgetBurn", "ModelRolloutAborted"})
"""Alerts about failed requests: their logs link shows only the 5xx request lines."""
DEFAULT_WINDOW = "1h"


@dataclass(frozen=True)
class AlertLinks:
    """Where the links of the model alerts point."""

    grafana_url: str
    """Grafana's base URL as on-call engineers reach it, e.g. https://grafana.example.com."""
    logs: Literal["loki", "cloudwatch"]
    """The logs data source's kind (`LogCollection`'s destination)."""
    log_group: Optional[pulumi.Input[str]] = None
    """The CloudWatch Logs group's name (with `cloudwatch`: `LogCollection.log_group_name`)."""
    log_group_arn: Optional[pulumi.Input[str]] = None
    """The group's ARN (`LogCollection.log_group_arn`): Grafana's CloudWatch queries name groups by ARN and name."""
    region: Optional[str] = None
    """The group's region (with `cloudwatch`): a CloudWatch Logs query names it."""


def resolved(links: AlertLinks) -> pulumi.Output[AlertLinks]:
    """The links once the log group's name and ARN are known (they are outputs of the group the program creates)."""
    return pulumi.Output.all(links.log_group, links.log_group_arn).apply(
        lambda group: replace(links, log_group=group[0], log_group_arn=group[1]))


def logs_query(links: AlertLinks, target: ModelTarget, errors_only: bool) -> dict[str, Any]:
    """The Explore query for the model's container logs (the records Fluent Bit writes: request fields merged)."""
    ns, container = target.namespace, target.model
    if links.logs == "loki":
        expr = f'{{namespace="{ns}", container="{container}"}} | json'
        return {"refId": "A", "datasource": {"uid": LOGS_UID, "type": "loki"},
                "expr": expr + (" | status >= 500" if errors_only else "")}
    where = f"kubernetes.namespace_name = '{ns}' and kubernetes.container_name = '{container}'"
    # CloudWatchLogsQuery of @grafana/schema 13.2.0 (raw/composable/cloudwatch/dataquery): `id`, `region` and
    # `queryMode` are required; `logGroups` ({arn, name}) replaces the deprecated `logGroupNames`.
    return {"refId": "A", "id": "", "datasource": {"uid": LOGS_UID, "type": "cloudwatch"}, "queryMode": "Logs",
            "region": links.region or "default",
            "logGroups": [{"arn": links.log_group_arn or "", "name": links.log_group or ""}],
            "expression": ("fields @timestamp, request_id, route, status, latency_ms, batch_size, trace_id"
                           f" | filter {where}" + (" and status >= 500" if errors_only else "")
                           + " | sort @timestamp desc")}


def logs_url(links: AlertLinks, target: ModelTarget, window: str, errors_only: bool) -> str:
    """Grafana Explore with the logs query, over the last `window`."""
    panes = {"logs": {"datasource": LOGS_UID, "queries": [logs_query(links, target, errors_only)],
                      "range": {"from": f"now-{window}", "to": "now"}}}
    # Every character a Go template or a URL would read is encoded: no `{{` reaches Prometheus's templating.
    encoded = urllib.parse.quote(json.dumps(panes, separators=(",", ":")), safe="")
    return f"{links.grafana_url.rstrip('/')}/explore?schemaVersion=1&orgId=1&panes={encoded}"


def panel_url(grafana_url: str, dashboard: dict[str, Any], title: str, window: str) -> str:
    """The dashboard with one panel in view, over the last `window`."""
    panel = next(p["id"] for p in dashboard["panels"] if p["title"] == title)
    return (f"{grafana_url.rstrip('/')}/d/{dashboard['uid']}?orgId=1&viewPanel={panel}"
            f"&from=now-{window}&to=now")


def with_links(groups: list[dict[str, Any]], links: AlertLinks, target: ModelTarget,
               dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule groups with `dashboard_url` and `logs_url` on every model alert (others unchanged)."""
    out = []
    for group in groups:
        rules = []
        for rule in group["rules"]:
            alert = rule.get("alert")
            if alert in PANEL_OF_ALERT:
                window = rule["labels"].get("window", DEFAULT_WINDOW)
                rule = {**rule, "annotations": {
                    **rule["annotations"],
                    "dashboard_url": panel_url(links.grafana_url, dashboard, PANEL_OF_ALERT[alert], window),
                    "logs_url": logs_url(links, target, window, alert in ERROR_ALERTS)}}
            rules.append(rule)
        out.append({**group, "rules": rules})
    return out


def with_log_links(dashboard: dict[str, Any], links: AlertLinks, target: ModelTarget) -> dict[str, Any]:
    """The dashboard with a "from this metric to its logs" link on each panel an alert points at."""
    titles = set(PANEL_OF_ALERT.values())
    errors = {PANEL_OF_ALERT[a] for a in ERROR_ALERTS}
    panels = [{**p, "links": [*p.get("links", []), _link(
        "Logs of these requests" if p["title"] in errors else "Logs of the model's containers",
        # Relative: the link opens on whichever Grafana URL the dashboard was reached through.
        logs_url(replace(links, grafana_url=""), target, DEFAULT_WINDOW, p["title"] in errors))]}
        if p["title"] in titles else p for p in dashboard["panels"]]
    return {**dashboard, "panels": [*panels, _failed_requests_panel(links, target, dashboard["panels"])]}


def _link(title: str, url: str) -> dict[str, Any]:
    """A panel link with every field Grafana's dashboard schema requires of a `DashboardLink` (@grafana/schema 13.2.0
    raw/dashboard: the CUE defaults made explicit; icon names from Grafana's LinkSettingsEdit `linkIconMap`)."""
    return {"type": "link", "title": title, "url": url, "tooltip": "", "icon": "external link", "tags": [],
            "asDropdown": False, "includeVars": False, "keepTime": False, "targetBlank": True}


def _failed_requests_panel(links: AlertLinks, target: ModelTarget, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """The model's failing request lines beside its metrics: a logs panel at the bottom of the dashboard."""
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=0)
    query = logs_query(links, target, errors_only=True)
    return {"id": max((p["id"] for p in panels), default=0) + 1, "type": "logs", "title": "Failed requests (5xx)",
            "description": "The model server's request lines with status >= 500: request_id, route, latency_ms, "
                           "batch_size and trace_id of each.",
            "datasource": query["datasource"], "targets": [query],
            "gridPos": {"x": 0, "y": bottom, "w": 24, "h": 10},
            "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"}}


def data_sources(logs: Literal["loki", "cloudwatch"], *, loki_url: Optional[str] = None,
                 region: Optional[str] = None, tempo_url: Optional[str] = None,
                 log_group: Optional[dict[str, Any]] = None, xray: bool = False) -> list[dict[str, Any]]:
    """Grafana data sources (kube-prometheus-stack `grafana.additionalDataSources`) the links rely on.

    CloudWatch and X-Ray read with Grafana's own AWS credentials (`authType: default`, the AWS SDK's chain, which
    picks up the IRSA role of Grafana's service account: grafana_aws.py). Their `jsonData` keys: CloudWatch's
    `DataSourceCfg` schema (grafana/grafana public/app/plugins/datasource/cloudwatch, `authType`, `defaultRegion`,
    `logGroups` of {arn, name}); X-Ray's provisioning example (grafana/x-ray-datasource v2.17.1
    docs/sources/configure.md, "Default AWS SDK credential chain": `authType`, `defaultRegion`). Loki's
    `derivedFields` ({name, matcherRegex, url, datasourceUid}: public/app/plugins/datasource/loki/types.ts
    `DerivedFieldConfig`) and Tempo's `tracesToLogsV2` ({datasourceUid, filterByTraceID, customQuery}:
    packages/grafana-o11y-ds-frontend/src/TraceToLogs/TraceToLogsSettings.tsx `TraceToLogsOptionsV2`). The Grafana
    files were read through the code search index, not at tag v13.2.0 itself: grafana/grafana is too large to fetch.
    """
    sources: list[dict[str, Any]] = []
    if logs == "loki":
        derived = [{"name": "trace_id", "matcherRegex": '"trace_id":"(\\w+)"', "datasourceUid": TRACES_UID,
                    # `$$` is a literal `$` in Grafana's provisioning files.
                    "url": "$${__value.raw}"}] if tempo_url else []
        sources.append({"name": "Logs", "uid": LOGS_UID, "type": "loki", "access": "proxy", "url": loki_url,
                        "jsonData": {"derivedFields": derived}})
    else:
        json_data: dict[str, Any] = {"authType": "default", "defaultRegion": region}
        if log_group:  # Explore opens on the containers' group
            json_data["logGroups"] = [log_group]
        sources.append({"name": "Logs", "uid": LOGS_UID, "type": "cloudwatch", "access": "proxy",
                        "jsonData": json_data})
    if tempo_url:
        sources.append({"name": "Traces", "uid": TRACES_UID, "type": "tempo", "access": "proxy", "url": tempo_url,
                        "jsonData": {"tracesToLogsV2": {"datasourceUid": LOGS_UID, "filterByTraceID": True,
                                                         "customQuery": False}}})
    elif xray:
        sources.append({"name": "Traces", "uid": TRACES_UID, "type": XRAY_PLUGIN, "access": "proxy",
                        "jsonData": {"authType": "default", "defaultRegion": region}})
    return sources
