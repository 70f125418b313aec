"""The HTTP/1.1 front end in process, with a recording transport: what it writes, and how often."""
from __future__ import annotations

import asyncio
import json

from tests.app.conftest import MODEL_NAME, TinyModel, digits_rows, infer_payload, parse_raw_response
from tests.app.http1_fakes import RecordingTransport


def _connections(max_connections: int = 10):
    """The shared connection state of one server with the limits these tests use."""
    from model_server.http_limits import Connections, Limits

    return Connections(Limits(max_header_bytes=16384, header_timeout_s=10, body_timeout_s=30,
                              max_connections=max_connections, retry_after_s=1, admin_port=0))


def _post(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return (f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _exchange(model: TinyModel, data: bytes, *, settle: float = 0.5) -> RecordingTransport:
    """Feed `data` to a fresh connection of a real ModelServer (tiny model) and record the writes."""
    from model_server.app import ModelServer
    from model_server.config import load_settings
    from model_server.http1 import Http1Protocol

    async def scenario() -> RecordingTransport:
        app = ModelServer(load_settings({"MODEL_DIR": str(model.dir)}))
        await app.startup()
        while not app.ready:
            await asyncio.sleep(0.02)
        state = _connections(max_connections=10)
        protocol = Http1Protocol(app, state, admin=False)
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(data)
        await asyncio.sleep(settle)  # the first batch of a fresh server runs on the inference thread
        await app.shutdown()
        return transport

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_each_answer_is_one_write_and_pipelined_answers_keep_the_request_order(tiny_model: TinyModel) -> None:
    data = (_post(infer_payload(digits_rows(1), id="first"))  # a fresh server: answered from the inference thread
            + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"  # answerable at once, but must wait its turn
            + _post(infer_payload(digits_rows(2), id="third")))
    transport = _exchange(tiny_model, data)
    answers = [parse_raw_response(write) for write in transport.writes]
    assert len(transport.writes) == 3, [w[:40] for w in transport.writes]
    assert [a.status for a in answers] == [200, 200, 200]
    assert json.loads(answers[0].body)["id"] == "first"
    assert answers[1].body == b'{"live":true}'
    assert json.loads(answers[2].body)["id"] == "third"
    for write, answer in zip(transport.writes, answers, strict=True):  # head and whole body in the same write
        assert int(answer.headers["content-length"]) == len(answer.body) == len(write.split(b"\r\n\r\n", 1)[1])
    assert not transport.closed


def test_a_head_answer_has_the_length_of_the_body_it_leaves_out(tiny_model: TinyModel) -> None:
    transport = _exchange(tiny_model, b"HEAD /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n", settle=0.0)
    [write] = transport.writes
    assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n")
    assert b"content-length: 14\r\n" in write  # len(b'{"ready":true}')


class SlowReaderTransport(RecordingTransport):
    """A client that takes nothing: past `high` bytes written, the transport asks the protocol to pause."""

    def __init__(self, high: int) -> None:
        super().__init__()
        self.high = high
        self.protocol = None
        self.pauses = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        if sum(map(len, self.writes)) > self.high and not self.pauses:
            self.pauses += 1
            self.protocol.pause_writing()


def test_reading_pauses_inside_one_read_when_answers_are_not_taken_and_resumes_after(tiny_model: TinyModel) -> None:
    from model_server.app import ModelServer
    from model_server.config import load_settings
    from model_server.http1 import FEED_SLICE, Http1Protocol

    request = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    data = request * (4 * FEED_SLICE // len(request))  # one read of four slices

    async def scenario() -> tuple[int, bool, int]:
        app = ModelServer(load_settings({"MODEL_DIR": str(tiny_model.dir)}))
        state = _connections(max_connections=10)
        protocol = Http1Protocol(app, state, admin=False)
        transport = SlowReaderTransport(high=1000)
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(data)
        answered_while_paused, paused = len(transport.writes), transport.paused
        protocol.resume_writing()
        await asyncio.sleep(0.05)  # the rest of the read is parsed on the next loop pass
        return answered_while_paused, paused, len(transport.writes)

    loop = asyncio.new_event_loop()
    try:
        answered_while_paused, paused, answered = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert paused
    # app/README.md: "a read is parsed 16 KiB at a time"
    assert answered_while_paused <= 16 * 1024 // len(request) + 1, "reading went on past the slice it paused in"
    assert answered == data.count(b"GET "), "the rest of the read was not answered after resuming"


class _Paced:
    """The state Backpressure reads, with nothing else of a connection."""

    def __init__(self) -> None:
        from model_server.http1_pacing import Backpressure

        self.pacer = type("Paced", (Backpressure,), {})()
        self.pacer.closing = self.pacer.paused = self.pacer.write_blocked = False
        self.pacer.owed, self.pacer.unsent, self.pacer.backlog = [], 0, None
        self.pacer.transport = RecordingTransport()

    def reading_after(self, *, owed: int, unsent: int) -> bool:
        self.pacer.owed, self.pacer.unsent = [None] * owed, unsent
        self.pacer._pace()
        return not self.pacer.transport.paused


def test_reading_stops_at_32_unanswered_requests_and_starts_again_below_16() -> None:
    paced = _Paced()
    assert paced.reading_after(owed=31, unsent=0)
    assert not paced.reading_after(owed=32, unsent=0)
    assert not paced.reading_after(owed=16, unsent=0)
    assert paced.reading_after(owed=15, unsent=0)


def test_reading_stops_past_64_kib_of_answers_not_taken_and_starts_again_at_16_kib() -> None:
    paced = _Paced()
    assert paced.reading_after(owed=1, unsent=64 * 1024)
    assert not paced.reading_after(owed=1, unsent=64 * 1024 + 1)
    assert not paced.reading_after(owed=1, unsent=16 * 1024 + 1)
    assert paced.reading_after(owed=1, unsent=16 * 1024)


def test_the_transport_asks_for_a_pause_past_64_kib_and_a_resume_at_16_kib(tiny_model: TinyModel) -> None:
    transport = _exchange(tiny_model, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", settle=0.0)
    assert transport.limits == (64 * 1024, 16 * 1024)


def test_a_connection_asking_metrics_again_within_a_second_gets_the_same_page(tiny_model: TinyModel,
                                                                               monkeypatch) -> None:
    from model_server import app as app_module
    from model_server.app import ModelServer
    from model_server.config import load_settings

    now = [1000.0]
    monkeypatch.setattr(app_module.time, "monotonic", lambda: now[0])
    app = ModelServer(load_settings({"MODEL_DIR": str(tiny_model.dir)}))
    connection: dict = {}
    first = app._metrics_page(connection)
    app.metrics.reject("bad_http")  # the next rendering differs from the first
    now[0] += 0.999
    assert app._metrics_page(connection) == first
    assert b'reason="bad_http"' in app._metrics_page({}), "another connection gets a page of its own"
    now[0] += 0.001
    assert b'reason="bad_http"' in app._metrics_page(connection), "a second later the page is rendered again"


def _admin_connections(tiny_model: TinyModel, heads: bytes, count: int):
    """`count` admin connections of one server (public cap 1), each sent `heads`; (state, protocols)."""
    from model_server.app import ModelServer
    from model_server.config import load_settings
    from model_server.http1 import Http1Protocol

    app = ModelServer(load_settings({"MODEL_DIR": str(tiny_model.dir)}))
    state = _connections(max_connections=1)
    protocols = []
    for _ in range(count):
        protocol = Http1Protocol(app, state, admin=True)
        protocol.connection_made(RecordingTransport())
        if heads:
            protocol.data_received(heads)
        protocols.append(protocol)
    return state, protocols


def test_the_admin_port_admits_64_connections_whatever_the_public_cap_then_closes_the_idle_longest(
        tiny_model: TinyModel) -> None:
    state, protocols = _admin_connections(tiny_model, b"", 65)
    assert [p.transport.closed for p in protocols] == [True] + [False] * 64
    assert not protocols[-1].over_capacity and len(state.public) == 0


def test_a_full_admin_quota_of_stalled_heads_closes_the_one_quiet_for_a_second(tiny_model: TinyModel) -> None:
    from model_server.http1 import Http1Protocol

    def newcomer_after(quiet: dict[int, float]) -> tuple[list[bool], bool]:
        state, protocols = _admin_connections(tiny_model, b"GET /metrics HTTP/1.1\r\nHost", 64)
        for index, seconds in quiet.items():
            protocols[index].active_at -= seconds
        newcomer = Http1Protocol(protocols[0].app, state, admin=True)
        newcomer.connection_made(RecordingTransport())
        return [p.transport.closed for p in protocols], newcomer.over_capacity

    async def scenario() -> tuple:
        return newcomer_after({5: 0.9}), newcomer_after({5: 0.9, 7: 1.0})

    loop = asyncio.new_event_loop()
    try:
        (closed, over), (closed_later, over_later) = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert not any(closed) and over, "none quiet for a second: the newcomer is over the quota (503)"
    assert closed_later == [i == 7 for i in range(64)] and not over_later, "the one quiet for a second is closed"


def test_an_http10_client_asking_for_keep_alive_keeps_its_connection_and_one_that_does_not_is_closed(
        tiny_model: TinyModel) -> None:
    kept = _exchange(tiny_model, b"GET /v2/health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2, settle=0.0)
    assert [parse_raw_response(w).status for w in kept.writes] == [200, 200] and not kept.closed
    closed = _exchange(tiny_model, b"GET /v2/health/live HTTP/1.0\r\n\r\n" * 2, settle=0.1)
    assert [parse_raw_response(w).status for w in closed.writes] == [200]
    assert closed.closed or getattr(closed, "eof", False), "the server ends its side of the connection"
    assert parse_raw_response(closed.writes[0]).headers["connection"] == "close"


def test_one_sweep_checks_every_connection_and_the_next_comes_0_2_s_later() -> None:
    from model_server.http1 import sweep

    checked: list[str] = []
    scheduled: list[float] = []

    class Connection:
        def __init__(self, name: str) -> None:
            self.name = name

        def check(self, now: float) -> None:
            checked.append(self.name)

    class Loop:
        def call_later(self, delay: float, *args) -> str:
            scheduled.append(delay)
            return "timer"

    state = _connections(max_connections=10)
    state.public.update({Connection("p1"), Connection("p2")})
    state.admin.add(Connection("a1"))
    sweep(state, Loop())
    assert sorted(checked) == ["a1", "p1", "p2"] and scheduled == [0.2] and state.sweeper == "timer"


def test_while_draining_a_connection_with_nothing_in_flight_is_closed_after_a_second_without_traffic(
        tiny_model: TinyModel) -> None:
    import time

    from model_server.app import ModelServer
    from model_server.config import load_settings
    from model_server.http1 import Http1Protocol

    app = ModelServer(load_settings({"MODEL_DIR": str(tiny_model.dir)}))
    state = _connections(max_connections=10)
    protocol = Http1Protocol(app, state, admin=False)
    protocol.connection_made(RecordingTransport())
    now = time.monotonic()
    protocol.check(now + 1.5)
    assert not protocol.transport.closed, "not draining: an idle connection waits for the keep-alive timeout"
    state.start_draining()
    protocol.check(now + 0.9)
    assert not protocol.transport.closed
    protocol.check(now + 1.0)
    assert protocol.transport.closed
