"""HTTP limits against hostile clients: header floods, slow-loris heads and bodies, descriptor
exhaustion, and overload (concurrency cap, batch queue bound and timeout) answered 503 + Retry-After."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.conftest import (
    MODEL_NAME,
    ServerProcess,
    TinyModel,
    counter_value,
    digits_rows,
    infer_payload,
    limit_descriptors,
    parse_raw_response,
    read_until_closed,
)

pytestmark = pytest.mark.slow

INFER = f"/v2/models/{MODEL_NAME}/infer"
BODY = json.dumps(infer_payload(digits_rows(1))).encode()


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(whether the server closed the connection within `seconds`, what it sent before closing)."""
    sock.settimeout(seconds)
    data = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return True, data
            data += chunk
    except TimeoutError:
        return False, data
    except ConnectionResetError:
        return True, data
    return False, data


def test_a_streamed_header_is_cut_at_the_limit_and_does_not_starve_probes(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir)
    server.wait_ready()
    sent = 0
    flood_answer = b""
    stop = threading.Event()

    def flood() -> None:
        nonlocal sent, flood_answer
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nX-Flood: ".encode())
            chunk = b"a" * 16384
            try:
                while not stop.is_set() and sent < 200 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            flood_answer = read_until_closed(sock, 5)

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        statuses = []
        for _ in range(11):  # the finding: 11 of 11 probes timed out (2 s) during such a flood
            statuses.append(server.get("/v2/health/ready", timeout=2).status)
            statuses.append(server.admin("/v2/health/ready", timeout=2).status)
            statuses.append(server.infer(infer_payload(digits_rows(1)), timeout=2).status)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert statuses == [200] * 33
    answer = parse_raw_response(flood_answer)
    assert answer.status == 431 and "request head exceeds 16384 bytes" in json.loads(answer.body)["error"]
    assert sent < 8 * 1024 * 1024, f"the server read {sent} bytes of one header before closing"
    assert counter_value(server.metrics_text(), "inference_rejections", reason="header_too_large") == 1


@pytest.fixture
def impatient_server(start_server, tiny_model: TinyModel) -> ServerProcess:
    server = start_server(tiny_model.dir, HEADER_TIMEOUT_SECONDS="1", BODY_TIMEOUT_SECONDS="1",
                          BATCH_WINDOW_MS="1000")
    server.wait_ready()
    return server


def test_slow_loris_connections_are_answered_408_and_closed(impatient_server: ServerProcess) -> None:
    server = impatient_server
    silent = socket.create_connection(("127.0.0.1", server.port))
    partial_head = socket.create_connection(("127.0.0.1", server.port))
    partial_head.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\n".encode())
    partial_body = socket.create_connection(("127.0.0.1", server.port))
    partial_body.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
                         + BODY[:100])
    try:
        for name, sock, expect in (("silent", silent, None), ("partial head", partial_head, 408),
                                   ("partial body", partial_body, 408)):
            closed, data = _closed_within(sock, 10)
            assert closed, f"{name}: connection still open 10 s after a 1 s timeout"
            if expect is None:
                assert data == b"", f"{name}: {data[:100]!r}"
            else:
                answer = parse_raw_response(data)
                assert answer.status == expect and "not received within 1 s" in json.loads(answer.body)["error"], data
    finally:
        for sock in (silent, partial_head, partial_body):
            sock.close()
    text = server.metrics_text()
    assert counter_value(text, "inference_rejections", reason="idle_timeout") >= 1
    assert counter_value(text, "inference_rejections", reason="header_timeout") == 1
    assert counter_value(text, "inference_rejections", reason="body_timeout") == 1


def test_many_never_finished_requests_are_all_closed(impatient_server: ServerProcess) -> None:
    # The finding: 3,000 connections that never finished their request stayed open for 40 s (and beyond).
    socks = []
    try:
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", impatient_server.port))
            if i % 2:
                sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost")
            socks.append(sock)
        deadline = time.monotonic() + 15
        open_left = len(socks)
        while open_left and time.monotonic() < deadline:
            time.sleep(0.5)
            open_left = sum(1 for s in socks if not _closed_within(s, 0.01)[0])
        assert open_left == 0, f"{open_left} of {len(socks)} stalled connections still open"
    finally:
        for sock in socks:
            sock.close()


def test_a_stalled_upload_does_not_hold_every_batch_for_the_window(impatient_server: ServerProcess) -> None:
    # BATCH_WINDOW_MS=1000: if the stalled upload counted as "arriving", each request would wait ~1 s.
    stalled = socket.create_connection(("127.0.0.1", impatient_server.port))
    stalled.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY[:10])
    try:
        time.sleep(0.05)
        took = []
        for _ in range(3):
            started = time.monotonic()
            assert impatient_server.infer(infer_payload(digits_rows(1))).status == 200
            took.append(time.monotonic() - started)
    finally:
        stalled.close()
    assert max(took) < 0.5, f"requests took {took} s next to a stalled upload (window 1 s)"


def test_descriptor_exhaustion_leaves_probes_and_new_connections_working(tmp_path, tiny_model: TinyModel) -> None:
    # The finding: with 1,024 descriptors, ~1,000 idle sockets made every new connection, probes included, reset.
    server = ServerProcess(tiny_model.dir, tmp_path, preexec_fn=limit_descriptors(256))
    idle = []
    try:
        server.wait_ready()
        cap = int(re.search(r"MAX_CONNECTIONS=1000 lowered to (\d+)", server.log()).group(1))
        assert 16 <= cap < 256
        for _ in range(600):  # far more idle connections than the process has descriptors
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.5)
        for _ in range(5):
            assert server.admin("/v2/health/ready", timeout=5).status == 200
            assert server.get("/v2/health/ready", timeout=5).status == 200
            assert server.infer(infer_payload(digits_rows(1)), timeout=5).status == 200
        assert server.proc.poll() is None
        text = server.metrics_text()
        assert counter_value(text, "inference_rejections", reason="evicted_idle") >= 600 - cap
        gauge = re.search(r'inference_open_connections\{listener="public",model="my-ai-model"\} (\S+)', text)
        assert gauge and float(gauge.group(1)) <= cap
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_when_every_connection_is_busy_a_new_one_gets_503_with_retry_after(start_server, tiny_model: TinyModel) -> None:
    server = start_server(tiny_model.dir, MAX_CONNECTIONS="8", HEADER_TIMEOUT_SECONDS="30")
    server.wait_ready()
    busy = []
    try:
        for _ in range(8):  # each holds a half-sent head: not idle, so not evictable
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
            busy.append(sock)
        time.sleep(0.3)
        refused = server.infer(infer_payload(digits_rows(1)), timeout=5)
        assert refused.status == 503
        assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
        assert "too many open connections" in refused.json()["error"]
        assert server.admin("/v2/health/ready", timeout=5).status == 200  # the admin port has its own quota
    finally:
        for sock in busy:
            sock.close()
    assert counter_value(server.metrics_text(), "inference_rejections", reason="connection_limit") == 1


def _concurrently(server: ServerProcess, n: int, stagger: float = 0.15) -> list:
    with ThreadPoolExecutor(n) as pool:
        futures = []
        for i in range(n):
            futures.append(pool.submit(server.infer, infer_payload(digits_rows(1, seed=i)), timeout=30))
            time.sleep(stagger)
        return [f.result() for f in futures]


def test_requests_beyond_max_concurrent_requests_get_503_and_retry_after(start_server, tiny_model: TinyModel) -> None:
    server = start_server(tiny_model.dir, MAX_CONCURRENT_REQUESTS="2", MAX_BATCH_SIZE="1",
                          TEST_INFERENCE_DELAY_MS="1500")
    server.wait_ready(timeout=30)
    responses = _concurrently(server, 3)
    assert [r.status for r in responses] == [200, 200, 503]
    assert responses[2].headers["retry-after"] == "1"
    assert "concurrency limit" in responses[2].json()["error"]
    assert counter_value(server.metrics_text(), "inference_rejections", reason="concurrency_limit") == 1


def test_a_full_batch_queue_answers_503_instead_of_piling_up(start_server, tiny_model: TinyModel) -> None:
    server = start_server(tiny_model.dir, MAX_QUEUE_SIZE="1", MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="1500",
                          QUEUE_TIMEOUT_MS="60000")
    server.wait_ready(timeout=30)
    responses = _concurrently(server, 3)  # one runs, one waits, the third finds the queue full
    assert [r.status for r in responses] == [200, 200, 503]
    assert responses[2].headers["retry-after"] == "1" and "queue is full" in responses[2].json()["error"]
    assert counter_value(server.metrics_text(), "inference_rejections", reason="queue_full") == 1


def test_a_request_queued_past_queue_timeout_ms_is_answered_503(start_server, tiny_model: TinyModel) -> None:
    server = start_server(tiny_model.dir, QUEUE_TIMEOUT_MS="300", MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="1500")
    server.wait_ready(timeout=30)
    responses = _concurrently(server, 2)  # the second waits ~1.4 s behind the first
    assert [r.status for r in responses] == [200, 503]
    assert "in the batch queue, more than the 300 ms allowed" in responses[1].json()["error"]
    assert responses[1].headers["retry-after"] == "1"
    assert counter_value(server.metrics_text(), "inference_rejections", reason="queue_timeout") == 1
