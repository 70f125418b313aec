"""OpenTelemetry traces of the requests: off unless an OTLP endpoint is configured.

Each HTTP request becomes a SERVER span (`POST /v2/models/{name}/infer`), a child of the caller's
W3C `traceparent` when it sends one (the KEDA HTTP interceptor forwards headers as it got them);
an inference request gets a child span `batch` from the moment it joins the batcher until its rows
come back, so a trace shows how long it waited for company and how large the request was. Spans
go to the OTLP gRPC endpoint in batches (OpenTelemetry's BatchSpanProcessor, off the event loop);
which traces are kept is decided at the root: `TRACE_SAMPLE_RATIO` of new traces, and always the
caller's decision when it sent one (parent-based sampling).
"""
from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACE_HEADERS = (b"traceparent", b"tracestate")
"""The W3C Trace Context headers the server reads."""
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class RequestTrace:
    """The spans of one request in flight."""

    span: trace.Span
    batch: trace.Span | None = None

    @property
    def trace_id(self) -> str | None:
        """The trace id in hex (as X-Ray and Tempo show it), or None when the trace is not sampled."""
        context = self.span.get_span_context()
        return format(context.trace_id, "032x") if context.trace_flags.sampled else None


class Tracing:
    """Starts and ends the spans of requests; build it with `tracing_from` (None when tracing is off)."""

    def __init__(self, provider: TracerProvider, model: str) -> None:
        self.provider = provider
        self.model = model
        self.tracer = provider.get_tracer("model_server")

    def start(self, method: str, route: str, headers: dict[bytes, bytes], request_id: str) -> RequestTrace:
        """The SERVER span of a request, continuing the caller's trace when it sent a valid `traceparent`."""
        carrier = {name.decode(): headers[name].decode("latin-1") for name in TRACE_HEADERS if name in headers}
        span = self.tracer.start_span(f"{method} {route}", context=_PROPAGATOR.extract(carrier), kind=SpanKind.SERVER,
                                      attributes={"http.request.method": method, "http.route": route,
                                                  "inference.model": self.model, "inference.request_id": request_id})
        return RequestTrace(span)

    def batching(self, request: RequestTrace, rows: int) -> None:
        """The request joins the batcher: its `batch` span starts."""
        request.batch = self.tracer.start_span("batch", context=trace.set_span_in_context(request.span),
                                               attributes={"inference.batch_size": rows})

    @staticmethod
    def finish(request: RequestTrace, status: int) -> None:
        """The request is answered with `status`: its spans end (5xx marks them as errors)."""
        if request.batch is not None and request.batch.is_recording():
            request.batch.end()
        request.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            request.span.set_status(Status(StatusCode.ERROR))
        request.span.end()

    def shutdown(self) -> None:
        """Send what is still buffered (bounded by the exporter's timeout)."""
        self.provider.shutdown()


def tracing_from(endpoint: str | None, sample_ratio: float, model: str, version: str,
                 exporter: SpanExporter | None = None) -> Tracing | None:
    """Tracing to the OTLP gRPC `endpoint` (or to `exporter`, for tests); None when neither is given."""
    if exporter is None:
        if not endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        # The collector is a Service in the cluster: plain gRPC on its pod network, like the metrics scrape.
        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        resource=Resource.create({"service.name": model, "service.version": version}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider, model)
