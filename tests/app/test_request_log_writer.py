"""The request log's own writer (request_log.RequestLog._write): lines reach the stream without `logging`
while nobody configured the logger, once per event loop pass flushed; a configured logger decides again."""
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


def test_lines_of_one_loop_pass_are_written_at_once_and_flushed_once(request_logger, monkeypatch) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stdout", stream)
    log = fresh_log(request_logger)

    async def one_pass() -> tuple[int, int]:
        for _ in range(3):
            record(log)
        written = len(stream.getvalue().splitlines())
        await asyncio.sleep(0)  # the flush runs at the end of the pass
        return written, stream.flushes

    written, flushes = asyncio.run(one_pass())
    assert (written, flushes) == (3, 1)
    assert [json.loads(line)["status"] for line in stream.getvalue().splitlines()] == [200] * 3
    record(log)  # outside an event loop: flushed at once
    assert stream.flushes == 2


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
