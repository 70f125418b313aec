"""HTTP/1.1 limits against hostile clients: their settings, the shared connection state, and helpers.

`http1.Http1Protocol` enforces them (its docstring lists each). Against hostile clients each
missing limit was a resource hole: one streamed header stalled the event loop; never-finished
requests held sockets and memory forever; a full descriptor table reset every new connection,
probes included. The public listener holds at most MAX_CONNECTIONS connections (a new one first
evicts the connection idle the longest, as nginx reuses keep-alive connections; when none is
idle its request gets 503 + Retry-After); the admin listener has its own small quota, so probes
and scrapes always find a descriptor. Refusals are counted in `inference_rejections_total` and
logged at most once per LOG_INTERVAL_S per reason.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .protocol import error_body

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0
DRAIN_IDLE_S = 1.0
"""While draining, a connection with nothing in flight is closed after this long without traffic:
long enough that a client already sending its next request is served (with Connection: close)."""
ADMIN_CONNECTIONS = 64
"""Connection quota of the admin listener (kubelet probes, Prometheus): small, and never shared."""
FD_RESERVE = 32
OVERFLOW_CONNECTIONS = 16
"""Connections past the cap that still get a 503 + Retry-After (each holds a descriptor until answered)."""
"""Descriptors kept free of HTTP connections for the model, logs, gRPC and the admin listener."""


class RateLimitedLog:
    """Logs the first event of each kind, then at most once per `interval` with a count of the rest."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL_S, clock=time.monotonic) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, kind: str, message: str) -> bool:
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        more = self._suppressed.pop(kind, 0)
        suffix = f" ({more} more like it in the last {now - last:.0f} s)" if more and last is not None else ""
        self._log.warning("%s%s", message, suffix)
        return True


@dataclass
class Limits:
    max_header_bytes: int
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    """Effective cap for the public listener (already lowered to fit the descriptor limit)."""
    retry_after_s: int
    admin_port: int
    admin_connections: int = ADMIN_CONNECTIONS
    upload_budget: int = 1 << 62
    """Bytes of request bodies being read, over every connection, past which a body gets 503 (the
    memory of uploads in progress; inference slots are taken only once a body is complete)."""


@dataclass
class Connections:
    """Shared state of every HTTP connection of one server process."""

    limits: Limits
    on_reject: Callable[[str], None] = lambda reason: None
    """Called with the reason of every refusal (counts the metric)."""
    on_count: Callable[[str, int], None] = lambda listener, count: None
    public: set = field(default_factory=set)
    admin: set = field(default_factory=set)
    idle: dict = field(default_factory=dict)
    """Connections with nothing in flight and no partial request, oldest-idle first (insertion order)."""
    draining: bool = False
    uploading: int = 0
    """Bytes of request bodies read and not yet handed on or dropped (bounded by `limits.upload_budget`)."""
    rate_log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))
    sweeper: Any = None
    """The timer of the next deadline sweep (http1_deadlines.sweep)."""

    def reject(self, reason: str, message: str) -> None:
        self.on_reject(reason)
        self.rate_log.warning(reason, message)

    def start_draining(self) -> None:
        """From now on every answer closes its connection; the sweep closes quiet ones after DRAIN_IDLE_S."""
        self.draining = True


def status_line(status: int) -> bytes:
    """`HTTP/1.1 <code> <reason>\\r\\n`."""
    return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()


def raw_response(status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> bytes:
    body = error_body(message)
    lines = [status_line(status), b"content-type: application/json\r\n",
             b"content-length: " + str(len(body)).encode() + b"\r\n", b"connection: close\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join([*lines, b"\r\n", body])


def effective_max_connections(configured: int, nofile_soft: int, other_descriptors: int, listeners: int = 1) -> int:
    """MAX_CONNECTIONS lowered so the public listeners (HTTP, and gRPC when on: `listeners` of them, each
    capped at the result) can never exhaust the descriptor table together."""
    budget = nofile_soft - other_descriptors - ADMIN_CONNECTIONS - OVERFLOW_CONNECTIONS * 2 - FD_RESERVE
    return max(1, min(configured, budget // listeners))
