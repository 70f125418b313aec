"""Start, readiness, failure and shutdown of the real server process."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import APP_DIR, MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload
from tests.app.test_hostile_grpc import health_check

pytestmark = pytest.mark.slow


def _run_main(env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": "1"}
    return subprocess.run([sys.executable, "-m", "model_server"], cwd=APP_DIR, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


def test_ready_only_after_the_model_is_loaded_and_warmed_up(start_server, tiny_model: TinyModel) -> None:
    # Warm-up runs one batch of 1 (MAX_BATCH_SIZE=1) that the test knob slows to 2 s.
    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="2000",
                                         RETRY_AFTER_SECONDS="7")
    server.wait_live()
    ready = server.get("/v2/health/ready")
    assert (ready.status, ready.json()) == (400, {"ready": False})
    early = server.infer(infer_payload(digits_rows(1)))
    assert early.status == 503 and "not ready" in early.json()["error"] and early.headers["retry-after"] == "7"
    model_ready = server.get(f"/v2/models/{MODEL_NAME}/ready")
    assert (model_ready.status, model_ready.json()) == (400, {"name": MODEL_NAME, "ready": False})
    assert health_check(server.grpc_port, b"") == ("OK", b"\x08\x02")  # grpc.health.v1: NOT_SERVING while loading
    families = {f.name: f for f in text_string_to_metric_families(server.metrics_text())}
    assert families["inference_model_ready"].samples[0].value == 0
    assert families["inference_model_info"].samples == []  # no model yet, so no model to describe

    server.wait_ready(timeout=20)
    assert server.infer(infer_payload(digits_rows(1))).status == 200
    families = {f.name: f for f in text_string_to_metric_families(server.metrics_text())}
    assert families["inference_model_ready"].samples[0].value == 1
    executions = next(s.value for s in families["inference_batch_duration_seconds"].samples
                      if s.name.endswith("_count"))
    assert executions == 1  # warm-up is not counted as traffic; the one real request is


def test_sigterm_drains_in_flight_requests_refuses_new_ones_and_exits_0(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="3000",
                                         DRAIN_TIMEOUT_SECONDS="20")
    server.wait_ready(timeout=20)
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(server.infer, infer_payload(digits_rows(1)), timeout=20)
        time.sleep(0.4)  # the request is now inside its 3 s inference
        server.terminate()
        # The server closes the listening socket as soon as the signal arrives (DRAIN_DELAY_SECONDS=0).
        refused = False
        deadline = time.monotonic() + 2.0
        while not refused and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                refused = True
        assert refused, "new connections must be refused once SIGTERM arrived"
        assert not in_flight.done() and server.proc.poll() is None, "the server must wait for the in-flight request"
        response = in_flight.result(timeout=20)
    assert response.status == 200
    assert response.json()["outputs"][0]["shape"] == [1, 10]
    assert server.proc.wait(timeout=10) == 0
    assert "shut down cleanly" in server.log()


def test_drain_is_bounded_by_drain_timeout_seconds(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="4000",
                                         DRAIN_TIMEOUT_SECONDS="0.5")
    server.wait_ready(timeout=20)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(server.infer, infer_payload(digits_rows(1)), timeout=20)
        time.sleep(0.3)
        started = time.monotonic()
        server.terminate()
        code = server.proc.wait(timeout=10)
        took = time.monotonic() - started
        cut_off = pending.result(timeout=10)
    assert cut_off.status == 503 and cut_off.headers["connection"] == "close" and "retry-after" not in cut_off.headers
    assert "drain timeout ran out" in cut_off.json()["error"]
    assert took < 3.0, f"shutdown took {took:.1f} s with DRAIN_TIMEOUT_SECONDS=0.5 (the request needed 4 s)"
    assert code == 0
    assert "drain timeout: abandoned 1 in-flight request(s)" in server.log()


def test_a_genuine_inference_failure_is_a_counted_500(start_server, faulty_model: TinyModel) -> None:
    # The faulty model indexes a 17-entry table with each pixel: 0..16 work, 99 fails inside ONNX Runtime.
    server: ServerProcess = start_server(faulty_model.dir)
    server.wait_ready()
    good = digits_rows(2)
    assert server.infer(infer_payload(good)).status == 200
    bad = good.copy()
    bad[1, 5] = 99.0
    failed = server.infer(infer_payload(bad))
    assert failed.status == 500
    assert failed.json()["error"].startswith("inference failed:")
    assert server.infer(infer_payload(good)).status == 200  # and the server carries on
    counts = {(s.labels["route"], s.labels["status"]): s.value
              for f in text_string_to_metric_families(server.metrics_text()) if f.name == "inference_requests"
              for s in f.samples if s.name == "inference_requests_total"}
    assert counts[("/v2/models/{name}/infer", "500")] == 1
    assert counts[("/v2/models/{name}/infer", "200")] == 2


def test_invalid_environment_fails_at_start_naming_each_variable(tiny_model: TinyModel) -> None:
    result = _run_main({"MODEL_DIR": str(tiny_model.dir), "PORT": "http", "MAX_BATCH_SIZE": "0",
                        "BATCH_WINDOW_MS": "-1", "MAX_REQUEST_BYTES": "1MiB", "DRAIN_TIMEOUT_SECONDS": "soon",
                        "LOG_LEVEL": "loud", "MODEL_NAME": "bad/name"})
    assert result.returncode == 2
    for fragment in ("PORT='http': must be an integer from 1 to 65535",
                     "MAX_BATCH_SIZE='0': must be an integer from 1 to 4096",
                     "BATCH_WINDOW_MS='-1': must be a number from 0 to 1000",
                     "MAX_REQUEST_BYTES='1MiB': must be an integer",
                     "DRAIN_TIMEOUT_SECONDS='soon': must be a number",
                     "LOG_LEVEL='loud': must be one of critical, error, warning, info, debug",
                     "MODEL_NAME='bad/name'"):
        assert fragment in result.stderr, result.stderr


def test_a_missing_model_directory_fails_at_start(tmp_path: Path) -> None:
    result = _run_main({"MODEL_DIR": str(tmp_path / "nowhere")})
    assert result.returncode == 2
    assert "MODEL_DIR=" in result.stderr and "must be a directory containing model.onnx" in result.stderr


def test_an_unloadable_model_exits_1_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"this is not an onnx model")
    port = str(_free_port())
    result = _run_main({"MODEL_DIR": str(tmp_path), "PORT": port})
    assert result.returncode == 1
    assert "ONNX Runtime cannot load" in result.stdout + result.stderr


def test_grpc_port_0_turns_grpc_off_and_http_serves_on(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, GRPC_PORT="0")
    server.wait_ready()
    assert server.infer(infer_payload(digits_rows(1))).status == 200
    assert f"admin port {server.admin_port} (metrics, health), gRPC off;" in server.log()


def test_a_port_that_cannot_be_opened_exits_1_naming_it(tiny_model: TinyModel) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _run_main({"MODEL_DIR": str(tiny_model.dir), "PORT": str(taken.getsockname()[1]),
                            "ADMIN_PORT": str(_free_port()), "GRPC_PORT": "0"})
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_model_name_variable_renames_the_routes_and_labels(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, MODEL_NAME="digits", MODEL_VERSION="v7")
    server.wait_ready()
    ok = server.infer(infer_payload(digits_rows(1)), model="digits").json()
    assert (ok["model_name"], ok["model_version"]) == ("digits", "v7")
    assert server.infer(infer_payload(digits_rows(1)), model=MODEL_NAME).status == 404
    info = next(f for f in text_string_to_metric_families(server.metrics_text()) if f.name == "inference_model_info")
    assert info.samples[0].labels == {"model": "digits", "version": "v7", "device": "cpu"}
