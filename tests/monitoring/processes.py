"""Real processes on 127.0.0.1 for the monitoring tests: the inference server (from app/), Prometheus,
Alertmanager, and a webhook sink. Each is started on a free port, logs to a file, and is stopped by
`stop()` (SIGTERM, then SIGKILL), which the tests call in `finally` blocks or fixture teardown.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app"
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
MODEL_INPUT_WIDTH = 64
POISON_PIXEL = 99.0
"""A pixel value the faulty model cannot look up: ONNX Runtime fails at run time, the server answers 500."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tiny_model(directory: Path, *, fails_on_large_pixels: bool = False) -> Path:
    """input FP32 [N, 64] -> MatMul -> Add -> Softmax -> output FP32 [N, 10], built with onnx.helper.

    With `fails_on_large_pixels`, each pixel also indexes a 17-entry table whose values add 0 to the
    result: pixels 0..16 (the digits data) work, a larger one makes Gather fail inside ONNX Runtime,
    which is a genuine server error rather than a rejected request.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(0, 0.1, (64, 10)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.1, (10,)).astype(np.float32), "B")]
    nodes = [helper.make_node("MatMul", ["input", "W"], ["mm"]), helper.make_node("Add", ["mm", "B"], ["logits"])]
    last = "logits"
    if fails_on_large_pixels:
        nodes += [helper.make_node("Cast", ["input"], ["index"], to=TensorProto.INT64),
                  helper.make_node("Gather", ["table", "index"], ["looked_up"], axis=0),
                  helper.make_node("ReduceSum", ["looked_up", "axes"], ["row"], keepdims=1),
                  helper.make_node("Mul", ["row", "zero"], ["nothing"]),
                  helper.make_node("Add", ["logits", "nothing"], ["guarded"])]
        inits += [numpy_helper.from_array(np.ones(17, dtype=np.float32), "table"),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
                  numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")]
        last = "guarded"
    nodes.append(helper.make_node("Softmax", [last], ["output"], axis=1))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    return directory


class Process:
    """A child process with its output in a log file."""

    admin_port: int | None = None
    """The model server's metrics and probe port (start_model_server sets it)."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(condition: Callable[[], Any], timeout: float, what: str, process: Process | None = None) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds saying `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.running():
            raise AssertionError(f"{process.name} exited with {process.proc.returncode} while waiting for {what}:\n"
                                 f"{process.log()}")
        try:
            result = condition()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f":\n{process.log()}" if process else ""))


def start_model_server(model_dir: Path, port: int, log_dir: Path, model_name: str,
                       admin_port: int | None = None) -> Process:
    """The inference server on `port`; its /metrics are on `admin_port` (a free one when None), as
    `server.admin_port`, never on the public port. gRPC is off."""
    admin_port = admin_port or free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PORT", "HOST", "MODEL_DIR", "MODEL_NAME", "ADMIN_PORT", "GRPC_PORT")}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "ADMIN_PORT": str(admin_port), "GRPC_PORT": "0",
                "MODEL_DIR": str(model_dir), "MODEL_NAME": model_name,
                "MAX_BATCH_SIZE": "8", "LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"})
    server = Process("model-server", [sys.executable, "-m", "model_server"], log_dir, cwd=APP_DIR, env=env)
    server.admin_port = admin_port
    wait_until(lambda: http_get(port, "/v2/health/ready")[0] == 200, 60, "the model server to be ready", server)
    return server


def start_prometheus(config: dict, rule_files: list[Path], work: Path) -> tuple[Process, int]:
    import yaml

    port = free_port()
    config_path = work / "prometheus.yml"
    config_path.write_text(yaml.safe_dump({**config, "rule_files": [str(p) for p in rule_files]}, sort_keys=False))
    process = Process("prometheus", [
        PROMETHEUS, f"--config.file={config_path}", f"--storage.tsdb.path={work / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h", "--log.level=warn",
    ], work)
    wait_until(lambda: http_get(port, "/-/ready")[0] == 200, 30, "Prometheus to be ready", process)
    return process, port


def start_alertmanager(config_text: str, work: Path) -> tuple[Process, int]:
    port = free_port()
    config_path = work / "alertmanager.yml"
    config_path.write_text(config_text)
    process = Process("alertmanager", [
        ALERTMANAGER, f"--config.file={config_path}", f"--storage.path={work / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single instance, nothing on other addresses
        "--log.level=warn",
    ], work)
    wait_until(lambda: http_get(port, "/-/ready")[0] == 200, 30, "Alertmanager to be ready", process)
    return process, port


def api_json(port: int, path: str) -> Any:
    status, body = http_get(port, path)
    assert status == 200, (path, status, body[:500])
    return json.loads(body)


@dataclass
class Notification:
    path: str
    payload: dict
    received: float = field(default_factory=time.monotonic)

    @property
    def status(self) -> str:
        return self.payload.get("status", "")

    def alerts(self, alertname: str, status: str | None = None) -> list[dict]:
        return [a for a in self.payload.get("alerts", []) if a["labels"].get("alertname") == alertname
                and (status is None or a["status"] == status)]


class WebhookSink:
    """An HTTP server on 127.0.0.1 recording every Alertmanager webhook notification by path."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink._lock:
                    sink.notifications.append(Notification(self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str, alertname: str, status: str) -> list[Notification]:
        with self._lock:
            return [n for n in self.notifications if n.path == path and n.alerts(alertname, status)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Traffic:
    """Inference requests from a background thread, bounded in count and stopped by `stop()`."""

    def __init__(self, port: int, model_name: str, *, poison_share: float = 0.0, per_second: float = 40.0,
                 max_requests: int = 20_000):
        self.port, self.model_name, self.poison_share = port, model_name, poison_share
        self.interval, self.max_requests = 1.0 / per_second, max_requests
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _body(self, poisoned: bool) -> bytes:
        pixels = [POISON_PIXEL if poisoned else float(i % 17) for i in range(MODEL_INPUT_WIDTH)]
        return json.dumps({"inputs": [{"name": "input", "shape": [1, MODEL_INPUT_WIDTH], "datatype": "FP32",
                                       "data": pixels}]}).encode()

    def _run(self) -> None:
        good, bad = self._body(False), self._body(True)
        sent = 0
        while not self._stop.is_set() and sent < self.max_requests:
            poisoned = self.poison_share > 0 and (sent % round(1 / self.poison_share)) == 0
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("POST", f"/v2/models/{self.model_name}/infer", bad if poisoned else good,
                             {"Content-Type": "application/json"})
                self.statuses.append(conn.getresponse().status)
                conn.close()
            except OSError:
                self.statuses.append(0)
            sent += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
