"""The server's own HTTP/1.1 front end (model_server/http1.py): pipelining, keep-alive, chunked and
fragmented requests, answers before the body, request ids, and the response head it writes."""
from __future__ import annotations

import json
import re
import socket
import time

import numpy as np
import pytest

from tests.app.conftest import (
    MODEL_NAME,
    ServerProcess,
    TinyModel,
    digits_rows,
    infer_payload,
    parse_raw_response,
    raw_exchange,
)

pytestmark = pytest.mark.slow

INFER = f"/v2/models/{MODEL_NAME}/infer"


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("http1-server"), MAX_REQUEST_BYTES="65536",
                         KEEP_ALIVE_TIMEOUT_SECONDS="1")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def _post(body: bytes, *, extra: str = "", path: str = INFER) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _read_responses(sock: socket.socket, count: int, timeout: float = 10) -> list:
    """Read `count` responses (Content-Length framed) from a keep-alive connection."""
    sock.settimeout(timeout)
    data = b""
    answers = []
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            length = int(re.search(rb"content-length: (\d+)", data[:end].lower()).group(1))
            if len(data) >= end + 4 + length:
                answers.append(parse_raw_response(data[:end + 4 + length]))
                data = data[end + 4 + length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(answers)} of {count} responses"
        data += chunk
    return answers


def test_pipelined_requests_are_answered_in_order_on_one_connection(server: ServerProcess,
                                                                     tiny_model: TinyModel) -> None:
    rows = [digits_rows(1, seed=i) for i in range(4)]
    requests = [_post(json.dumps(infer_payload(rows[0], id="a")).encode()),
                b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
                _post(json.dumps(infer_payload(rows[1], id="b")).encode()),
                b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
                _post(b"{not json"),
                _post(json.dumps(infer_payload(rows[2], id="c")).encode())]
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"".join(requests))  # all in one write: the server reads them in one or a few chunks
        answers = _read_responses(sock, len(requests))
    assert [a.status for a in answers] == [200, 200, 200, 404, 400, 200]
    for answer, expected_id, x in ((answers[0], "a", rows[0]), (answers[2], "b", rows[1]), (answers[5], "c", rows[2])):
        body = json.loads(answer.body)
        assert body["id"] == expected_id
        np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(1, 10), tiny_model.expected(x),
                                   rtol=1e-5)


def test_a_request_arriving_byte_by_byte_is_answered(server: ServerProcess) -> None:
    request = _post(json.dumps(infer_payload(digits_rows(1))).encode(), extra="Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(request), 97):
            sock.sendall(request[i:i + 97])
            time.sleep(0.001)
        answer = parse_raw_response(b"".join(iter(lambda: sock.recv(65536), b"")))
    assert answer.status == 200 and json.loads(answer.body)["outputs"][0]["shape"] == [1, 10]


def test_a_chunked_inference_body_is_read(server: ServerProcess) -> None:
    body = json.dumps(infer_payload(digits_rows(2))).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
    raw = raw_exchange(server.port, (f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
                       + chunks + b"0\r\n\r\n")
    answer = parse_raw_response(raw)
    assert answer.status == 200 and json.loads(answer.body)["outputs"][0]["shape"] == [2, 10]


def test_an_answer_before_the_body_keeps_the_connection_usable(server: ServerProcess) -> None:
    big = b"x" * 70_000  # over MAX_REQUEST_BYTES=65536: 413 from the Content-Length, the body is dropped
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_post(big) + _post(json.dumps(infer_payload(digits_rows(1))).encode()))
        refused, served = _read_responses(sock, 2)
    assert refused.status == 413 and "exceeds the limit of 65536 bytes" in json.loads(refused.body)["error"]
    assert "connection" not in refused.headers
    assert served.status == 200


def test_responses_carry_date_and_length_and_no_server_header(server: ServerProcess) -> None:
    answer = parse_raw_response(raw_exchange(server.port, b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n"
                                                          b"Connection: close\r\n\r\n"))
    assert answer.status == 200 and answer.body == b'{"ready":true}'
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["connection"] == "close"
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", answer.headers["date"])
    assert "server" not in answer.headers


def test_request_ids_are_unique_and_share_one_random_prefix_per_process(server: ServerProcess) -> None:
    ids = [server.infer(infer_payload(digits_rows(1))).json()["id"] for _ in range(5)]
    assert len(set(ids)) == 5
    prefixes = {i.rsplit("-", 1)[0] for i in ids}
    assert len(prefixes) == 1 and len(prefixes.pop()) == 16, ids
    counters = [int(i.rsplit("-", 1)[1], 16) for i in ids]
    assert counters == sorted(counters), ids


def test_an_idle_keep_alive_connection_closes_after_the_keep_alive_timeout(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        [answer] = _read_responses(sock, 1)
        assert answer.status == 200 and "connection" not in answer.headers
        time.sleep(0.3)  # well inside KEEP_ALIVE_TIMEOUT_SECONDS=1: still open and served
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_responses(sock, 1)[0].status == 200
        started = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(100) == b"", "the server must close the idle connection without sending anything"
        assert 0.7 < time.monotonic() - started < 3


def test_an_upgrade_request_is_answered_as_http11_and_the_connection_closes(server: ServerProcess) -> None:
    raw = raw_exchange(server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                    b"Upgrade: h2c\r\n\r\n", timeout=5)
    answer = parse_raw_response(raw)
    assert answer.status == 200 and answer.body == b'{"live":true}'


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(start_server,
                                                                          tiny_model: TinyModel) -> None:
    server = start_server(tiny_model.dir, TEST_INFERENCE_DELAY_MS="300")  # the answer is pending at the EOF
    server.wait_ready()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_post(json.dumps(infer_payload(digits_rows(1))).encode()))
        sock.shutdown(socket.SHUT_WR)
        answer = parse_raw_response(b"".join(iter(lambda: sock.recv(65536), b"")))
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert json.loads(answer.body)["outputs"][0]["shape"] == [1, 10]


def test_requests_after_the_one_that_closes_the_connection_are_not_answered(server: ServerProcess) -> None:
    last = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = raw_exchange(server.port, last + _post(b"x" * 100_000) + b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.count(b"HTTP/1.1 ") == 1 and parse_raw_response(raw).status == 200
    assert server.get("/v2/health/live").status == 200  # and nothing was counted as a parser error
    assert "(bad_http)" not in server.log()
