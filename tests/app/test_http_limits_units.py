"""The HTTP limits' own rules in process: the rate-limited log, the refusal bookkeeping, the raw answers and
the descriptor arithmetic of the connection cap (the subprocess tests in test_http_limits.py show them on a
real socket, but cannot catch a change to this module: docs/testing.md)."""
from __future__ import annotations

import json
import logging

import pytest
from model_server.http_limits import (
    ADMIN_CONNECTIONS,
    FD_RESERVE,
    OVERFLOW_CONNECTIONS,
    Connections,
    RateLimitedLog,
    effective_max_connections,
    raw_response,
    status_line,
)

from tests.app.conftest import parse_raw_response
from tests.app.http1_fakes import limits


@pytest.fixture
def clocked(caplog):
    """A RateLimitedLog of interval 60 on a clock the test moves, and the messages it logged."""
    now = [0.0]
    logger = logging.getLogger("test-rate-units")
    caplog.set_level(logging.WARNING, logger="test-rate-units")
    limited = RateLimitedLog(logger, interval=60, clock=lambda: now[0])
    return limited, now, lambda: [(r.levelno, r.getMessage()) for r in caplog.records]


def test_a_rate_limited_log_logs_again_exactly_one_interval_after_the_last(clocked) -> None:
    limited, now, messages = clocked
    assert limited.warning("bad_http", "first") is True
    now[0] = 59.9
    assert limited.warning("bad_http", "held") is False
    now[0] = 60.0  # the interval has passed: logged, and the one held back is counted
    assert limited.warning("bad_http", "second") is True
    assert messages() == [(logging.WARNING, "first"), (logging.WARNING, "second (1 more like it in the last 60 s)")]


def test_a_rate_limited_log_counts_every_event_it_held_back_and_starts_counting_afresh(clocked) -> None:
    limited, now, messages = clocked
    limited.warning("k", "a")
    for t in (1.0, 2.0, 3.0):
        now[0] = t
        assert not limited.warning("k", "held")
    now[0] = 100.4
    limited.warning("k", "b")
    now[0] = 200.0  # nothing held back since: no count
    limited.warning("k", "c")
    assert [m for _, m in messages()] == ["a", "b (3 more like it in the last 100 s)", "c"]


def test_a_rate_limited_log_times_each_kind_on_its_own(clocked) -> None:
    limited, now, messages = clocked
    limited.warning("one", "one first")
    now[0] = 10.0
    assert limited.warning("two", "two first")
    now[0] = 65.0  # 65 s after "one", 55 s after "two"
    assert limited.warning("one", "one again")
    assert not limited.warning("two", "two held")
    assert [m for _, m in messages()] == ["one first", "two first", "one again"]


def test_a_rate_limited_log_holds_back_a_repeat_by_default(caplog) -> None:
    limited = RateLimitedLog(logging.getLogger("test-rate-default"))  # one minute on the monotonic clock
    with caplog.at_level(logging.WARNING, logger="test-rate-default"):
        assert limited.warning("k", "first")
        assert not limited.warning("k", "at once again")
    assert [r.getMessage() for r in caplog.records] == ["first"]


def test_a_refusal_is_counted_with_its_reason_and_logged_once_per_interval(caplog) -> None:
    reasons: list[str] = []
    state = Connections(limits(), on_reject=reasons.append)
    with caplog.at_level(logging.WARNING, logger="model_server.http_limits"):
        state.reject("header_timeout", "HTTP 408 for a client")
        state.reject("header_timeout", "HTTP 408 for another client")
        state.reject("bad_http", "HTTP 400 for a client")
    assert reasons == ["header_timeout", "header_timeout", "bad_http"]
    assert [r.getMessage() for r in caplog.records] == ["HTTP 408 for a client", "HTTP 400 for a client"]


def test_a_connection_state_starts_serving_and_drains_once_told() -> None:
    state = Connections(limits())
    assert state.draining is False and state.uploading == 0 and not state.public and not state.idle
    state.reject("any", "no callback given: nothing is counted, nothing breaks")
    state.start_draining()
    assert state.draining is True


@pytest.mark.parametrize(("status", "line"), [(200, b"HTTP/1.1 200 OK\r\n"),
                                              (408, b"HTTP/1.1 408 Request Timeout\r\n"),
                                              (503, b"HTTP/1.1 503 Service Unavailable\r\n")])
def test_a_status_line_carries_the_code_and_its_standard_reason(status: int, line: bytes) -> None:
    assert status_line(status) == line


def test_a_raw_refusal_is_a_json_error_that_closes_the_connection() -> None:
    raw = raw_response(503, "too many open connections", [(b"retry-after", b"3")])
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [b"HTTP/1.1 503 Service Unavailable", b"content-type: application/json",
                                   f"content-length: {len(body)}".encode(), b"connection: close",
                                   b"retry-after: 3"]
    assert json.loads(body) == {"error": "too many open connections"}
    answer = parse_raw_response(raw_response(408, "late"))
    assert answer.status == 408 and answer.headers["connection"] == "close"
    assert set(answer.headers) == {"content-type", "content-length", "connection"}


def test_the_connection_cap_leaves_exactly_the_descriptors_the_server_needs_besides() -> None:
    reserved = ADMIN_CONNECTIONS + 2 * OVERFLOW_CONNECTIONS + FD_RESERVE
    assert reserved == 128
    assert effective_max_connections(10_000, 1024, 40) == 1024 - 40 - reserved
    assert effective_max_connections(1024 - 40 - reserved, 1024, 40) == 1024 - 40 - reserved
    assert effective_max_connections(100, 1024, 40) == 100  # a cap that fits is kept


def test_the_connection_cap_is_shared_by_the_public_listeners_and_is_never_below_one() -> None:
    budget = 1025 - 40 - 128  # odd: each of two listeners gets the whole half, a whole number
    assert effective_max_connections(10_000, 1025, 40, listeners=2) == budget // 2 == 428
    assert isinstance(effective_max_connections(10_000, 1025, 40, listeners=2), int)
    assert effective_max_connections(1000, 100, 40) == 1
    assert effective_max_connections(1000, 169, 40) == 1  # a budget of exactly one
    assert effective_max_connections(1000, 170, 40) == 2
