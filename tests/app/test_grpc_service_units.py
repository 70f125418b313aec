"""The gRPC endpoint in process (grpc_service.py), with a recording application and call context: requests are
checked like the REST path's, each failure ends the call with its gRPC code and is counted with the HTTP status
it corresponds to, outputs are raw little-endian bytes, and the call guard refuses keyless calls and a call
whose message never comes (test_binary_and_grpc.py shows the same on a real server, which cannot catch a
change to this module: docs/testing.md)."""
from __future__ import annotations

import asyncio
import struct
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from model_server.batcher import InferenceError, Overloaded
from model_server.grpc_service import SERVICE, CallGuard, InferenceService, build_server, parse_request
from model_server.model import TensorSpec
from model_server.oip import grpc_predict_v2_pb2 as pb
from model_server.oip import model_statistics_pb2 as stats_pb
from model_server.protocol import RequestError
from model_server.statistics import ModelStatistics

from tests.app.http1_fakes import run

X = TensorSpec("x", "FP32", np.dtype(np.float32), (-1, 2))
H = TensorSpec("h", "FP16", np.dtype(np.float16), (-1, 1))
Y = TensorSpec("y", "FP32", np.dtype(np.float32), (-1, 2))
Z = TensorSpec("z", "INT8", np.dtype(np.int8), (-1, 1))
MODEL = SimpleNamespace(inputs=(X,), outputs=(Y, Z), version="3")


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Context:
    """A call's context: its metadata, and `abort` ending the call (it raises, as grpc.aio's does)."""

    def __init__(self, metadata=(), message=None) -> None:
        self.metadata = tuple(metadata)
        self.trailing = None
        self.message = message

    def invocation_metadata(self):
        return self.metadata

    def set_trailing_metadata(self, metadata) -> None:
        self.trailing = metadata

    async def abort(self, code, message):
        raise Aborted(code, message)

    async def read(self):
        if self.message == "never":
            await asyncio.sleep(10)
        return self.message


class Metrics:
    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []
        self.rejected: list[str] = []
        self.answered: list[bool] = []
        self.seconds: list = []
        """The seconds of every request observed and every inference answered."""
        self.statistics = SimpleNamespace(answered=self._answered, as_json=ModelStatistics().as_json)
        self.auth = []
        self.auth_failures = SimpleNamespace(labels=lambda *labels: SimpleNamespace(
            inc=lambda: self.auth.append(labels)))

    def _answered(self, ok: bool, seconds: float) -> None:
        self.answered.append(ok)
        self.seconds.append(seconds)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.append((route, status))
        self.seconds.append(seconds)

    def reject(self, reason: str) -> None:
        self.rejected.append(reason)


class App:
    """What the service reads of `ModelServer`, recording what it is told."""

    def __init__(self, *, model=MODEL, capacity: int = 4, results=None, keys: set[bytes] | None = None) -> None:
        self.settings = SimpleNamespace(model_name="m", body_timeout_seconds=0.05, max_request_bytes=1000,
                                        max_header_bytes=2000, keep_alive_timeout_seconds=7.5,
                                        header_timeout_seconds=2.5, max_concurrent_requests=10, grpc_port=8001)
        self.model = model
        self.ready = True
        self.metrics = Metrics()
        self.lines: list[dict] = []
        self.request_log = SimpleNamespace(record=lambda **fields: self.lines.append(fields))
        self.capacity = capacity
        self.active = 0
        self.grpc_active = 0
        self.results = results
        self.submitted: list[tuple[dict, int]] = []
        self.batcher = SimpleNamespace(submit=self._submit)
        self.api_keys = keys
        self._ids = iter(range(100))

    def _new_id(self) -> str:
        return f"new-{next(self._ids)}"

    def admit(self) -> bool:
        if self.active >= self.capacity:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1

    def authorized(self, header) -> bool:
        return header in self.api_keys

    async def _submit(self, inputs, rows, timeout_s=None):
        self.submitted.append((inputs, rows, timeout_s))
        assert self.grpc_active == 1, "the call is not counted while it waits for its batch"
        if isinstance(self.results, Exception):
            raise self.results
        return self.results


def _tensor(name="x", datatype="FP32", shape=(1, 2), **contents):
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=list(shape))
    if contents:
        tensor.contents.CopyFrom(pb.InferTensorContents(**contents))
    return tensor


def _request(*tensors, raw=(), outputs=(), **fields) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m", inputs=list(tensors) or [_tensor(fp32_contents=[1, 2])], **fields)
    request.raw_input_contents.extend(raw)
    for name in outputs:
        request.outputs.add(name=name)
    return request


def _call(coroutine_function):
    """(result, None) or (None, Aborted) of one call."""
    async def call():
        try:
            return await coroutine_function(), None
        except Aborted as exc:
            return None, exc
    return run(call)


# --- the request -------------------------------------------------------------------------------------------------

def test_a_request_with_typed_contents_gives_the_arrays_rows_and_every_output() -> None:
    inputs, rows, wanted, timeout = parse_request(_request(_tensor(shape=(2, 2), fp32_contents=[1, 2, 3, 4])), MODEL)
    assert inputs["x"].tolist() == [[1, 2], [3, 4]] and inputs["x"].dtype == np.float32
    assert (rows, wanted, timeout) == (2, ["y", "z"], None)


def test_a_request_with_raw_contents_and_named_outputs_gives_those_outputs() -> None:
    raw = np.array([[0.5, 1.5]], "<f4").tobytes()
    inputs, rows, wanted, _ = parse_request(_request(_tensor(), raw=[raw], outputs=["z"]), MODEL)
    assert inputs["x"].tolist() == [[0.5, 1.5]] and (rows, wanted) == (1, ["z"])


@pytest.mark.parametrize(("request_", "model", "message"), [
    (lambda: _request(_tensor(fp32_contents=[1, 2]), raw=[b"\0" * 8]), MODEL,
     "input 'x': give either 'contents' or raw_input_contents, not both"),
    (lambda: _request(_tensor("h", "FP16", (1, 1))), SimpleNamespace(inputs=(H,), outputs=(Y,)),
     "input 'h': FP16 data must be sent in raw_input_contents"),
    (lambda: _request(_tensor(), _tensor(), raw=[b"\0" * 8]), MODEL,
     "raw_input_contents has 1 entries for 2 inputs; give one per input, in order"),
    (lambda: _request(_tensor(), _tensor(), raw=[b"\0" * 8] * 2), MODEL, "input 'x' is given more than once"),
    (lambda: pb.ModelInferRequest(model_name="m"), MODEL, "'inputs' must list at least one input tensor"),
    (lambda: _request(_tensor(fp32_contents=[1, 2, 3])), MODEL, "input 'x': 'data' has 3 values but shape [1, 2] "
                                                                "needs 2"),
    (lambda: _request(_tensor(), raw=[b"\0" * 7]), MODEL,
     "input 'x': raw_input_contents has 7 bytes but shape [1, 2] of FP32 needs 8"),
    (lambda: _request(outputs=["w"]), MODEL, "unknown output 'w'; the model's outputs are: 'y', 'z'"),
    (lambda: _request(parameters={"priority": pb.InferParameter(int64_param=2)}), MODEL,
     "parameters.priority is not supported: this server has one priority level; leave it out (or 0)"),
    (lambda: _request(parameters={"timeout": pb.InferParameter(int64_param=-5)}), MODEL,
     "parameters.timeout must be a whole number of microseconds from 0 to 9223372036854775807 (0: the server's "
     "queue timeout), got -5"),
    (lambda: _request(parameters={"priority": pb.InferParameter.FromString(b"\x28\x02")}), MODEL,  # Triton's uint64
     "parameters.priority is not supported: this server has one priority level; leave it out (or 0)"),
    (lambda: _request(parameters={"timeout": pb.InferParameter.FromString(b"\x21" + struct.pack("<d", 1.5))}), MODEL,
     "parameters.timeout must be a whole number of microseconds from 0 to 9223372036854775807 (0: the server's "
     "queue timeout), got 1.5"),  # Triton's double_param
])
def test_a_malformed_request_is_refused_like_the_rest_path_refuses_it(request_, model, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request(request_(), model)
    assert caught.value.message == message


def test_the_default_schedule_policy_is_accepted_and_a_queue_timeout_taken_from_any_of_its_fields() -> None:
    request = _request(parameters={"priority": pb.InferParameter(int64_param=0),
                                   "other": pb.InferParameter(bool_param=True)})
    assert parse_request(request, MODEL)[1::2] == (1, None)
    for parameter in (pb.InferParameter(int64_param=2500), pb.InferParameter.FromString(b"\x28\xc4\x13"),
                      pb.InferParameter.FromString(b"\x30\x01" + b"\x28\xc4\x13")):  # unknown varint 6 skipped
        assert parse_request(_request(parameters={"timeout": parameter}), MODEL)[3] == 0.0025
    assert parse_request(_request(parameters={"timeout": pb.InferParameter.FromString(b"\x30\x01")}), MODEL)[3] is None


# --- the calls ---------------------------------------------------------------------------------------------------

def test_an_inference_answers_raw_little_endian_outputs_with_the_requests_id_and_frees_its_slot() -> None:
    y = np.array([[1.5, -2.0]], dtype=">f4")  # big-endian result: sent little-endian anyway
    z = np.array([[7]], dtype=np.int8)
    app = App(results={"y": y, "z": z})
    context = Context(metadata=(("x-request-id", "abc"),))
    response, error = _call(lambda: InferenceService(app).ModelInfer(_request(id="req-1"), context))
    assert error is None
    assert (response.model_name, response.model_version, response.id) == ("m", "3", "req-1")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("y", "FP32", [1, 2]),
                                                                                ("z", "INT8", [1, 1])]
    assert list(response.raw_output_contents) == [np.array([1.5, -2.0], "<f4").tobytes(), b"\x07"]
    assert app.submitted[0][1:] == (1, None) and (app.active, app.grpc_active) == (0, 0)
    assert app.metrics.requests == [(SERVICE + "ModelInfer", 200)] and app.metrics.answered == [True]
    assert len(app.metrics.seconds) == 2 and all(isinstance(t, float) and 0 <= t < 5 for t in app.metrics.seconds)
    assert context.trailing == (("x-request-id", "abc"),)
    assert [(line["route"], line["status"], line["batch_size"], line["request_id"]) for line in app.lines] == [
        (SERVICE + "ModelInfer", 200, 1, "abc")]


def test_an_inference_without_an_id_gets_a_new_one_and_only_the_outputs_asked_for() -> None:
    app = App(results={"y": np.zeros((1, 2), np.float32), "z": np.zeros((1, 1), np.int8)})
    request = _request(outputs=["z"], parameters={"timeout": pb.InferParameter(int64_param=2500)})
    response, _ = _call(lambda: InferenceService(app).ModelInfer(request, Context()))
    assert response.id.startswith("new-") and [o.name for o in response.outputs] == ["z"]
    assert app.submitted[0][2] == 0.0025, "the queue timeout asked for did not reach the batcher"


@pytest.mark.parametrize(("app_kwargs", "request_fields", "code", "status", "message"), [
    ({}, {"model_name": "other"}, grpc.StatusCode.NOT_FOUND, 404,
     "unknown model 'other'; this server serves 'm'"),
    ({}, {"model_version": "2"}, grpc.StatusCode.NOT_FOUND, 404,
     "unknown version '2' of model 'm'; the served version is 3"),
    ({"model": None}, {}, grpc.StatusCode.UNAVAILABLE, 503, "model 'm' is not ready yet (loading or warming up)"),
    ({"capacity": 0}, {}, grpc.StatusCode.UNAVAILABLE, 503, "server at its concurrency limit; retry shortly"),
    ({"results": InferenceError("the model failed")}, {}, grpc.StatusCode.INTERNAL, 500, "the model failed"),
    ({"results": ValueError("a bug")}, {}, grpc.StatusCode.INTERNAL, 500, "internal error: ValueError"),
    ({}, {"inputs": [_tensor(fp32_contents=[1])]}, grpc.StatusCode.INVALID_ARGUMENT, 400,
     "input 'x': 'data' has 1 values but shape [1, 2] needs 2"),
])
def test_a_failed_inference_ends_with_its_code_is_counted_with_its_http_status_and_frees_its_slot(
        app_kwargs, request_fields, code, status: int, message: str) -> None:
    app = App(**app_kwargs)
    request = pb.ModelInferRequest(**{"model_name": "m", "inputs": [_tensor(fp32_contents=[1, 2])],
                                      **request_fields})
    _, error = _call(lambda: InferenceService(app).ModelInfer(request, Context()))
    assert (error.code, error.message) == (code, message)
    assert app.metrics.requests == [(SERVICE + "ModelInfer", status)] and app.metrics.answered == [False]
    assert [(line["status"], line["method"]) for line in app.lines] == [(status, "POST")]
    assert (app.active, app.grpc_active) == (0, 0)


def test_an_overloaded_batcher_is_unavailable_and_counted_with_its_reason() -> None:
    app = App(results=Overloaded("the batch queue is full", "queue_full"))
    _, error = _call(lambda: InferenceService(app).ModelInfer(_request(), Context()))
    assert (error.code, error.message) == (grpc.StatusCode.UNAVAILABLE, "the batch queue is full")
    assert app.metrics.rejected == ["queue_full"]
    assert app.metrics.requests == [(SERVICE + "ModelInfer", 503)]


def test_the_health_and_metadata_calls_say_what_the_server_is() -> None:
    from model_server import SERVER_NAME, __version__

    app = App()
    service = InferenceService(app)
    live, _ = _call(lambda: service.ServerLive(pb.ServerLiveRequest(), Context()))
    app.ready = False
    ready, _ = _call(lambda: service.ServerReady(pb.ServerReadyRequest(), Context()))
    model_ready, _ = _call(lambda: service.ModelReady(pb.ModelReadyRequest(name="m"), Context()))
    _, unknown = _call(lambda: service.ModelReady(pb.ModelReadyRequest(name="n"), Context()))
    meta, _ = _call(lambda: service.ServerMetadata(pb.ServerMetadataRequest(), Context()))
    assert live.live and not ready.ready and not model_ready.ready
    assert (unknown.code, unknown.message) == (grpc.StatusCode.NOT_FOUND, "unknown model 'n'")
    assert (meta.name, meta.version, list(meta.extensions)) == (SERVER_NAME, __version__, ["binary_tensor_data"])
    assert [r for r, _ in app.metrics.requests] == [SERVICE + m for m in (
        "ServerLive", "ServerReady", "ModelReady", "ModelReady", "ServerMetadata")]
    assert [s for _, s in app.metrics.requests] == [200, 200, 200, 404, 200] and app.metrics.answered == []


def test_the_model_metadata_and_statistics_describe_the_served_model() -> None:
    app = App()
    service = InferenceService(app)
    meta, _ = _call(lambda: service.ModelMetadata(pb.ModelMetadataRequest(name="m", version="3"), Context()))
    assert (meta.name, list(meta.versions), meta.platform) == ("m", ["3"], "onnx_onnxv1")
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("x", "FP32", [-1, 2])]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [("y", "FP32", [-1, 2]),
                                                                          ("z", "INT8", [-1, 1])]
    stats, _ = _call(lambda: service.ModelStatistics(stats_pb.ModelStatisticsRequest(), Context()))
    [figures] = stats.model_stats
    assert (figures.name, figures.version, figures.inference_count) == ("m", "3", 0)
    _, error = _call(lambda: service.ModelStatistics(stats_pb.ModelStatisticsRequest(name="n"), Context()))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert app.metrics.requests[-2:] == [(SERVICE + "ModelStatistics", 200), (SERVICE + "ModelStatistics", 404)]


# --- the call guard ----------------------------------------------------------------------------------------------

def _details(method: str, metadata=()) -> SimpleNamespace:
    return SimpleNamespace(method=method, invocation_metadata=metadata)


def _unary(response="answered"):
    seen = []

    async def unary(request, context):
        seen.append(request)
        return response
    return SimpleNamespace(request_streaming=False, response_streaming=False, unary_unary=unary,
                           request_deserializer="deserialize", response_serializer="serialize"), seen


def _guarded(app: App, details, handler):
    async def continuation(_details):
        return handler
    return run(lambda: CallGuard(app).intercept_service(continuation, details))


def test_a_call_without_a_valid_key_is_refused_before_its_message_and_counted() -> None:
    app = App(keys={b"Bearer good"})
    handler, seen = _unary()
    guarded = _guarded(app, _details(SERVICE + "ModelInfer", (("authorization", "Bearer bad"),)), handler)
    _, error = _call(lambda: guarded.stream_unary(iter(()), Context(message="ignored")))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.message == "missing or invalid API key: send metadata 'authorization: Bearer <key>'"
    assert seen == [] and app.metrics.auth == [("m", "grpc")]
    assert app.metrics.requests == [(SERVICE + "ModelInfer", 401)]
    assert [(line["route"], line["status"]) for line in app.lines] == [(SERVICE + "ModelInfer", 401)]


def test_a_call_with_a_valid_key_or_to_an_open_method_reads_its_one_message_and_is_served() -> None:
    app = App(keys={b"Bearer good"})
    for method, metadata in ((SERVICE + "ModelInfer", (("other", "x"), ("authorization", "Bearer good"))),
                             (SERVICE + "ServerLive", ()), (SERVICE + "ServerReady", ())):
        handler, seen = _unary()
        guarded = _guarded(app, _details(method, metadata), handler)
        assert (guarded.request_deserializer, guarded.response_serializer) == ("deserialize", "serialize")
        result, error = _call(lambda guarded=guarded: guarded.stream_unary(iter(()), Context(message="msg")))
        assert (result, error, seen) == ("answered", None, ["msg"])
    assert app.metrics.auth == []
    guarded = _guarded(App(keys=None), _details(SERVICE + "ModelInfer"), _unary()[0])
    assert _call(lambda: guarded.stream_unary(iter(()), Context(message="m")))[0] == "answered"


def test_a_call_whose_message_never_comes_ends_at_the_body_timeout_and_an_empty_one_is_invalid() -> None:
    app = App(keys=None)
    guarded = _guarded(app, _details(SERVICE + "ModelInfer"), _unary()[0])
    _, error = _call(lambda: guarded.stream_unary(iter(()), Context(message="never")))
    assert (error.code, error.message) == (grpc.StatusCode.DEADLINE_EXCEEDED,
                                           "request message not received within 0.05 s")
    assert app.metrics.rejected == ["body_timeout"] and app.metrics.requests == [(SERVICE + "ModelInfer", 408)]
    assert app.metrics.seconds == [0.05]
    _, error = _call(lambda: guarded.stream_unary(iter(()), Context(message=grpc.aio.EOF)))
    assert (error.code, error.message) == (grpc.StatusCode.INVALID_ARGUMENT,
                                           "the call ended without a request message")
    assert app.metrics.requests[-1] == (SERVICE + "ModelInfer", 400) and 0 <= app.metrics.seconds[-1] < 5


def test_streaming_and_unknown_calls_pass_the_guard_untouched() -> None:
    app = App(keys={b"k"})
    streaming = SimpleNamespace(request_streaming=True, response_streaming=False)
    assert _guarded(app, _details(SERVICE + "ModelInfer"), streaming) is streaming
    server_streaming = SimpleNamespace(request_streaming=False, response_streaming=True)
    assert _guarded(app, _details(SERVICE + "ModelInfer"), server_streaming) is server_streaming
    assert _guarded(app, _details("/unknown/Call"), None) is None
    assert app.metrics.auth == []


# --- the server --------------------------------------------------------------------------------------------------

class RecordingServer:
    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs
        self.ports: list[str] = []
        self.handlers: list = []

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.handlers += handlers

    def add_registered_method_handlers(self, service, handlers) -> None:
        self.handlers.append(service)

    def add_insecure_port(self, address: str) -> int:
        self.ports.append(address)
        return 1


def test_the_server_carries_the_http_sides_limits_and_binds_where_told(monkeypatch) -> None:
    monkeypatch.setattr(grpc.aio, "server", RecordingServer)
    app = App()
    server = build_server(app, "127.0.0.1", 300)
    options = dict(server.kwargs["options"])
    assert options == {"grpc.max_receive_message_length": 1000, "grpc.max_send_message_length": 4 * 1024 * 1024,
                       "grpc.max_metadata_size": 2000, "grpc.absolute_max_metadata_size": 2000,
                       "grpc.so_reuseport": 0, "grpc.max_connection_idle_ms": 7500,
                       "grpc.max_allowed_incoming_connections": 300, "grpc.max_concurrent_streams": 100,
                       "grpc.server_handshake_timeout_ms": 2500}
    assert server.kwargs["maximum_concurrent_rpcs"] == 2 * 100 + 64
    assert isinstance(server.kwargs["interceptors"][0], CallGuard)
    assert server.ports == ["127.0.0.1:8001"] and len(server.handlers) >= 3
    app.settings.max_request_bytes = 5 * 1024 * 1024
    app.settings.max_concurrent_requests = 150
    server = build_server(app, "::1", 300)
    assert dict(server.kwargs["options"])["grpc.max_send_message_length"] == 5 * 1024 * 1024
    assert server.kwargs["maximum_concurrent_rpcs"] == 2 * 150 + 64
    assert server.ports == ["[::1]:8001"]


def _handler(server: RecordingServer, method: str):
    """The method handler the server's generic handlers give `method`, or None."""
    found = [h.service(SimpleNamespace(method=method)) for h in server.handlers if hasattr(h, "service")]
    found = [h for h in found if h is not None]
    return found[0] if found else None


def test_the_server_answers_the_statistics_call_and_the_health_check_of_the_server_and_the_service(
        monkeypatch) -> None:
    from model_server.grpc_health import CHECK, NOT_SERVING, SERVING

    monkeypatch.setattr(grpc.aio, "server", RecordingServer)
    app = App()
    server = build_server(app, "127.0.0.1", 300)
    statistics = _handler(server, SERVICE + "ModelStatistics")
    assert statistics is not None and statistics.request_deserializer == stats_pb.ModelStatisticsRequest.FromString
    check = _handler(server, CHECK).unary_unary
    assert [run(lambda s=s: check(s, Context())) for s in ("", "inference.GRPCInferenceService")] == [SERVING] * 2
    app.ready = False
    assert run(lambda: check("", Context())) == NOT_SERVING
    _, error = _call(lambda: check("other", Context()))
    assert error.code == grpc.StatusCode.NOT_FOUND
