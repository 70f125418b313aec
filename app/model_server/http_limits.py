"""HTTP/1.1 limits uvicorn's httptools protocol does not have, added by subclassing it.

uvicorn (with httptools, its fastest parser) has a keep-alive timeout but no limit on the size of
a request head, no timeout for reading a head or a body, no per-listener connection cap, and it
answers parser errors with text/plain. Against hostile clients each gap is a resource hole (one
streamed header stalls the event loop; never-finished requests hold sockets and memory forever;
a full descriptor table resets every new connection, probes included). `protocol_class` returns a
subclass of uvicorn's HttpToolsProtocol (uvicorn's documented `http=` protocol-class setting)
that closes them:

- a request head (request line + headers) larger than MAX_HEADER_BYTES gets 431;
- a head not complete HEADER_TIMEOUT_SECONDS after its first byte (or after the connection was
  opened) gets 408, a body not complete BODY_TIMEOUT_SECONDS after its head gets 408;
- the public listener holds at most MAX_CONNECTIONS connections: a new one first evicts the
  connection idle the longest (as nginx reuses keep-alive connections), and when none is idle its
  request gets 503 + Retry-After; the admin listener has its own small quota, so probes and
  scrapes always find a descriptor;
- parser errors are answered with a JSON error, counted in `inference_rejections_total`, and
  logged at most once per LOG_INTERVAL_S per reason;
- while draining (after SIGTERM) every response says `Connection: close`, and connections that
  stay idle (or stall mid-request) for DRAIN_IDLE_S are closed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

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
    rate_log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))

    def reject(self, reason: str, message: str) -> None:
        self.on_reject(reason)
        self.rate_log.warning(reason, message)

    def start_draining(self) -> None:
        self.draining = True
        for connection in list(self.public) + list(self.admin):
            connection.drain()


def rejection_app(status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> Callable:
    """A tiny ASGI app answering one JSON error and closing the connection."""
    body = error_body(message)
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close"), *headers]}

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": body})
    return app


def raw_response(status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> bytes:
    body = error_body(message)
    lines = [STATUS_LINE[status], b"content-type: application/json\r\n",
             b"content-length: " + str(len(body)).encode() + b"\r\n", b"connection: close\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join([*lines, b"\r\n", body])


class _CoalescingTransport:
    """The transport as one response cycle sees it: the response head is held back and written
    together with the body, so a response costs one write system call instead of two (uvicorn
    writes the head at `http.response.start` and the body at `http.response.body`).

    Writes before the response starts (`100 Continue`) go straight through, and so does every write
    of a HEAD response (it has no body write to carry the head); a held head is flushed by the next
    write or by close()."""

    __slots__ = ("_transport", "_cycle", "_held", "_hold")

    def __init__(self, transport: asyncio.Transport, cycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None
        self._hold = cycle.scope["method"] != "HEAD"

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif self._hold and self._cycle.response_started and not self._cycle.response_complete:
            self._held = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):  # is_closing, get_extra_info, ...: the real transport's
        return getattr(self._transport, name)


class HardenedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above. `connections` is set by protocol_class."""

    connections_state: Connections

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._app = self.app
        self._awaiting_head = True
        self._head_bytes = 0
        self._head_exact = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._over_capacity = False
        self._group: set | None = None
        self._last_activity = time.monotonic()

    # --- connection lifecycle --------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        state = self.connections_state
        limits = state.limits
        admin = self.server is not None and self.server[1] == limits.admin_port
        group, cap, listener = (state.admin, limits.admin_connections, "admin") if admin else \
            (state.public, limits.max_connections, "public")
        if len(group) >= cap and not self._evict_idle(group):
            if len(group) >= cap + OVERFLOW_CONNECTIONS:
                # Even the 503 needs a descriptor for a while; past this margin refuse without one.
                state.reject("connection_limit", f"connection limit reached on the {listener} listener: "
                             "connection closed without an answer")
                self.transport.abort()
                return
            self._over_capacity = True
        group.add(self)
        self._group = group
        state.on_count(listener, len(group))
        state.idle[self] = None
        # uvicorn arms no timer before the first request: a connection that never sends would stay open forever.
        self._arm_head_timer(limits.header_timeout_s)
        if state.draining:
            self.drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        state = self.connections_state
        state.idle.pop(self, None)
        if self._group is not None:
            self._group.discard(self)
            state.on_count("admin" if self._group is state.admin else "public", len(self._group))
        super().connection_lost(exc)

    def _evict_idle(self, group: set) -> bool:
        """Close the connection of `group` idle the longest; False when none is idle."""
        for connection in self.connections_state.idle:
            if connection in group and not connection.transport.is_closing():
                self.connections_state.reject("evicted_idle", "connection limit reached: closed the "
                                              "connection idle the longest to admit a new one")
                connection.transport.close()
                self.connections_state.idle.pop(connection, None)
                return True
        return False

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _arm_head_timer(self, seconds: float) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(seconds, self._head_timed_out)

    # --- reading -----------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._last_activity = time.monotonic()
        state = self.connections_state
        state.idle.pop(self, None)
        if self._awaiting_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no protocol upgrades here (no WebSocket, no h2c): the request is served as HTTP/1.1
        except httptools.HttpParserError as exc:
            self._refuse_raw(400, "bad_http", f"malformed HTTP request: {str(exc)[:100]}")
            return
        if self.transport.is_closing():
            return
        # Timers only for what is still incomplete after this chunk: a request that arrives in one
        # piece (the common case) costs no timer at all.
        limits = state.limits
        if self._awaiting_head:
            if self._head_bytes > limits.max_header_bytes:
                self._refuse_raw(431, "header_too_large", f"request head exceeds {limits.max_header_bytes} bytes")
                return
            if self._head_bytes and self._head_timer is None:
                self._arm_head_timer(limits.header_timeout_s)
        elif self._body_timer is None and self.cycle is not None and self.cycle.more_body \
                and not self.cycle.response_complete:
            self._body_timer = self.loop.call_later(limits.body_timeout_s, self._body_timed_out)
        if state.draining:
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(DRAIN_IDLE_S, self._close_when_quiet)

    def _refuse_raw(self, status: int, reason: str, message: str) -> None:
        """Answer outside any request cycle (the head never completed) and close."""
        self.connections_state.reject(reason, f"HTTP {status} ({reason}) for {self._peer()}: {message}")
        self._cancel_timers()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(raw_response(status, message))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:  # uvicorn's text/plain answer, as JSON
        self._refuse_raw(400, "bad_http", msg)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_exact = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_exact += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_exact += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        state = self.connections_state
        limits = state.limits
        self._awaiting_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        refusal = None
        if self._head_exact > limits.max_header_bytes:
            refusal = (431, "header_too_large", f"request head exceeds {limits.max_header_bytes} bytes", [])
        elif self._over_capacity:
            refusal = (503, "connection_limit", "too many open connections; retry shortly",
                       [(b"retry-after", str(limits.retry_after_s).encode())])
        if refusal is not None:
            status, reason, message, headers = refusal
            state.reject(reason, f"HTTP {status} ({reason}) for {self._peer()}: {message}")
            self.app = rejection_app(status, message, headers)
        try:
            super().on_headers_complete()
        finally:
            self.app = self._app
        if self.cycle is not None:
            self.cycle.transport = _CoalescingTransport(self.transport, self.cycle)
            if refusal is not None or state.draining:
                self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True
        self._head_bytes = 0
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._awaiting_head and not self.pipeline:
            self._last_activity = time.monotonic()
            self.connections_state.idle[self] = None
            if self.connections_state.draining:
                self._close_when_quiet()

    # --- timeouts ------------------------------------------------------------------------------
    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes == 0 and (self.cycle is None or self.cycle.response_complete):
            # Nothing was sent: a connection opened and left idle. Close it quietly.
            self.connections_state.reject("idle_timeout", f"closed {self._peer()}: no request within "
                                          f"{self.connections_state.limits.header_timeout_s:g} s of connecting")
            self._cancel_timers()
            self.transport.close()
            return
        self._refuse_raw(408, "header_timeout", "request head not received within "
                         f"{self.connections_state.limits.header_timeout_s:g} s")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        limits = self.connections_state.limits
        message = f"request body not received within {limits.body_timeout_s:g} s"
        self.connections_state.reject("body_timeout", f"HTTP 408 (body_timeout) for {self._peer()}: {message}")
        if not cycle.response_started:
            self.transport.write(raw_response(408, message))
        # The application sees a disconnect and stops waiting for the body; its answer is not sent.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()

    # --- drain ---------------------------------------------------------------------------------
    def drain(self) -> None:
        """Called once draining starts: no more keep-alive; quiet connections close soon."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        self._close_when_quiet()

    def shutdown(self) -> None:  # uvicorn's immediate close of idle connections would race clients
        self.drain()

    def _close_when_quiet(self) -> None:
        if self.transport.is_closing():
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        reading_body = busy and self.cycle.more_body
        if busy and not reading_body and not self._head_bytes:
            return  # the application has the whole request; its response closes the connection
        quiet_for = time.monotonic() - self._last_activity
        if quiet_for >= DRAIN_IDLE_S:
            if reading_body:
                self._body_timed_out()
            elif self._head_bytes:
                self._refuse_raw(408, "header_timeout", "server shutting down and the request head stalled")
            else:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(DRAIN_IDLE_S - quiet_for, self._close_when_quiet)


def protocol_class(connections: Connections) -> type[HardenedHttpToolsProtocol]:
    """A protocol class bound to one server's shared connection state (uvicorn's `http=` setting)."""
    return type("ModelServerHttpProtocol", (HardenedHttpToolsProtocol,), {"connections_state": connections})


def effective_max_connections(configured: int, nofile_soft: int, other_descriptors: int) -> int:
    """MAX_CONNECTIONS lowered so public connections can never exhaust the descriptor table."""
    budget = nofile_soft - other_descriptors - ADMIN_CONNECTIONS - OVERFLOW_CONNECTIONS * 2 - FD_RESERVE
    return max(1, min(configured, budget))
