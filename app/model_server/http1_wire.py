"""Bytes of HTTP/1.1 the front end writes and reads the same way for every connection: status lines, the
`date` line, `connection: close`, the request parser and the headers the application reads."""
from __future__ import annotations

import re
from email.utils import formatdate

import httptools

from .http_limits import status_line

IDLE, HEAD, BODY = 0, 1, 2
"""What a connection is reading: nothing (between requests), a request head, a request body."""
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CLOSE_LINE = b"connection: close\r\n"
REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [\x21-\x7e]+ HTTP/[0-9]\.[0-9]\r\n")
"""RFC 9112 3: method (a token) SP request-target SP HTTP-version CRLF."""
HOST_VALUE = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]"  # IP-literal (IPv6, IPvFuture)
    rb"|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"  # IPv4address or reg-name (may be empty)
    rb"(?::[0-9]*)?")
"""RFC 9112 3.2 / RFC 3986 3.2.2-3.2.3: a Host field value is uri-host [ ":" port ] (no userinfo, no spaces)."""
METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}
READ_HEADERS = frozenset({b"content-length", b"content-type", b"content-encoding", b"authorization",
                          b"inference-header-content-length"})
_STATUS: dict[int, bytes] = {}


def new_parser(protocol: object) -> httptools.HttpRequestParser:
    """A request parser that reads any HTTP/1.x version (RFC 9112 2.6: a higher minor version is served
    as 1.1); other major versions get 505 from on_headers_complete."""
    parser = httptools.HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(lenient_version=True)
    return parser


def with_close(response: bytes) -> bytes:
    """`response` with a `connection: close` line, unless its head has one."""
    head_end = response.find(b"\r\n\r\n")
    if response.find(b"\r\n" + CLOSE_LINE, 0, head_end + 2) >= 0:
        return response
    line_end = response.find(b"\r\n") + 2
    return response[:line_end] + CLOSE_LINE + response[line_end:]


def status_bytes(status: int) -> bytes:
    """`HTTP/1.1 <code> <reason>\\r\\n`, built once per status."""
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
