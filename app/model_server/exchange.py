"""What passes between the HTTP front end (`http1`) and the application (`app`): the request, the
answer, and the calls the front end makes. A module of its own so neither imports the other."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, bytes, bytes, Headers]
"""(status, body, content type, extra headers)."""


class HttpRequest:
    """One request as the application sees it; the application fills in its own fields."""

    __slots__ = ("method", "path", "headers", "hosts", "duplicate", "http10", "admin", "head_only", "route",
                 "started", "admitted", "token", "header_length", "future", "response", "keep_alive", "kept",
                 "request_id", "rows", "trace", "logged")

    def __init__(self, method: str, path: str, headers: dict[bytes, bytes], hosts: int, duplicate: bytes | None,
                 http10: bool, admin: bool, keep_alive: bool, kept: dict | None = None) -> None:
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
        self.kept = kept if kept is not None else {}
        """What the application keeps per connection (shared by the requests of one connection)."""
        self.route = ""
        self.started = 0.0
        self.admitted = False
        self.token: int | None = None
        self.header_length: int | None = None
        self.future: asyncio.Future | None = None
        self.response: bytes | None = None
        """The serialised answer once there is one (written when every earlier one was)."""
        # Observability (the request log and tracing hooks of the application): id, rows, spans.
        self.request_id: str | None = None
        self.rows: int | None = None
        self.trace: object | None = None
        self.logged = False
        """Its log line is written (once: an answer, or `CLIENT_CLOSED` when nobody is left to answer)."""


Deliver = Callable[[HttpRequest, "Answer | None"], None]


class Application(Protocol):
    """The calls `http1.Http1Protocol` makes (implemented by `app.ModelServer`)."""

    settings: object

    def begin(self, request: HttpRequest) -> Answer | None: ...

    def finish(self, request: HttpRequest, body: bytes, deliver: Deliver) -> None: ...

    def refuse(self, request: HttpRequest, status: int, message: str) -> Answer: ...

    def abort(self, request: HttpRequest) -> None: ...

    def cut_off(self, request: HttpRequest) -> Answer: ...
