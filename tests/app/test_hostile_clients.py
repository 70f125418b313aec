"""Hostile clients against the server's own HTTP/1.1 front end (issue 27): each finding of the review
is a test here, bounded in seconds, on 127.0.0.1. Memory bounds are measured on the server process."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tests.app.conftest import (
    MODEL_NAME,
    ServerProcess,
    TinyModel,
    api_keys_dir,
    digits_rows,
    infer_payload,
    parse_raw_response,
    read_until_closed,
)

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
    env = {"API_KEYS_DIR": str(api_keys_dir(tmp_path, KEY))} if with_keys else {}
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


def head(path: str, *, length: int, key: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {length}\r\n\r\n").encode()


def test_a_client_closing_in_the_middle_of_a_body_frees_its_inference_slot_at_once(
        start_server, tiny_model: TinyModel) -> None:
    # The finding: 300 such requests made every inference 503 for 31 s (the body timeout).
    server = start_server(tiny_model.dir, MAX_CONCURRENT_REQUESTS="4")
    server.wait_ready()
    answers = []
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(head(INFER, length=1000) + b'{"inputs": [')
            sock.shutdown(socket.SHUT_WR)
            answers.append(read_until_closed(sock, 5))
    started = time.monotonic()
    assert server.infer(infer_payload(digits_rows(1)), timeout=5).status == 200
    assert time.monotonic() - started < 2
    for raw in answers:
        answer = parse_raw_response(raw)
        assert answer.status == 400 and answer.headers["connection"] == "close", raw
        assert "closed before the request body was complete" in answer.json()["error"]


def test_slow_uploads_hold_no_inference_slot(start_server, tiny_model: TinyModel) -> None:
    # The finding: the slot was taken at the end of the head, so 4 slow uploads made every inference 503
    # until their body timeout.
    server = start_server(tiny_model.dir, MAX_CONCURRENT_REQUESTS="2")
    server.wait_ready()
    uploads = open_connections(server.port, 12, head(INFER, length=4000) + b'{"inputs": [')
    try:
        statuses = [server.infer(infer_payload(digits_rows(1)), timeout=5).status for _ in range(5)]
    finally:
        for sock in uploads:
            sock.close()
    assert statuses == [200] * 5


def test_bodies_being_read_are_bounded_in_bytes_past_which_an_upload_gets_503(start_server,
                                                                              tiny_model: TinyModel) -> None:
    from tests.app.conftest import counter_value

    # Budget: MAX_CONCURRENT_REQUESTS x MAX_REQUEST_BYTES = 2 x 64 KiB, the memory the slots used to bound.
    server = start_server(tiny_model.dir, MAX_CONCURRENT_REQUESTS="2", MAX_REQUEST_BYTES=str(64 * 1024))
    server.wait_ready()
    part = head(INFER, length=64 * 1024) + b"[" * (60 * 1024)
    uploads = open_connections(server.port, 2, part)
    try:
        time.sleep(0.3)  # both bodies are being read: 120 KiB held
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as third:
            third.sendall(part)
            answer = parse_raw_response(read_until_closed(third, 5))
    finally:
        for sock in uploads:
            sock.close()
    assert answer.status == 503 and answer.headers["connection"] == "close", answer
    assert counter_value(server.metrics_text(), "inference_rejections", reason="upload_budget") == 1
    # The uploads ended (closed): their bytes no longer count, so a whole 64 KiB body is read (and found
    # not to be JSON) instead of refused for the budget.
    time.sleep(0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as whole:
        whole.sendall(part + b"[" * (4 * 1024))
        assert parse_raw_response(whole.recv(65536)).status == 400


def open_connections(port: int, count: int, data: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if data:
            sock.sendall(data)
        socks.append(sock)
    return socks


@pytest.mark.parametrize("length", [1000, 10 * 1024 ** 3], ids=["short-body", "10GiB-body"])
def test_unauthenticated_connections_answered_before_their_body_cannot_lock_key_holders_out(
        length: int, start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    # The finding: 1,000 connections answered 401 before their body was read locked key holders out.
    server = start_server(tiny_model.dir, API_KEYS_DIR=str(api_keys_dir(tmp_path, KEY)), MAX_CONNECTIONS="1000")
    server.wait_ready()
    socks = open_connections(server.port, 1000, head(INFER, length=length))
    try:
        time.sleep(0.5)
        answers = [server.infer(infer_payload(digits_rows(1)), timeout=5,
                                headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
                   for _ in range(10)]
    finally:
        for sock in socks:
            sock.close()
    assert [a.status for a in answers] == [200] * 10, answers[0].body


def test_a_401_before_a_huge_body_closes_the_connection_instead_of_reading_it(
        start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    # The finding: a 401 (or 413) then read and dropped up to 10 GiB of body at line rate.
    server = start_server(tiny_model.dir, API_KEYS_DIR=str(api_keys_dir(tmp_path, KEY)))
    server.wait_ready()
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head(INFER, length=10 * 1024 ** 3))
        chunk = b"x" * 65536
        try:
            while sent < 256 * 1024 * 1024:
                sent += sock.send(chunk)
        except OSError:  # reset or timed out: the server stopped reading
            pass
        answer = parse_raw_response(read_until_closed(sock, 5))
    assert answer.status == 401 and answer.headers["connection"] == "close"
    assert sent < 64 * 1024 * 1024, f"the server took {sent} bytes of a body it refused"


def test_connections_filling_the_admin_quota_do_not_make_probes_fail(start_server, tiny_model: TinyModel) -> None:
    # The finding: 64 connections to the admin port made kubelet probes fail.
    server = start_server(tiny_model.dir)
    server.wait_ready()
    stalled = open_connections(server.admin_port, 40, b"GET /metrics HTTP/1.1\r\nHost")
    answered = open_connections(server.admin_port, 40, b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n"
                                                      b"Content-Length: 100000\r\n\r\n")
    try:
        time.sleep(1.2)
        statuses = [server.admin("/v2/health/ready", timeout=3).status for _ in range(10)]
    finally:
        for sock in stalled + answered:
            sock.close()
    assert statuses == [200] * 10


def test_a_client_that_takes_none_of_its_answers_is_disconnected_after_the_body_timeout(
        start_server, tiny_model: TinyModel) -> None:
    from tests.app.conftest import counter_value

    server = start_server(tiny_model.dir, BODY_TIMEOUT_SECONDS="1")
    server.wait_ready()
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200  # long answers fill the buffers fast
    with socket.create_connection(("127.0.0.1", server.admin_port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(0.2)
        cut_off = False
        deadline = time.monotonic() + 15
        while not cut_off and time.monotonic() < deadline:
            try:
                sock.send(request)
            except TimeoutError:
                continue
            except OSError:  # reset: the server gave up on this client
                cut_off = True
    assert cut_off, "the server kept a client that took no answers for 15 s"
    assert counter_value(server.metrics_text(), "inference_rejections", reason="write_timeout") == 1
