"""The deadlines of every HTTP/1.1 connection, checked by one sweep every SWEEP_S rather than a timer per
request: head, body and keep-alive timeouts, a client that takes no answers, the drain (the check is
mixed into `http1.Http1Protocol`, whose state it uses)."""
from __future__ import annotations

import asyncio
import time

from .http1_wire import BODY, HEAD, DateHeader
from .http_limits import DRAIN_IDLE_S, Connections

SWEEP_S = 0.2
"""How often every connection's deadline is checked (the resolution of all HTTP timeouts)."""


class Deadlines:
    """What the sweep calls on each connection."""

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
        if self.reading == HEAD:
            if now - self.since >= limits.header_timeout_s:
                self._refuse_raw(408, "header_timeout", f"request head not received within "
                                 f"{limits.header_timeout_s:g} s")
            elif draining and now - self.active_at >= DRAIN_IDLE_S:
                self._refuse_raw(408, "header_timeout", "server shutting down and the request head stalled")
        elif self.reading == BODY:
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
