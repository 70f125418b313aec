"""In-process doubles for the HTTP/1.1 front end's unit tests: a transport that records what the server
writes and does to the connection, and an application that records the calls `Http1Protocol` makes.

Only in-process tests can kill the model server's mutants (a server started as a subprocess runs the
original code; docs/testing.md), so the front end is driven here byte by byte, with no socket."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any

from tests.app.conftest import parse_raw_response

GET_LIVE = b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n"


class RecordingTransport:
    """What the server writes, and whether it paused, closed, half-closed or aborted the connection."""

    def __init__(self, peer: tuple[str, int] | None = ("127.0.0.1", 40000), eof_ok: bool = True) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.eof = False
        self.peer = peer
        self.eof_ok = eof_ok
        self.limits: tuple[int, int] | None = None

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_extra_info(self, name: str) -> tuple[str, int] | None:
        return self.peer if name == "peername" else None

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False
        self.resumes += 1

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        self.limits = (high, low)

    def can_write_eof(self) -> bool:
        return self.eof_ok

    def write_eof(self) -> None:
        self.eof = True

    def abort(self) -> None:
        self.closed = True
        self.aborted = True

    def answers(self) -> list:
        """Each write parsed as one response (status, body, lower-case headers)."""
        return [parse_raw_response(w) for w in self.writes if not w.startswith(b"HTTP/1.1 100 ")]


class RecordingApp:
    """The application side: answers at the end of a head for the paths in `early`, else 200 with the body
    read (or holds the request when `hold` is set), and records every call."""

    def __init__(self, *, max_request_bytes: int = 1 << 20, keep_alive_timeout_seconds: float = 5.0,
                 early: dict[str, tuple] | None = None, hold: bool = False) -> None:
        self.settings = SimpleNamespace(max_request_bytes=max_request_bytes,
                                        keep_alive_timeout_seconds=keep_alive_timeout_seconds)
        self.early = early or {}
        self.hold = hold
        self.begun: list = []
        self.finished: list[tuple[Any, bytes]] = []
        self.held: list[tuple[Any, Callable]] = []
        self.aborted: list = []
        self.refused: list[tuple[int, str]] = []
        self.cut: list = []

    def begin(self, request):
        self.begun.append(request)
        return self.early.get(request.path)

    def finish(self, request, body: bytes, deliver) -> None:
        self.finished.append((request, body))
        if self.hold:
            self.held.append((request, deliver))
        else:
            deliver(request, (200, b"body:" + body, b"text/plain", []))

    def refuse(self, request, status: int, message: str) -> tuple:
        self.refused.append((status, message))
        return status, message.encode(), b"text/plain", []

    def abort(self, request) -> None:
        self.aborted.append(request)

    def cut_off(self, request) -> tuple:
        self.cut.append(request)
        return 503, b"cut off", b"text/plain", []


def limits(**overrides: Any):
    from model_server.http_limits import Limits

    values: dict[str, Any] = dict(max_header_bytes=8192, header_timeout_s=10.0, body_timeout_s=30.0,
                                  max_connections=10, retry_after_s=3, admin_port=0)
    values.update(overrides)
    return Limits(**values)


class MessageLog:
    """Stands in for the rate-limited log: keeps every refusal's message."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def warning(self, kind: str, message: str) -> bool:
        self.messages.append(message)
        return True


def connections(**overrides: Any):
    """A fresh shared connection state whose refusals are recorded: reasons in `.rejected`, messages in
    `.messages`, listener counts in `.counts`."""
    from model_server.http_limits import Connections

    rejected: list[str] = []
    counts: list[tuple[str, int]] = []
    state = Connections(limits(**overrides), on_reject=rejected.append,
                        on_count=lambda listener, count: counts.append((listener, count)), rate_log=MessageLog())
    state.rejected = rejected  # type: ignore[attr-defined]
    state.messages = state.rate_log.messages  # type: ignore[attr-defined]
    state.counts = counts  # type: ignore[attr-defined]
    return state


def connect(app: RecordingApp | None = None, state=None, *, admin: bool = False,
            transport: RecordingTransport | None = None):
    """A new connection of `app` (a RecordingApp by default) under `state`: (protocol, transport)."""
    from model_server.http1 import Http1Protocol

    protocol = Http1Protocol(app or RecordingApp(), state if state is not None else connections(), admin=admin)
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def post(path: str, body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def run(coroutine_function: Callable[[], Coroutine]) -> Any:
    """Run on a private loop: asyncio.run would leave the main thread without an event loop, which
    the Pulumi mock tests sharing this worker process expect to find."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine_function())
    finally:
        loop.close()


def in_loop(test: Callable[..., Coroutine]) -> Callable[..., Any]:
    """An `async def` test run on a private loop (the front end schedules its lingers and yields on it)."""
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run(lambda: test(*args, **kwargs))
    return wrapper
