"""How one HTTP/1.1 connection writes its answers, in process: each serialised once with its exact length, in
request order whatever order they come in, `connection: close` on the one after which it closes, and the
refusals the front end makes itself (http1_answers.py)."""
from __future__ import annotations

import json

from tests.app.http1_fakes import GET_LIVE, RecordingApp, connect, connections, in_loop, post


def _head_lines(write: bytes) -> list[bytes]:
    return write.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@in_loop
async def test_an_answer_is_one_write_with_its_status_date_type_and_exact_length_and_keeps_the_connection() -> None:
    protocol, transport = connect()
    protocol.data_received(post("/echo", b"hello"))
    [write] = transport.writes
    lines = _head_lines(write)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1].startswith(b"date: ") and lines[1].endswith(b" GMT")
    assert lines[2:] == [b"content-type: text/plain", b"content-length: 10"]
    assert write.endswith(b"\r\n\r\nbody:hello")
    assert not transport.closed and protocol.served == 1
    assert protocol in protocol.state.idle, "an answered keep-alive connection may be evicted for a new one"


@in_loop
async def test_extra_headers_are_written_and_a_connection_header_closes_after_the_answer() -> None:
    app = RecordingApp(early={"/bye": (401, b"no", b"text/plain", [(b"www-authenticate", b"Bearer"),
                                                                    (b"connection", b"close")])})
    protocol, transport = connect(app)
    protocol.data_received(b"GET /bye HTTP/1.1\r\nHost: x\r\n\r\n" + GET_LIVE)
    [write] = transport.writes
    lines = _head_lines(write)
    assert lines[0] == b"HTTP/1.1 401 Unauthorized"
    assert b"www-authenticate: Bearer" in lines
    assert lines.count(b"connection: close") == 1
    assert transport.eof and len(app.begun) == 1, "the request after a closing answer was served"


@in_loop
async def test_a_head_answer_leaves_out_the_body_but_keeps_its_length() -> None:
    app = RecordingApp(early={"/h": (200, b"twelve bytes", b"application/json", [])})
    protocol, transport = connect(app)
    protocol.data_received(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
    [write] = transport.writes
    assert write.endswith(b"content-length: 12\r\n\r\n")


@in_loop
async def test_answers_given_out_of_order_are_written_in_request_order_and_counted_until_written() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"22"))
    (first, deliver), (second, _) = app.held
    deliver(second, (200, b"second", b"text/plain", []))
    assert transport.writes == [] and protocol.unsent > len(b"second")
    waiting = protocol.unsent
    deliver(first, (200, b"first", b"text/plain", []))
    assert [a.body for a in transport.answers()] == [b"first", b"second"]
    assert protocol.unsent == 0 and waiting == len(transport.writes[1])
    assert protocol.served == 2 and not transport.closed


@in_loop
async def test_an_answer_to_a_connection_already_closed_is_not_written() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1"))
    protocol.close()
    (request, deliver), = app.held
    deliver(request, (200, b"late", b"text/plain", []))
    deliver(request, None)
    assert transport.writes == []


@in_loop
async def test_an_http_1_0_answer_says_it_closes_and_closes() -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET /live HTTP/1.0\r\n\r\n")
    [answer] = transport.answers()
    assert answer.headers["connection"] == "close" and transport.closed


@in_loop
async def test_draining_closes_a_connection_once_every_request_it_sent_is_answered() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"2"))
    protocol.state.start_draining()
    (first, deliver), (second, _) = app.held
    deliver(first, (200, b"first", b"text/plain", []))
    assert not transport.closed, "closed with a request still owed"
    assert "connection" not in transport.answers()[0].headers
    deliver(second, (200, b"second", b"text/plain", []))
    assert transport.answers()[1].headers["connection"] == "close" and transport.closed


@in_loop
async def test_draining_keeps_a_connection_that_is_reading_the_next_request() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + b"GET /next HTTP/1.1\r\n")  # the next head half sent
    protocol.state.start_draining()
    (first, deliver), = app.held
    deliver(first, (200, b"first", b"text/plain", []))
    assert not transport.closed and "connection" not in transport.answers()[0].headers


@in_loop
async def test_a_malformed_request_gets_a_json_400_that_closes_and_is_counted() -> None:
    protocol, transport = connect()
    protocol.data_received(b"\x16\x03\x01 not http\r\n\r\n")
    [answer] = transport.answers()
    assert answer.status == 400 and answer.headers["connection"] == "close"
    assert json.loads(answer.body)["error"].startswith("malformed HTTP request")
    assert protocol.state.rejected == ["bad_http"] and transport.closed
    assert protocol.state.messages[0].startswith("HTTP 400 (bad_http) for 127.0.0.1:40000: malformed HTTP request")


@in_loop
async def test_a_refusal_behind_an_unanswered_request_waits_for_it_and_reading_stops() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + b"GET /b HTTP/1.1\r\nno colon here\r\n\r\n")
    assert transport.writes == [] and transport.paused and not transport.closed
    assert protocol.unsent > 0
    (first, deliver), = app.held
    deliver(first, (200, b"first", b"text/plain", []))
    first_answer, refusal = transport.answers()
    assert first_answer.status == 200 and "connection" not in first_answer.headers
    assert refusal.status == 400 and refusal.headers["connection"] == "close"
    assert transport.closed and protocol.unsent == 0


@in_loop
async def test_a_body_refused_before_it_is_read_is_aborted_and_answered_in_order() -> None:
    app = RecordingApp(max_request_bytes=4, hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/big", b"12345"))
    assert app.refused == [(413, "request body exceeds the limit of 4 bytes")]
    assert [r.path for r in app.aborted] == ["/big"]
    assert transport.writes == []
    (first, deliver), = app.held
    deliver(first, (200, b"first", b"text/plain", []))
    assert [a.status for a in transport.answers()] == [200, 413]


@in_loop
async def test_a_late_body_answered_before_it_was_read_closes_after_the_answers_owed() -> None:
    app = RecordingApp(hold=True, early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    assert protocol.request is not None and protocol.request.response is not None
    protocol._refuse_raw(408, "body_timeout", "request body not received within 30 s")
    assert protocol.state.rejected == ["body_timeout"] and app.aborted == []
    (first, deliver), = app.held
    deliver(first, (200, b"first", b"text/plain", []))
    assert [a.status for a in transport.answers()] == [200, 401]
    assert transport.answers()[1].headers["connection"] == "close"
    assert transport.eof and not transport.closed, "the unread body is still arriving: FIN, then a linger"


@in_loop
async def test_a_refusal_of_a_connection_already_closing_is_counted_but_not_written() -> None:
    protocol, transport = connect()
    protocol.close()
    protocol._refuse_raw(408, "header_timeout", "late")
    assert protocol.state.rejected == ["header_timeout"] and transport.writes == []


@in_loop
async def test_a_refusal_outside_the_application_closes_and_carries_its_extra_headers() -> None:
    state = connections(max_connections=1)
    busy, _ = connect(RecordingApp(hold=True), state)
    busy.data_received(post("/a", b"1"))  # an unanswered request: not idle, cannot be evicted
    protocol, transport = connect(RecordingApp(), state)
    protocol.data_received(GET_LIVE)
    [answer] = transport.answers()
    assert answer.status == 503 and answer.headers["retry-after"] == "3"
    head = transport.writes[0].split(b"\r\n\r\n")[0].lower().split(b"\r\n")
    assert head.count(b"connection: close") == 1 and sum(line.startswith(b"connection") for line in head) == 1
    assert answer.headers["connection"] == "close" and answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == {"error": "too many open connections; retry shortly"}
    assert state.rejected == ["connection_limit"]


@in_loop
async def test_answers_waiting_behind_an_unanswered_one_are_counted_in_bytes_until_written() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"2") + post("/c", b"3"))
    (first, deliver), (second, _), (third, _) = app.held
    deliver(third, (200, b"third", b"text/plain", []))
    deliver(second, (200, b"second!", b"text/plain", []))
    assert protocol.unsent == len(second.response) + len(third.response)
    protocol.data_received(b"GET /d HTTP/1.1\r\nno colon\r\n\r\n")  # refused: its answer waits too
    refusal = protocol.owed[-1].response
    assert protocol.unsent == len(second.response) + len(third.response) + len(refusal)
    deliver(first, (200, b"first", b"text/plain", []))
    assert [a.status for a in transport.answers()] == [200, 200, 200, 400] and protocol.unsent == 0


@in_loop
async def test_a_late_body_refused_behind_owed_answers_still_lingers_after_the_client_half_closes() -> None:
    app = RecordingApp(hold=True, early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    protocol._refuse_raw(408, "body_timeout", "request body not received within 30 s")
    assert protocol.eof_received() is True
    (first, deliver), = app.held
    deliver(first, (200, b"first", b"text/plain", []))
    assert transport.eof and not transport.closed, "the answers' bytes could be lost to a reset"
