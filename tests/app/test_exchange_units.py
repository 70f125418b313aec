"""What a request carries between the HTTP front end and the application (exchange.py), in process: a
request starts holding nothing (no admission, no batch token, no pending inference, no answer, no log line),
so freeing one the application never saw frees nothing, and the first answer gets exactly one log line."""
from __future__ import annotations

from model_server.exchange import HttpRequest

from tests.app.conftest import TinyModel
from tests.app.http1_fakes import RecordingApp, connect, in_loop, post


def _request(method: str = "GET", path: str = "/v2/health/live", kept: dict | None = None) -> HttpRequest:
    return HttpRequest(method, path, {}, 1, None, False, False, True, kept)


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[dict] = []

    def record(self, **fields) -> None:
        self.lines.append(fields)


def _server(model: TinyModel):
    from model_server.app import ModelServer
    from model_server.config import load_settings

    app = ModelServer(load_settings({"MODEL_DIR": str(model.dir)}))
    app.request_log = RecordingLog()
    return app


def test_a_request_the_application_never_saw_is_freed_without_touching_anything(tiny_model: TinyModel) -> None:
    app = _server(tiny_model)  # not started: no batcher, no event loop running
    request = _request()
    app.abort(request)
    assert app.active == 0 and app.request_log.lines == []
    assert (request.token, request.future, request.response, request.admitted) == (None, None, None, False)


def test_the_first_answer_to_a_request_gets_one_log_line_without_a_batch_size(tiny_model: TinyModel) -> None:
    app = _server(tiny_model)
    request = _request()
    status, body, _, headers = app.begin(request)
    assert status == 200 and body == b'{"live":true}'
    [line] = app.request_log.lines
    assert line["batch_size"] is None and line["route"] == "/v2/health/live" and line["status"] == 200
    assert line["trace_id"] is None
    assert dict(headers)[b"x-request-id"] == line["request_id"].encode()


def test_a_head_request_is_marked_to_be_answered_without_a_body() -> None:
    assert _request("HEAD").head_only and not _request("GET").head_only


@in_loop
async def test_the_requests_of_one_connection_share_what_the_application_keeps_for_it() -> None:
    app = RecordingApp()
    protocol, _ = connect(app)
    other, _ = connect(app)
    protocol.data_received(post("/a", b"1") + post("/b", b"2"))
    other.data_received(post("/c", b"3"))
    first, second, third = app.begun
    first.kept["metrics page"] = b"cached"
    assert second.kept is first.kept and third.kept == {}
    assert _request().kept == {} and _request().kept is not _request().kept
