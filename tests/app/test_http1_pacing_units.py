"""How one HTTP/1.1 connection paces its reading, in process (http1_pacing.py): reading stops at exactly
MAX_PIPELINE unanswered requests or past WRITE_HIGH_WATER bytes of answers waiting, and resumes below half the
pipeline and at WRITE_LOW_WATER; a read held back (the backlog) is parsed only while reading goes on, and a
client that half-closed behind it is closed once its backlog is answered."""
from __future__ import annotations

import asyncio

from model_server.http1_pacing import FEED_SLICE, MAX_PIPELINE, WRITE_HIGH_WATER, WRITE_LOW_WATER

from tests.app.http1_fakes import GET_LIVE, RecordingApp, connect, in_loop, post


@in_loop
async def test_reading_stops_at_exactly_max_pipeline_unanswered_requests() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(b"".join(post(f"/{i}", b"1") for i in range(MAX_PIPELINE - 1)))
    assert not transport.paused and len(protocol.owed) == MAX_PIPELINE - 1
    protocol.data_received(post("/last", b"1"))
    assert transport.paused and protocol.paused and len(protocol.owed) == MAX_PIPELINE


@in_loop
async def test_reading_resumes_only_once_fewer_than_half_the_pipeline_is_owed() -> None:
    app = RecordingApp(hold=True)
    protocol, transport = connect(app)
    protocol.data_received(b"".join(post(f"/{i}", b"1") for i in range(MAX_PIPELINE)))
    assert transport.paused
    held = iter(app.held)
    for _ in range(MAX_PIPELINE - MAX_PIPELINE // 2):
        request, deliver = next(held)
        deliver(request, (200, b"ok", b"text/plain", []))
    assert len(protocol.owed) == MAX_PIPELINE // 2 and transport.paused and transport.resumes == 0
    request, deliver = next(held)
    deliver(request, (200, b"ok", b"text/plain", []))
    assert len(protocol.owed) == MAX_PIPELINE // 2 - 1 and not transport.paused and transport.resumes == 1


@in_loop
async def test_answers_waiting_of_exactly_the_high_water_mark_keep_reading_and_one_byte_more_stops_it() -> None:
    protocol, transport = connect()
    protocol.unsent = WRITE_HIGH_WATER
    protocol._pace()
    assert not transport.paused and not protocol.paused
    protocol.unsent = WRITE_HIGH_WATER + 1
    protocol._pace()
    assert transport.paused and protocol.paused


@in_loop
async def test_reading_resumes_when_the_answers_waiting_are_down_to_exactly_the_low_water_mark() -> None:
    protocol, transport = connect()
    protocol.unsent = WRITE_HIGH_WATER + 1
    protocol._pace()
    protocol.unsent = WRITE_LOW_WATER + 1
    protocol._pace()
    assert transport.paused
    protocol.unsent = WRITE_LOW_WATER
    protocol._pace()
    assert not transport.paused and not protocol.paused and transport.resumes == 1


@in_loop
async def test_a_backlog_is_not_parsed_while_reading_is_paused() -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    protocol.paused = True
    protocol.backlog = GET_LIVE
    protocol._feed_backlog()
    assert protocol.backlog == GET_LIVE and app.begun == [] and transport.writes == []


@in_loop
async def test_a_second_scheduled_pass_over_a_backlog_already_parsed_does_nothing() -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    protocol._feed_backlog()  # both _feed (yielding) and _pace (resuming) may schedule a pass
    assert protocol.backlog is None and app.begun == [] and not transport.closed


@in_loop
async def test_a_client_that_half_closed_behind_a_backlog_is_closed_once_the_backlog_is_answered() -> None:
    app = RecordingApp()
    protocol, transport = connect(app)
    count = FEED_SLICE * 3 // 2 // len(GET_LIVE)  # two slices: the first completes requests, the rest waits
    protocol.data_received(GET_LIVE * count)
    assert protocol.backlog is not None and transport.paused
    assert protocol.eof_received() is True  # requests still to parse: the close waits for them
    assert not transport.closed
    for _ in range(3):
        await asyncio.sleep(0)
    assert protocol.backlog is None and len(transport.answers()) == count
    assert transport.closed and not transport.paused

