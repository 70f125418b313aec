"""The Grafana dashboards are valid JSON models, and every query, like every rule, reads only metrics
that really exist: the inference server's (read from a real server's /metrics), the DCGM exporter's
default counters and kube-state-metrics' (read from their releases), and our own recording rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache

import pytest
import yaml

from tests.monitoring import processes
from tests.monitoring.promql import (
    dcgm_counters,
    exposition_metrics,
    kube_state_metrics,
    matcher_labels,
    metric_names,
    node_exporter_metrics,
)
from tests.observability.test_alerting_tools import program
from tests.progressive_delivery import controller_metrics as rollouts_controller_metrics

pytestmark = pytest.mark.slow
MODEL = "my-ai-model"
# Labels Prometheus and the operator add to every scraped series (besides the exporter's own).
TARGET_LABELS = {"namespace", "job", "instance", "pod", "service", "endpoint", "container", "node"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range"}


@pytest.fixture(scope="module")
def server_metrics(tmp_path_factory) -> dict[str, set[str]]:
    """Metric names and their labels from a real inference server that served some traffic."""
    work = tmp_path_factory.mktemp("server")
    model_dir = processes.write_tiny_model(work / "model")
    port = processes.free_port()
    server = processes.start_model_server(model_dir, port, work, MODEL)
    try:
        traffic = processes.Traffic(port, MODEL, per_second=200, max_requests=20)
        processes.wait_until(lambda: len(traffic.statuses) >= 20, 30, "20 inference requests", server)
        traffic.stop()
        assert set(traffic.statuses) == {200}, traffic.statuses
        processes.http_get(port, "/v2/models/no-such-model/infer")
        status, body = processes.http_get(server.admin_port, "/metrics")
        assert status == 200
        return exposition_metrics(body.decode())
    finally:
        server.stop()


def dashboards() -> list[dict]:
    found = []
    for _, manifest in program("prod").kubernetes_objects(masked=False):
        for key, value in (manifest.get("data") or {}).items():
            if manifest["kind"] == "ConfigMap" and key.endswith(".json"):
                found.append(json.loads(value))
    return found


def dashboard(tag: str) -> dict:
    (found,) = [d for d in dashboards() if tag in d["tags"]]
    return found


def queries(board: dict) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"]["query"]).group(1))
    return exprs


def rule_exprs(kind: str) -> list[str]:
    return [r["expr"] for _, m in program("prod").kubernetes_objects(masked=False) if m["kind"] == "PrometheusRule"
            for g in m["spec"]["groups"] for r in g["rules"] if (g["name"].startswith("gpu")) == (kind == "gpu")]


@cache
def recorded() -> set[str]:
    return {r["record"] for _, m in program("prod").kubernetes_objects(masked=False) if m["kind"] == "PrometheusRule"
            for g in m["spec"]["groups"] for r in g["rules"] if "record" in r}


def unknown_metrics(exprs: list[str], known: set[str]) -> dict[str, set[str]]:
    return {e: metric_names(e) - known for e in exprs if metric_names(e) - known}


# ------------------------------------------------------------------------------------------- JSON models

def test_there_is_one_gpu_dashboard_and_one_per_model():
    assert sorted(tuple(d["tags"]) for d in dashboards()) == [("gpu-model-platform", "gpu"),
                                                               ("gpu-model-platform", "model", MODEL)]


@pytest.mark.parametrize("tag", ["gpu", "model"])
def test_each_dashboard_is_a_complete_grafana_json_model(tag):
    board = dashboard(tag)
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]) and board["title"]
    assert isinstance(board["schemaVersion"], int) and board["editable"] is False
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    variables = {v["name"] for v in board["templating"]["list"]}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$\{?(\w+)", target["expr"]))
            assert used <= variables | GRAFANA_BUILTINS, (panel["title"], used)


def test_the_model_dashboard_shows_traffic_errors_latency_percentiles_batches_and_replicas():
    text = "\n".join(queries(dashboard("model")))
    for needed in ("inference_requests_total", 'status=~"5.."', "histogram_quantile(0.5,", "histogram_quantile(0.9,",
                   "histogram_quantile(0.99,", "inference_batch_size_bucket", "inference_model_info",
                   "kube_deployment_status_replicas_available", "inference_batch_queue_depth"):
        assert needed in text, needed


def test_the_gpu_dashboard_shows_utilisation_memory_temperature_and_power_per_node_and_per_pod():
    text = "\n".join(queries(dashboard("gpu")))
    for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE"):
        assert re.search(rf"by \(namespace, pod\) \({metric}", text), f"{metric} per pod"
    for metric in ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE"):
        assert re.search(rf"by \(node\) \({metric}", text), f"{metric} per node"
    assert "DCGM_FI_DEV_GPU_TEMP" in text and "{{node}}" in json.dumps(dashboard("gpu"))


PROMTOOL = shutil.which("promtool")


@pytest.mark.tools("promtool")
def test_every_dashboard_query_is_valid_promql(tmp_path):
    exprs = [e for board in dashboards() for e in queries(board)]
    rules = [{"record": f"dashboard:query{i}", "expr": e.replace("$__rate_interval", "5m").replace("$node", ".*")}
             for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------------------- real metric names

def test_the_server_exposes_its_contract(server_metrics):
    for name in ("inference_requests_total", "inference_request_duration_seconds_bucket", "inference_batch_size_bucket",
                 "inference_requests_in_flight", "inference_batch_queue_depth", "inference_model_info",
                 "inference_gpu_memory_used_bytes"):
        assert name in server_metrics, name
    assert {"model", "route", "status"} <= server_metrics["inference_requests_total"]


def test_model_queries_and_rules_read_only_what_the_server_and_kube_state_metrics_expose(server_metrics):
    known = (set(server_metrics) | kube_state_metrics() | recorded() | {"up"} | rollouts_controller_metrics()
             | node_exporter_metrics())
    exprs = queries(dashboard("model")) + rule_exprs("model")
    assert unknown_metrics(exprs, known) == {}
    for expr in exprs:
        for metric, labels in matcher_labels(expr).items():
            if server_metrics.get(metric):  # families without samples (GPU memory on CPU) have no label list
                assert labels <= server_metrics[metric] | TARGET_LABELS, (metric, labels - server_metrics[metric])


def test_gpu_queries_and_rules_read_only_dcgm_default_counters_and_kube_state_metrics():
    counters = {name for name, kind in dcgm_counters().items() if kind != "label"}
    exprs = queries(dashboard("gpu")) + rule_exprs("gpu")
    assert unknown_metrics(exprs, counters | kube_state_metrics() | {"up"}) == {}
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_XID_ERRORS"} <= counters and "DCGM_FI_DRIVER_VERSION" not in counters


def test_the_metric_check_sees_a_name_nobody_exposes(server_metrics):
    known = set(server_metrics) | {"up"}
    assert unknown_metrics(['sum(rate(inference_request_count{model="m"}[5m])) by (model)', "up == 0"], known) == {
        'sum(rate(inference_request_count{model="m"}[5m])) by (model)': {"inference_request_count"}}
