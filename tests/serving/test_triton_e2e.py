"""End to end on 127.0.0.1: a real NVIDIA Triton, scraped by a real Prometheus the way the Triton profile's
ServiceMonitor says, and its error alert firing on real backend failures, then resolving.

What runs: the tritonserver 2.51.0 binary the nvidia-pytriton 0.7.0 wheel bundles (CPU only: no GPU here), started
with the Triton profile's own arguments (`ServingRuntime.start_args`: ports, model repository, summary latencies),
serving a Python-backend model that fails (raises, which Triton counts as a BACKEND failure and answers 500) on
negative inputs; Prometheus with the rules `ModelMonitoring` renders for a Triton model (test-sized windows) and the
scrape settings of the ServiceMonitor it declares (the `metrics` port, the profile's metrics path, job = the model).
The Python backend's stub is the wheel's build for this interpreter, linked to its libpython.
"""

from __future__ import annotations

import json
import sys
import sysconfig
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from components.observability.model_monitoring import ModelMonitoring, ModelMonitoringArgs, model_rules
from components.observability.monitoring_rules import BurnRateWindow, ModelAlertThresholds
from components.serving.model_service import ServedModel
from components.serving.runtimes import TRITON
from tests.harness import components, only
from tests.monitoring import processes
from tests.monitoring.processes import api_json, http_get, wait_until
from tests.monitoring.promql import exposition_metrics
from tests.needs import tool
from tests.serving.test_runtime_profiles import exposed

pytestmark = [pytest.mark.slow, pytest.mark.tools("tritonserver", "prometheus")]

MODEL, NAMESPACE = "detector", "e2e"
FAST = ModelAlertThresholds(down_for="3s", burn_rate_windows=(BurnRateWindow("critical", "20s", "6s", 14.4, "0s"),),
                            latency_window="10s", latency_for="1m", target_missing_for="6s")
WAIT = 60.0

MODEL_PY = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Checks its input: a negative value is a failure of the model (Triton counts it as BACKEND, answers 500)."""

    def execute(self, requests):
        for request in requests:
            if (pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy() < 0).any():
                raise pb_utils.TritonModelException("negative input")
        return [pb_utils.InferenceResponse([]) for _ in requests]
'''
CONFIG = f'''name: "{MODEL}"
backend: "python"
max_batch_size: 8
input [ {{ name: "INPUT", data_type: TYPE_FP32, dims: [ 4 ] }} ]
output [ {{ name: "OUTPUT", data_type: TYPE_FP32, dims: [ 4 ] }} ]
instance_group [ {{ kind: KIND_CPU, count: 1 }} ]
'''


def model_repository(root: Path) -> Path:
    (root / MODEL / "1").mkdir(parents=True)
    (root / MODEL / "config.pbtxt").write_text(CONFIG)
    (root / MODEL / "1" / "model.py").write_text(MODEL_PY)
    return root


def python_backend(binary: Path, root: Path) -> Path:
    """The wheel's Python backend with the stub built for this interpreter's version beside it."""
    server = binary.parents[1]
    backend = root / "python"
    backend.mkdir(parents=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        (backend / name).symlink_to(server / "backends" / "python" / name)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (backend / "triton_python_backend_stub").symlink_to(
        server / "python_backend_stubs" / version / "triton_python_backend_stub")
    return root


def start_triton(work: Path) -> tuple[processes.Process, int, int]:
    binary = Path(tool("tritonserver"))
    http_port, grpc_port, metrics_port = (processes.free_port() for _ in range(3))
    args = TRITON.start_args(MODEL, str(model_repository(work / "models")), http_port, grpc_port, metrics_port)
    assert args is not None and TRITON.command == ("tritonserver",)
    libs = [sysconfig.get_config_var("LIBDIR"), str(binary.parents[3] / "nvidia_pytriton.libs")]
    process = processes.Process("tritonserver", [
        str(binary), *args, f"--backend-directory={python_backend(binary, work / 'backends')}",
        # Here only: every listener on loopback, and no GPU to read metrics from.
        "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
        "--allow-gpu-metrics=false"], work, env={
            # The stub's embedded Python finds its standard library from the first `python3` on the PATH.
            "LD_LIBRARY_PATH": ":".join(libs), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(work)})
    wait_until(lambda: http_get(http_port, TRITON.readiness_path)[0] == 200, WAIT, "Triton to be ready", process)
    return process, http_port, metrics_port


class Traffic(processes.Traffic):
    """The monitoring tests' traffic (Triton takes the same `/v2/models/<name>/infer` path), with Triton's input:
    a poisoned request carries a negative value, which the model fails on."""

    def __init__(self, port: int, failing_share: float = 0.0):
        super().__init__(port, MODEL, poison_share=failing_share, per_second=10.0, max_requests=3000)

    def _body(self, poisoned: bool) -> bytes:
        return json.dumps({"inputs": [{"name": "INPUT", "shape": [1, 4], "datatype": "FP32",
                                       "data": [-1.0 if poisoned else 1.0, 2.0, 3.0, 4.0]}]}).encode()


def firing(port: int, alertname: str) -> list[dict]:
    return [a for a in api_json(port, "/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def service_monitor_endpoint() -> dict:
    """How the ServiceMonitor `ModelMonitoring` declares for a Triton model scrapes it."""
    synthesis = components(lambda opts: ModelMonitoring("triton-monitoring", ModelMonitoringArgs(
        model=ServedModel(MODEL, namespace=NAMESPACE, runtime=TRITON)), opts))
    monitor = only([r for r in synthesis.resources if r.type.endswith(":ServiceMonitor")]).inputs
    return only(monitor["spec"]["endpoints"])


def test_a_real_triton_is_scraped_through_its_profile_and_its_error_alert_fires_and_resolves(tmp_path):
    started: list[processes.Process] = []
    traffic: list[Traffic] = []
    try:
        triton, http_port, metrics_port = start_triton(tmp_path)
        started.append(triton)
        endpoint = service_monitor_endpoint()
        assert (endpoint["port"], endpoint["path"]) == ("metrics", TRITON.metrics_path)

        # What the binary exposes is what the profile's recorded list says.
        status, body = http_get(metrics_port, endpoint["path"])
        assert status == 200
        served = exposition_metrics(body.decode())
        recorded = exposed(TRITON)
        for name in ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_pending_request_count",
                     "nv_inference_request_summary_us"):
            assert name in served and name in recorded, name

        rules = tmp_path / "triton-rules.yml"
        rules.write_text(yaml.safe_dump({"groups": model_rules(ModelMonitoringArgs(
            model=ServedModel(MODEL, namespace=NAMESPACE, runtime=TRITON), thresholds=FAST))}, sort_keys=False))
        prometheus, prom_port = processes.start_prometheus({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            # The ServiceMonitor's settings: the profile's metrics path on the `metrics` port, job = the model.
            "scrape_configs": [{"job_name": MODEL, "metrics_path": endpoint["path"], "static_configs": [
                {"targets": [f"127.0.0.1:{metrics_port}"], "labels": {"namespace": NAMESPACE}}]}],
        }, [rules], tmp_path)
        started.append(prometheus)
        up = urllib.parse.urlencode({"query": f'nv_inference_request_success{{job="{MODEL}", model="{MODEL}"}}'})
        wait_until(lambda: api_json(prom_port, f"/api/v1/query?{up}")["data"]["result"], WAIT,
                   "Prometheus to scrape Triton's model series", prometheus)

        traffic.append(Traffic(http_port))
        time.sleep(8)
        assert set(traffic[-1].statuses) == {200}, "healthy requests succeed"
        assert firing(prom_port, "ModelErrorBudgetBurn") == [] and firing(prom_port, "ModelDown") == []
        traffic.pop().stop()

        # A third of the requests fail inside the model.
        traffic.append(Traffic(http_port, failing_share=1 / 3))
        alert = wait_until(lambda: firing(prom_port, "ModelErrorBudgetBurn"), WAIT, "ModelErrorBudgetBurn to fire",
                           prometheus)[0]
        assert 500 in traffic[-1].statuses
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["model"] == MODEL
        failures = urllib.parse.urlencode({"query": f'sum(nv_inference_request_failure{{model="{MODEL}", '
                                                    'reason="BACKEND"})'})
        assert float(api_json(prom_port, f"/api/v1/query?{failures}")["data"]["result"][0]["value"][1]) > 0
        traffic.pop().stop()

        # The failures stop while traffic goes on: the short window clears and the alert resolves.
        traffic.append(Traffic(http_port))
        wait_until(lambda: not firing(prom_port, "ModelErrorBudgetBurn"), WAIT, "ModelErrorBudgetBurn to resolve",
                   prometheus)
        traffic.pop().stop()

        # Triton stops: its model's series go, ModelDown fires.
        triton.stop()
        wait_until(lambda: firing(prom_port, "ModelDown"), WAIT, "ModelDown to fire", prometheus)
    finally:
        for t in traffic:
            t.stop()
        for process in reversed(started):
            process.stop()
