"""Fixtures for the model application: tiny ONNX models built with onnx.helper (no torch), and a
real `python -m model_server` subprocess on 127.0.0.1 that is always killed in teardown."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app"
if str(APP_DIR) not in sys.path:  # app/ is run from its own directory; its modules are top-level
    sys.path.insert(0, str(APP_DIR))

MODEL_NAME = "my-ai-model"
START_TIMEOUT_S = 30.0


@dataclass
class TinyModel:
    dir: Path
    weights: np.ndarray
    bias: np.ndarray
    version: str

    def expected(self, x: np.ndarray) -> np.ndarray:
        """What the model computes: softmax(x @ W + b), in float64 for reference."""
        logits = x.astype(np.float64) @ self.weights.astype(np.float64) + self.bias
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def build_model(path: Path, *, seed: int = 7, fails_above_16: bool = False,
                logits: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """input FP32 [N, 64] -> MatMul -> Add -> Softmax -> output FP32 [N, 10].

    With logits the output is x @ W + b itself (no softmax), so large inputs overflow to inf.
    With fails_above_16 every pixel value also indexes a 17-entry table (whose looked-up values
    contribute 0 to the result): pixels 0..16 work, and a larger value makes ONNX Runtime fail
    inside Gather at run time, a genuine inference error.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.1, size=(64, 10)).astype(np.float32)
    bias = rng.normal(0, 0.1, size=(10,)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["input", "W"], ["mm"]),
             helper.make_node("Add", ["mm", "B"], ["logits"])]
    initializers = [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")]
    if fails_above_16:
        nodes += [helper.make_node("Cast", ["input"], ["index"], to=TensorProto.INT64),
                  helper.make_node("Gather", ["table", "index"], ["looked_up"], axis=0),
                  helper.make_node("ReduceSum", ["looked_up", "axes"], ["row_sum"], keepdims=1),
                  helper.make_node("Mul", ["row_sum", "zero"], ["nothing"]),
                  helper.make_node("Add", ["logits", "nothing"], ["guarded"]),
                  helper.make_node("Softmax", ["guarded"], ["output"], axis=1)]
        initializers += [numpy_helper.from_array(np.ones(17, dtype=np.float32), "table"),
                         numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
                         numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")]
    elif logits:
        nodes.append(helper.make_node("Identity", ["logits"], ["output"]))
    else:
        nodes.append(helper.make_node("Softmax", ["logits"], ["output"], axis=1))
    graph = helper.make_graph(
        nodes, "tiny-digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return weights, bias


def write_model_dir(directory: Path, **kwargs: Any) -> TinyModel:
    from model_server.artifacts import METADATA_FILE, MODEL_FILE, model_version

    directory.mkdir(parents=True, exist_ok=True)
    weights, bias = build_model(directory / MODEL_FILE, **kwargs)
    version = model_version((directory / MODEL_FILE).read_bytes())
    (directory / METADATA_FILE).write_text(json.dumps({"model_name": MODEL_NAME, "version": version}))
    return TinyModel(directory, weights, bias, version)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return write_model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def faulty_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return write_model_dir(tmp_path_factory.mktemp("faulty-model"), fails_above_16=True)


def api_keys_dir(tmp_path: Path, key: str) -> Path:
    """A directory holding one accepted API key, as a mounted Secret would (API_KEYS_DIR)."""
    directory = tmp_path / "api-keys"
    directory.mkdir(exist_ok=True)
    (directory / "primary").write_text(key + "\n")
    return directory


def limit_descriptors(limit: int):
    """A preexec_fn giving the server process `limit` file descriptors."""
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return apply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class ServerProcess:
    """`python -m model_server` in app/, on 127.0.0.1 and a free port."""

    def __init__(self, model_dir: Path, tmp_path: Path, *, argv_prefix: tuple[str, ...] = (),
                 preexec_fn: Any = None, **env: str) -> None:
        self.port = free_port()
        self.admin_port = int(env.pop("ADMIN_PORT", 0)) or free_port()
        self.grpc_port = int(env.pop("GRPC_PORT", -1))
        if self.grpc_port < 0:
            self.grpc_port = free_port()
        self.log_path = tmp_path / f"server-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if k not in _SERVER_VARS}
        environ.update({"HOST": "127.0.0.1", "PORT": str(self.port), "ADMIN_PORT": str(self.admin_port),
                        "GRPC_PORT": str(self.grpc_port), "MODEL_DIR": str(model_dir),
                        "LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"})
        environ.update({k: str(v) for k, v in env.items()})
        self.env = environ
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([*argv_prefix, sys.executable, "-m", "model_server"], cwd=APP_DIR, env=environ,
                                     stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: bytes | None = None, *, timeout: float = 10.0,
                headers: dict[str, str] | None = None, port: int | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return Response(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def infer(self, payload: Any, *, model: str = MODEL_NAME, **kw: Any) -> Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", f"/v2/models/{model}/infer", body, **kw)

    def wait_live(self, timeout: float = START_TIMEOUT_S) -> None:
        self._wait("/v2/health/live", timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        self._wait("/v2/health/ready", timeout)

    def _wait(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get(path, timeout=1.0).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} not 200 within {timeout} s:\n{self.log()}")

    def admin(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, port=self.admin_port, **kw)

    def metrics_text(self) -> str:
        response = self.admin("/metrics")
        assert response.status == 200, response.body
        return response.body.decode()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def _server_vars() -> tuple[str, ...]:
    from model_server.config import ENV_VARS

    return ENV_VARS


_SERVER_VARS = _server_vars()


@pytest.fixture
def start_server(tmp_path: Path):
    """Factory: start_server(model_dir, **env) -> ServerProcess; every server is stopped at teardown."""
    started: list[ServerProcess] = []

    def start(model_dir: Path, **env: str) -> ServerProcess:
        server = ServerProcess(model_dir, tmp_path, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def infer_payload(rows: np.ndarray, *, flat: bool = True, **extra: Any) -> dict:
    data = rows.reshape(-1).tolist() if flat else rows.tolist()
    return {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": data}], **extra}


def digits_rows(n: int, seed: int = 0) -> np.ndarray:
    """Rows shaped like digits pixels (integers 0..16) as FP32."""
    return np.random.default_rng(seed).integers(0, 17, size=(n, 64)).astype(np.float32)


def raw_exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket, timeout: float | None = None) -> bytes:
    """Everything the peer sends until it closes, resets, or the socket's (or the given) timeout passes."""
    if timeout is not None:
        sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def parse_raw_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(lines[0].split()[1]), body, headers)


def counter_value(metrics_text: str, family: str, **labels: str) -> float:
    """Sum of a counter's samples whose labels include `labels` (0 when none)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for fam in text_string_to_metric_families(metrics_text):
        if fam.name == family:
            total += sum(s.value for s in fam.samples if s.name == family + "_total"
                         and all(s.labels.get(k) == v for k, v in labels.items()))
    return total
