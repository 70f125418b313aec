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
  says so; chunked bodies as soon as they pass the limit); the rest of a body answered before it
  was read is dropped up to DISCARD_MAX_BYTES, so the client reads the answer instead of a reset
  (past that, or announced longer, the answer closes the connection: FIN, then a short linger);
  a client closing its side mid-body gets 400 at once and frees its inference slot;
- backpressure: reading pauses while MAX_PIPELINE answers are owed or WRITE_HIGH_WATER bytes of
  answers are not taken (`pause_writing`), reads are parsed FEED_SLICE bytes at a time so the
  pause takes effect inside a read, and a client that takes nothing for BODY_TIMEOUT_SECONDS is
  disconnected;
- the connection cap (evict the idle-longest, answered connections included; on the admin port
  the quietest of any state; else 503 + Retry-After, else close), parser errors as counted,
  rate-logged JSON 400s (501 for an unknown method, 505 for HTTP/2+ heads) written after the
  answers owed before them, `Expect: 100-continue`, pipelining (answers in request order),
  keep-alive, `Connection: close` on every answer after which the server closes (checked when the answer
  is written, so a close decided after it was built still says so); draining closes a connection once
  every request it sent is answered.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from email.utils import formatdate
from urllib.parse import unquote

import httptools

from .exchange import Answer, Application, HttpRequest
from .http_limits import DRAIN_IDLE_S, OVERFLOW_CONNECTIONS, Connections, raw_response, status_line
from .protocol import error_body
from .request_log import PASSED_HEADERS

SWEEP_S = 0.2
"""How often every connection's deadline is checked (the resolution of all HTTP timeouts)."""
MAX_PIPELINE = 32
"""Pipelined requests a connection may have unanswered before the server stops reading from it."""
WRITE_HIGH_WATER = 64 * 1024
WRITE_LOW_WATER = 16 * 1024
"""Answer bytes not yet taken by the client (the transport's buffer plus answers waiting for an earlier
one) above which the server stops reading the connection, and below which it reads again: a client
that pipelines and never reads holds at most this much (plus one FEED_SLICE of requests) in memory."""
FEED_SLICE = 16 * 1024
"""Bytes of one read handed to the parser at a time, so reading stops within a read once answers pile up."""
DISCARD_MAX_BYTES = 1024 * 1024
"""The most of a body answered before it was read (401, 413, health) that is read and dropped: past
it the connection closes (a longer body announced in advance closes it with the answer)."""

_IDLE, _HEAD, _BODY = 0, 1, 2
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE_LINE = b"connection: close\r\n"
_STATUS: dict[int, bytes] = {}
_REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [\x21-\x7e]+ HTTP/[0-9]\.[0-9]\r\n")
"""RFC 9112 3: method (a token) SP request-target SP HTTP-version CRLF."""
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}


def new_parser(protocol: object) -> httptools.HttpRequestParser:
    """A request parser that reads any HTTP/1.x version (RFC 9112 2.6: a higher minor version is served
    as 1.1); other major versions get 505 from on_headers_complete."""
    parser = httptools.HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(lenient_version=True)
    return parser


def with_close(response: bytes) -> bytes:
    """`response` with a `connection: close` line, unless its head has one."""
    head_end = response.find(b"\r\n\r\n")
    if response.find(b"\r\n" + _CLOSE_LINE, 0, head_end + 2) >= 0:
        return response
    line_end = response.find(b"\r\n") + 2
    return response[:line_end] + _CLOSE_LINE + response[line_end:]


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


READ_HEADERS = frozenset({b"content-length", b"content-type", b"content-encoding", b"authorization",
                          b"inference-header-content-length"})


class Http1Protocol(asyncio.Protocol):
    """One HTTP/1.1 connection to `app` on the public or the admin listener."""

    def __init__(self, app: Application, state: Connections, admin: bool) -> None:
        self.app = app
        self.state = state
        self.admin = admin
        self.parser = new_parser(self)
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
        self.discarded = 0
        self.chunked = False
        self.backlog: bytes | None = None
        """The rest of a read not yet parsed because reading paused in the middle of it."""
        self.eof = False
        self.write_blocked = False
        self.blocked_since = 0.0
        self.unsent = 0
        """Bytes of answers serialised but waiting for an earlier answer (not yet in the transport)."""
        self.lingering = False
        self.closed_at = 0.0
        self.stopped = False
        """Nothing more is parsed: a protocol upgrade, or a request refused as malformed."""
        self.kept: dict = {}
        self.yielded = False
        """Reading paused to let other connections in (`_feed`), until the backlog is parsed."""

    # --- connection lifecycle ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        state = self.state
        limits = state.limits
        group, cap, listener = (state.admin, limits.admin_connections, "admin") if self.admin else \
            (state.public, limits.max_connections, "public")
        if len(group) >= cap and not self._evict_idle(group) and not (self.admin and self._evict_stalled(group)):
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
        self.body = []
        self._drop_upload()
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
        that half-closes after its request still gets the answer). A request whose body never
        finished is answered 400 at once, freeing what it holds."""
        if self.closing:
            return False
        if self.backlog is not None:  # requests of an earlier read still to parse: after them
            self.eof = True
            return True
        self.eof = True
        request = self.request
        if self.reading == _BODY and request is not None:
            self.request = None
            self.reading = _IDLE
            if not self.discard:
                self.app.abort(request)
                request.keep_alive = False
                self.deliver(request, self.app.refuse(request, 400, "the connection was closed before the "
                                                      "request body was complete"))
        if self.owed and not self.closing:
            self.owed[-1].keep_alive = False
            return True
        return False

    # --- backpressure --------------------------------------------------------------------------
    def pause_writing(self) -> None:
        """The transport holds WRITE_HIGH_WATER bytes the client has not taken: stop reading its requests."""
        self.write_blocked = True
        self.blocked_since = time.monotonic()
        self._pace()

    def resume_writing(self) -> None:
        self.write_blocked = False
        self._pace()

    def _pace(self) -> None:
        """Stop reading while answers pile up (bytes or requests); read again once they drained."""
        if self.closing:
            return
        if not self.paused:
            if self.write_blocked or len(self.owed) >= MAX_PIPELINE or self.unsent > WRITE_HIGH_WATER:
                self.paused = True
                self.transport.pause_reading()
        elif not self.write_blocked and len(self.owed) < MAX_PIPELINE // 2 and self.unsent <= WRITE_LOW_WATER:
            self.paused = False
            self.transport.resume_reading()
            if self.backlog is not None:
                asyncio.get_running_loop().call_soon(self._feed_backlog)

    def _feed_backlog(self) -> None:
        if self.closing or self.backlog is None or self.paused:  # paused: _pace calls again when it resumes
            return
        if self.yielded:
            self.yielded = False
            self.transport.resume_reading()
        data, self.backlog = self.backlog, None
        self._feed(data)
        if self.backlog is None and self.eof and not self.closing and not self.eof_received():
            self.close()

    def _evict_stalled(self, group: set) -> bool:
        """Admin listener only (probes must always get in): close the connection of `group` that has sent
        nothing the longest, whatever its state; False when every one sent something just now."""
        oldest = min((c for c in group if not c.closing), key=lambda c: c.active_at, default=None)
        if oldest is None or time.monotonic() - oldest.active_at < DRAIN_IDLE_S:
            return False
        self.state.reject("evicted_idle", "admin connection limit reached: closed the connection quiet the "
                          "longest to admit a new one")
        oldest.close()
        return True

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
            self.closed_at = time.monotonic()
            self.state.idle.pop(self, None)
            if self.reading == _BODY and self.discard and self.transport.can_write_eof():
                # The client is still sending a body nobody reads: closing now would reset the
                # connection and could destroy the answer before the client reads it. Send FIN, keep
                # dropping what arrives (at most DISCARD_MAX_BYTES, DRAIN_IDLE_S), then close.
                self.lingering = True
                self.transport.write_eof()
                if self.paused:
                    self.transport.resume_reading()
                # It no longer counts against the connection cap (a new connection must not find only
                # lingering ones); it is aborted when the linger ends, whatever the client does.
                if self.group is not None:
                    self.group.discard(self)
                    self.state.on_count("admin" if self.admin else "public", len(self.group))
                    self.group = None
                asyncio.get_running_loop().call_later(DRAIN_IDLE_S, self.transport.abort)
                return
            self.transport.close()

    def _close_now(self) -> None:
        """Close without lingering (whatever the client still sends resets the connection)."""
        if not self.closing:
            self.closing = True
            self.closed_at = time.monotonic()
            self.state.idle.pop(self, None)
            self.transport.close()

    # --- reading -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            if self.lingering:
                self.discarded += len(data)
                if self.discarded > DISCARD_MAX_BYTES:
                    self.transport.abort()
            return
        if self.backlog is not None:  # reading paused in the middle of an earlier read: after it
            self.backlog += data
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Parse `data` FEED_SLICE bytes at a time; what is left when reading pauses waits in `backlog`.
        A slice that completed requests ends this turn (the rest is parsed on a later pass of the event
        loop, reading paused meanwhile): a client pipelining thousands of requests in one read must not
        hold the loop while other connections, probes among them, wait."""
        while len(data) > FEED_SLICE:
            before = self.served + len(self.owed)
            self._parse(data[:FEED_SLICE])
            data = data[FEED_SLICE:]
            if self.closing:
                return
            if self.paused:
                self.backlog = data
                return
            if self.served + len(self.owed) != before:
                self.backlog = data
                self.yielded = True
                self.transport.pause_reading()
                asyncio.get_running_loop().call_soon(self._feed_backlog)
                return
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        if self.closing or self.stopped:
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
            # No protocol upgrades (no WebSocket, no h2c): the request was answered as HTTP/1.1 with
            # Connection: close (on_headers_complete); what follows it is another protocol, dropped.
            self.stopped = True
            if not self.owed:
                self.close()
            return
        except httptools.HttpParserInvalidMethodError as exc:
            if _REQUEST_LINE.match(data):  # a well-formed request with a method llhttp does not know
                self._refuse_raw(501, "bad_http", "unknown request method; this server implements GET, HEAD and POST")
            else:
                self._refuse_raw(400, "bad_http", f"malformed HTTP request: {str(exc)[:100]}")
            return
        except httptools.HttpParserError as exc:
            if self.closing or (self.owed and not self.owed[-1].keep_alive and self.reading != _BODY):
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
        self._drop_upload()
        self.discard = False
        self.discarded = 0
        self.chunked = False
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
        elif name == b"transfer-encoding":
            self.chunked = True

    def on_headers_complete(self) -> None:
        if self.closing:  # the rest of a read that came after the answer that closed the connection
            self.discard = True
            return
        self.reading = _BODY
        self.since = self.active_at
        self.head_bytes = 0
        parser = self.parser
        url = self.url
        if url[:1] != b"/" and b"://" in url[:10]:  # absolute-form (RFC 9112 3.2.2): the path is what counts
            after = url.find(b"/", url.find(b"://") + 3)
            url = url[after:] if after >= 0 else b"/"
        cut = url.find(b"?")
        if cut >= 0:
            url = url[:cut]
        path = url.decode("latin-1")
        if "%" in path:
            path = unquote(path, encoding="latin-1")
        method = parser.get_method()
        version = parser.get_http_version()
        request = HttpRequest(_METHODS.get(method) or method.decode("latin-1"), path, self.headers, self.hosts,
                              self.duplicate, version == "1.0", self.admin,
                              parser.should_keep_alive() and not parser.should_upgrade(), self.kept)
        self.request = request
        self.owed.append(request)
        limits = self.state.limits
        if version[:2] != "1.":
            request.keep_alive = False
            answer = self._refusal(505, "bad_http", f"HTTP/{version} is not supported; send HTTP/1.1")
        elif self.head_exact > limits.max_header_bytes:
            answer = self._refusal(431, "header_too_large", f"request head exceeds {limits.max_header_bytes} bytes")
        elif self.over_capacity:
            answer = self._refusal(503, "connection_limit", "too many open connections; retry shortly",
                                   (b"retry-after", str(limits.retry_after_s).encode()))
        else:
            answer = self.app.begin(request)
        if answer is not None:
            # Answered before the body: the rest of it is read and dropped (within BODY_TIMEOUT_SECONDS
            # and DISCARD_MAX_BYTES; a longer body closes the connection instead).
            self.discard = True
            if self.expect or self.over_capacity or answer[0] == 431 or self._long_body():
                request.keep_alive = False
            self.deliver(request, answer)
        elif self.expect and len(self.owed) == 1:
            self.transport.write(_CONTINUE)
        self._pace()

    def _long_body(self) -> bool:
        """Whether the body announced is longer than the server drops (or of unknown length)."""
        if self.chunked:
            return True
        declared = self.headers.get(b"content-length")
        try:
            return declared is not None and int(declared) > DISCARD_MAX_BYTES
        except ValueError:
            return True

    def on_body(self, body: bytes) -> None:
        if self.discard:
            self.discarded += len(body)
            if self.discarded > DISCARD_MAX_BYTES and not self.closing:
                if self.owed:  # closes once the answers owed are written; nothing more is read
                    self.owed[-1].keep_alive = False
                    self.paused = True
                    self.transport.pause_reading()
                else:
                    self._close_now()
            return
        self.body_size += len(body)
        state = self.state
        state.uploading += len(body)
        if self.body_size > self.max_body:
            self._refuse_body(413, f"request body exceeds the limit of {self.max_body} bytes")
        elif state.uploading > state.limits.upload_budget:
            state.reject("upload_budget", f"HTTP 503 (upload_budget) for {self.peer}: bodies being read exceed "
                         f"{state.limits.upload_budget} bytes")
            self.request.keep_alive = False  # the rest of its body is not read
            self._refuse_body(503, "server busy reading other request bodies; retry shortly")
        else:
            self.body.append(body)

    def _refuse_body(self, status: int, message: str) -> None:
        """Answer the request whose body is being read now, dropping what it sent."""
        self.discard = True
        self.body = []
        self._drop_upload()
        request = self.request
        self.app.abort(request)
        self.deliver(request, self.app.refuse(request, status, message))

    def _drop_upload(self) -> None:
        """The body read so far no longer counts as an upload in progress (handed on, dropped or refused)."""
        self.state.uploading -= self.body_size
        self.body_size = 0

    def on_message_complete(self) -> None:
        self.reading = _IDLE
        self.head_bytes = 0
        request = self.request
        self.request = None
        if self.discard or request is None or self.closing:
            return
        body = self.body
        self.body = []
        self._drop_upload()
        self.app.finish(request, body[0] if len(body) == 1 else b"".join(body), self.deliver)

    # --- writing -------------------------------------------------------------------------------
    def deliver(self, request: HttpRequest, answer: Answer | None) -> None:
        """Serialise `answer` for `request` and write every answer now due, in request order."""
        if answer is None or self.closing:
            return
        status, body, content_type, headers = answer
        keep_alive = request.keep_alive
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
        request.response = response = b"".join(parts)
        if self.owed[0] is request:
            self._flush()
        else:
            self.unsent += len(response)
            self._pace()

    def _flush(self) -> None:
        owed = self.owed
        transport = self.transport
        first = True
        while owed and owed[0].response is not None:
            request = owed.popleft()
            response = request.response
            if not first:
                self.unsent -= len(response)
            first = False
            if not request.keep_alive or (self.state.draining and not owed and self.reading == _IDLE):
                # Draining: close once every request sent was answered. The close may have been decided
                # after this answer was serialised (a half-close, a refused request behind it, the
                # drain): the answer must still say so (RFC 9112 9.6).
                transport.write(with_close(response))
                self.served += 1
                self.close()
                return
            transport.write(response)
            self.served += 1
        if self.paused:
            self._pace()
        if not owed and (self.reading == _IDLE or self.discard):
            # Nothing owed: the connection may be evicted for a new one (even while it drops a body).
            if self.reading == _IDLE:
                self.since = time.monotonic()
            self.state.idle[self] = None

    def _refusal(self, status: int, reason: str, message: str, *headers: tuple[bytes, bytes]) -> Answer:
        """A limit's answer to a complete head, outside the application (counted as a rejection, not a request)."""
        self._count_refusal(status, reason, message)
        return status, error_body(message), b"application/json", [(b"connection", b"close"), *headers]

    def _refuse_raw(self, status: int, reason: str, message: str) -> None:
        """Refuse the request being read (its head or body is malformed, too large or late) outside the
        application: its answer is written after every answer owed before it, then the connection closes."""
        self._count_refusal(status, reason, message)
        if self.closing:
            return
        self.stopped = True
        request = self.request
        self.request = None
        if self.reading == _BODY and request is not None:
            self.discard = True  # close() lingers: the client may still be sending the body
            if request.response is not None or request not in self.owed:  # answered before its body
                self._close_after_owed()
                return
            self.app.abort(request)
        else:
            request = HttpRequest("", "", {}, 0, None, False, self.admin, False, self.kept)
            self.owed.append(request)
        request.keep_alive = False
        request.response = response = raw_response(status, message)
        if self.owed[0] is request:
            self._flush()
        else:
            self.unsent += len(response)
            self._close_after_owed()

    def _close_after_owed(self) -> None:
        """Read nothing more; close once the answers owed are written."""
        if not self.owed:
            self.close()
            return
        self.owed[-1].keep_alive = False
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

    # --- deadlines (called by the sweep) -----------------------------------------------------
    def check(self, now: float) -> None:
        limits = self.state.limits
        if self.closing:
            # Still open: the client takes neither the last answers nor (lingering) stops sending.
            if now - self.closed_at >= (DRAIN_IDLE_S if self.lingering else limits.body_timeout_s):
                self.transport.abort()
            return
        if self.write_blocked and now - self.blocked_since >= limits.body_timeout_s:
            self.state.reject("write_timeout", f"closed {self.peer}: it took none of its answers for "
                              f"{limits.body_timeout_s:g} s")
            self._close_now()
            self.transport.abort()
            return
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
        self._refuse_raw(408, "body_timeout", message)

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
