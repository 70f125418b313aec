"""Backpressure of one HTTP/1.1 connection: reading stops while its answers pile up, in bytes or in
requests, and resumes once they drained (mixed into `http1.Http1Protocol`, whose state it uses)."""
from __future__ import annotations

import asyncio
import time

MAX_PIPELINE = 32
"""Pipelined requests a connection may have unanswered before the server stops reading from it."""
WRITE_HIGH_WATER = 64 * 1024
WRITE_LOW_WATER = 16 * 1024
"""Answer bytes not yet taken by the client (the transport's buffer plus answers waiting for an earlier
one) above which the server stops reading the connection, and below which it reads again: a client
that pipelines and never reads holds at most this much (plus one FEED_SLICE of requests) in memory."""
FEED_SLICE = 16 * 1024
"""Bytes of one read handed to the parser at a time, so reading stops within a read once answers pile up."""


class Backpressure:
    """`pause_writing`/`resume_writing` of asyncio's protocol, and the pacing of reads they drive."""

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
