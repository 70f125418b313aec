"""The framing matrix: byte sequences a client may send on one connection, each with the outcomes RFC 9112 (and RFC
9110 where methods, Host or Expect decide) allow a server: which answers, in order, and whether the connection then
closes. Where the RFC lets a server choose (a MAY, or "reject or replace"), every allowed outcome is listed; the
server must give one of them. Where it only recommends (SHOULD), the recommended outcome is the one listed, unless
the case says otherwise.

Every case is followed, on the same connection, by a last request that asks to close: when the server keeps the
connection open its 200 must come last, which shows the stream was split where the RFC says (a server that read a
body too far, or not far enough, answers it wrongly or not at all)."""
from __future__ import annotations

import socket

import pytest

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, read_until_closed

pytestmark = pytest.mark.slow

LIVE = b"/v2/health/live"
INFER = f"/v2/models/{MODEL_NAME}/infer".encode()
BODY = b'{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[' + b",".join([b"1"] * 64) + b"]}]}"
CLOSER_ID = "framing-closer"
CLOSER = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: framing-closer\r\nConnection: close\r\n\r\n"
HEAD_LIMIT = 4096  # MAX_HEADER_BYTES of the server below


def get(target: bytes = LIVE, *, version: bytes = b"HTTP/1.1", headers: bytes = b"Host: x\r\n") -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + headers + b"\r\n"


def post(headers: bytes, body: bytes = b"", *, version: bytes = b"HTTP/1.1", target: bytes = INFER) -> bytes:
    host = b"Host: x\r\n" if version == b"HTTP/1.1" else b""
    return (b"POST " + target + b" " + version + b"\r\n" + host + b"Content-Type: application/json\r\n" + headers
            + b"\r\n" + body)


def sized(body: bytes = BODY) -> bytes:
    return b"Content-Length: %d\r\n" % len(body)


def chunks(*parts: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n" + trailer + b"\r\n"


CHUNKED = b"Transfer-Encoding: chunked\r\n"
KEEP, CLOSE = False, True


def ok(*statuses: int, closes: bool = KEEP) -> set:
    return {(statuses, closes)}


def either(*outcomes: set) -> set:
    return set().union(*outcomes)


def any_close(*statuses: int) -> set:
    return ok(*statuses, closes=KEEP) | ok(*statuses, closes=CLOSE)


# id -> (bytes sent before CLOSER, allowed outcomes, where the RFC says so)
CASES: dict[str, tuple[bytes, set, str]] = {
    # --- request line (RFC 9112 2.2, 2.3, 3) ------------------------------------------------------------------
    "get": (get(), ok(200), "3"),
    "http/1.0 closes": (get(version=b"HTTP/1.0", headers=b""), ok(200, closes=CLOSE), "9.3"),
    "http/1.0 keep-alive": (get(version=b"HTTP/1.0", headers=b"Connection: keep-alive\r\n"), any_close(200), "9.3"),
    "http/1.1 connection close": (get(headers=b"Host: x\r\nConnection: close\r\n"), ok(200, closes=CLOSE), "9.6"),
    "connection close in capitals": (get(headers=b"Host: x\r\nConnection: CLOSE\r\n"), ok(200, closes=CLOSE), "9.6"),
    "connection list with close": (get(headers=b"Host: x\r\nConnection: keep-alive, close\r\n"),
                                   ok(200, closes=CLOSE), "9.6"),
    "http/1.2 served as 1.1": (get(version=b"HTTP/1.2"), ok(200), "2.3"),
    "http/1.9 served as 1.1": (get(version=b"HTTP/1.9"), ok(200), "2.3"),
    "http/2.0 in http/1 syntax": (get(version=b"HTTP/2.0"), either(ok(505, closes=CLOSE), ok(400, closes=CLOSE)),
                                  "2.3, RFC 9110 15.6.6"),
    "http/3.0 in http/1 syntax": (get(version=b"HTTP/3.0"), either(ok(505, closes=CLOSE), ok(400, closes=CLOSE)),
                                  "2.3"),
    "http/0.9 request line": (b"GET /v2/health/live\r\n\r\n", either(ok(400, closes=CLOSE), ok(505, closes=CLOSE)),
                              "2.3"),
    "version in lower case": (get(version=b"http/1.1"), ok(400, closes=CLOSE), "2.3 (HTTP-name is case-sensitive)"),
    "version without minor": (get(version=b"HTTP/1"), ok(400, closes=CLOSE), "2.3"),
    "no target": (b"GET HTTP/1.1\r\nHost: x\r\n\r\n", ok(400, closes=CLOSE), "3"),
    "one empty line before": (b"\r\n" + get(), ok(200), "2.2 (SHOULD ignore at least one)"),
    "two empty lines before": (b"\r\n\r\n" + get(), either(ok(200), ok(400, closes=CLOSE)), "2.2"),
    "bare LF line ends": (b"GET /v2/health/live HTTP/1.1\nHost: x\n\n", either(ok(200), ok(400, closes=CLOSE)),
                          "2.2 (MAY accept)"),
    "bare CR in the request line": (b"GET /v2/health/live\rHTTP/1.1\r\nHost: x\r\n\r\n", ok(400, closes=CLOSE),
                                    "2.2 (MUST reject or replace with SP: replaced, the line is still invalid)"),
    "bare CR after the request line": (b"GET /v2/health/live HTTP/1.1\rHost: x\r\n\r\n", ok(400, closes=CLOSE),
                                       "2.2"),
    "two spaces after the method": (b"GET  /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
                                    either(ok(400, closes=CLOSE), ok(200)),
                                    "3 (SHOULD 400, SHOULD NOT autocorrect: the one recommendation not followed, "
                                    "llhttp serves it; app/README.md says so)"),
    "unknown method": (b"FOO /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", any_close(501), "RFC 9110 9.1 (SHOULD)"),
    "method in lower case": (b"get /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", any_close(501),
                             "RFC 9110 9.1 (methods are case-sensitive: an unknown one)"),
    "method not a token": (b"GE(T /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", ok(400, closes=CLOSE), "3.1"),
    "control character in the target": (get(b"/v2/health/\x01live"), ok(400, closes=CLOSE), "3.2"),
    "space inside the target": (get(b"/v2/health /live"), ok(400, closes=CLOSE), "3"),
    "absolute-form": (get(b"http://x/v2/health/live"), ok(200), "3.2.2 (MUST accept)"),
    "absolute-form with port and query": (get(b"https://x:8443/v2/health/live?a=1"), ok(200), "3.2.2"),
    "absolute-form beats Host": (get(b"http://other/v2/health/live", headers=b"Host: x\r\n"), ok(200), "3.2.2"),
    "origin-form with a query": (get(b"/v2/health/live?probe=1"), ok(200), "3.2.1"),
    "percent-encoded unreserved": (get(b"/v2/health/%6Cive"), ok(200), "RFC 3986 6.2.2.2"),
    "target longer than the server parses": (get(b"/v2/health/live?" + b"a" * (HEAD_LIMIT + 100)),
                                             ok(414, closes=CLOSE), "3 (MUST 414)"),
    "head longer than the server reads": (get(headers=b"Host: x\r\nX-Big: " + b"a" * (HEAD_LIMIT + 100) + b"\r\n"),
                                          either(ok(431, closes=CLOSE), ok(400, closes=CLOSE)), "RFC 6585 5"),
    "CONNECT to an origin server": (b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
                                    either(*(any_close(s) for s in (400, 404, 405, 501))), "RFC 9110 9.3.6"),
    # --- header fields (RFC 9112 5, RFC 9110 5.5) ------------------------------------------------------------
    "space before the colon": (get(headers=b"Host: x\r\nX-A : 1\r\n"), ok(400, closes=CLOSE), "5.1 (MUST 400)"),
    "tab before the colon": (get(headers=b"Host: x\r\nX-A\t: 1\r\n"), ok(400, closes=CLOSE), "5.1 (MUST 400)"),
    "space before Content-Length's colon": (post(b"Content-Length : 2\r\n", b"{}"), ok(400, closes=CLOSE), "5.1"),
    "obs-fold": (get(headers=b"Host: x\r\nX-A: 1\r\n 2\r\n"), either(ok(200), ok(400, closes=CLOSE)),
                 "5.2 (MUST reject or replace with SP)"),
    "field line without a colon": (get(headers=b"Host: x\r\nNoColon\r\n"), ok(400, closes=CLOSE), "5"),
    "empty field name": (get(headers=b"Host: x\r\n: v\r\n"), ok(400, closes=CLOSE), "5"),
    "field name not a token": (get(headers=b"Host: x\r\nX(A): 1\r\n"), ok(400, closes=CLOSE), "5.1"),
    "NUL in a field value": (get(headers=b"Host: x\r\nX-A: a\x00b\r\n"), either(ok(200), ok(400, closes=CLOSE)),
                             "RFC 9110 5.5 (MUST reject or replace)"),
    "bare CR in a field value": (get(headers=b"Host: x\r\nX-A: a\rb\r\n"), either(ok(200), ok(400, closes=CLOSE)),
                                 "RFC 9110 5.5"),
    "whitespace around a field value": (get(headers=b"Host: x\r\nX-A: \t 1 \t\r\n"), ok(200), "5.1"),
    "field name in capitals": (get(headers=b"HOST: x\r\n"), ok(200), "5.1 (case-insensitive)"),
    "obs-text in a field value": (get(headers=b"Host: x\r\nX-A: caf\xe9\r\n"), ok(200), "RFC 9110 5.5"),
    "fifty fields under the limit": (get(headers=b"Host: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(50))),
                                     ok(200), "5"),
    # --- Host (RFC 9112 3.2) ---------------------------------------------------------------------------------
    "no Host in HTTP/1.1": (get(headers=b""), ok(400, closes=CLOSE), "3.2 (MUST 400)"),
    "two Host fields": (get(headers=b"Host: x\r\nHost: y\r\n"), ok(400, closes=CLOSE), "3.2 (MUST 400)"),
    "Host with a space": (get(headers=b"Host: a b\r\n"), ok(400, closes=CLOSE), "3.2 (MUST 400: invalid value)"),
    "Host with userinfo": (get(headers=b"Host: user@x\r\n"), ok(400, closes=CLOSE), "3.2, RFC 3986 3.2"),
    "Host with a port not digits": (get(headers=b"Host: x:ab\r\n"), ok(400, closes=CLOSE), "3.2"),
    "Host with a slash": (get(headers=b"Host: x/y\r\n"), ok(400, closes=CLOSE), "3.2"),
    "Host empty": (get(headers=b"Host:\r\n"), ok(200), "3.2 (empty when the target has no authority)"),
    "Host an IPv6 literal with port": (get(headers=b"Host: [::1]:8080\r\n"), ok(200), "RFC 3986 3.2.2"),
    "Host an IPv4 address": (get(headers=b"Host: 10.0.0.7\r\n"), ok(200), "RFC 3986 3.2.2"),
    "Host a cluster name with port": (get(headers=b"Host: model.team-a.svc.cluster.local:8080\r\n"), ok(200),
                                      "RFC 3986 3.2.2"),
    "no Host in HTTP/1.0": (get(version=b"HTTP/1.0", headers=b""), ok(200, closes=CLOSE), "3.2 (1.1 only)"),
    # --- message body (RFC 9112 6) ---------------------------------------------------------------------------
    "Content-Length body": (post(sized(), BODY), ok(200), "6.2"),
    "Content-Length with leading zeros": (post(b"Content-Length: 0%d\r\n" % len(BODY), BODY), ok(200),
                                          "6.2 (1*DIGIT)"),
    "no length: no body": (post(b""), ok(400), "6.3 (7): a request without either has no body"),
    "Content-Length 0": (post(b"Content-Length: 0\r\n"), ok(400), "6.2"),
    "Content-Length not digits": (post(b"Content-Length: abc\r\n", b"{}"), ok(400, closes=CLOSE), "6.3 (5)"),
    "Content-Length signed": (post(b"Content-Length: +2\r\n", b"{}"), ok(400, closes=CLOSE), "6.3 (5)"),
    "Content-Length negative": (post(b"Content-Length: -2\r\n", b"{}"), ok(400, closes=CLOSE), "6.3 (5)"),
    "Content-Length with an inner space": (post(b"Content-Length: 1 0\r\n", b"{}"), ok(400, closes=CLOSE),
                                           "6.3 (5)"),
    "Content-Length values that differ": (post(b"Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"),
                                          ok(400, closes=CLOSE), "6.3 (5) (MUST)"),
    "Content-Length list that differs": (post(b"Content-Length: 2, 3\r\n", b"{}"), ok(400, closes=CLOSE),
                                         "6.3 (5) (MUST)"),
    "Content-Length repeated, same value": (post(sized() + sized(), BODY), either(ok(200), ok(400, closes=CLOSE)),
                                            "6.3 (5) (MAY reject or take one)"),
    "Content-Length list, same value": (post(b"Content-Length: %d, %d\r\n" % (len(BODY), len(BODY)), BODY),
                                        either(ok(200), ok(400, closes=CLOSE)), "6.3 (5)"),
    "Content-Length over the body limit": (post(b"Content-Length: 99999999999\r\n", b"{}"), ok(413, closes=CLOSE),
                                           "RFC 9110 15.5.14"),
    "Content-Length with Transfer-Encoding": (post(sized() + CHUNKED, chunks(BODY)),
                                              either(ok(400, closes=CLOSE), ok(200, closes=CLOSE)),
                                              "6.1 (MAY reject; MUST close after)"),
    "chunked": (post(CHUNKED, chunks(BODY)), ok(200), "7.1"),
    "chunked, coding in capitals": (post(b"Transfer-Encoding: Chunked\r\n", chunks(BODY)), ok(200),
                                    "7 (codings are case-insensitive)"),
    "chunked in several chunks": (post(CHUNKED, chunks(BODY[:10], BODY[10:50], BODY[50:])), ok(200), "7.1"),
    "chunk extensions": (post(CHUNKED, b"%x;name=value\r\n%s\r\n0;last\r\n\r\n" % (len(BODY), BODY)), ok(200),
                         "7.1.1 (MUST ignore unknown extensions)"),
    "quoted chunk extension": (post(CHUNKED, b'%x;name="a;b"\r\n%s\r\n0\r\n\r\n' % (len(BODY), BODY)), ok(200),
                               "7.1.1"),
    "trailer fields": (post(CHUNKED, chunks(BODY, trailer=b"X-Checksum: 1\r\n")), ok(200), "7.1.2"),
    "chunk size with leading zeros": (post(CHUNKED, b"000%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)), ok(200),
                                      "7.1 (1*HEXDIG)"),
    "chunk size in capitals": (post(CHUNKED, b"%X\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)), ok(200), "7.1"),
    "chunk size not hex": (post(CHUNKED, b"zz\r\n{}\r\n0\r\n\r\n"), ok(400, closes=CLOSE), "7.1"),
    "chunk size negative": (post(CHUNKED, b"-2\r\n{}\r\n0\r\n\r\n"), ok(400, closes=CLOSE), "7.1"),
    "chunk size overflowing": (post(CHUNKED, b"fffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
                               either(ok(400, closes=CLOSE), ok(413, closes=CLOSE)), "7.1 (MUST anticipate overflow)"),
    "chunk longer than its size": (post(CHUNKED, b"1\r\n{}\r\n0\r\n\r\n"), ok(400, closes=CLOSE), "7.1"),
    "chunk without its CRLF": (post(CHUNKED, b"2\r\n{}0\r\n\r\n"), ok(400, closes=CLOSE), "7.1"),
    "Transfer-Encoding gzip only": (post(b"Transfer-Encoding: gzip\r\n", b"{}"), ok(400, closes=CLOSE),
                                    "6.3 (4) (MUST 400 and close)"),
    "Transfer-Encoding chunked then gzip": (post(b"Transfer-Encoding: chunked, gzip\r\n", chunks(b"{}")),
                                            ok(400, closes=CLOSE), "6.3 (4)"),
    "Transfer-Encoding chunked twice": (post(b"Transfer-Encoding: chunked, chunked\r\n", chunks(b"{}")),
                                        ok(400, closes=CLOSE), "6.1 (MUST NOT apply chunked more than once)"),
    "Transfer-Encoding gzip, chunked": (post(b"Transfer-Encoding: gzip, chunked\r\n", chunks(BODY)),
                                        either(ok(501, closes=CLOSE), ok(400, closes=CLOSE)),
                                        "6.1 (SHOULD 501 for a coding not understood)"),
    "Transfer-Encoding over two lines": (post(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                                              chunks(BODY)),
                                         either(ok(501, closes=CLOSE), ok(400, closes=CLOSE)), "6.1, 5.3"),
    "Transfer-Encoding identity": (post(b"Transfer-Encoding: identity\r\n", BODY),
                                   either(ok(501, closes=CLOSE), ok(400, closes=CLOSE)), "6.1, 6.3 (4)"),
    "Transfer-Encoding in HTTP/1.0": (post(CHUNKED, chunks(BODY), version=b"HTTP/1.0"), ok(400, closes=CLOSE),
                                      "6.1 (MUST treat the framing as faulty and close)"),
    "Transfer-Encoding in HTTP/1.0 with Content-Length": (post(CHUNKED + sized(chunks(BODY)), chunks(BODY),
                                                               version=b"HTTP/1.0"), ok(400, closes=CLOSE), "6.1"),
    "a GET with a Content-Length body": (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
                                         ok(200), "6.3 (6): the body is read by its length"),
    "a GET with a chunked body": (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + CHUNKED + b"\r\n" + chunks(b"ab"),
                                  either(ok(200), ok(200, closes=CLOSE)), "6.3 (4)"),
    # --- expectations (RFC 9110 10.1.1) ----------------------------------------------------------------------
    "Expect 100-continue": (post(sized() + b"Expect: 100-continue\r\n", BODY), either(ok(100, 200), ok(200)),
                            "RFC 9110 10.1.1 (MAY skip the 100 when the body is already there)"),
    "Expect 100-continue in HTTP/1.0": (post(sized() + b"Expect: 100-continue\r\n", BODY, version=b"HTTP/1.0"),
                                        ok(200, closes=CLOSE), "RFC 9110 10.1.1 (MUST ignore it from HTTP/1.0)"),
    "Expect something else": (get(headers=b"Host: x\r\nExpect: teapot\r\n"), either(ok(200), any_close(417)),
                              "RFC 9110 10.1.1 (MAY 417)"),
    # --- pipelining and the split of the stream (RFC 9112 9.3.2) ---------------------------------------------
    "two requests": (get() + get(), ok(200, 200), "9.3.2"),
    "ten requests": (get() * 10, ok(*[200] * 10), "9.3.2"),
    "a body then a request": (post(sized(), BODY) + get(), ok(200, 200), "9.3.2"),
    "a chunked body then a request": (post(CHUNKED, chunks(BODY)) + get(), ok(200, 200), "9.3.2"),
    "a request without a body then another": (post(b"") + get(), ok(400, 200), "6.3 (7)"),
    "answered before its body, then another": (post(sized(b"{}"), b"{}", target=b"/nowhere") + get(),
                                               ok(404, 200), "9.3.2 (the body is still framed)"),
    "a request then garbage": (get() + b"BAD\r\n\r\n", ok(200, 400, closes=CLOSE),
                               "9.3.2 (answers owed are written first)"),
    "a request then an unknown method": (get() + b"FOO /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
                                         any_close(200, 501), "RFC 9110 9.1 (the unknown one is the second)"),
    "close then another request": (get(headers=b"Host: x\r\nConnection: close\r\n") + get(),
                                   ok(200, closes=CLOSE), "9.6 (MUST NOT process further requests)"),
    "HTTP/1.0 then another request": (get(version=b"HTTP/1.0", headers=b"") + get(), ok(200, closes=CLOSE), "9.3"),
    "Upgrade ignored": (get(headers=b"Host: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"), any_close(200),
                        "RFC 9110 7.8 (MAY ignore)"),
    "Upgrade without Connection: upgrade": (get(headers=b"Host: x\r\nUpgrade: websocket\r\n"), ok(200),
                                            "RFC 9110 7.8 (the option must be listed in Connection)"),
    "a method not allowed, with a body, then another": (
        b"DELETE /v2/health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + get(), ok(405, 200),
        "RFC 9110 15.5.6"),
}


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("framing"), MAX_HEADER_BYTES=str(HEAD_LIMIT),
                         MAX_REQUEST_BYTES="1048576")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def answers(raw: bytes) -> list[tuple[int, dict[str, str]]]:
    """(status, headers) of every answer in `raw`, in order (1xx answers have no body)."""
    found = []
    while raw:
        head, separator, rest = raw.partition(b"\r\n\r\n")
        if not separator:
            raise AssertionError(f"an incomplete answer: {raw[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        status = int(lines[0].split()[1])
        length = 0 if status < 200 else int(headers.get("content-length", "0"))
        found.append((status, headers))
        raw = rest[length:]
    return found


def outcome(port: int, sent: bytes) -> tuple[tuple[int, ...], bool, list]:
    """(the statuses of `sent`'s answers, whether the server closed before answering CLOSER, every answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=8) as sock:
        sock.sendall(sent + CLOSER)
        got = answers(read_until_closed(sock))
    closer_answered = bool(got) and got[-1][1].get("x-request-id") == CLOSER_ID
    if closer_answered:
        assert got[-1][0] == 200, "the closing request behind the case was not served"
        got = got[:-1]
    return tuple(status for status, _ in got), not closer_answered, got


def test_the_matrix_has_the_cases_the_review_counted() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", list(CASES))
def test_each_byte_sequence_gets_an_outcome_rfc_9112_allows(server: ServerProcess, case: str) -> None:
    sent, allowed, where = CASES[case]
    statuses, closed, got = outcome(server.port, sent)
    assert (statuses, closed) in allowed, f"{case} (RFC {where}): got {statuses}, closed={closed}; allowed {allowed}"
    if closed and got:
        # RFC 9112 9.6: the answer after which the server closes says so.
        assert got[-1][1].get("connection") == "close", f"{case}: the last answer does not say Connection: close"
