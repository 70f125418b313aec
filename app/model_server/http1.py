"""The server's own HTTP/1.1 front end: an asyncio.Protocol on uvloop, parsed by httptools.

One `Http1Protocol` per connection, calling the application (`ModelServer.begin` at the end of a
request head, `ModelServer.finish` with the whole body) directly: no ASGI messages, no task per
request, one write per response. A request that can be answered at once (health, metadata,
errors, and inference when the model is fast and nothing else is waiting) is answered inside the
read callback that completed it; slower inference answers when its batch is done.

The limits of `http_limits` are enforced here:

- a request head larger than MAX_HEADER_BYTES gets 431 and the connection closes (the head is
  counted as it arrives, so a streamed header costs at most that much);
- a head not complete HEADER_TIMEOUT_SECONDS after its first byte (for the first request of a
  connection: after the connection opened) gets 408; a connection that sends nothing in that
  time is closed silently; a body not complete BODY_TIMEOUT_SECONDS after its head gets 408;
  idle keep-alive connections close after KEEP_ALIVE_TIMEOUT_SECONDS. There is no timer per
  request: one sweep every SWEEP_S looks at each connection's deadline, so a request that
  arrives whole costs no timer at all;
- bodies larger than MAX_REQUEST_BYTES get 413 (before the body is read when Content-Length
  says so; chunked bodies as soon as they pass the limit); the rest of such a body is read and
  dropped, so the client reads the answer instead of a reset;
- the connection cap (evict the idle-longest, else 503 + Retry-After, else close), parser errors
  as counted, rate-logged JSON 400s, `Expect: 100-continue`, pipelining (answers in request
  order; reading pauses while MAX_PIPELINE answers are owed), keep-alive, `Connection: close`
  on every answer once draining.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httptools

from .http_limits import DRAIN_IDLE_S, OVERFLOW_CONNECTIONS, Connections, raw_response, status_line
from .protocol import error_body
from .request_log import PASSED_HEADERS

if TYPE_CHECKING:
    from .app import Answer, ModelServer

SWEEP_S = 0.2
"""How often every connection's deadline is checked (the resolution of all HTTP timeouts)."""
MAX_PIPELINE = 32
"""Pipelined requests a connection may have unanswered before the server stops reading from it."""

_IDLE, _HEAD, _BODY = 0, 1, 2
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE_LINE = b"connection: close\r\n"
_STATUS: dict[int, bytes] = {}
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}


def _status(status: int) -> bytes:
    line = _STATUS.get(status)
    if line is None:
        line = _STATUS[status] = status_line(status)
    return line


class DateHeader:
    """The `date` line of every response (RFC 9110 6.6.1), formatted by each sweep (every SWEEP_S), not per
    response: the header has a resolution of one second."""

    line = b""

    @classmethod
    def update(cls) -> None:
        cls.line = b"date: " + formatdate(usegmt=True).encode() + b"\r\n"


DateHeader.update()


class HttpRequest:
    """One request as the application sees it; the application fills in its own fields."""

    __slots__ = ("method", "path", "headers", "hosts", "duplicate", "http10", "admin", "head_only", "route",
                 "started", "admitted", "token", "header_length", "future", "response", "keep_alive",
                 "request_id", "rows", "trace")

    def __init__(self, method: str, path: str, headers: dict[bytes, bytes], hosts: int, duplicate: bytes | None,
                 http10: bool, admin: bool, keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        """The headers the application reads (`READ_HEADERS`), lower-case names."""
        self.hosts = hosts
        self.duplicate = duplicate
        """The first of those headers given more than once, if any."""
        self.http10 = http10
        self.admin = admin
        self.head_only = method == "HEAD"
        self.keep_alive = keep_alive
        self.route = ""
        self.started = 0.0
        self.admitted = False
        self.token: int | None = None
        self.header_length: int | None = None
        self.future: asyncio.Future | None = None
        self.response: bytes | None = None
        """The serialised answer once there is one (written when every earlier one was)."""
        # observability (request_log.py, tracing.py): the request's id, rows and spans
        self.request_id: str | None = None
        self.rows: int | None = None
        self.trace: object | None = None


READ_HEADERS = frozenset({b"content-length", b"content-type", b"content-encoding", b"authorization",
                          b"inference-header-content-length"})


class Http1Protocol(asyncio.Protocol):
    """One HTTP/1.1 connection to `app` on the public or the admin listener."""

    def __init__(self, app: ModelServer, state: Connections, admin: bool) -> None:
        self.app = app
        self.state = state
        self.admin = admin
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.group: set | None = None
        self.peer = "client"
        self.max_body = app.settings.max_request_bytes
        self.owed: deque[HttpRequest] = deque()
        """Requests whose head was read and whose answer is not written yet, in order."""
        self.request: HttpRequest | None = None
        """The request whose body is being read."""
        self.reading = _IDLE
        self.since = time.monotonic()
        """When the current reading state began (connection open, first head byte, head end, last answer)."""
        self.active_at = self.since
        self.served = 0
        self.over_capacity = False
        self.closing = False
        self.paused = False
        self.head_bytes = 0
        self.head_exact = 0
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.hosts = 0
        self.duplicate: bytes | None = None
        self.expect = False
        self.body: list[bytes] = []
        self.body_size = 0
        self.discard = False

    # --- connection lifecycle ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        state = self.state
        limits = state.limits
        group, cap, listener = (state.admin, limits.admin_connections, "admin") if self.admin else \
            (state.public, limits.max_connections, "public")
        if len(group) >= cap and not self._evict_idle(group):
            if len(group) >= cap + OVERFLOW_CONNECTIONS:
                # Even the 503 needs a descriptor for a while; past this margin refuse without one.
                state.reject("connection_limit", f"connection limit reached on the {listener} listener: "
                             "connection closed without an answer")
                self.closing = True
                transport.abort()
                return
            self.over_capacity = True
        group.add(self)
        self.group = group
        state.on_count(listener, len(group))
        state.idle[self] = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        state = self.state
        state.idle.pop(self, None)
        if self.group is not None:
            self.group.discard(self)
            state.on_count("admin" if self.admin else "public", len(self.group))
            self.group = None
        while self.owed:
            request = self.owed.popleft()
            if request.response is None:
                self.app.abort(request)  # nobody to answer: free its admission and its batch slot

    def eof_received(self) -> bool:
        """The client closed its sending side: answer what it already sent, then close (a client
        that half-closes after its request still gets the answer)."""
        if self.owed and not self.closing:
            self.owed[-1].keep_alive = False
            return True
        return False

    def _evict_idle(self, group: set) -> bool:
        """Close the connection of `group` idle the longest; False when none is idle."""
        for connection in self.state.idle:
            if connection.group is group and not connection.closing:
                self.state.reject("evicted_idle", "connection limit reached: closed the connection idle the "
                                  "longest to admit a new one")
                connection.close()
                return True
        return False

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.state.idle.pop(self, None)
            self.transport.close()

    # --- reading -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.active_at = now = time.monotonic()
        if self.reading == _IDLE:
            self.state.idle.pop(self, None)
            self.reading = _HEAD
            if self.served:  # the first request's head is timed from the connection's opening
                self.since = now
        if self.reading == _HEAD:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol upgrades (no WebSocket, no h2c): answer as HTTP/1.1, then close.
            self.parser = httptools.HttpRequestParser(self)
            if self.owed:
                self.owed[-1].keep_alive = False
            else:
                self.close()
            return
        except httptools.HttpParserError as exc:
            if self.closing or (self.owed and not self.owed[-1].keep_alive):
                # Bytes after a request that closes the connection (llhttp refuses them): the
                # answers owed are still written, then the connection closes; nothing to refuse.
                self.discard = True
                return
            self._refuse_raw(400, "bad_http", f"malformed HTTP request: {str(exc)[:100]}")
            return
        if self.reading == _HEAD and self.head_bytes > self.state.limits.max_header_bytes and not self.closing:
            self._refuse_raw(431, "header_too_large",
                             f"request head exceeds {self.state.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.hosts = 0
        self.duplicate = None
        self.expect = False
        self.head_exact = 0
        self.body = []
        self.body_size = 0
        self.discard = False
        if self.reading != _HEAD:  # a pipelined request that began in the same read as the previous one
            self.reading = _HEAD
            self.since = self.active_at

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_exact += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_exact += len(name) + len(value) + 4
        name = name.lower()
        if name in READ_HEADERS:
            if name in self.headers:
                self.duplicate = self.duplicate or name
            else:
                self.headers[name] = value
        elif name in PASSED_HEADERS:  # observability: request id and trace context (request_log.py)
            self.headers.setdefault(name, value)
        elif name == b"host":
            self.hosts += 1
        elif name == b"expect":
            self.expect = value.strip().lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        if self.closing:  # the rest of a read that came after the answer that closed the connection
            self.discard = True
            return
        self.reading = _BODY
        self.since = self.active_at
        self.head_bytes = 0
        parser = self.parser
        url = self.url
        cut = url.find(b"?")
        if cut >= 0:
            url = url[:cut]
        path = url.decode("latin-1")
        if "%" in path:
            path = unquote(path, encoding="latin-1")
        method = parser.get_method()
        request = HttpRequest(_METHODS.get(method) or method.decode("latin-1"), path, self.headers, self.hosts,
                              self.duplicate, parser.get_http_version() == "1.0", self.admin,
                              parser.should_keep_alive())
        self.request = request
        self.owed.append(request)
        limits = self.state.limits
        if self.head_exact > limits.max_header_bytes:
            answer = self._refusal(431, "header_too_large", f"request head exceeds {limits.max_header_bytes} bytes")
        elif self.over_capacity:
            answer = self._refusal(503, "connection_limit", "too many open connections; retry shortly",
                                   (b"retry-after", str(limits.retry_after_s).encode()))
        else:
            answer = self.app.begin(request)
        if answer is not None:
            # Answered before the body: the rest of it is read and dropped (within BODY_TIMEOUT_SECONDS).
            self.discard = True
            if self.expect or self.over_capacity or answer[0] == 431:
                request.keep_alive = False
            self.deliver(request, answer)
        elif self.expect and len(self.owed) == 1:
            self.transport.write(_CONTINUE)
        if len(self.owed) >= MAX_PIPELINE and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def on_body(self, body: bytes) -> None:
        if self.discard:
            return
        self.body_size += len(body)
        if self.body_size > self.max_body:
            self.discard = True
            self.body = []
            request = self.request
            self.app.abort(request)
            self.deliver(request, self.app.refuse(request, 413,
                                                  f"request body exceeds the limit of {self.max_body} bytes"))
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.reading = _IDLE
        self.head_bytes = 0
        request = self.request
        self.request = None
        if self.discard or request is None or self.closing:
            return
        body = self.body
        self.body = []
        self.app.finish(request, body[0] if len(body) == 1 else b"".join(body), self.deliver)

    # --- writing -------------------------------------------------------------------------------
    def deliver(self, request: HttpRequest, answer: Answer | None) -> None:
        """Serialise `answer` for `request` and write every answer now due, in request order."""
        if answer is None or self.closing:
            return
        status, body, content_type, headers = answer
        keep_alive = request.keep_alive and not self.state.draining
        parts = [_status(status), DateHeader.line, b"content-type: ", content_type, b"\r\ncontent-length: ",
                 str(len(body)).encode(), b"\r\n"]
        for name, value in headers:
            if name == b"connection":
                keep_alive = False
            else:
                parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            request.keep_alive = False
            parts.append(_CLOSE_LINE)
        parts.append(b"\r\n")
        if not request.head_only:
            parts.append(body)
        request.response = b"".join(parts)
        if self.owed[0] is request:
            self._flush()

    def _flush(self) -> None:
        owed = self.owed
        transport = self.transport
        while owed and owed[0].response is not None:
            request = owed.popleft()
            transport.write(request.response)
            self.served += 1
            if not request.keep_alive:
                self.close()
                return
        if self.paused and len(owed) < MAX_PIPELINE // 2:
            self.paused = False
            transport.resume_reading()
        if not owed and self.reading == _IDLE:
            self.since = time.monotonic()
            self.state.idle[self] = None

    def _refusal(self, status: int, reason: str, message: str, *headers: tuple[bytes, bytes]) -> Answer:
        """A limit's answer to a complete head, outside the application (counted as a rejection, not a request)."""
        self._count_refusal(status, reason, message)
        return status, error_body(message), b"application/json", [(b"connection", b"close"), *headers]

    def _refuse_raw(self, status: int, reason: str, message: str) -> None:
        """Answer outside any request (the head never completed) and close."""
        self._count_refusal(status, reason, message)
        if self.closing:
            return
        if not self.owed:
            self.transport.write(raw_response(status, message))
        self.close()

    # --- deadlines (called by the sweep) -----------------------------------------------------
    def check(self, now: float) -> None:
        if self.closing:
            return
        limits = self.state.limits
        draining = self.state.draining
        if self.reading == _HEAD:
            if now - self.since >= limits.header_timeout_s:
                self._refuse_raw(408, "header_timeout", f"request head not received within "
                                 f"{limits.header_timeout_s:g} s")
            elif draining and now - self.active_at >= DRAIN_IDLE_S:
                self._refuse_raw(408, "header_timeout", "server shutting down and the request head stalled")
        elif self.reading == _BODY:
            if now - self.since >= limits.body_timeout_s:
                self._body_timed_out(f"request body not received within {limits.body_timeout_s:g} s")
            elif draining and now - self.active_at >= DRAIN_IDLE_S:
                self._body_timed_out("server shutting down and the request body stalled")
        elif not self.owed:
            quiet = now - max(self.since, self.active_at)
            if not self.served and quiet >= limits.header_timeout_s:
                # Nothing was sent: a connection opened and left idle. Close it quietly.
                self.state.reject("idle_timeout", f"closed {self.peer}: no request within "
                                  f"{limits.header_timeout_s:g} s of connecting")
                self.close()
            elif quiet >= self.app.settings.keep_alive_timeout_seconds or (draining and quiet >= DRAIN_IDLE_S):
                self.close()

    def _count_refusal(self, status: int, reason: str, message: str) -> None:
        self.state.reject(reason, f"HTTP {status} ({reason}) for {self.peer}: {message}")

    def _body_timed_out(self, message: str) -> None:
        self._count_refusal(408, "body_timeout", message)
        request = self.request
        if request is not None and not self.discard:
            self.app.abort(request)
            request.response = b""
        if self.owed and self.owed[0] is request:
            self.transport.write(raw_response(408, message))
        self.close()

    def cut_off(self) -> None:
        """The drain timeout ran out: answer every request still owed 503, then close."""
        for request in list(self.owed):
            if request.response is None:
                self.deliver(request, self.app.cut_off(request))
        if not self.closing:
            self.close()


def sweep(state: Connections, loop: asyncio.AbstractEventLoop) -> None:
    """Check every connection's deadline now, and again every SWEEP_S (until `state.sweeper` is cancelled)."""
    now = time.monotonic()
    DateHeader.update()
    for connection in list(state.public) + list(state.admin):
        connection.check(now)
    state.sweeper = loop.call_later(SWEEP_S, sweep, state, loop)
