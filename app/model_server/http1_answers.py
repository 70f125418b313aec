"""Writing the answers of one HTTP/1.1 connection: serialised once, written in request order, with
`connection: close` on the one after which the connection closes; refusals made outside the application
(mixed into `http1.Http1Protocol`, whose state it uses)."""
from __future__ import annotations

import time

from .exchange import Answer, HttpRequest
from .http1_wire import BODY, CLOSE_LINE, IDLE, DateHeader, status_bytes, with_close
from .http_limits import raw_response
from .protocol import error_body


class Answering:
    """`deliver` (the application's answers) and the front end's own refusals."""

    def deliver(self, request: HttpRequest, answer: Answer | None) -> None:
        """Serialise `answer` for `request` and write every answer now due, in request order."""
        if answer is None or self.closing:
            return
        status, body, content_type, headers = answer
        keep_alive = request.keep_alive
        parts = [status_bytes(status), DateHeader.line, b"content-type: ", content_type, b"\r\ncontent-length: ",
                 str(len(body)).encode(), b"\r\n"]
        for name, value in headers:
            if name == b"connection":
                keep_alive = False
            else:
                parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            request.keep_alive = False
            parts.append(CLOSE_LINE)
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
            if not request.keep_alive or (self.state.draining and not owed and self.reading == IDLE):
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
        if not owed and (self.reading == IDLE or self.discard):
            # Nothing owed: the connection may be evicted for a new one (even while it drops a body).
            if self.reading == IDLE:
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
        if self.reading == BODY and request is not None:
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

    def _count_refusal(self, status: int, reason: str, message: str) -> None:
        self.state.reject(reason, f"HTTP {status} ({reason}) for {self.peer}: {message}")
