"""The HTTP/1.1 front end in process, with a recording transport: what it writes, and how often."""
from __future__ import annotations

import asyncio
import json

from tests.app.conftest import MODEL_NAME, TinyModel, digits_rows, infer_payload, parse_raw_response
from tests.app.http1_fakes import RecordingTransport


def _post(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return (f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _exchange(model: TinyModel, data: bytes, *, settle: float = 0.5) -> RecordingTransport:
    """Feed `data` to a fresh connection of a real ModelServer (tiny model) and record the writes."""
    from model_server.app import ModelServer
    from model_server.config import load_settings
    from model_server.http1 import Http1Protocol
    from model_server.http_limits import Connections, Limits

    async def scenario() -> RecordingTransport:
        app = ModelServer(load_settings({"MODEL_DIR": str(model.dir)}))
        await app.startup()
        while not app.ready:
            await asyncio.sleep(0.02)
        state = Connections(Limits(max_header_bytes=16384, header_timeout_s=10, body_timeout_s=30,
                                   max_connections=10, retry_after_s=1, admin_port=0))
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
    from model_server.http_limits import Connections, Limits

    request = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    data = request * (4 * FEED_SLICE // len(request))  # one read of four slices

    async def scenario() -> tuple[int, bool, int]:
        app = ModelServer(load_settings({"MODEL_DIR": str(tiny_model.dir)}))
        state = Connections(Limits(max_header_bytes=16384, header_timeout_s=10, body_timeout_s=30,
                                   max_connections=10, retry_after_s=1, admin_port=0))
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
    assert answered_while_paused <= FEED_SLICE // len(request) + 1, "reading went on past the slice it paused in"
    assert answered == data.count(b"GET "), "the rest of the read was not answered after resuming"
