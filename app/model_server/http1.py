"""The server's own HTTP/1.1 front end: an asyncio.Protocol on uvloop, parsed by httptools.

One `Http1Protocol` per connection (this module: its lifecycle and reading; `http1_pacing` its
backpressure, `http1_answers` the writing of answers and refusals, `http1_closing` closing and eviction,
`http1_deadlines` the sweep of every deadline, `http1_wire` the bytes shared by all), calling the
application (`ModelServer.begin` at the end of a request head, `ModelServer.finish` with the whole
body) directly: no ASGI messages, no task per
request, one write per response. A request that can be answered at once (health, metadata,
errors, and inference when the model is fast and nothing else is waiting) is answered inside the
read callback that completed it; slower inference answers when its batch is done.

The limits of `http_limits` are enforced by these modules:

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
- the bytes of bodies being read, over every connection, stay under `upload_budget` (503 and close
  past it); the application takes an inference slot only once a body is complete;
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
import time
from collections import deque
from urllib.parse import unquote

import httptools

from .exchange import Answer, Application, HttpRequest
from .http1_answers import Answering
from .http1_closing import Closing
from .http1_deadlines import SWEEP_S, Deadlines, sweep
from .http1_pacing import FEED_SLICE, MAX_PIPELINE, WRITE_HIGH_WATER, WRITE_LOW_WATER, Backpressure
from .http1_wire import BODY, CONTINUE, HEAD, HOST_VALUE, IDLE, METHODS, READ_HEADERS, REQUEST_LINE, new_parser
from .http_limits import OVERFLOW_CONNECTIONS, Connections
from .request_log import PASSED_HEADERS

__all__ = ["FEED_SLICE", "MAX_PIPELINE", "SWEEP_S", "WRITE_HIGH_WATER", "Http1Protocol", "sweep"]

DISCARD_MAX_BYTES = 1024 * 1024
"""The most of a body answered before it was read (401, 413, health) that is read and dropped: past
it the connection closes (a longer body announced in advance closes it with the answer)."""


class Http1Protocol(Backpressure, Answering, Closing, Deadlines, asyncio.Protocol):
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
        self.reading = IDLE
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
        self.host = b""
        self.duplicate: bytes | None = None
        self.expect = False
        self.codings = b""
        """Transfer-Encoding's value(s) of the request being read, each after a comma (`chunked` is the only coding
        served); non-empty whenever the header was sent, even empty."""
        self.body: list[bytes] = []
        self.body_size = 0
        self.discard = False
        self.discarded = 0
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
        if self.reading == BODY and request is not None:
            self.request = None
            self.reading = IDLE
            if not self.discard:
                self.app.abort(request)
                request.keep_alive = False
                self.deliver(request, self.app.refuse(request, 400, "the connection was closed before the "
                                                      "request body was complete"))
        if self.owed and not self.closing:
            self.owed[-1].keep_alive = False
            return True
        return False

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
        if self.reading == IDLE:
            self.state.idle.pop(self, None)
            self.reading = HEAD
            if self.served:  # the first request's head is timed from the connection's opening
                self.since = now
        if self.reading == HEAD:
            self.head_bytes += len(data)
        heads = self.served + len(self.owed)
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
            if REQUEST_LINE.match(_failed_message(data, self.served + len(self.owed) - heads)):
                # a well-formed request line with a method llhttp does not know
                self._refuse_raw(501, "bad_http", "unknown request method; this server implements GET, HEAD and POST")
            else:
                self._refuse_raw(400, "bad_http", f"malformed HTTP request: {str(exc)[:100]}")
            return
        except httptools.HttpParserError as exc:
            if self.closing or (self.owed and not self.owed[-1].keep_alive and self.reading != BODY):
                # Bytes after a request that closes the connection (llhttp refuses them): the
                # answers owed are still written, then the connection closes; nothing to refuse.
                self.discard = True
                return
            self._refuse_raw(400, "bad_http", f"malformed HTTP request: {str(exc)[:100]}")
            return
        if self.reading == HEAD and self.head_bytes > self.state.limits.max_header_bytes and not self.closing:
            self._refuse_raw(*self._head_too_large())

    def _head_too_large(self) -> tuple[int, str, str]:
        """The refusal of a head over MAX_HEADER_BYTES: 414 when the request-target alone is longer (RFC 9112 3:
        a target longer than the server parses MUST get 414), else 431."""
        limit = self.state.limits.max_header_bytes
        if len(self.url) > limit:
            return 414, "header_too_large", f"request target exceeds {limit} bytes"
        return 431, "header_too_large", f"request head exceeds {limit} bytes"

    def _coding_refusal(self, version: str) -> Answer | None:
        """RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing (400, then close); a transfer
        coding other than a single `chunked` is not implemented (501, then close). None: plain chunked."""
        if version == "1.0":
            return self._refusal(400, "bad_http", "Transfer-Encoding in an HTTP/1.0 request; send Content-Length")
        codings = [c.strip().lower() for c in self.codings.split(b",") if c.strip()]
        if codings[-1:] != [b"chunked"]:  # 6.3 (4): the body's length cannot be known
            return self._refusal(400, "bad_http", "chunked must be the final transfer coding of a request")
        if codings != [b"chunked"]:
            listed = ", ".join(c.decode("latin-1") for c in codings)[:100]
            return self._refusal(501, "bad_http", f"transfer coding not implemented: {listed}; send the body "
                                                  "chunked or with Content-Length")
        return None

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.hosts = 0
        self.duplicate = None
        self.expect = False
        self.codings = b""
        self.head_exact = 0
        self.body = []
        self._drop_upload()
        self.discard = False
        self.discarded = 0
        if self.reading != HEAD:  # a pipelined request that began in the same read as the previous one
            self.reading = HEAD
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
            self.host = value
        elif name == b"expect":
            self.expect = value.strip().lower() == b"100-continue"
        elif name == b"transfer-encoding":
            self.codings += b"," + value

    def on_headers_complete(self) -> None:
        if self.closing:  # the rest of a read that came after the answer that closed the connection
            self.discard = True
            return
        self.reading = BODY
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
        request = HttpRequest(METHODS.get(method) or method.decode("latin-1"), path, self.headers, self.hosts,
                              self.duplicate, version == "1.0", self.admin,
                              parser.should_keep_alive() and not parser.should_upgrade(), self.kept)
        self.request = request
        self.owed.append(request)
        limits = self.state.limits
        if version[:2] != "1.":
            request.keep_alive = False
            answer = self._refusal(505, "bad_http", f"HTTP/{version} is not supported; send HTTP/1.1")
        elif self.head_exact > limits.max_header_bytes:
            answer = self._refusal(*self._head_too_large())
        elif self.hosts == 1 and not HOST_VALUE.fullmatch(self.host.strip(b" \t")):
            # RFC 9112 3.2: a Host field with an invalid value is a 400, like a missing or repeated one.
            answer = self._refusal(400, "bad_http", "the Host header is not a valid host[:port]")
        elif self.codings and (refusal := self._coding_refusal(version)) is not None:
            answer = refusal
        elif self.over_capacity:
            answer = self._refusal(503, "connection_limit", "too many open connections; retry shortly",
                                   (b"retry-after", str(limits.retry_after_s).encode()))
        else:
            answer = self.app.begin(request)
        if answer is not None:
            # Answered before the body: the rest of it is read and dropped (within BODY_TIMEOUT_SECONDS
            # and DISCARD_MAX_BYTES; a longer body closes the connection instead).
            self.discard = True
            if self.expect or self.over_capacity or answer[0] in (414, 431) or self._long_body():
                request.keep_alive = False
            self.deliver(request, answer)
        elif self.expect and len(self.owed) == 1 and version != "1.0":  # RFC 9110 10.1.1: ignored from 1.0
            self.transport.write(CONTINUE)
        self._pace()

    def _long_body(self) -> bool:
        """Whether the body announced is longer than the server drops (or of unknown length)."""
        if self.codings:
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
        self.reading = IDLE
        self.head_bytes = 0
        request = self.request
        self.request = None
        if self.discard or request is None or self.closing:
            return
        body = self.body
        self.body = []
        self._drop_upload()
        self.app.finish(request, body[0] if len(body) == 1 else b"".join(body), self.deliver)


def _failed_message(data: bytes, completed: int) -> bytes:
    """The bytes from where the request llhttp failed on starts (httptools does not say where): after the
    `completed` requests parsed from `data` before it, found by parsing prefixes of `data` again (an error path)."""
    if completed <= 0:
        return data
    low, high = 0, len(data)
    while low < high:  # the shortest prefix that holds `completed` whole requests
        middle = (low + high) // 2
        if _requests_in(data[:middle]) >= completed:
            high = middle
        else:
            low = middle + 1
    return data[low:].lstrip(b"\r\n")


class _Counter:
    def __init__(self) -> None:
        self.complete = 0

    def on_message_complete(self) -> None:
        self.complete += 1


def _requests_in(data: bytes) -> int:
    counter = _Counter()
    try:
        new_parser(counter).feed_data(data)
    except httptools.HttpParserError:
        pass
    return counter.complete
