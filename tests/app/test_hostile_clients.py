"""Hostile clients against the server's own HTTP/1.1 front end (issue 27): each finding of the review
is a test here, bounded in seconds, on 127.0.0.1. Memory bounds are measured on the server process."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload

pytestmark = pytest.mark.slow

INFER = f"/v2/models/{MODEL_NAME}/infer"
KEY = "hostile-test-key-" + "c" * 32
FLOOD_SECONDS = 3.0
SETTLE_SECONDS = 2.0
RSS_GROWTH_BOUND_MIB = 12
"""What a never-reading client may add to the server's RSS (measured: 1-4 MiB). Without backpressure
one such connection added up to ~40 MiB a second (the review: 83 -> 1,776 MiB in 40 s)."""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def keys_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "api-keys"
    directory.mkdir(exist_ok=True)
    (directory / "primary").write_text(KEY + "\n")
    return directory


def pipeline_without_reading(port: int, request: bytes, seconds: float, pid: int) -> tuple[int, float]:
    """Send `request` over and over on one connection for `seconds`, never reading; (the bytes sent, the
    server's largest RSS in MiB while the connection stays open SETTLE_SECONDS more)."""
    batch = request * max(1, 65536 // len(request))
    sent = 0
    deadline = time.monotonic() + seconds
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # answers pile up in the server, not here
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                sent += sock.send(batch)
            except TimeoutError:  # the server stopped reading: what backpressure should do
                continue
            except OSError:
                break
        peak = rss_mib(pid)
        settled = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < settled:  # what the server already received is still being answered
            time.sleep(0.1)
            peak = max(peak, rss_mib(pid))
    return sent, peak


def probe_statuses(server: ServerProcess, stop: threading.Event, headers: dict[str, str]) -> list:
    statuses = []
    while not stop.is_set():
        for call in (lambda: server.get("/v2/health/ready", timeout=2).status,
                     lambda: server.admin("/v2/health/ready", timeout=2).status,
                     lambda: server.infer(infer_payload(digits_rows(1)), timeout=2, headers=headers).status):
            try:
                statuses.append(call())
            except OSError as exc:
                statuses.append(type(exc).__name__)
        time.sleep(0.1)
    return statuses


# Short requests with long answers: (API keys on, admin port, the request pipelined).
FLOODS = {
    "public-metadata": (False, False, b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n"),
    "public-401": (True, False, b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n"),
    "admin-metrics": (False, True, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
    "admin-404-keys-on": (True, True, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
}


@pytest.mark.parametrize("flood", list(FLOODS))
def test_a_client_that_pipelines_and_never_reads_keeps_server_memory_bounded(
        flood: str, start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    with_keys, admin, request = FLOODS[flood]
    env = {"API_KEYS_DIR": str(keys_dir(tmp_path))} if with_keys else {}
    server = start_server(tiny_model.dir, **env)
    server.wait_ready()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    before = rss_mib(server.proc.pid)
    stop = threading.Event()
    probes: list = []
    prober = threading.Thread(target=lambda: probes.extend(probe_statuses(server, stop, headers)))
    prober.start()
    try:
        sent, peak = pipeline_without_reading(server.admin_port if admin else server.port, request, FLOOD_SECONDS,
                                              server.proc.pid)
    finally:
        stop.set()
        prober.join(timeout=30)
    grown = peak - before
    assert grown < RSS_GROWTH_BOUND_MIB, f"{flood}: RSS grew {grown:.0f} MiB after {sent} bytes of pipelined requests"
    assert probes and set(probes) == {200}, f"{flood}: probes during the flood: {probes}"
