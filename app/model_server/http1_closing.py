"""How an HTTP/1.1 connection ends: closed once its answers are written (lingering while the client still
sends a body nobody reads), or evicted to admit a new connection under the cap (mixed into
`http1.Http1Protocol`, whose state it uses)."""
from __future__ import annotations

import asyncio
import time

from .http1_wire import BODY
from .http_limits import DRAIN_IDLE_S


class Closing:
    """Closing the connection, and evicting another one under the connection cap."""

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.closed_at = time.monotonic()
            self.state.idle.pop(self, None)
            if self.reading == BODY and self.discard and self.transport.can_write_eof():
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

    def _close_after_owed(self) -> None:
        """Read nothing more; close once the answers owed are written."""
        if not self.owed:
            self.close()
            return
        self.owed[-1].keep_alive = False
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

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
