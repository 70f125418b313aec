"""The server's request log and traces: one JSON line per request with its id, which the client gets back;
OpenTelemetry spans over OTLP to a receiver run by the test, continuing the caller's W3C trace, with the
batching step as a child span; and never the payload or the API key in a log line (fuzzed)."""
from __future__ import annotations

import json
import re
import socket
import struct
import time
from concurrent import futures

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.app.conftest import MODEL_NAME, ServerProcess, digits_rows, free_port, infer_payload

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
KEY = "k3y-Very-Secret-0123456789"


def log_lines(server: ServerProcess) -> list[dict]:
    """The server's JSON request lines (its other log lines are plain text)."""
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def logged(server: ServerProcess, matches, timeout: float = 5.0) -> dict:
    """The first request line `matches` accepts, waited for: the server writes a pass's lines at its end,
    after the answers of that pass went out."""
    deadline = time.monotonic() + timeout
    while True:
        found = [entry for entry in log_lines(server) if matches(entry)]
        if found or time.monotonic() > deadline:
            assert found, "no such request line was written"
            return found[0]
        time.sleep(0.02)


def written_since(server: ServerProcess, before: int, timeout: float = 5.0) -> str:
    """The server's log after offset `before`, once a request line is in it (bounded wait)."""
    deadline = time.monotonic() + timeout
    while '"request_id"' not in (written := server.log()[before:]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return written


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP gRPC trace receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list = []

    def Export(self, request, context):  # noqa: N802 (the .proto's name)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def receiver():
    sink = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    yield sink, f"http://127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def traced_server(tiny_model, start_server, receiver, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "primary").write_text(KEY)
    sink, endpoint = receiver
    server = start_server(tiny_model.dir, API_KEYS_DIR=str(keys), OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                          OTEL_TRACES_SAMPLER_ARG="0", OTEL_BSP_SCHEDULE_DELAY="100")
    server.wait_ready()
    return server, sink


def _spans_named(sink: Receiver, name: str, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [s for s in sink.spans if s.name == name]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no span {name!r} among {[s.name for s in sink.spans]}")


def test_an_inference_request_is_logged_traced_and_its_id_returned(traced_server):
    server, sink = traced_server
    sampled = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"}
    assert server.get("/v2/health/ready", headers=sampled).status == 200  # a probe: never a span
    assert server.admin("/metrics", headers=sampled).status == 200  # a scrape: never a span
    rows = digits_rows(3)
    response = server.infer(infer_payload(rows), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {KEY}", "X-Request-Id": "client-42",
        "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"})
    assert response.status == 200, response.body
    assert response.headers["x-request-id"] == "client-42" and response.json()["id"] == "client-42"

    line = logged(server, lambda entry: entry["request_id"] == "client-42")
    assert line["model"] == MODEL_NAME and line["route"] == "/v2/models/{name}/infer" and line["method"] == "POST"
    assert line["status"] == 200 and line["batch_size"] == 3 and line["latency_ms"] > 0
    assert line["trace_id"] == TRACE_ID, "the log line must lead to the trace"

    request_span = next(s for s in _spans_named(sink, "POST /v2/models/{name}/infer") if s.trace_id.hex() == TRACE_ID)
    assert request_span.parent_span_id.hex() == PARENT_SPAN, "the caller's traceparent is continued"
    assert request_span.kind == request_span.SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in request_span.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["inference.request_id"].string_value == "client-42"
    batch = next(s for s in _spans_named(sink, "batch") if s.trace_id.hex() == TRACE_ID)
    assert batch.parent_span_id == request_span.span_id
    assert {a.key: a.value.int_value for a in batch.attributes}["inference.batch_size"] == 3
    assert request_span.start_time_unix_nano <= batch.start_time_unix_nano <= batch.end_time_unix_nano \
        <= request_span.end_time_unix_nano
    assert not [span.name for span in sink.spans if "health" in span.name or "metrics" in span.name]


def test_refused_requests_get_an_id_and_a_line_and_new_traces_follow_the_sample_ratio(traced_server):
    server, sink = traced_server
    refused = server.infer(infer_payload(digits_rows(1)))  # no API key; OTEL_TRACES_SAMPLER_ARG=0, no traceparent
    assert refused.status == 401
    rid = refused.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", rid), rid
    line = logged(server, lambda entry: entry["request_id"] == rid)
    assert line["status"] == 401 and "batch_size" not in line and "trace_id" not in line
    server.stop()  # flushes the spans still buffered
    assert not sink.spans, "a sample ratio of 0 keeps no new trace"


def test_probes_and_scrapes_are_not_logged_but_other_answers_are(tiny_model, start_server):
    server = start_server(tiny_model.dir)
    server.wait_ready()
    assert server.admin("/metrics").status == 200 and server.get("/v2/health/live").status == 200
    assert server.get("/v2/nowhere").status == 404
    logged(server, lambda entry: entry["route"] == "other")  # the probes' lines, if any, were written before it
    routes = [entry["route"] for entry in log_lines(server)]
    assert "other" in routes
    assert not {"/metrics", "/v2/health/live", "/v2/health/ready"} & set(routes), routes


def test_request_log_off_writes_no_line_but_still_returns_the_id(tiny_model, start_server):
    server = start_server(tiny_model.dir, REQUEST_LOG="off")
    server.wait_ready()
    response = server.infer(infer_payload(digits_rows(1)), headers={"Content-Type": "application/json",
                                                                     "X-Request-Id": "quiet-1"})
    assert response.status == 200 and response.headers["x-request-id"] == "quiet-1"
    time.sleep(0.3)  # a line would have been written at the end of the answer's event loop pass
    assert log_lines(server) == []


# ------------------------------------------------------------------------------------------- never the secrets

@pytest.fixture(scope="module")
def keyed_server(tiny_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "keys").mkdir()
    (directory / "keys" / "primary").write_text(KEY)
    server = ServerProcess(tiny_model.dir, directory, API_KEYS_DIR=str(directory / "keys"))
    server.wait_ready()
    yield server
    server.stop()


SECRET = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", min_size=12, max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(marker=SECRET, key=SECRET, good_key=st.booleans(), rows=st.integers(1, 4))
def test_a_log_line_never_holds_the_payload_or_the_api_key(keyed_server, marker, key, good_key, rows):
    before = len(keyed_server.log())
    payload = infer_payload(digits_rows(rows), id=marker, parameters={"note": marker})
    payload["inputs"][0]["name"] = marker if rows == 4 else "input"  # a wrong input name is echoed in the 400
    bearer = KEY if good_key else key
    response = keyed_server.infer(payload, headers={"Content-Type": "application/json",
                                                    "Authorization": f"Bearer {bearer}"})
    assert response.status in (200, 400, 401)
    written = written_since(keyed_server, before)
    assert '"request_id"' in written, "the request must have been logged"
    for secret in (marker, key, KEY):
        assert secret not in written, f"{secret!r} leaked into the log: {written!r}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(marker=SECRET, key=SECRET, good_key=st.booleans(), rows=st.integers(1, 4))
def test_a_grpc_log_line_never_holds_the_payload_or_the_api_key(keyed_server, marker, key, good_key, rows):
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    before = len(keyed_server.log())
    data = digits_rows(rows)
    tensor = pb.ModelInferRequest.InferInputTensor(name=marker if rows == 4 else "input", datatype="FP32",
                                                   shape=list(data.shape))
    request = pb.ModelInferRequest(model_name=MODEL_NAME, id=marker, inputs=[tensor],
                                   raw_input_contents=[data.astype("<f4").tobytes()])
    request.parameters["note"].string_param = marker
    with grpc.insecure_channel(f"127.0.0.1:{keyed_server.grpc_port}") as channel:
        call = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer
        try:
            call(request, metadata=[("authorization", f"Bearer {KEY if good_key else key}")], timeout=30)
        except grpc.RpcError as refused:
            assert refused.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED)
    written = written_since(keyed_server, before)
    assert '"request_id"' in written, "the call must have been logged"
    for secret in (marker, key, KEY):
        assert secret not in written, f"{secret!r} leaked into the log: {written!r}"


# ------------------------------------------------------------------------------------------- units

@given(st.binary(max_size=200))
def test_a_client_request_id_is_kept_only_when_it_cannot_break_a_log_line(header):
    from model_server.request_log import request_id

    rid = request_id(header, lambda: "generated")
    assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", rid)
    assert (rid == header.decode("latin-1")) != (rid == "generated") or header == b"generated"


@pytest.mark.parametrize("var,value,message", [
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", "must be http(s)://host:port"),
    ("OTEL_TRACES_SAMPLER_ARG", "1.5", "must be a number from 0 to 1"),
    ("REQUEST_LOG", "yes", "must be on or off"),
])
def test_bad_observability_settings_are_refused_naming_the_variable(tiny_model, var, value, message):
    from model_server.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=re.escape(f"{var}={value!r}: {message}")):
        load_settings({"MODEL_DIR": str(tiny_model.dir), var: value})


def test_tracing_is_off_unless_an_endpoint_is_configured(tiny_model):
    from model_server.config import load_settings
    from model_server.tracing import tracing_from

    settings = load_settings({"MODEL_DIR": str(tiny_model.dir)})
    assert settings.otlp_endpoint is None and settings.request_log and settings.trace_sample_ratio == 0.05
    assert tracing_from(settings.otlp_endpoint, settings.trace_sample_ratio, "m", "1") is None
    traced = tracing_from("http://127.0.0.1:4317", 1.0, "m", "1")
    assert traced is not None
    traced.shutdown()


def test_a_grpc_call_gets_its_id_as_trailing_metadata_and_a_log_line(tiny_model, start_server):
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    server = start_server(tiny_model.dir)
    server.wait_ready()
    rows = digits_rows(2)
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=list(rows.shape))
    request = pb.ModelInferRequest(model_name=MODEL_NAME, inputs=[tensor], raw_input_contents=[rows.astype("<f4").tobytes()])
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        _, call = stub.ModelInfer.with_call(request, metadata=[("x-request-id", "grpc-7")], timeout=30)
        assert dict(call.trailing_metadata())["x-request-id"] == "grpc-7"
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(pb.ModelInferRequest(model_name="nope"), timeout=30)
        assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", dict(refused.value.trailing_metadata())["x-request-id"])
    line = logged(server, lambda entry: entry["request_id"] == "grpc-7")
    assert line["route"] == "/inference.GRPCInferenceService/ModelInfer" and line["status"] == 200
    assert line["batch_size"] == 2, "the gRPC line carries the batch size as HTTP's does"
    refused_line = logged(server, lambda entry: entry["status"] == 404)
    assert "batch_size" not in refused_line, "a call refused before its inputs were read has no batch size"


# ------------------------------------------------------------------------------------------- clients that leave

def test_a_request_whose_client_resets_the_connection_still_gets_its_line_as_client_closed(tiny_model, start_server):
    from model_server.request_log import CLIENT_CLOSED

    server = start_server(tiny_model.dir, TEST_INFERENCE_DELAY_MS="1500")
    server.wait_ready()
    body = json.dumps(infer_payload(digits_rows(2))).encode()
    head = (f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Request-Id: gone-1\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends a reset
        sock.sendall(head + body)
        time.sleep(0.3)  # the request is in the batcher, waiting out the test delay
    deadline = time.monotonic() + 10
    while not (lines := [e for e in log_lines(server) if e["request_id"] == "gone-1"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = lines
    assert line["status"] == CLIENT_CLOSED == 499 and line["level"] == "info" and line["batch_size"] == 2
    assert 250 <= line["latency_ms"] < 1500, "logged when the client left, not when the inference would have ended"
    time.sleep(1.5)
    assert [e["request_id"] for e in log_lines(server)].count("gone-1") == 1, "one line, never a second"


def test_a_body_cut_short_by_the_client_is_logged_once_with_the_400_it_was_answered(tiny_model, start_server):
    server = start_server(tiny_model.dir)
    server.wait_ready()
    head = (f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "X-Request-Id: short-1\r\nContent-Length: 1000\r\n\r\n{").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")
    time.sleep(0.3)
    assert [e["status"] for e in log_lines(server) if e["request_id"] == "short-1"] == [400]


def test_a_body_too_slow_is_logged_once_with_the_408_the_http_layer_wrote(tiny_model, start_server):
    server = start_server(tiny_model.dir, BODY_TIMEOUT_SECONDS="0.5")
    server.wait_ready()
    head = (f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "X-Request-Id: slow-1\r\nContent-Length: 1000\r\n\r\n{").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 408")
    time.sleep(0.3)
    assert [e["status"] for e in log_lines(server) if e["request_id"] == "slow-1"] == [408]
