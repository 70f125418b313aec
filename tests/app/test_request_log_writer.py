"""The request log's own writer (request_log.RequestLog._write): lines reach the stream without `logging`
while nobody configured the logger, the lines of one event loop pass in one write and one flush at its end;
a configured logger decides again."""
from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest


@pytest.fixture
def request_logger():
    from model_server.request_log import LOGGER_NAME

    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    for handler in saved[0]:
        logger.removeHandler(handler)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


class CountingStream(io.StringIO):
    flushes = 0
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def fresh_log(logger: logging.Logger):
    """A RequestLog whose logger holds only its own handler (pytest attaches its capture handlers to every
    non-propagating logger when a test starts: to the writer they are a configured logger)."""
    from model_server.request_log import RequestLog

    logger.handlers = []
    log = RequestLog("m")
    assert logger.handlers == log._direct and len(log._direct) == 1
    return log


def record(log, status: int = 200) -> None:
    log.record(request_id="r1", route="/v2/models/{name}/infer", method="POST", status=status, seconds=0.001,
               batch_size=1)


def test_the_lines_of_one_loop_pass_are_written_together_at_its_end(request_logger, monkeypatch) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stdout", stream)
    log = fresh_log(request_logger)

    async def one_pass() -> tuple[int, int, int]:
        for status in (200, 404, 503):
            record(log, status)
        kept = len(stream.getvalue())
        await asyncio.sleep(0)  # the write runs at the end of the pass
        return kept, stream.writes, stream.flushes

    assert asyncio.run(one_pass()) == (0, 1, 1)
    assert [json.loads(line)["status"] for line in stream.getvalue().splitlines()] == [200, 404, 503]
    record(log)  # outside an event loop: written at once
    assert (stream.writes, stream.flushes) == (2, 2) and stream.getvalue().count("\n") == 4


def test_lines_still_kept_are_written_when_the_log_is_flushed(request_logger, monkeypatch) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stdout", stream)
    log = fresh_log(request_logger)

    async def stopped_mid_pass() -> str:
        record(log, 201)
        log.flush()  # what ModelServer.shutdown does last
        return stream.getvalue()

    written = asyncio.run(stopped_mid_pass())
    assert json.loads(written)["status"] == 201
    log.flush()  # nothing kept: nothing written again
    assert stream.writes == 1


def test_log_times_are_utc_with_milliseconds_and_follow_the_clock(monkeypatch) -> None:
    from model_server.request_log import _Clock

    clock = _Clock()
    moments = iter([1_700_000_000.25, 1_700_000_000.999, 1_700_000_061.0071])
    monkeypatch.setattr("time.time", lambda: next(moments))
    assert [clock.now() for _ in range(3)] == [
        "2023-11-14T22:13:20.250Z", "2023-11-14T22:13:20.999Z", "2023-11-14T22:14:21.007Z"]


def test_log_milliseconds_are_truncated_never_rounded_up_to_a_fourth_digit(monkeypatch) -> None:
    from model_server.request_log import _Clock

    monkeypatch.setattr("time.time", lambda: 1_700_000_000 + 1023 / 1024)  # .9990234375 s, exact in a float
    assert _Clock().now() == "2023-11-14T22:13:20.999Z"


def test_a_logger_configured_by_someone_else_gets_the_lines_through_logging(request_logger, monkeypatch) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stdout", stream)
    log = fresh_log(request_logger)
    captured = []
    handler = logging.Handler()
    handler.emit = lambda rec: captured.append(rec.getMessage())  # type: ignore[method-assign]
    request_logger.addHandler(handler)
    record(log, 404)
    assert json.loads(captured[0])["status"] == 404 and stream.getvalue().count("\n") == 1  # its own handler too
    request_logger.setLevel(logging.WARNING)  # silenced by whoever configures logging
    record(log)
    assert len(captured) == 1 and stream.getvalue().count("\n") == 1


def test_a_line_holds_the_documented_fields_and_level_error_only_for_5xx(request_logger, monkeypatch) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stdout", stream)
    log = fresh_log(request_logger)
    log.record(request_id="r1", route="/v2/models/{name}/infer", method="POST", status=200, seconds=0.0012345,
               batch_size=3, trace_id="ab" * 16)
    for status in (499, 500, 503):
        log.record(request_id=f"s{status}", route="other", method="GET", status=status, seconds=0.001,
                   batch_size=None)
    first, *others = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert list(first) == ["time", "level", "msg", "request_id", "model", "route", "method", "status",
                           "latency_ms", "batch_size", "trace_id"]
    assert (first["level"], first["msg"], first["model"], first["latency_ms"]) == ("info", "request", "m", 1.234)
    assert (first["request_id"], first["route"], first["method"], first["status"]) == (
        "r1", "/v2/models/{name}/infer", "POST", 200)
    assert (first["batch_size"], first["trace_id"]) == (3, "ab" * 16)
    assert [(o["status"], o["level"]) for o in others] == [(499, "info"), (500, "error"), (503, "error")]
    assert all("batch_size" not in o and "trace_id" not in o for o in others)


def test_probes_and_scrapes_are_logged_only_when_they_answer_500(request_logger, monkeypatch) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stdout", stream)
    log = fresh_log(request_logger)
    for route in ("/v2/health/live", "/v2/health/ready", "/metrics"):
        for status in (200, 503, 500):
            log.record(request_id=f"{route}-{status}", route=route, method="GET", status=status, seconds=0.001,
                       batch_size=None)
    assert [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == [
        "/v2/health/live-500", "/v2/health/ready-500", "/metrics-500"]


def test_stopping_the_server_writes_the_request_lines_still_kept(tiny_model) -> None:
    from model_server.app import ModelServer
    from model_server.config import load_settings

    app = ModelServer(load_settings({"MODEL_DIR": str(tiny_model.dir)}))
    flushed = []
    app.request_log.flush = lambda: flushed.append(True)  # type: ignore[method-assign]
    asyncio.run(app.shutdown())
    assert flushed == [True] and not app.ready and app.draining
