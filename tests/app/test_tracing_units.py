"""The request spans, in process, exported to OpenTelemetry's in-memory exporter: their names, kinds, attributes,
parents and statuses, the caller's W3C trace continued, sampling decided at the root, and the exporter chosen from
the endpoint."""

from __future__ import annotations

import pytest
from model_server import tracing as tracing_module
from model_server.tracing import tracing_from
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def _tracing(ratio: float = 1.0):
    exporter = InMemorySpanExporter()
    tracing = tracing_from(None, ratio, "digits", "v7", exporter=exporter)
    assert tracing is not None
    return tracing, exporter


def _finished(tracing, exporter):
    tracing.shutdown()  # flushes the batch processor
    return {span.name: span for span in exporter.get_finished_spans()}


def test_without_an_endpoint_or_exporter_tracing_is_off() -> None:
    assert tracing_from(None, 1.0, "m", "1") is None
    assert tracing_from("", 1.0, "m", "1") is None


@pytest.mark.parametrize(("endpoint", "insecure"), [("http://collector:4317", True), ("https://collector:4317", False)])
def test_an_endpoint_gets_an_otlp_grpc_exporter_plain_only_for_http(monkeypatch, endpoint, insecure) -> None:
    made = []

    class Recorder(InMemorySpanExporter):
        def __init__(self, **kwargs) -> None:
            super().__init__()
            made.append(kwargs)

    import opentelemetry.exporter.otlp.proto.grpc.trace_exporter as otlp
    monkeypatch.setattr(otlp, "OTLPSpanExporter", Recorder)
    tracing = tracing_from(endpoint, 1.0, "m", "1")
    assert tracing is not None and made == [{"endpoint": endpoint, "insecure": insecure}]
    tracing.shutdown()


def test_a_request_is_a_server_span_named_by_method_and_route_with_its_attributes() -> None:
    tracing, exporter = _tracing()
    request = tracing.start("POST", "/v2/models/{name}/infer", {}, "req-1")
    assert request.trace_id is not None and len(request.trace_id) == 32
    assert request.trace_id == format(request.span.get_span_context().trace_id, "032x")
    tracing.finish(request, 200)
    span = _finished(tracing, exporter)["POST /v2/models/{name}/infer"]
    assert span.kind == SpanKind.SERVER and span.parent is None
    assert dict(span.attributes) == {"http.request.method": "POST", "http.route": "/v2/models/{name}/infer",
                                     "inference.model": "digits", "inference.request_id": "req-1",
                                     "http.response.status_code": 200}
    assert span.status.status_code == StatusCode.UNSET
    assert dict(span.resource.attributes)["service.name"] == "digits"
    assert dict(span.resource.attributes)["service.version"] == "v7"


def test_the_caller_s_traceparent_is_continued_and_its_sampling_decision_kept() -> None:
    tracing, exporter = _tracing(ratio=0.0)  # new traces are never sampled here
    headers = {b"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01".encode(), b"tracestate": b"vendor=x"}
    request = tracing.start("POST", "/r", headers, "req-2")
    assert request.trace_id == CALLER_TRACE
    tracing.finish(request, 200)
    span = _finished(tracing, exporter)["POST /r"]
    assert format(span.parent.span_id, "016x") == CALLER_SPAN
    assert span.context.trace_state.get("vendor") == "x"


def test_a_new_trace_outside_the_sample_ratio_is_not_recorded_and_has_no_id() -> None:
    tracing, exporter = _tracing(ratio=0.0)
    request = tracing.start("GET", "/r", {}, "req-3")
    assert request.trace_id is None
    tracing.finish(request, 200)
    assert _finished(tracing, exporter) == {}


def test_a_batch_span_is_the_request_s_child_with_its_rows_and_ends_with_it() -> None:
    tracing, exporter = _tracing()
    request = tracing.start("POST", "/r", {}, "req-4")
    tracing.batching(request, 32)
    tracing.finish(request, 200)
    spans = _finished(tracing, exporter)
    batch, parent = spans["batch"], spans["POST /r"]
    assert batch.parent.span_id == parent.context.span_id and batch.context.trace_id == parent.context.trace_id
    assert dict(batch.attributes) == {"inference.batch_size": 32}
    assert batch.end_time is not None and batch.end_time <= parent.end_time


@pytest.mark.parametrize(("status", "code"), [(499, StatusCode.UNSET), (500, StatusCode.ERROR),
                                              (503, StatusCode.ERROR)])
def test_a_server_error_marks_the_request_span_as_an_error(status, code) -> None:
    tracing, exporter = _tracing()
    tracing.finish(tracing.start("POST", "/r", {}, "req-5"), status)
    span = _finished(tracing, exporter)["POST /r"]
    assert span.status.status_code == code and span.attributes["http.response.status_code"] == status


def test_the_tracer_is_the_model_server_s() -> None:
    tracing, _ = _tracing()
    assert tracing.model == "digits"
    span = tracing.start("GET", "/r", {}, "req-6").span
    assert span.instrumentation_scope.name == "model_server"
    assert tracing_module.TRACE_HEADERS == (b"traceparent", b"tracestate")
