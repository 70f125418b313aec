"""Every deadline of an HTTP/1.1 connection, in process, at its exact bound (http1_deadlines.py), and how a
connection ends once they pass (http1_closing.py): quietly, with a 408, or with a FIN and a short linger."""
from __future__ import annotations

import asyncio
import json

from model_server.http1 import DISCARD_MAX_BYTES
from model_server.http1_deadlines import SWEEP_S, sweep
from model_server.http_limits import DRAIN_IDLE_S

from tests.app.http1_fakes import GET_LIVE, RecordingApp, RecordingTransport, connect, connections, in_loop, post


@in_loop
async def test_a_connection_that_sends_nothing_is_closed_quietly_at_the_head_timeout() -> None:
    protocol, transport = connect(RecordingApp(keep_alive_timeout_seconds=60.0), connections(header_timeout_s=10.0))
    protocol.check(protocol.since + 9.99)
    assert not transport.closed
    protocol.check(protocol.since + 10.0)
    assert transport.closed and transport.writes == [] and protocol.state.rejected == ["idle_timeout"]
    assert protocol.state.messages == ["closed 127.0.0.1:40000: no request within 10 s of connecting"]


@in_loop
async def test_a_head_not_complete_at_the_head_timeout_gets_408() -> None:
    protocol, transport = connect(state=connections(header_timeout_s=10.0))
    protocol.data_received(b"GET /live HTTP/1.1\r\n")
    protocol.check(protocol.since + 9.99)
    assert transport.writes == []
    protocol.check(protocol.since + 10.0)
    [answer] = transport.answers()
    assert answer.status == 408 and b"request head not received within 10 s" in answer.body
    assert protocol.state.rejected == ["header_timeout"] and transport.closed


@in_loop
async def test_the_next_head_is_timed_from_its_first_byte_not_from_the_connection() -> None:
    protocol, transport = connect(state=connections(header_timeout_s=10.0))
    protocol.data_received(GET_LIVE)
    protocol.since -= 100  # answered long ago
    protocol.data_received(b"GET /live HTTP/1.1\r\n")
    protocol.check(protocol.active_at + 9.99)
    assert len(transport.writes) == 1


@in_loop
async def test_a_body_not_complete_at_the_body_timeout_gets_408_and_frees_its_request() -> None:
    app = RecordingApp()
    protocol, transport = connect(app, connections(body_timeout_s=30.0, header_timeout_s=5.0))
    protocol.data_received(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123")
    protocol.check(protocol.since + 29.99)
    assert transport.writes == []
    protocol.check(protocol.since + 30.0)
    [answer] = transport.answers()
    assert answer.status == 408 and b"request body not received within 30 s" in answer.body
    assert protocol.state.rejected == ["body_timeout"] and app.aborted == app.begun
    assert answer.headers["connection"] == "close"


@in_loop
async def test_a_kept_connection_closes_silently_after_the_keep_alive_timeout() -> None:
    app = RecordingApp(keep_alive_timeout_seconds=5.0)
    protocol, transport = connect(app, connections(header_timeout_s=1.0))
    protocol.data_received(GET_LIVE)
    quiet_since = max(protocol.since, protocol.active_at)
    protocol.check(quiet_since + 4.99)  # past the head timeout: an answered connection is not idle-timed
    assert not transport.closed
    protocol.check(quiet_since + 5.0)
    assert transport.closed and protocol.state.rejected == [] and len(transport.writes) == 1


@in_loop
async def test_a_connection_waiting_for_its_answer_has_no_deadline() -> None:
    app = RecordingApp(hold=True, keep_alive_timeout_seconds=5.0)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1"))
    protocol.check(protocol.since + 1000.0)
    assert not transport.closed and protocol.state.rejected == []


@in_loop
async def test_while_draining_stalled_heads_and_bodies_get_408_and_quiet_connections_close_after_a_second() -> None:
    state = connections()
    head, head_transport = connect(state=state)
    head.data_received(b"GET /live HTTP/1.1\r\n")
    body, body_transport = connect(RecordingApp(), state)
    body.data_received(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n1")
    kept, kept_transport = connect(state=state)
    kept.data_received(GET_LIVE)
    state.start_draining()
    for protocol in (head, body, kept):
        protocol.check(protocol.active_at + DRAIN_IDLE_S - 0.01)
    assert [len(t.writes) for t in (head_transport, body_transport, kept_transport)] == [0, 0, 1]
    assert not kept_transport.closed
    for protocol in (head, body, kept):
        protocol.check(max(protocol.active_at, protocol.since) + DRAIN_IDLE_S)
    assert json.loads(head_transport.answers()[0].body) == {
        "error": "server shutting down and the request head stalled"}
    assert json.loads(body_transport.answers()[0].body) == {
        "error": "server shutting down and the request body stalled"}
    assert [a.status for a in head_transport.answers() + body_transport.answers()] == [408, 408]
    assert state.rejected == ["header_timeout", "body_timeout"] and kept_transport.closed


@in_loop
async def test_a_client_that_takes_no_answers_is_cut_off_at_the_body_timeout() -> None:
    protocol, transport = connect(state=connections(body_timeout_s=30.0, header_timeout_s=100.0))
    protocol.data_received(b"GET /live HTTP/1.1\r\n")
    protocol.pause_writing()
    assert transport.paused
    protocol.check(protocol.blocked_since + 29.99)
    assert not transport.closed
    protocol.check(protocol.blocked_since + 30.0)
    assert transport.aborted and transport.writes == [] and protocol.state.rejected == ["write_timeout"]
    assert protocol.state.messages == ["closed 127.0.0.1:40000: it took none of its answers for 30 s"]


@in_loop
async def test_a_client_that_takes_its_answers_again_is_read_again() -> None:
    protocol, transport = connect(state=connections(body_timeout_s=30.0))
    protocol.pause_writing()
    protocol.resume_writing()
    assert not transport.paused and transport.resumes == 1
    protocol.check(protocol.blocked_since + 30.0)
    assert not transport.aborted


@in_loop
async def test_a_closed_connection_the_client_does_not_let_go_is_aborted_after_the_body_timeout() -> None:
    protocol, transport = connect(state=connections(body_timeout_s=30.0), transport=RecordingTransport())
    transport.close = lambda: None  # the transport cannot close yet: its buffer is full
    protocol.close()
    protocol.check(protocol.closed_at + 29.99)
    assert not transport.aborted
    protocol.check(protocol.closed_at + 30.0)
    assert transport.aborted


@in_loop
async def test_a_lingering_connection_is_aborted_after_a_second_whatever_the_client_does() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    state = connections()
    protocol, transport = connect(app, state)
    protocol.data_received(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    protocol.pause_writing()  # reading paused: the linger resumes it to drop what arrives
    protocol.close()
    assert protocol.lingering and transport.eof and not transport.paused
    assert protocol not in state.public and state.counts[-1] == ("public", 0), "a lingering one took a place"
    protocol.check(protocol.closed_at + DRAIN_IDLE_S - 0.01)
    assert not transport.aborted
    protocol.check(protocol.closed_at + DRAIN_IDLE_S)
    assert transport.aborted


@in_loop
async def test_a_linger_ends_by_itself_after_a_second() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app, connections(), admin=True)
    protocol.data_received(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    protocol.close()
    assert protocol.state.counts[-1] == ("admin", 0)
    await asyncio.sleep(DRAIN_IDLE_S * 0.9)
    assert not transport.aborted
    await asyncio.sleep(DRAIN_IDLE_S * 0.2)
    assert transport.aborted


@in_loop
async def test_a_close_without_a_half_close_closes_at_once() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    protocol, transport = connect(app, transport=RecordingTransport(eof_ok=False))
    protocol.data_received(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n")
    assert transport.closed and not transport.eof and not protocol.lingering


@in_loop
async def test_the_drain_timeout_answers_every_request_still_owed_503_then_closes() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"2") + post("/c", b"3"))
    (_, deliver), (second, _), _ = app.held
    deliver(second, (200, b"done", b"text/plain", []))
    protocol.cut_off()
    assert [a.status for a in transport.answers()] == [503, 200, 503]
    assert [r.path for r in app.cut] == ["/a", "/c"] and transport.closed
    idle, idle_transport = connect(app)
    idle.cut_off()
    assert idle_transport.closed and idle_transport.writes == []


@in_loop
async def test_a_request_refused_when_nothing_is_owed_closes_at_once() -> None:
    protocol, transport = connect()
    protocol._close_after_owed()
    assert transport.closed


@in_loop
async def test_the_sweep_checks_every_connection_of_both_listeners_and_comes_back() -> None:
    state = connections(header_timeout_s=0.0)
    public, public_transport = connect(state=state)
    admin, admin_transport = connect(state=state, admin=True)
    loop = asyncio.get_running_loop()
    sweep(state, loop)
    assert public_transport.closed and admin_transport.closed
    assert state.sweeper is not None and 0 < state.sweeper.when() - loop.time() <= SWEEP_S
    late, late_transport = connect(state=state)
    await asyncio.sleep(SWEEP_S * 1.5)
    assert late_transport.closed, "the sweep did not come back"
    state.sweeper.cancel()


@in_loop
async def test_a_kept_connection_is_quiet_since_its_last_answer_or_its_last_bytes_whichever_is_later() -> None:
    app = RecordingApp(keep_alive_timeout_seconds=5.0)
    protocol, transport = connect(app, connections(header_timeout_s=1.0))
    protocol.data_received(GET_LIVE)
    answered = protocol.since
    protocol.active_at = answered + 3.0  # whichever of the two clocks is later counts
    protocol.check(answered + 7.99)
    assert not transport.closed
    protocol.since, protocol.active_at = answered + 3.0, answered
    protocol.check(answered + 7.99)
    assert not transport.closed
    protocol.check(answered + 8.0)
    assert transport.closed and protocol not in protocol.state.idle


@in_loop
async def test_a_client_cut_off_for_taking_no_answers_is_refused_once_and_forgotten() -> None:
    protocol, transport = connect(state=connections(body_timeout_s=30.0, header_timeout_s=100.0))
    protocol.data_received(b"GET /live HTTP/1.1\r\n")
    protocol.pause_writing()
    protocol.check(protocol.blocked_since + 30.0)
    protocol.check(protocol.blocked_since + 60.0)
    assert protocol.state.rejected == ["write_timeout"] and protocol.closing
    assert protocol not in protocol.state.idle


@in_loop
async def test_a_connection_closed_past_the_most_it_drops_reads_nothing_more_and_is_aborted_if_it_hangs_on() -> None:
    app = RecordingApp(early={"/early": (401, b"no", b"text/plain", [])})
    state = connections(body_timeout_s=30.0)
    protocol, transport = connect(app, state, transport=RecordingTransport(eof_ok=False))
    protocol.data_received(post("/early", b"x" * 10)[:-10])
    assert protocol in state.idle  # answered: it may be evicted while it drops the body
    protocol.discarded = DISCARD_MAX_BYTES
    protocol.data_received(b"x")
    assert transport.closed and protocol not in state.idle
    protocol.data_received(GET_LIVE)
    assert len(app.begun) == 1 and len(transport.writes) == 1
    protocol.check(protocol.closed_at + 29.99)
    assert not transport.aborted
    protocol.check(protocol.closed_at + 30.0)
    assert transport.aborted
