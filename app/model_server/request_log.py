"""The request log: one JSON line per answered request, and the request id the client gets back.

What an on-call engineer searches for (CloudWatch Logs Insights, Loki) after an alert: which requests
failed, on which route, how slow, how large, and the id the client quotes. Only those fields are
written: never the body, the query, a header value or an API key, so a log line is safe to keep
for the log group's retention. Health probes and Prometheus scrapes are not logged unless they
answer 500 (lines every few seconds per replica that say nothing; a loading or draining replica's
not-ready answers show in the readiness metrics); everything else is.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

REQUEST_ID_HEADER = b"x-request-id"
"""The header a client (or the ALB in front) may send, and the header every answer carries."""
LOGGER_NAME = "model_server.requests"
PASSED_HEADERS = frozenset({REQUEST_ID_HEADER, b"traceparent", b"tracestate"})
"""Headers the HTTP front end keeps for the request log and the traces; the first of repeats wins (a repeated
one is no reason to refuse a request, unlike a repeated Content-Length)."""

# A client's id is kept only if it cannot forge or break a log line: printable, no quotes, bounded.
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
CLIENT_CLOSED = 499
"""The status logged for a request whose client went away before its answer (nginx's "client closed request"):
no answer was sent, but the line is still written, with how long the request had run and its batch size."""
QUIET_ROUTES = frozenset({"/v2/health/live", "/v2/health/ready", "/metrics"})
"""Routes whose answers are not logged unless they are a 500 (probes and scrapes)."""


def request_id(header: bytes | None, new_id: Callable[[], str]) -> str:
    """The client's `X-Request-Id` when it is a safe token, else a new id from `new_id`."""
    if header is not None and _CLIENT_ID.fullmatch(header):
        return header.decode("ascii")
    return new_id()


class _Clock:
    """The log's timestamps (RFC 3339, UTC, milliseconds); the date and time part is formatted once per second
    (`strftime` cost ~5 us, a third of a line's cost)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"


class RequestLog:
    """Writes request lines to the `model_server.requests` logger, bare JSON on stdout by default."""

    def __init__(self, model: str, *, enabled: bool = True) -> None:
        self.model = model
        self.enabled = enabled
        self.logger = logging.getLogger(LOGGER_NAME)
        self._direct: list[logging.Handler] = []
        self._pending: list[str] = []
        """Lines of this event loop pass not yet written (`_write`)."""
        self._clock = _Clock()
        if not self.logger.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))  # the message is the whole JSON line
            self.logger.addHandler(handler)
            self.logger.propagate = False  # no "INFO name:" prefix from the root handler
            self.logger.setLevel(logging.INFO)
            self._direct = [handler]

    def line(self, *, request_id: str, route: str, method: str, status: int, seconds: float,
             batch_size: int | None, trace_id: str | None = None) -> bytes:
        """The JSON line of one answered request (the fields are the whole contract: docs/monitoring.md)."""
        fields: dict[str, object] = {
            "time": self._clock.now(), "level": "error" if status >= 500 else "info", "msg": "request",
            "request_id": request_id, "model": self.model, "route": route, "method": method,
            "status": status, "latency_ms": round(seconds * 1000, 3),
        }
        if batch_size is not None:
            fields["batch_size"] = batch_size
        if trace_id is not None:
            fields["trace_id"] = trace_id
        return orjson.dumps(fields)

    def record(self, *, request_id: str, route: str, method: str, status: int, seconds: float,
               batch_size: int | None, trace_id: str | None = None) -> None:
        """Log one answered request, unless logging is off or it is a probe or scrape that did not crash."""
        if not self.enabled or (route in QUIET_ROUTES and status != 500):
            return
        text = self.line(request_id=request_id, route=route, method=method, status=status, seconds=seconds,
                         batch_size=batch_size, trace_id=trace_id).decode()
        if self.logger.handlers == self._direct and self.logger.isEnabledFor(logging.INFO):
            self._write(text)
        else:  # someone configured the logger: its handlers, filters and levels decide
            self.logger.info(text)

    def _write(self, text: str) -> None:
        """Our own handler's job without `logging` (a record, the caller's frame and a flush per line cost
        ~35 us, a fifth of a 1-row request's CPU at one client): the lines of one event loop pass are written
        together at its end, in one write and one flush (one system call where there were one per line)."""
        self._pending.append(text)
        if len(self._pending) > 1:
            return
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no event loop (a direct call): written now
            self.flush()

    def flush(self) -> None:
        """Write the lines kept so far (at the end of each event loop pass, and when the server stops)."""
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        stream = self._direct[0].stream  # type: ignore[attr-defined]
        stream.write("\n".join(lines) + "\n")
        stream.flush()


# gRPC: each call runs in its own task, so context variables carry its id and its rows from start to answer.
_GRPC_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("grpc_request_id", default=None)
_GRPC_ROWS: contextvars.ContextVar[int | None] = contextvars.ContextVar("grpc_rows", default=None)


def grpc_request_started(app: Any, context: Any) -> None:
    """A gRPC call starts: its id (the client's `x-request-id` metadata when safe), sent back as trailing metadata."""
    given = next((v for k, v in context.invocation_metadata() or () if k == REQUEST_ID_HEADER.decode()), None)
    rid = request_id(given.encode() if isinstance(given, str) else given, app._new_id)
    _GRPC_REQUEST_ID.set(rid)
    _GRPC_ROWS.set(None)
    context.set_trailing_metadata(((REQUEST_ID_HEADER.decode(), rid),))


def grpc_request_rows(rows: int) -> None:
    """The gRPC call's batch size (rows of its inputs), for its log line as HTTP's has."""
    _GRPC_ROWS.set(rows)


def grpc_request_logged(app: Any, route: str, status: int, seconds: float) -> None:
    """A gRPC call is answered with `status` (its HTTP equivalent): its log line."""
    app.request_log.record(request_id=_GRPC_REQUEST_ID.get() or app._new_id(), route=route, method="POST",
                           status=status, seconds=seconds, batch_size=_GRPC_ROWS.get())
