"""The bytes every HTTP/1.1 connection shares, in process (http1_wire.py): `connection: close` added to an
answer's head exactly when its head lacks one (whatever its body holds), the `date` line in the IMF-fixdate
form RFC 9110 5.6.7 requires, and any HTTP/1.x version read as 1.1 (RFC 9112 2.6)."""
from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from model_server.http1_wire import CLOSE_LINE, DateHeader, with_close

from tests.app.conftest import parse_raw_response
from tests.app.http1_fakes import connect, in_loop

# The body of this answer holds what a head with `connection: close` looks like: only the head counts.
TRICKY_BODY = b"echo:\r\nconnection: close\r\n\r\nmore"


def test_an_answer_whose_body_quotes_a_close_line_still_gets_one_in_its_head() -> None:
    response = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(TRICKY_BODY) + TRICKY_BODY
    closed = with_close(response)
    assert closed == b"HTTP/1.1 200 OK\r\n" + CLOSE_LINE + b"content-length: %d\r\n\r\n" % len(TRICKY_BODY) \
        + TRICKY_BODY
    answer = parse_raw_response(closed)
    assert answer.headers["connection"] == "close" and answer.body == TRICKY_BODY


def test_an_answer_whose_head_says_close_is_left_as_it_is() -> None:
    response = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n" + CLOSE_LINE + b"\r\n"
    assert with_close(response) == response


def test_the_date_line_is_an_imf_fixdate_in_gmt_ending_its_line() -> None:
    DateHeader.update()
    line = DateHeader.line
    assert line.endswith(b"\r\n") and line.count(b"\r\n") == 1
    name, _, value = line[:-2].decode().partition(": ")
    assert name.lower() == "date"
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                        r"\d{4} \d\d:\d\d:\d\d GMT", value), value
    assert parsedate_to_datetime(value).utcoffset().total_seconds() == 0


@in_loop
async def test_a_request_of_a_higher_http_1_minor_version_is_served_as_http_1_1() -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET /live HTTP/1.2\r\nHost: x\r\n\r\n")
    [answer] = transport.answers()
    assert answer.status == 200 and "connection" not in answer.headers
