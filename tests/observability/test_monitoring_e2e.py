"""End to end on 127.0.0.1: a real outage of the inference server pages, and the page resolves.

The test starts the inference server (app/, `python -m model_server`) with a tiny ONNX model that
fails inside ONNX Runtime on out-of-range pixels, a real Prometheus scraping it with the project's
own model rules, a real Alertmanager with the project's routing and inhibition, and a webhook sink
standing in for the pager and the chat. Only durations are shortened (`for:`, burn-rate windows,
group_wait); expressions, labels, routes and inhibitions are the production ones. Every process is
stopped in `finally`, every wait is bounded.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
import yaml

from components.observability.model_monitoring import ModelMonitoringArgs, model_rules
from components.observability.monitoring_alertmanager import (
    AlertReceiver,
    NotificationTiming,
    alertmanager_config,
    render,
)
from components.observability.monitoring_rules import RUNBOOKS_URL, BurnRateWindow, ModelAlertThresholds
from components.serving.model_service import ServedModel
from tests.monitoring import processes
from tests.monitoring.processes import Traffic, WebhookSink, api_json, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tools("prometheus", "alertmanager", "promtool"),
]

MODEL, NAMESPACE = "my-ai-model", "e2e"
# Production expressions with test-sized durations: a 14.4x burn over 20 s and 6 s instead of 1 h and 5 min.
FAST = ModelAlertThresholds(
    down_for="3s", burn_rate_windows=(BurnRateWindow("critical", "20s", "6s", 14.4, "0s"),),
    latency_window="10s", latency_for="1m", restarts_window="1m", target_missing_for="6s")
TIMING = NotificationTiming(group_wait="1s", group_interval="1s", repeat_interval="1h")
WAIT = 45.0  # seconds any single expected event may take, with both cores busy running other tests


def prometheus_alerts(port: int, alertname: str, state: str) -> list[dict]:
    alerts = api_json(port, "/api/v1/alerts")["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == state]


def alertmanager_alerts(port: int, alertname: str) -> list[dict]:
    query = urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
    return api_json(port, f"/api/v2/alerts?{query}")


def test_server_errors_and_an_outage_reach_the_pager_then_resolve(tmp_path):
    sink = WebhookSink()
    started: list[processes.Process] = []
    traffic: list[Traffic] = []
    try:
        model_dir = processes.write_tiny_model(tmp_path / "model", fails_on_large_pixels=True)
        server_port, metrics_port = processes.free_port(), processes.free_port()
        started.append(processes.start_model_server(model_dir, server_port, tmp_path, MODEL, metrics_port))

        rules = tmp_path / "model-rules.yml"
        rules.write_text(yaml.safe_dump({"groups": model_rules(
            ModelMonitoringArgs(model=ServedModel(MODEL, namespace=NAMESPACE), thresholds=FAST,
                                runbook_url=RUNBOOKS_URL))}, sort_keys=False))
        receivers = [AlertReceiver("pager", "webhook", ("critical",), url=sink.url("/pager")),
                     AlertReceiver("chat", "webhook", ("warning",), url=sink.url("/chat"))]
        alertmanager, am_port = processes.start_alertmanager(render(alertmanager_config(receivers, TIMING)), tmp_path)
        started.append(alertmanager)
        prometheus, prom_port = processes.start_prometheus({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            # What the ServiceMonitor gives in a cluster: job = the model's name, namespace = its namespace.
            "scrape_configs": [{"job_name": MODEL, "static_configs": [
                {"targets": [f"127.0.0.1:{metrics_port}"], "labels": {"namespace": NAMESPACE}}]}],
        }, [rules], tmp_path)
        started.append(prometheus)
        up = f'up{{job="{MODEL}",namespace="{NAMESPACE}"}} == 1'
        wait_until(lambda: api_json(prom_port, "/api/v1/query?" + urllib.parse.urlencode({"query": up}))["data"]["result"],
                   WAIT, "Prometheus to scrape the model", prometheus)

        # Healthy traffic: nothing fires, nobody is notified.
        traffic.append(Traffic(server_port, MODEL))
        time.sleep(6)
        traffic[-1].stop()
        assert set(traffic[-1].statuses) == {200}, "the healthy phase must only see 200s"
        assert api_json(prom_port, "/api/v1/alerts")["data"]["alerts"] == []
        assert sink.notifications == []

        # Real server errors: every other request makes the model fail inside ONNX Runtime.
        started_errors = time.monotonic()
        traffic.append(Traffic(server_port, MODEL, poison_share=0.5))
        wait_until(lambda: sink.received("/pager", "ModelErrorBudgetBurn", "firing"), WAIT,
                   "the pager to receive ModelErrorBudgetBurn", prometheus)
        paged_after = time.monotonic() - started_errors
        traffic[-1].stop()
        assert 500 in traffic[-1].statuses and 400 not in traffic[-1].statuses
        (page,) = sink.received("/pager", "ModelErrorBudgetBurn", "firing")[:1]
        alert = page.alerts("ModelErrorBudgetBurn", "firing")[0]
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["service"] == MODEL
        assert alert["annotations"]["runbook_url"].endswith("docs/runbooks.md#modelerrorbudgetburn")
        assert "failed with 5xx" in alert["annotations"]["description"]
        assert not sink.received("/chat", "ModelErrorBudgetBurn", "firing"), "critical goes to the pager only"

        # The errors stop while traffic goes on: the short window clears and the page resolves.
        errors_stopped = time.monotonic()
        traffic.append(Traffic(server_port, MODEL))
        wait_until(lambda: sink.received("/pager", "ModelErrorBudgetBurn", "resolved"), WAIT,
                   "the pager to receive the resolution of ModelErrorBudgetBurn", prometheus)
        resolved_after = time.monotonic() - errors_stopped
        traffic[-1].stop()

        # The server stops: ModelDown pages; the missing scrape target is inhibited, not sent to chat.
        started[0].stop()
        stopped = time.monotonic()
        wait_until(lambda: sink.received("/pager", "ModelDown", "firing"), WAIT, "the pager to receive ModelDown",
                   prometheus)
        down_after = time.monotonic() - stopped
        wait_until(lambda: prometheus_alerts(prom_port, "ModelScrapeTargetMissing", "firing"), WAIT,
                   "Prometheus to fire ModelScrapeTargetMissing", prometheus)
        inhibited = wait_until(lambda: [a for a in alertmanager_alerts(am_port, "ModelScrapeTargetMissing")
                                        if a["status"]["inhibitedBy"]], WAIT,
                               "Alertmanager to inhibit ModelScrapeTargetMissing", alertmanager)
        assert inhibited[0]["status"]["state"] == "suppressed"
        time.sleep(3)  # longer than group_wait + group_interval: a notification would have gone out
        assert not sink.received("/chat", "ModelScrapeTargetMissing", "firing"), \
            "the critical ModelDown must mute the warning for the same service"

        # The server is back on the same address: ModelDown resolves.
        started[0] = processes.start_model_server(model_dir, server_port, tmp_path, MODEL, metrics_port)
        restarted = time.monotonic()
        wait_until(lambda: sink.received("/pager", "ModelDown", "resolved"), WAIT,
                   "the pager to receive the resolution of ModelDown", prometheus)
        print(json.dumps({"seconds from fault or fix to notification": {
            "ModelErrorBudgetBurn firing": round(paged_after, 1), "ModelErrorBudgetBurn resolved": round(resolved_after, 1),
            "ModelDown firing": round(down_after, 1), "ModelDown resolved": round(time.monotonic() - restarted, 1)}}))
    finally:
        for t in traffic:
            t.stop()
        for process in reversed(started):
            process.stop()
        sink.stop()
