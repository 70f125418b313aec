"""How one HTTP/1.1 connection reads requests, in process (http1.py): the connection cap and its eviction, the
request the application sees (path, method, headers), the head and body limits at their exact bounds, bodies
answered before they were read, half-closes, upgrades and the end of a connection."""
from __future__ import annotations

import asyncio
import json

import pytest
from model_server.http1 import DISCARD_MAX_BYTES, FEED_SLICE
from model_server.http_limits import OVERFLOW_CONNECTIONS

from tests.app.http1_fakes import GET_LIVE, RecordingApp, RecordingTransport, connect, connections, in_loop, post


@in_loop
async def test_a_new_connection_is_counted_registered_idle_and_named_by_its_peer() -> None:
    state = connections()
    protocol, transport = connect(state=state)
    assert state.public == {protocol} and protocol in state.idle and state.counts == [("public", 1)]
    assert transport.limits == (64 * 1024, 16 * 1024)
    protocol.data_received(b"\x00")
    assert "for 127.0.0.1:40000:" in state.messages[-1]
    admin, _ = connect(state=state, admin=True)
    assert state.admin == {admin} and state.counts[-1] == ("admin", 1) and state.public == {protocol}


@in_loop
async def test_a_connection_without_a_peer_address_is_called_client() -> None:
    protocol, _ = connect(transport=RecordingTransport(peer=None))
    assert protocol.peer == "client"


@in_loop
async def test_at_the_cap_the_connection_idle_the_longest_is_closed_for_the_new_one() -> None:
    state = connections(max_connections=2)
    oldest, oldest_transport = connect(state=state)
    newer, newer_transport = connect(state=state)
    protocol, transport = connect(state=state)
    assert oldest_transport.closed and not newer_transport.closed
    assert state.rejected == ["evicted_idle"] and not protocol.over_capacity
    protocol.data_received(GET_LIVE)
    assert transport.answers()[0].status == 200


@in_loop
async def test_at_the_cap_with_none_idle_a_new_connection_gets_503_and_past_the_overflow_none() -> None:
    state = connections(max_connections=1)
    busy, _ = connect(RecordingApp(hold=True), state)
    busy.data_received(post("/a", b"1"))
    over = []
    for _ in range(OVERFLOW_CONNECTIONS):
        over.append(connect(state=state))
        over[-1][0].data_received(b"GET /live HTTP/1.1\r\n")  # a head begun: not idle, not evicted
    assert all(p.over_capacity and not t.closed for p, t in over)
    assert len(state.public) == 1 + OVERFLOW_CONNECTIONS
    refused, transport = connect(state=state)
    assert transport.aborted and transport.writes == [] and refused not in state.public
    assert state.rejected == ["connection_limit"] and state.counts[-1] == ("public", 1 + OVERFLOW_CONNECTIONS)
    assert "on the public listener" in state.messages[-1]


@in_loop
async def test_the_admin_listener_closes_the_connection_quiet_the_longest_whatever_its_state() -> None:
    state = connections(admin_connections=1)
    stalled, stalled_transport = connect(state=state, admin=True)
    stalled.data_received(b"GET /live HTTP/1.1\r\n")  # a head begun: not idle
    fresh, fresh_transport = connect(state=state, admin=True)
    fresh.data_received(b"GET /live HTTP/1.1\r\n")
    assert not stalled_transport.closed and fresh.over_capacity, "a connection that just sent was closed"
    stalled.active_at -= 1.0  # quiet for DRAIN_IDLE_S (and the moment since)
    probe, _ = connect(state=state, admin=True)
    assert stalled_transport.closed and not probe.over_capacity and state.rejected == ["evicted_idle"]
    assert state.messages == ["admin connection limit reached: closed the connection quiet the longest to admit "
                              "a new one"]


@in_loop
async def test_an_admin_connection_quiet_for_exactly_a_second_is_closed_for_a_probe(monkeypatch) -> None:
    from types import SimpleNamespace

    import model_server.http1_closing as closing

    state = connections(admin_connections=1)
    stalled, stalled_transport = connect(state=state, admin=True)
    stalled.data_received(b"GET /live HTTP/1.1\r\n")
    monkeypatch.setattr(closing, "time", SimpleNamespace(monotonic=lambda: stalled.active_at + 1.0))
    connect(state=state, admin=True)
    assert stalled_transport.closed


@in_loop
async def test_when_every_admin_connection_is_already_closing_a_new_one_is_over_capacity() -> None:
    state = connections(admin_connections=1)
    closing, _ = connect(state=state, admin=True)
    closing.close()  # closed, its connection_lost not yet called: still counted
    protocol, transport = connect(state=state, admin=True)
    assert protocol.over_capacity and not transport.closed


@in_loop
async def test_the_cap_counts_each_listener_on_its_own() -> None:
    state = connections(max_connections=1, admin_connections=1)
    public, public_transport = connect(RecordingApp(hold=True), state)
    public.data_received(post("/a", b"1"))
    admin, _ = connect(state=state, admin=True)
    assert not admin.over_capacity and not public_transport.closed


@in_loop
async def test_the_request_the_application_sees_has_its_path_method_version_and_headers() -> None:
    app = RecordingApp()
    protocol, _ = connect(app)
    protocol.data_received(b"POST http://example/v2/a%20b?x=1 HTTP/1.1\r\nHost: a\r\nHOST: b\r\n"
                           b"Content-Type: text/plain\r\nAuthorization: one\r\nauthorization: two\r\n"
                           b"X-Request-Id: first\r\nx-request-id: second\r\nX-Other: dropped\r\n"
                           b"Content-Length: 2\r\n\r\nhi")
    [request] = app.begun
    assert (request.method, request.path, request.hosts, request.http10) == ("POST", "/v2/a b", 2, False)
    assert request.headers == {b"content-type": b"text/plain", b"authorization": b"one",
                               b"x-request-id": b"first", b"content-length": b"2"}
    assert request.duplicate == b"authorization" and request.keep_alive and not request.admin
    assert app.finished == [(request, b"hi")]


@pytest.mark.parametrize(("target", "path"), [(b"http://example", "/"), (b"https://example/x?y", "/x"),
                                              (b"/plain%2Fpath", "/plain/path"), (b"/a?http://b/c", "/a"),
                                              (b"abcdefg://h/p", "/p"),  # "://" within the first ten bytes
                                              (b"abcdefgh://h/p", "abcdefgh://h/p")])
@in_loop
async def test_a_request_target_becomes_the_path_the_routes_match(target: bytes, path: str) -> None:
    app = RecordingApp()
    protocol, _ = connect(app)
    protocol.data_received(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [r.path for r in app.begun] == [path]


@in_loop
async def test_a_method_llhttp_knows_but_the_server_does_not_reaches_the_application_by_name() -> None:
    app = RecordingApp()
    protocol, _ = connect(app, admin=True)
    protocol.data_received(b"PROPFIND /x HTTP/1.0\r\n\r\n")
    [request] = app.begun
    assert request.method == "PROPFIND" and request.http10 and request.admin and not request.keep_alive


@in_loop
async def test_an_unknown_method_gets_501_and_a_malformed_line_400() -> None:
    for line, status in ((b"BREW /pot HTTP/1.1\r\n\r\n", 501), (b"\x00BREW /pot HTTP/1.1\r\n\r\n", 400)):
        protocol, transport = connect()
        protocol.data_received(line)
        [answer] = transport.answers()
        assert answer.status == status and transport.closed
        assert protocol.state.rejected == ["bad_http"]
        assert protocol.state.messages[0].startswith(f"HTTP {status} (bad_http) for 127.0.0.1:40000: ")


@in_loop
async def test_a_head_of_exactly_the_limit_is_read_and_one_byte_more_gets_431() -> None:
    head = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"  # counted: url 2 + name 4 + value 1 + 4 = 11
    protocol, transport = connect(state=connections(max_header_bytes=11))
    protocol.data_received(head)
    assert [a.status for a in transport.answers()] == [200] and not transport.closed
    protocol, transport = connect(state=connections(max_header_bytes=10))
    protocol.data_received(head)
    [answer] = transport.answers()
    assert answer.status == 431 and answer.headers["connection"] == "close"
    assert json.loads(answer.body) == {"error": "request head exceeds 10 bytes"}
    assert protocol.state.rejected == ["header_too_large"]


@in_loop
async def test_a_streamed_head_is_cut_as_soon_as_it_passes_the_limit() -> None:
    protocol, transport = connect(state=connections(max_header_bytes=30))
    protocol.data_received(b"GET /x HTTP/1.1\r\nX-Long: " + b"a" * 5)  # 30 bytes: still read
    assert transport.writes == []
    protocol.data_received(b"a")
    [answer] = transport.answers()
    assert answer.status == 431 and protocol.state.rejected == ["header_too_large"] and transport.closed


@in_loop
async def test_the_next_head_on_a_kept_connection_is_counted_afresh() -> None:
    protocol, transport = connect(state=connections(max_header_bytes=30))
    for _ in range(3):
        protocol.data_received(b"GET /x HTTP/1.1\r\nX: 12345\r\n\r\n")  # 29 bytes each
    assert [a.status for a in transport.answers()] == [200, 200, 200]


@in_loop
async def test_http_2_heads_get_505() -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    [answer] = transport.answers()
    assert answer.status == 505 and "HTTP/2.0 is not supported" in answer.body.decode()


@in_loop
async def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_gets_413() -> None:
    app = RecordingApp(max_request_bytes=5)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"12345"))
    assert app.finished[0][1] == b"12345" and protocol.state.uploading == 0
    protocol.data_received(post("/a", b"123456"))
    assert app.refused == [(413, "request body exceeds the limit of 5 bytes")] and len(app.aborted) == 1
    assert [a.status for a in transport.answers()] == [200, 413] and protocol.state.uploading == 0


@in_loop
async def test_a_body_arriving_in_pieces_is_handed_on_whole_and_counted_as_an_upload_until_then() -> None:
    app = RecordingApp()
    protocol, _ = connect(app)
    protocol.data_received(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
    protocol.data_received(b"cd")
    assert protocol.state.uploading == 4 and protocol.body_size == 4
    protocol.data_received(b"ef")
    assert app.finished[0][1] == b"abcdef" and protocol.state.uploading == 0


@in_loop
async def test_bodies_past_the_upload_budget_get_503_and_close() -> None:
    state = connections(upload_budget=6)
    other, _ = connect(RecordingApp(), state)
    other.data_received(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n123")
    app = RecordingApp()
    protocol, transport = connect(app, state)
    protocol.data_received(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123")  # 6 in all: read
    assert app.refused == []
    protocol.data_received(b"4")
    assert app.refused == [(503, "server busy reading other request bodies; retry shortly")]
    assert state.rejected == ["upload_budget"] and "exceed 6 bytes" in state.messages[-1]
    [answer] = transport.answers()
    assert answer.headers["connection"] == "close" and state.uploading == 3


@in_loop
async def test_a_body_answered_before_it_is_read_is_dropped_and_the_connection_kept() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(post("/early", b"x" * 100) + GET_LIVE)
    assert [a.status for a in transport.answers()] == [401, 200] and app.finished[0][0].path == "/live"
    assert not transport.closed and protocol.state.uploading == 0


@pytest.mark.parametrize(("headers", "closes"), [
    (b"Content-Length: %d\r\n" % DISCARD_MAX_BYTES, False),
    (b"Content-Length: %d\r\n" % (DISCARD_MAX_BYTES + 1), True),
    (b"Transfer-Encoding: chunked\r\n", True),
    (b"Content-Length: 1\r\nExpect: 100-continue\r\n", True),
])
@in_loop
async def test_an_early_answer_closes_when_the_body_left_is_longer_than_the_server_drops(headers: bytes,
                                                                                        closes: bool) -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(b"POST /early HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    [answer] = transport.answers()
    assert ("connection" in answer.headers) is closes
    assert transport.writes[0].startswith(b"HTTP/1.1 401"), "100 Continue sent for an answered request"


@in_loop
async def test_a_dropped_body_past_the_most_the_server_drops_closes_the_connection() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app, transport=RecordingTransport(eof_ok=False))
    protocol.data_received(b"POST /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert transport.closed  # the answer closed it (chunked: unknown length)
    protocol, transport = connect(app, transport=RecordingTransport(eof_ok=False))
    protocol.data_received(post("/early", b"x" * 10)[:-10])
    protocol.discarded = DISCARD_MAX_BYTES - 4
    protocol.data_received(b"x" * 4)
    assert not transport.closed
    protocol.data_received(b"x")
    assert transport.closed


@in_loop
async def test_a_dropped_body_past_the_limit_behind_an_owed_answer_stops_reading_and_closes_after_it() -> None:
    app = RecordingApp(hold=True, early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/early", b"x" * 10)[:-10])
    protocol.discarded = DISCARD_MAX_BYTES
    protocol.data_received(b"x")
    assert transport.paused and not transport.closed and protocol.owed[-1].keep_alive is False


@in_loop
async def test_expect_100_continue_is_answered_only_for_the_first_request_owed() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    protocol.data_received(b"1" + b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
    assert len(transport.writes) == 1


@in_loop
async def test_a_client_closing_its_side_mid_body_gets_400_at_once_and_frees_the_request() -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    protocol.data_received(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12")
    assert protocol.eof_received() is False
    assert len(app.aborted) == 1 and app.refused[0][0] == 400
    [answer] = transport.answers()
    assert answer.status == 400 and answer.headers["connection"] == "close"


@in_loop
async def test_a_client_closing_its_side_after_its_request_still_gets_the_answer_then_the_close() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1"))
    assert protocol.eof_received() is True
    (request, deliver), = app.held
    deliver(request, (200, b"ok", b"text/plain", []))
    assert transport.answers()[0].headers["connection"] == "close" and transport.closed
    idle, _ = connect()
    assert idle.eof_received() is False


@in_loop
async def test_an_upgrade_is_answered_as_http_1_1_and_what_follows_is_dropped() -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    protocol.data_received(b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                           + GET_LIVE)
    [answer] = transport.answers()
    assert answer.status == 200 and answer.headers["connection"] == "close" and transport.closed
    assert len(app.begun) == 1


@in_loop
async def test_a_lost_connection_frees_its_unanswered_requests_its_upload_and_its_place() -> None:
    state = connections()
    app = RecordingApp(hold=True)
    protocol, _ = connect(app, state)
    protocol.data_received(post("/a", b"1") + b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n1234")
    (first, deliver), = app.held
    deliver(first, None)  # an answer not given yet: first stays owed
    assert state.uploading == 4
    protocol.connection_lost(None)
    assert [r.path for r in app.aborted] == ["/a", "/b"]
    assert state.uploading == 0 and not state.public and protocol not in state.idle
    assert state.counts[-1] == ("public", 0)


@in_loop
async def test_a_lost_connection_does_not_abort_a_request_answered_but_not_yet_written() -> None:
    app = RecordingApp(hold=True)
    protocol, _ = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"2"))
    (first, _), (second, deliver) = app.held
    deliver(second, (200, b"ok", b"text/plain", []))
    protocol.connection_lost(None)
    assert app.aborted == [first]


@in_loop
async def test_a_lingering_connection_drops_what_arrives_and_is_aborted_past_the_most_it_drops() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(b"POST /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert protocol.lingering and transport.eof and not transport.closed
    protocol.data_received(b"x" * DISCARD_MAX_BYTES)
    assert not transport.aborted
    protocol.data_received(b"x")
    assert transport.aborted and len(app.begun) == 1


@in_loop
async def test_a_read_of_many_requests_yields_to_other_connections_after_each_slice_that_completed_some() -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    data = GET_LIVE * (2 * FEED_SLICE // len(GET_LIVE) + 1)
    protocol.data_received(data)
    first_pass = len(transport.writes)
    assert 0 < first_pass <= FEED_SLICE // len(GET_LIVE) + 1 and transport.paused
    protocol.data_received(GET_LIVE)  # arrives meanwhile: queued behind the rest of the read
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.writes) == data.count(b"GET ") + 1 and not transport.paused


@in_loop
async def test_bytes_after_a_request_that_closes_the_connection_are_dropped_not_refused() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1", "Connection: close") + b"\x00 not a request\r\n\r\n")
    (request, deliver), = app.held
    deliver(request, (200, b"ok", b"text/plain", []))
    [answer] = transport.answers()
    assert answer.status == 200 and protocol.state.rejected == [] and transport.closed


@in_loop
async def test_a_read_that_fills_the_pipeline_waits_in_full_and_is_parsed_once_answers_drain() -> None:
    from model_server.http1 import MAX_PIPELINE

    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    one = post("/a", b"x" * 600)
    count = FEED_SLICE * 3 // len(one)  # more than MAX_PIPELINE requests, over several slices
    assert count > MAX_PIPELINE
    protocol.data_received(one * count)
    for _ in range(5):
        await asyncio.sleep(0)  # the slices after the first are parsed on later passes, until the pipeline fills
    assert transport.paused and MAX_PIPELINE <= len(app.held) < count
    protocol.data_received(GET_LIVE)  # arrives while paused: after the rest of the read
    held = list(app.held)
    app.held.clear()
    for request, deliver in held:
        deliver(request, (200, b"ok", b"text/plain", []))
    for _ in range(10):
        await asyncio.sleep(0)
        for request, deliver in list(app.held):
            app.held.remove((request, deliver))
            deliver(request, (200, b"ok", b"text/plain", []))
    assert len(app.finished) == count + 1 and app.finished[-1][0].path == "/live"
    assert len(transport.writes) == count + 1 and not transport.paused


@in_loop
async def test_an_idle_connection_of_the_other_listener_is_never_evicted_for_a_new_one() -> None:
    state = connections(max_connections=1)
    admin, admin_transport = connect(state=state, admin=True)  # idle, on the admin listener
    busy, _ = connect(RecordingApp(hold=True), state)
    busy.data_received(post("/a", b"1"))
    protocol, _ = connect(state=state)
    assert not admin_transport.closed and protocol.over_capacity and admin in state.idle


@in_loop
async def test_a_body_spanning_many_slices_is_read_in_one_go_while_earlier_requests_wait() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1"))  # owed, not answered
    big = post("/big", b"x" * (3 * FEED_SLICE))
    head_end = big.index(b"\r\n\r\n") + 4
    protocol.data_received(big[:head_end])
    protocol.data_received(big[head_end:])  # one read of slices that complete no request but the last
    assert [r.path for r, _ in app.finished] == ["/a", "/big"] and len(app.finished[1][1]) == 3 * FEED_SLICE
    assert transport.pauses == 0 and protocol.backlog is None


@in_loop
async def test_a_target_longer_than_the_head_limit_gets_414_and_a_long_head_431() -> None:
    protocol, transport = connect(state=connections(max_header_bytes=20))
    protocol.data_received(b"GET /" + b"a" * 20 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    [answer] = transport.answers()
    assert answer.status == 414 and json.loads(answer.body) == {"error": "request target exceeds 20 bytes"}
    assert answer.headers["connection"] == "close" and protocol.state.rejected == ["header_too_large"]
    protocol, transport = connect(state=connections(max_header_bytes=20))
    protocol.data_received(b"GET /" + b"a" * 19 + b" HTTP/1.1\r\nHost: x\r\n\r\n")  # target of 20: head too long
    assert [a.status for a in transport.answers()] == [431]
    protocol, transport = connect(state=connections(max_header_bytes=20))
    protocol.data_received(b"GET /" + b"a" * 20)  # streamed, the target alone already past the limit
    assert [a.status for a in transport.answers()] == [414]


@pytest.mark.parametrize(("head", "status", "message"), [
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "the Host header is not a valid host[:port]"),
    (b"GET / HTTP/1.1\r\nHost: user@h\r\n\r\n", 400, "the Host header is not a valid host[:port]"),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
     "Transfer-Encoding in an HTTP/1.0 request; send Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
     "transfer coding not implemented: gzip, chunked; send the body chunked or with Content-Length"),
])
@in_loop
async def test_a_bad_host_or_transfer_coding_is_refused_before_the_application_sees_it(head: bytes, status: int,
                                                                                       message: str) -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    protocol.data_received(head)
    [answer] = transport.answers()
    assert (answer.status, json.loads(answer.body)["error"]) == (status, message) and app.begun == []
    assert answer.headers["connection"] == "close" and protocol.state.rejected == ["bad_http"]


@pytest.mark.parametrize("host", [b"h", b"h:8080", b"[::1]:80", b" 10.0.0.1 ", b"x%20y"])
@in_loop
async def test_a_valid_host_and_a_plain_chunked_body_reach_the_application(host: bytes) -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    protocol.data_received(b"POST /a HTTP/1.1\r\nHost: " + host + b"\r\nTransfer-Encoding: Chunked\r\n\r\n"
                           b"2\r\nhi\r\n0\r\n\r\n")
    assert app.finished[0][1] == b"hi" and [a.status for a in transport.answers()] == [200]


@pytest.mark.parametrize(("second", "status"), [(b"BREW /pot HTTP/1.1\r\n\r\n", 501),
                                                (b"\x00BREW /pot HTTP/1.1\r\n\r\n", 400)])
@in_loop
async def test_a_request_pipelined_behind_others_in_one_read_is_judged_by_its_own_line(second: bytes,
                                                                                       status: int) -> None:
    protocol, transport = connect()
    protocol.data_received(GET_LIVE + GET_LIVE + second)
    assert [a.status for a in transport.answers()] == [200, 200, status]


@in_loop
async def test_chunked_must_be_the_last_coding_and_a_1_0_client_gets_no_100_continue() -> None:
    protocol, transport = connect()
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n")
    [answer] = transport.answers()
    assert (answer.status, json.loads(answer.body)["error"]) == (400, "chunked must be the final transfer coding "
                                                                      "of a request")
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(b"POST /a HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
    assert transport.writes == [] and len(app.begun) == 1


@in_loop
async def test_a_dropped_body_past_the_limit_behind_two_owed_answers_closes_after_the_last_one_only() -> None:
    app = RecordingApp(hold=True, early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"2") + post("/early", b"x" * 10)[:-10])
    protocol.discarded = DISCARD_MAX_BYTES
    protocol.data_received(b"x")
    assert [r.keep_alive for r in protocol.owed] == [True, True, False]
    for request, deliver in app.held:
        deliver(request, (200, b"ok", b"text/plain", []))
    answers = transport.answers()
    assert [a.status for a in answers] == [200, 200, 401] and transport.eof, "FIN after the last answer, then a linger"
    assert ["connection" in a.headers for a in answers] == [False, False, True]


@in_loop
async def test_an_unknown_method_is_told_which_methods_the_server_implements() -> None:
    protocol, transport = connect()
    protocol.data_received(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
    [answer] = transport.answers()
    assert answer.status == 501
    assert json.loads(answer.body) == {"error": "unknown request method; this server implements GET, HEAD and POST"}


@in_loop
async def test_a_malformed_header_line_gets_400_counted_as_bad_http() -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET /b HTTP/1.1\r\nno colon here\r\n\r\n")
    [answer] = transport.answers()
    assert answer.status == 400 and json.loads(answer.body)["error"].startswith("malformed HTTP request")
    assert protocol.state.rejected == ["bad_http"] and transport.closed
    assert protocol.state.messages == [protocol.state.messages[0]]
    assert protocol.state.messages[0].startswith("HTTP 400 (bad_http) for 127.0.0.1:40000: malformed HTTP request")


@in_loop
async def test_the_path_ends_at_the_first_question_mark_even_when_the_query_holds_another() -> None:
    app = RecordingApp()
    protocol, _ = connect(app)
    protocol.data_received(b"GET /v2/health/live?a=1?b=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    [request] = app.begun
    assert request.path == "/v2/health/live"


@in_loop
async def test_an_unfinished_second_head_of_exactly_the_limit_on_a_kept_connection_is_still_read() -> None:
    protocol, transport = connect(state=connections(max_header_bytes=30))
    protocol.data_received(b"GET /x HTTP/1.1\r\nX: 12345\r\n\r\n")
    protocol.data_received(b"GET /x HTTP/1.1\r\nX-Long: " + b"a" * 5)  # 30 bytes, the head not finished
    assert [a.status for a in transport.answers()] == [200] and not transport.closed
    protocol.data_received(b"\r\n\r\n")
    assert [a.status for a in transport.answers()] == [200, 200]
