"""The ASGI application: Open Inference Protocol v2 REST routes plus /metrics.

A plain ASGI callable rather than a web framework: the hot path is one dict lookup for the
route, orjson in and out, and the batcher. Every response goes through `_respond`, which also
records the request metrics, so no route can forget them.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from . import SERVER_NAME, __version__
from .batcher import DynamicBatcher, InferenceError
from .config import Settings
from .metrics import Metrics
from .model import ModelLoadError, OnnxModel
from .protocol import RequestError, error_body, infer_response, parse_infer_request

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

JSON = b"application/json"
_METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4.encode()
PLATFORM = "onnx_onnxv1"  # the protocol's platform name for an ONNX model ("<project>_<format>")

# Route templates double as the `route` metric label; unmatched paths share one label value so
# scanners cannot blow up the series count.
R_SERVER = "/v2"
R_LIVE = "/v2/health/live"
R_READY = "/v2/health/ready"
R_MODEL = "/v2/models/{name}"
R_MODEL_READY = "/v2/models/{name}/ready"
R_INFER = "/v2/models/{name}/infer"
R_VERSION = "/v2/models/{name}/versions/{version}"
R_VERSION_READY = "/v2/models/{name}/versions/{version}/ready"
R_VERSION_INFER = "/v2/models/{name}/versions/{version}/infer"
R_METRICS = "/metrics"
R_OTHER = "other"

_STATIC = {"/v2": R_SERVER, "/v2/": R_SERVER, "/v2/health/live": R_LIVE, "/v2/health/ready": R_READY,
           "/metrics": R_METRICS}
_MODEL_ROUTES = {(): R_MODEL, ("ready",): R_MODEL_READY, ("infer",): R_INFER}
_VERSION_ROUTES = {(): R_VERSION, ("ready",): R_VERSION_READY, ("infer",): R_VERSION_INFER}
_POST_ROUTES = {R_INFER, R_VERSION_INFER}


def match_route(path: str) -> tuple[str, str | None, str | None]:
    """(route template, model name, model version) for a request path."""
    route = _STATIC.get(path)
    if route is not None:
        return route, None, None
    parts = path.split("/")
    # ['', 'v2', 'models', name, ...]
    if len(parts) >= 4 and parts[1] == "v2" and parts[2] == "models" and parts[3]:
        rest = tuple(parts[4:])
        if rest in _MODEL_ROUTES:
            return _MODEL_ROUTES[rest], parts[3], None
        if len(rest) >= 2 and rest[0] == "versions" and rest[1] and rest[2:] in _VERSION_ROUTES:
            return _VERSION_ROUTES[rest[2:]], parts[3], rest[1]
    return R_OTHER, None, None


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ModelServer:
    """ASGI app serving one model. Live at once; ready after the model is loaded and warmed up."""

    def __init__(self, settings: Settings, on_fatal: Callable[[str], None] = lambda message: None) -> None:
        self.settings = settings
        self.metrics = Metrics(settings.model_name)
        self.model: OnnxModel | None = None
        self.batcher: DynamicBatcher | None = None
        self.ready = False
        self.abandoned = 0
        """Requests cut off because the drain timeout ran out."""
        self._on_fatal = on_fatal
        self._loader: asyncio.Task | None = None
        self._server_metadata = orjson.dumps({"name": SERVER_NAME, "version": __version__, "extensions": []})
        self._model_metadata = b""

    # --- lifecycle -------------------------------------------------------------------------
    async def _startup(self) -> None:
        # Load in the background so /v2/health/live answers while the model loads and warms up.
        self._loader = asyncio.get_running_loop().create_task(self._load(), name="model-loader")

    async def _load(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(None, lambda: OnnxModel(
                s.model_path, version=s.model_version, intra_op_threads=s.intra_op_threads,
                test_delay_s=s.test_inference_delay_ms / 1000))
            await loop.run_in_executor(None, model.warm_up, s.max_batch_size)
        except ModelLoadError as exc:
            log.error("model failed to load: %s", exc)
            self._on_fatal(str(exc))
            return
        except Exception as exc:  # warm-up failure: the model cannot serve, so the server must not pretend
            log.exception("model warm-up failed")
            self._on_fatal(f"model warm-up failed: {exc}")
            return
        self.model = model
        self._model_metadata = orjson.dumps({
            "name": s.model_name, "versions": [model.version], "platform": PLATFORM,
            "inputs": [t.metadata() for t in model.inputs], "outputs": [t.metadata() for t in model.outputs]})
        self.metrics.model_info.labels(s.model_name, model.version, model.device).set(1)
        if model.device == "cuda":
            self.metrics.gpu_memory.start()
        self.batcher = DynamicBatcher(model.run, self.metrics, max_batch_size=s.max_batch_size,
                                      window_s=s.batch_window_ms / 1000)
        self.batcher.start()
        self.ready = True
        self.metrics.ready.set(1)
        log.info("ready: model %s version %s on %s, max batch %d, window %.1f ms", s.model_name, model.version,
                 model.device, s.max_batch_size, s.batch_window_ms)

    async def _shutdown(self) -> None:
        self.ready = False
        self.metrics.ready.set(0)
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
        if self.batcher is not None:
            await self.batcher.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- HTTP --------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        route, name, version = match_route(scope["path"])
        is_infer = route in _POST_ROUTES
        if is_infer:
            self.metrics.in_flight.inc()
        response_started = False
        try:
            try:
                status, body, content_type = await self._dispatch(scope, receive, route, name, version)
            except HttpError as exc:
                status, body, content_type = exc.status, error_body(exc.message), JSON
            except RequestError as exc:
                status, body, content_type = exc.status, error_body(exc.message), JSON
            except InferenceError as exc:
                status, body, content_type = 500, error_body(str(exc)), JSON
            except Exception as exc:  # a bug must still produce an answer and a counted 500
                log.exception("unhandled error on %s", scope["path"])
                status, body, content_type = 500, error_body(f"internal error: {type(exc).__name__}"), JSON
            response_started = True
            await _respond(send, status, body, content_type)
        except asyncio.CancelledError:
            # Only uvicorn cancels a request: when DRAIN_TIMEOUT_SECONDS ran out during shutdown.
            # Answer 503 rather than cutting the connection, then let the task end.
            self.abandoned += 1
            if response_started:
                raise
            status = 503
            await _respond(send, status, error_body("server shutting down: the drain timeout ran out before "
                                                    "this request finished; retry on another replica"), JSON)
            self.metrics.observe_request(route, status, time.perf_counter() - started)
        else:
            self.metrics.observe_request(route, status, time.perf_counter() - started)
        finally:
            if is_infer:
                self.metrics.in_flight.dec()

    async def _dispatch(self, scope: Scope, receive: Receive, route: str, name: str | None,
                        version: str | None) -> tuple[int, bytes, bytes]:
        method = scope["method"]
        if route == R_OTHER:
            raise HttpError(404, f"no route for {scope['path']}; see the Open Inference Protocol v2 paths under /v2")
        wanted_method = "POST" if route in _POST_ROUTES else "GET"
        if method != wanted_method and not (method == "HEAD" and wanted_method == "GET"):
            raise HttpError(405, f"{method} is not allowed on {route}; use {wanted_method}")
        if route == R_LIVE:
            return 200, b'{"live":true}', JSON
        if route == R_READY:
            # The protocol: 200 means ready, a 4xx means not (yet) ready.
            return (200, b'{"ready":true}', JSON) if self.ready else (400, b'{"ready":false}', JSON)
        if route == R_SERVER:
            return 200, self._server_metadata, JSON
        if route == R_METRICS:
            # The classic text format every Prometheus version scrapes (what generate_latest writes).
            return 200, generate_latest(self.metrics.registry), _METRICS_CONTENT_TYPE
        self._check_model(name, version)
        if route in (R_MODEL_READY, R_VERSION_READY):
            return (200 if self.ready else 400), orjson.dumps({"name": name, "ready": self.ready}), JSON
        if not self.ready:
            raise HttpError(503, f"model {name!r} is not ready yet (loading or warming up)")
        if route in (R_MODEL, R_VERSION):
            return 200, self._model_metadata, JSON
        return await self._infer(scope, receive)

    def _check_model(self, name: str | None, version: str | None) -> None:
        if name != self.settings.model_name:
            raise HttpError(404, f"unknown model {name!r}; this server serves {self.settings.model_name!r}")
        if version is not None and (self.model is None or version != self.model.version):
            served = self.model.version if self.model else "(loading)"
            raise HttpError(404, f"unknown version {version!r} of model {name!r}; the served version is {served}")

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_request_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise HttpError(400, "invalid Content-Length header") from None
                if declared > limit:
                    raise HttpError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
                break
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _infer(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes]:
        model = self.model
        batcher = self.batcher
        batcher.arrival_started()
        try:
            body = await self._read_body(scope, receive)
            if not body:
                raise RequestError("empty request body; send an inference request JSON object")
            request = parse_infer_request(body, model.inputs, model.outputs)
        finally:
            batcher.arrival_ended()
        results = await batcher.submit(request.inputs, request.rows)
        request_id = request.id if request.id is not None else uuid.uuid4().hex
        return 200, infer_response(self.settings.model_name, model.version, request_id, model.outputs,
                                   request.outputs, results), JSON
