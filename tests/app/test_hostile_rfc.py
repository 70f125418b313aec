"""The answers RFC 9112 asks for (issue 27): owed answers before a 400, 400 on framing errors after the
head, Connection: close whenever the server closes, absolute-form targets, 501 for unknown methods,
HTTP/1.x minor versions served as 1.1."""
from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.conftest import (
    MODEL_NAME,
    ServerProcess,
    TinyModel,
    digits_rows,
    infer_payload,
    parse_raw_response,
    raw_exchange,
    read_until_closed,
)

pytestmark = pytest.mark.slow

INFER = f"/v2/models/{MODEL_NAME}/infer"
BODY = json.dumps(infer_payload(digits_rows(1))).encode()
POST = (f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    # Inference takes a little while, so its answer is still owed when the next request is refused.
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("rfc"), TEST_INFERENCE_DELAY_MS="200")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def responses(raw: bytes) -> list:
    """Every response of a raw exchange, in order (each has a Content-Length)."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = int(parse_raw_response(head + b"\r\n\r\n").headers["content-length"])
        found.append(parse_raw_response(head + b"\r\n\r\n" + rest[:length]))
        raw = rest[length:]
    return found


def test_a_valid_request_pipelined_before_a_malformed_one_keeps_its_answer(server: ServerProcess) -> None:
    answers = responses(raw_exchange(server.port, POST + b"GET /v2 HTTP/1.1\r\nno colon here\r\n\r\n", timeout=10))
    assert [a.status for a in answers] == [200, 400], answers
    assert answers[0].json()["outputs"][0]["shape"] == [1, 10]
    assert answers[1].headers["connection"] == "close"


def test_a_framing_error_in_the_body_is_answered_400_and_closes(server: ServerProcess) -> None:
    head = (f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    answers = responses(raw_exchange(server.port, head + b"zz\r\n{}\r\n0\r\n\r\n", timeout=10))
    assert [a.status for a in answers] == [400]
    assert answers[0].headers["connection"] == "close" and "malformed HTTP request" in answers[0].json()["error"]


def test_an_upgrade_request_is_answered_with_connection_close(server: ServerProcess) -> None:
    answers = responses(raw_exchange(server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                                  b"Upgrade: websocket\r\n\r\n", timeout=5))
    assert [(a.status, a.headers.get("connection")) for a in answers] == [(200, "close")]


def test_an_absolute_form_target_is_served_by_its_path(server: ServerProcess) -> None:
    answers = responses(raw_exchange(server.port, b"GET http://model.example/v2/health/live?x=1 HTTP/1.1\r\n"
                                                  b"Host: model.example\r\nConnection: close\r\n\r\n", timeout=5))
    assert [(a.status, a.body) for a in answers] == [(200, b'{"live":true}')]


def test_an_unknown_method_is_501_not_implemented(server: ServerProcess) -> None:
    answers = responses(raw_exchange(server.port, b"BREW /v2 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5))
    assert [(a.status, a.headers.get("connection")) for a in answers] == [(501, "close")]


def test_a_higher_http1_minor_version_is_served_as_http11(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.2\r\nHost: x\r\n\r\nGET /v2/health/ready HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        answers = responses(read_until_closed(sock, 5))
    assert [a.status for a in answers] == [200, 200]
    assert "connection" not in answers[0].headers  # kept alive like 1.1


def test_another_major_version_is_505(server: ServerProcess) -> None:
    answers = responses(raw_exchange(server.port, b"GET /v2/health/live HTTP/3.0\r\nHost: x\r\n\r\n", timeout=5))
    assert [(a.status, a.headers.get("connection")) for a in answers] == [(505, "close")]


# --- strict inputs -----------------------------------------------------------------------------------
def test_an_empty_outputs_list_is_refused_instead_of_running_the_model_for_nothing(server: ServerProcess) -> None:
    response = server.infer(infer_payload(digits_rows(1), outputs=[]))
    assert response.status == 400 and "'outputs' is empty" in response.json()["error"]
    assert server.infer(infer_payload(digits_rows(1))).json()["outputs"][0]["name"] == "output"


@pytest.mark.parametrize("data", [[True] + [1.0] * 63, [[1.0] * 63 + [False]]], ids=["flat", "nested"])
def test_booleans_are_refused_in_numeric_data(server: ServerProcess, data: list) -> None:
    shape = [1, 64]
    response = server.infer({"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]})
    assert response.status == 400 and "holds booleans, non-numeric values; FP32 needs numbers" in response.json()["error"]


@pytest.mark.parametrize("value", ["+10", "-0", "1_0"])
def test_a_signed_or_decorated_binary_header_length_is_refused(server: ServerProcess, value: str) -> None:
    response = server.request("POST", INFER, b"{}" + b"\x00" * 8, headers={
        "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": value})
    assert response.status == 400
    assert "Inference-Header-Content-Length must be a non-negative integer" in response.json()["error"]


@pytest.mark.parametrize("params,message", [
    ({"priority": 1}, "parameters.priority is not supported"),
    ({"timeout": -5}, "parameters.timeout must be a whole number of microseconds"),
    ({"timeout": "1000"}, "parameters.timeout must be a whole number of microseconds")])
def test_schedule_policy_parameters_are_refused_not_ignored(server: ServerProcess, params: dict, message: str) -> None:
    response = server.infer(infer_payload(digits_rows(1), parameters=params))
    assert response.status == 400 and message in response.json()["error"]
    assert server.infer(infer_payload(digits_rows(1), parameters={"priority": 0, "timeout": 0})).status == 200


def test_a_request_waits_in_the_queue_no_longer_than_its_parameters_timeout(start_server, tiny_model) -> None:
    server = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="1200", QUEUE_TIMEOUT_MS="60000")
    server.wait_ready(timeout=30)
    payloads = [infer_payload(digits_rows(1)), infer_payload(digits_rows(1), parameters={"timeout": 300_000}),
                infer_payload(digits_rows(1), parameters={"timeout": 30_000_000})]
    with ThreadPoolExecutor(3) as pool:
        futures = []
        for payload in payloads:  # the first runs; the other two wait behind it, about 1.1 s
            futures.append(pool.submit(server.infer, payload, timeout=30))
            time.sleep(0.1)
        responses = [f.result() for f in futures]
    assert [r.status for r in responses] == [200, 503, 200]
    assert "300 ms allowed by the request's parameters.timeout" in responses[1].json()["error"]


# --- framing matrix: what RFC 9112 requires of a server --------------------------------------------
FRAMING_400 = {
    # 6.3 (5): a Content-Length that is invalid, or several that differ: 400, then close.
    "content-length not a number": b"Content-Length: abc\r\n\r\n{}",
    "content-length signed": b"Content-Length: +2\r\n\r\n{}",
    "content-length values that differ": b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "content-length list that differs": b"Content-Length: 2, 3\r\n\r\n{}",
    # 6.3 (4): Transfer-Encoding whose final coding is not chunked, in a request: 400, then close.
    "transfer-encoding not chunked": b"Transfer-Encoding: gzip\r\n\r\n{}",
    "transfer-encoding chunked then another": b"Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    # 5.1: whitespace between a field name and its colon: 400.
    "space before the colon": b"Content-Length : 2\r\n\r\n{}",
    # 5.2: an obsolete line folding: 400 (or replaced by spaces; this server refuses it).
    "obs-fold": b"Content-Type: application/json\r\n json\r\nContent-Length: 2\r\n\r\n{}",
    # 7.1: a chunk size that is not hex digits.
    "chunk size not hex": b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    # 7.1: chunk data longer than its size.
    "chunk longer than its size": b"Transfer-Encoding: chunked\r\n\r\n1\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("case", list(FRAMING_400))
def test_each_framing_error_rfc_9112_names_is_a_400_that_closes_the_connection(server: ServerProcess,
                                                                              case: str) -> None:
    head = f"POST {INFER} HTTP/1.1\r\nHost: x\r\n".encode()
    answers = responses(raw_exchange(server.port, head + FRAMING_400[case], timeout=5))
    assert [(a.status, a.headers.get("connection")) for a in answers] == [(400, "close")], case


def test_content_length_and_transfer_encoding_together_are_refused_and_close(server: ServerProcess) -> None:
    # 6.1: a server MAY reject such a request, and MUST close the connection after answering it.
    raw = (f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
           "2\r\n{}\r\n0\r\n\r\nGET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    answers = responses(raw_exchange(server.port, raw, timeout=5))
    assert [(a.status, a.headers.get("connection")) for a in answers] == [(400, "close")]


LIVE = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"


def exchange_closed_by_server(port: int, data: bytes, *, half_close: bool = False, wait_s: float = 8.0) -> list:
    """The answers to `data` on one connection, asserting the server (not the test's timeout) ended it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        raw = read_until_closed(sock)
        assert time.monotonic() - started < wait_s - 0.5, "the server did not close the connection"
    return responses(raw)


@pytest.mark.parametrize("reason", ["client half-closed", "client asked to close", "HTTP/1.0 request",
                                    "malformed request"])
def test_the_answer_after_which_the_server_closes_says_connection_close_even_if_built_before(
        server: ServerProcess, reason: str) -> None:
    # The slow inference answer is owed while the health answer behind it is built (keep-alive at that
    # moment); the close is decided afterwards, yet the last answer written must announce it.
    last = {"client half-closed": LIVE, "client asked to close": LIVE[:-2] + b"Connection: close\r\n\r\n",
            "HTTP/1.0 request": b"GET /v2/health/live HTTP/1.0\r\n\r\n", "malformed request": LIVE + b"BAD\r\n\r\n"}
    answers = exchange_closed_by_server(server.port, POST + last[reason], half_close=reason == "client half-closed")
    assert answers[0].status == 200 and answers[0].headers.get("connection") != "close"
    assert answers[-1].headers.get("connection") == "close", [(a.status, a.headers) for a in answers]


def test_an_answer_given_before_its_body_then_closed_by_the_body_timeout_says_connection_close(
        start_server, tiny_model: TinyModel) -> None:
    proc = start_server(tiny_model.dir, TEST_INFERENCE_DELAY_MS="2500", BODY_TIMEOUT_SECONDS="1")
    proc.wait_ready()
    # A 404 is answered at the end of its head (keep-alive), behind the slow inference; its body never
    # comes, so the body timeout decides, while that answer still waits, to close after it.
    unknown = b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial"
    answers = exchange_closed_by_server(proc.port, POST + unknown)
    assert [a.status for a in answers] == [200, 404]
    assert answers[-1].headers.get("connection") == "close"


def test_a_drain_answers_every_request_sent_and_the_last_answer_says_connection_close(
        start_server, tiny_model: TinyModel) -> None:
    proc = start_server(tiny_model.dir, TEST_INFERENCE_DELAY_MS="600", DRAIN_TIMEOUT_SECONDS="10")
    proc.wait_ready()
    with socket.create_connection(("127.0.0.1", proc.port), timeout=8) as sock:
        sock.sendall(POST + LIVE)  # the health answer is built now, before the drain begins
        time.sleep(0.2)
        proc.terminate()
        answers = responses(read_until_closed(sock))
    assert [a.status for a in answers] == [200, 200]
    assert answers[-1].headers.get("connection") == "close"
