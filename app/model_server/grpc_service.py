"""Open Inference Protocol gRPC endpoint (inference.GRPCInferenceService), on GRPC_PORT.

It runs in the same event loop as the HTTP server and shares with it the model, the dynamic
batcher (so gRPC and HTTP requests are batched together), the metrics (counted in
`inference_requests_total` with the full method name as `route` and the HTTP status a gRPC code
corresponds to as `status`), the limits (MAX_REQUEST_BYTES, MAX_CONCURRENT_REQUESTS, the queue
bound and timeout) and the API keys (metadata `authorization: Bearer <key>`; ServerLive and
ServerReady are open like the HTTP health paths). Outputs are returned as `raw_output_contents`,
little-endian bytes, as Triton does: exact and cheap.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING

import grpc
import numpy as np
from google.protobuf.unknown_fields import UnknownFieldSet

from . import SERVER_NAME, __version__
from .batcher import InferenceError, Overloaded
from .grpc_health import CHECK, health_handler
from .oip import grpc_predict_v2_pb2 as pb
from .oip import grpc_predict_v2_pb2_grpc as pb_grpc
from .oip import model_statistics_pb2 as stats_pb
from .protocol import (
    RequestError,
    array_from_bytes,
    array_from_values,
    batch_rows,
    check_tensor,
    echo,
    requested_outputs,
    schedule_timeout,
)
from .request_log import grpc_request_logged, grpc_request_rows, grpc_request_started

if TYPE_CHECKING:
    from .app import ModelServer

log = logging.getLogger(__name__)

SERVICE = "/inference.GRPCInferenceService/"
# The typed field of InferTensorContents each datatype uses (FP16 has none: raw contents only).
_CONTENTS_FIELD = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
                   "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                   "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
                   "FP64": "fp64_contents"}
# gRPC status -> the HTTP status it corresponds to, for the `status` label of inference_requests_total.
HTTP_STATUS = {grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
               grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.UNAVAILABLE: 503,
               grpc.StatusCode.RESOURCE_EXHAUSTED: 413, grpc.StatusCode.INTERNAL: 500}


MAX_CONCURRENT_STREAMS = 100
"""Calls one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); more wait in the client."""
OPEN_METHODS = frozenset({SERVICE + "ServerLive", SERVICE + "ServerReady", CHECK})
"""Calls answered without an API key, like the HTTP health paths."""


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _input_array(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None, specs: dict) -> tuple[str, np.ndarray]:
    shape = list(tensor.shape)
    spec = check_tensor(tensor.name, tensor.datatype, shape, specs)
    if raw is not None:
        if tensor.HasField("contents"):
            raise RequestError(f"input {spec.name!r}: give either 'contents' or raw_input_contents, not both")
        return spec.name, array_from_bytes(spec, shape, raw, "raw_input_contents")
    field = _CONTENTS_FIELD.get(spec.datatype)
    if field is None:
        raise RequestError(f"input {spec.name!r}: {spec.datatype} data must be sent in raw_input_contents")
    return spec.name, array_from_values(spec, shape, np.array(getattr(tensor.contents, field)))


# Triton's InferParameter has two fields KServe's proto (ours) lacks: double_param = 4 and uint64_param = 5
# (tritonclient 2.73.0, grpc/service_pb2.py; its client sends `priority` as uint64_param). To our messages they
# are unknown fields: read from there, so a Triton client's priority is refused, not silently dropped.
_TRITON_UINT64_PARAM, _TRITON_DOUBLE_PARAM = 5, 4
_VARINT, _FIXED64 = 0, 1


def _parameter(parameters, key: str) -> object:
    """The value of an InferParameter, whichever of its fields (ours or Triton's) was set; None when absent."""
    parameter = parameters.get(key)
    if parameter is None:
        return None
    choice = parameter.WhichOneof("parameter_choice")
    if choice is not None:
        return getattr(parameter, choice)
    for field in UnknownFieldSet(parameter):
        if field.field_number == _TRITON_UINT64_PARAM and field.wire_type == _VARINT:
            return field.data
        if field.field_number == _TRITON_DOUBLE_PARAM and field.wire_type == _FIXED64:
            return struct.unpack("<d", struct.pack("<Q", field.data))[0]
    return None


def parse_request(request: pb.ModelInferRequest, model
                  ) -> tuple[dict[str, np.ndarray], int, list[str], float | None]:
    """(inputs, rows, output names, queue timeout) of a ModelInferRequest, validated like the REST path."""
    specs = {spec.name: spec for spec in model.inputs}
    timeout_s = None
    if request.parameters:
        timeout_s = schedule_timeout(_parameter(request.parameters, "priority"),
                                     _parameter(request.parameters, "timeout"))
    if not request.inputs:
        raise RequestError("'inputs' must list at least one input tensor")
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise RequestError(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
                           "give one per input, in order")
    arrays: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        name, array = _input_array(tensor, raw[index] if raw else None, specs)
        if name in arrays:
            raise RequestError(f"input {name!r} is given more than once")
        arrays[name] = array
    rows = batch_rows(arrays, specs)
    wanted, _ = requested_outputs([{"name": o.name} for o in request.outputs] if request.outputs else None,
                                  model.outputs, False)
    return arrays, rows, wanted, timeout_s


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, app: ModelServer) -> None:
        self.app = app

    # --- plumbing --------------------------------------------------------------------------------
    def _observe(self, method: str, code: grpc.StatusCode, started: float) -> None:
        seconds = time.perf_counter() - started
        self.app.metrics.observe_request(SERVICE + method, HTTP_STATUS.get(code, 500), seconds)
        grpc_request_logged(self.app, SERVICE + method, HTTP_STATUS.get(code, 500), seconds)
        if method == "ModelInfer":
            self.app.metrics.statistics.answered(code == grpc.StatusCode.OK, seconds)

    def _model(self, name: str, version: str):
        settings = self.app.settings
        if name != settings.model_name:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"unknown model {echo(name)}; this server serves "
                         f"{settings.model_name!r}")
        model = self.app.model
        if model is None:
            raise _Abort(grpc.StatusCode.UNAVAILABLE, f"model {name!r} is not ready yet (loading or warming up)")
        if version and version != model.version:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"unknown version {echo(version)} of model {name!r}; the "
                         f"served version is {model.version}")
        return model

    async def _run(self, method: str, context: grpc.aio.ServicerContext, handler):
        """Run `handler` (the API key was checked by CallGuard when the call's headers arrived)."""
        started = time.perf_counter()
        grpc_request_started(self.app, context)  # observability: request id (request_log.py)
        try:
            result = await handler()
        except _Abort as exc:
            self._observe(method, exc.code, started)
            await context.abort(exc.code, exc.message)
        except RequestError as exc:
            self._observe(method, grpc.StatusCode.INVALID_ARGUMENT, started)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except Overloaded as exc:
            self.app.metrics.reject(exc.reason)
            self._observe(method, grpc.StatusCode.UNAVAILABLE, started)
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except InferenceError as exc:
            self._observe(method, grpc.StatusCode.INTERNAL, started)
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))
        except Exception as exc:  # a bug must still produce an answer and a counted 500
            log.exception("unhandled error in %s", method)
            self._observe(method, grpc.StatusCode.INTERNAL, started)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
        self._observe(method, grpc.StatusCode.OK, started)
        return result

    # --- the protocol's RPCs ---------------------------------------------------------------------
    async def ServerLive(self, request, context):  # noqa: N802 (names from the .proto)
        async def handle():
            return pb.ServerLiveResponse(live=True)
        return await self._run("ServerLive", context, handle)

    async def ServerReady(self, request, context):  # noqa: N802
        async def handle():
            return pb.ServerReadyResponse(ready=self.app.ready)
        return await self._run("ServerReady", context, handle)

    async def ModelReady(self, request, context):  # noqa: N802
        async def handle():
            if request.name != self.app.settings.model_name:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"unknown model {echo(request.name)}")
            return pb.ModelReadyResponse(ready=self.app.ready)
        return await self._run("ModelReady", context, handle)

    async def ServerMetadata(self, request, context):  # noqa: N802
        async def handle():
            return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=["binary_tensor_data"])
        return await self._run("ServerMetadata", context, handle)

    async def ModelMetadata(self, request, context):  # noqa: N802
        async def handle():
            model = self._model(request.name, request.version)
            meta = pb.ModelMetadataResponse.TensorMetadata
            return pb.ModelMetadataResponse(
                name=self.app.settings.model_name, versions=[model.version], platform="onnx_onnxv1",
                inputs=[meta(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in model.inputs],
                outputs=[meta(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in model.outputs])
        return await self._run("ModelMetadata", context, handle)

    async def ModelInfer(self, request, context):  # noqa: N802
        async def handle():
            model = self._model(request.model_name, request.model_version)
            if not self.app.admit():
                raise _Abort(grpc.StatusCode.UNAVAILABLE, "server at its concurrency limit; retry shortly")
            self.app.grpc_active += 1
            try:
                inputs, rows, wanted, timeout_s = parse_request(request, model)
                grpc_request_rows(rows)  # observability: the batch size of its log line (request_log.py)
                results = await self.app.batcher.submit(inputs, rows, timeout_s)
            finally:
                self.app.grpc_active -= 1
                self.app.release()
            by_name = {spec.name: spec for spec in model.outputs}
            response = pb.ModelInferResponse(model_name=self.app.settings.model_name, model_version=model.version,
                                             id=request.id or self.app._new_id())
            for name in wanted:
                array = np.ascontiguousarray(results[name])
                response.outputs.add(name=name, datatype=by_name[name].datatype, shape=list(array.shape))
                response.raw_output_contents.append(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
            return response
        return await self._run("ModelInfer", context, handle)

    async def ModelStatistics(self, request, context):  # noqa: N802 (Triton's name)
        """The figures of GET /v2/models/{name}/stats (the same counters), as Triton's gRPC message; an
        empty name asks for every model, which is this one."""
        async def handle():
            model = self._model(request.name or self.app.settings.model_name, request.version)
            figures = self.app.metrics.statistics.as_json(self.app.settings.model_name, model.version)
            return stats_pb.ModelStatisticsResponse(model_stats=[stats_pb.ModelStatistics(**figures["model_stats"][0])])
        return await self._run("ModelStatistics", context, handle)


class CallGuard(grpc.aio.ServerInterceptor):
    """What is decided when a call's headers arrive, before its message: the API key (a call without one
    is refused at once, holding nothing), and a deadline of BODY_TIMEOUT_SECONDS for the message itself
    (a stream that sends headers only is ended DEADLINE_EXCEEDED instead of holding a call slot forever).

    grpcio reads a unary call's message before its handler runs, with no time limit; so every unary
    method is served as client-streaming (the same bytes on the wire) and the handler reads the one
    message itself, under the deadline."""

    def __init__(self, app: ModelServer) -> None:
        self.app = app
        self.first_message_s = app.settings.body_timeout_seconds

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        if details.method not in OPEN_METHODS and not self._key_ok(details.invocation_metadata):
            self.app.metrics.auth_failures.labels(self.app.settings.model_name, "grpc").inc()
            self.app.metrics.observe_request(details.method, 401, 0.0)
            return grpc.stream_unary_rpc_method_handler(self._unauthenticated(details.method))
        return grpc.stream_unary_rpc_method_handler(self._with_deadline(handler.unary_unary, details.method),
                                                    request_deserializer=handler.request_deserializer,
                                                    response_serializer=handler.response_serializer)

    def _unauthenticated(self, method: str):
        app = self.app

        async def refuse(request_iterator, context: grpc.aio.ServicerContext):
            grpc_request_started(app, context)  # the request log: its id, and its line
            grpc_request_logged(app, method, 401, 0.0)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid API key: send metadata "
                                "'authorization: Bearer <key>'")
        return refuse

    def _key_ok(self, metadata) -> bool:
        if self.app.api_keys is None:
            return True
        header = next((value for key, value in metadata or () if key == "authorization"), None)
        return self.app.authorized(header.encode() if isinstance(header, str) else header)

    def _with_deadline(self, unary, method: str):
        first_message_s = self.first_message_s
        metrics = self.app.metrics

        async def behavior(request_iterator, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            try:
                async with asyncio.timeout(first_message_s):
                    request = await context.read()
            except TimeoutError:
                metrics.reject("body_timeout")
                metrics.observe_request(method, 408, first_message_s)
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                    f"request message not received within {first_message_s:g} s")
            if request is grpc.aio.EOF:  # counted like REST's 400 for a request without a body
                metrics.observe_request(method, 400, time.perf_counter() - started)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the call ended without a request message")
            return await unary(request, context)
        return behavior


def statistics_handler(service: InferenceService) -> grpc.GenericRpcHandler:
    """Triton's ModelStatistics call in the protocol's service (KServe's proto has no such rpc; its messages
    come from oip/model_statistics.proto)."""
    return grpc.method_handlers_generic_handler(SERVICE.strip("/"), {"ModelStatistics": grpc.unary_unary_rpc_method_handler(
        service.ModelStatistics, request_deserializer=stats_pb.ModelStatisticsRequest.FromString,
        response_serializer=stats_pb.ModelStatisticsResponse.SerializeToString)})


def build_server(app: ModelServer, host: str, max_connections: int) -> grpc.aio.Server:
    """A grpc.aio server for the service, bound to host:GRPC_PORT with the HTTP side's limits
    (`max_connections`: the connection cap already fitted to the descriptor budget)."""
    s = app.settings
    options = [
        ("grpc.max_receive_message_length", s.max_request_bytes),
        ("grpc.max_send_message_length", max(s.max_request_bytes, 4 * 1024 * 1024)),
        ("grpc.max_metadata_size", s.max_header_bytes),
        # gRPC core refuses metadata past max_metadata_size only at random, up to a hard limit of at least
        # 16 KiB (src/core/call/metadata_info.h): the hard limit makes MAX_HEADER_BYTES the bound.
        ("grpc.absolute_max_metadata_size", s.max_header_bytes),
        # Never share the port with another process silently (gRPC turns SO_REUSEPORT on by default).
        ("grpc.so_reuseport", 0),
        ("grpc.max_connection_idle_ms", int(s.keep_alive_timeout_seconds * 1000)),
        ("grpc.max_allowed_incoming_connections", max_connections),
        ("grpc.max_concurrent_streams", MAX_CONCURRENT_STREAMS),
        # A connection that never completes the HTTP/2 preface is closed like a silent HTTP one.
        ("grpc.server_handshake_timeout_ms", int(s.header_timeout_seconds * 1000)),
    ]
    # A server-wide cap on calls in progress bounds the memory of messages being received (each up to
    # MAX_REQUEST_BYTES). It is larger than one connection's MAX_CONCURRENT_STREAMS, so one client
    # cannot fill it (with calls that never send their message, one client used to lock every other
    # out), and a call waits for its message at most BODY_TIMEOUT_SECONDS.
    calls = max(2 * s.max_concurrent_requests, 2 * MAX_CONCURRENT_STREAMS) + 64
    server = grpc.aio.server(options=options, interceptors=[CallGuard(app)], maximum_concurrent_rpcs=calls)
    service = InferenceService(app)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)
    server.add_generic_rpc_handlers((statistics_handler(service),))
    server.add_generic_rpc_handlers((health_handler(lambda: app.ready, frozenset({"", SERVICE.strip("/")})),))
    address = f"[{host}]:{s.grpc_port}" if ":" in host else f"{host}:{s.grpc_port}"
    server.add_insecure_port(address)
    return server
