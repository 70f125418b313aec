"""The Prometheus metrics contract (names, types, labels) that alerts, dashboards and the autoscaler
are written against, read back from a real server's /metrics and from app/README.md."""
from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import APP_DIR, MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload

pytestmark = pytest.mark.slow

# exposed family name -> (type, label names). Family names are as the parser reports them:
# a counter `inference_requests` is exposed as the sample `inference_requests_total`.
CONTRACT = {
    "inference_requests": ("counter", {"model", "route", "status"}),
    "inference_request_duration_seconds": ("histogram", {"model", "route"}),
    "inference_batch_size": ("histogram", {"model"}),
    "inference_requests_in_flight": ("gauge", {"model"}),
    "inference_batch_queue_depth": ("gauge", {"model"}),
    "inference_model_info": ("gauge", {"model", "version", "device"}),
    "inference_gpu_memory_used_bytes": ("gauge", {"device"}),
}


@pytest.fixture(scope="module")
def scraped(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> dict:
    server = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("metrics-server"))
    try:
        server.wait_ready()
        assert server.infer(infer_payload(digits_rows(2))).status == 200
        assert server.infer({"inputs": []}).status == 400
        assert server.get("/v2/health/ready").status == 200
        text = server.metrics_text()
        content_type = server.admin("/metrics").headers["content-type"]
    finally:
        server.stop()
    return {"families": {f.name: f for f in text_string_to_metric_families(text)}, "content_type": content_type,
            "version": tiny_model.version}


def test_metrics_are_served_in_the_prometheus_text_format(scraped: dict) -> None:
    assert scraped["content_type"].startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_metric_has_its_type_and_labels(scraped: dict, name: str) -> None:
    family = scraped["families"].get(name)
    assert family is not None, f"{name} missing from /metrics"
    kind, labels = CONTRACT[name]
    assert family.type == kind, f"{name} is a {family.type}, the contract says {kind}"
    for sample in family.samples:
        assert set(sample.labels) - {"le"} == labels, f"{sample.name} has labels {sorted(sample.labels)}"


def test_request_counter_uses_route_templates_and_string_status_codes(scraped: dict) -> None:
    samples = [s for s in scraped["families"]["inference_requests"].samples if s.name == "inference_requests_total"]
    seen = {(s.labels["route"], s.labels["status"]): s.value for s in samples}
    assert seen[("/v2/models/{name}/infer", "200")] == 1
    assert seen[("/v2/models/{name}/infer", "400")] == 1
    assert seen[("/v2/health/ready", "200")] >= 1
    assert all(s.labels["model"] == MODEL_NAME for s in samples)
    assert not any(MODEL_NAME in route for route, _ in seen), "routes must be templates, not concrete paths"


def test_batch_size_histogram_has_power_of_two_buckets(scraped: dict) -> None:
    buckets = [s.labels["le"] for s in scraped["families"]["inference_batch_size"].samples
               if s.name == "inference_batch_size_bucket"]
    assert buckets == [str(float(2 ** i)) for i in range(11)] + ["+Inf"]  # 1, 2, 4, ..., 1024


def test_request_duration_buckets_run_from_half_a_millisecond_to_ten_seconds(scraped: dict) -> None:
    bounds = [float(s.labels["le"]) for s in scraped["families"]["inference_request_duration_seconds"].samples
              if s.name == "inference_request_duration_seconds_bucket" and s.labels["le"] != "+Inf"]
    assert bounds and min(bounds) == 0.0005 and max(bounds) == 10.0


# The README's "Also exposed" metrics: family name -> (type, label names).
ALSO_EXPOSED = {
    "inference_queue_wait_seconds": ("histogram", {"model"}),
    "inference_batch_duration_seconds": ("histogram", {"model"}),
    "inference_model_ready": ("gauge", {"model"}),
    "inference_rejections": ("counter", {"model", "reason"}),
    "inference_auth_failures": ("counter", {"model", "protocol"}),
    "inference_open_connections": ("gauge", {"model", "listener"}),
}


@pytest.mark.parametrize("name", ALSO_EXPOSED)
def test_each_also_exposed_metric_has_the_type_and_labels_the_readme_gives(scraped: dict, name: str) -> None:
    family = scraped["families"].get(name)
    assert family is not None, f"{name} missing from /metrics"
    kind, labels = ALSO_EXPOSED[name]
    assert family.type == kind
    for sample in family.samples:
        assert set(sample.labels) - {"le"} == labels, f"{sample.name} has labels {sorted(sample.labels)}"


def test_open_connections_are_counted_per_listener(scraped: dict) -> None:
    listeners = {s.labels["listener"] for s in scraped["families"]["inference_open_connections"].samples}
    assert listeners == {"public", "admin"}


def test_the_standard_process_and_python_metrics_are_exposed(scraped: dict) -> None:
    families = scraped["families"]
    assert "python_info" in families and "process_resident_memory_bytes" in families
    assert any(name.startswith("python_gc_") for name in families)


def test_model_info_names_model_version_and_device(scraped: dict) -> None:
    [sample] = scraped["families"]["inference_model_info"].samples
    assert sample.labels == {"model": MODEL_NAME, "version": scraped["version"], "device": "cpu"}
    assert sample.value == 1


def test_gpu_memory_is_declared_but_has_no_samples_on_cpu(scraped: dict) -> None:
    assert scraped["families"]["inference_gpu_memory_used_bytes"].samples == []


def test_the_readme_documents_every_contract_metric_and_variable() -> None:
    from model_server.config import ENV_VARS

    readme = (APP_DIR / "README.md").read_text()
    for name, (kind, labels) in CONTRACT.items():
        exposed = name + "_total" if kind == "counter" else name
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{exposed}`")), None)
        assert row is not None, f"app/README.md has no table row for {exposed}"
        assert kind in row and all(f"`{label}`" in row for label in labels), row
    for var in ENV_VARS:
        assert re.search(rf"^\| `{var}` \|", readme, re.MULTILINE), f"app/README.md does not document {var}"
