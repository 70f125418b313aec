"""The ASGI application: Open Inference Protocol v2 REST routes, health, and /metrics.

One application serves two listeners, told apart by the local port of the connection: the public
port (inference, model metadata and health; API key required except for health) and the admin
port (`/metrics` and health only, for probes and Prometheus; never inference). A plain ASGI
callable rather than a web framework: the hot path is one dict lookup for the route, orjson in and
out, and the batcher. Every response goes through `_respond`, which also records the request
metrics, so no route can forget them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from . import SERVER_NAME, __version__
from .auth import ApiKeys
from .batcher import DynamicBatcher, InferenceError, Overloaded
from .config import Settings
from .metrics import Metrics
from .model import ModelLoadError, OnnxModel
from .protocol import RequestError, echo, error_body, infer_response, parse_infer_request

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"
_METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4.encode()
PLATFORM = "onnx_onnxv1"  # the protocol's platform name for an ONNX model ("<project>_<format>")
EXTENSIONS = ["binary_tensor_data"]
"""Server metadata `extensions`: the binary tensor data extension's registered name."""
HEADER_LENGTH = b"inference-header-content-length"
_NO_HEADERS: Headers = []
_CLOSE = (b"connection", b"close")

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

_STATIC = {"/v2": R_SERVER, "/v2/": R_SERVER, "/v2/health/live": R_LIVE, "/v2/health/ready": R_READY}
_ADMIN = {"/metrics": R_METRICS, "/v2/health/live": R_LIVE, "/v2/health/ready": R_READY}
_MODEL_ROUTES = {(): R_MODEL, ("ready",): R_MODEL_READY, ("infer",): R_INFER}
_VERSION_ROUTES = {(): R_VERSION, ("ready",): R_VERSION_READY, ("infer",): R_VERSION_INFER}
_POST_ROUTES = {R_INFER, R_VERSION_INFER}
_HEALTH_ROUTES = {R_LIVE, R_READY}
_ALLOW = {True: (b"allow", b"POST"), False: (b"allow", b"GET, HEAD")}
_JSON_TYPES = {b"application/json", b"application/octet-stream"}
_READ_HEADERS = frozenset({b"content-length", b"content-type", b"content-encoding", b"authorization", HEADER_LENGTH})


def match_route(path: str) -> tuple[str, str | None, str | None]:
    """(route template, model name, model version) for a request path on the public port."""
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


def match_admin_route(path: str) -> str:
    """Route template for a path on the admin port: metrics and health only."""
    return _ADMIN.get(path, R_OTHER)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes, headers: Headers = _NO_HEADERS) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Headers = _NO_HEADERS) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class ClientGone(Exception):
    """The client disconnected (or its body timed out) before the request was read: nobody to answer."""


class ModelServer:
    """ASGI app serving one model. Live at once; ready after the model is loaded and warmed up,
    not ready again once draining started."""

    def __init__(self, settings: Settings, on_fatal: Callable[[str], None] = lambda message: None) -> None:
        self.settings = settings
        self.metrics = Metrics(settings.model_name)
        self.model: OnnxModel | None = None
        self.batcher: DynamicBatcher | None = None
        self.ready = False
        self.draining = False
        self.active = 0
        """Inference requests (HTTP and gRPC) admitted and not yet answered."""
        self.abandoned = 0
        """Requests cut off because the drain timeout ran out."""
        self.http_tasks: Callable[[], int] = lambda: 1_000_000
        """HTTP request tasks that exist (the server sets it: uvicorn creates one per request head
        parsed, before the request is read); the default means unknown."""
        self.grpc_active = 0
        """gRPC inference calls in progress."""
        self.api_keys = ApiKeys(settings.api_keys_dir) if settings.api_keys_dir is not None else None
        self._on_fatal = on_fatal
        self._loader: asyncio.Task | None = None
        self._server_metadata = orjson.dumps({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})
        self._model_metadata = b""
        self._retry_after = (b"retry-after", str(settings.retry_after_seconds).encode())
        self._unauthorized = (401, error_body("missing or invalid API key: send 'Authorization: Bearer <key>'"),
                              [(b"www-authenticate", b'Bearer realm="model"')])

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
                                      window_s=s.batch_window_ms / 1000, max_queue=s.max_queue_size,
                                      queue_timeout_s=s.queue_timeout_ms / 1000,
                                      others_in_flight=self._others_in_flight)
        self.batcher.start()
        if not self.draining:
            self.ready = True
            self.metrics.ready.set(1)
        log.info("ready: model %s version %s on %s, max batch %d, window %.1f ms", s.model_name, model.version,
                 model.device, s.max_batch_size, s.batch_window_ms)

    def _others_in_flight(self) -> int:
        """Requests accepted besides the one asking (which is one of the HTTP tasks or gRPC calls)."""
        return self.http_tasks() + self.grpc_active - 1

    def start_draining(self) -> None:
        """SIGTERM: readiness fails from now on; requests in flight (and arriving) are still served."""
        self.draining = True
        self.ready = False
        self.metrics.ready.set(0)

    async def _shutdown(self) -> None:
        self.start_draining()
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

    # --- admission (shared with gRPC) ------------------------------------------------------------
    def admit(self) -> bool:
        """Count one more inference request in, or False when MAX_CONCURRENT_REQUESTS are already in."""
        if self.active >= self.settings.max_concurrent_requests:
            self.metrics.reject("concurrency_limit")
            return False
        self.active += 1
        self.metrics.in_flight.inc()
        return True

    def release(self) -> None:
        self.active -= 1
        self.metrics.in_flight.dec()

    def authorized(self, token_or_header: bytes | None, *, is_header: bool = True) -> bool:
        if self.api_keys is None:
            return True
        ok = self.api_keys.check(token_or_header) if is_header else self.api_keys.check_token(token_or_header or b"")
        return ok

    # --- HTTP --------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        server = scope.get("server")
        admin = server is not None and server[1] == self.settings.admin_port
        if admin:
            route, name, version = match_admin_route(scope["path"]), None, None
        else:
            route, name, version = match_route(scope["path"])
        is_infer = route in _POST_ROUTES
        admitted = False
        response_started = False
        try:
            try:
                if is_infer and scope["method"] == "POST":
                    if not self.admit():
                        raise HttpError(503, "server at its concurrency limit; retry shortly",
                                        [self._retry_after])
                    admitted = True
                status, body, content_type, headers = await self._dispatch(scope, receive, admin, route, name,
                                                                           version)
            except HttpError as exc:
                status, body, content_type, headers = exc.status, error_body(exc.message), JSON, exc.headers
            except RequestError as exc:
                status, body, content_type, headers = exc.status, error_body(exc.message), JSON, _NO_HEADERS
            except Overloaded as exc:
                self.metrics.reject(exc.reason)
                status, body, content_type, headers = 503, error_body(str(exc)), JSON, [self._retry_after]
            except InferenceError as exc:
                status, body, content_type, headers = 500, error_body(str(exc)), JSON, _NO_HEADERS
            except ClientGone:
                return
            except Exception as exc:  # a bug must still produce an answer and a counted 500
                log.exception("unhandled error on %s", route)
                status, body, content_type, headers = 500, error_body(f"internal error: {type(exc).__name__}"), \
                    JSON, _NO_HEADERS
            response_started = True
            await _respond(send, status, body, content_type, headers)
        except asyncio.CancelledError:
            # Only uvicorn cancels a request: when DRAIN_TIMEOUT_SECONDS ran out during shutdown.
            # Answer 503 rather than cutting the connection, then let the task end.
            self.abandoned += 1
            if response_started:
                raise
            status = 503
            await _respond(send, status, error_body("server shutting down: the drain timeout ran out before "
                                                    "this request finished; retry on another replica"), JSON,
                           [_CLOSE])
            self.metrics.observe_request(route, status, time.perf_counter() - started)
        else:
            self.metrics.observe_request(route, status, time.perf_counter() - started)
        finally:
            if admitted:
                self.release()

    async def _dispatch(self, scope: Scope, receive: Receive, admin: bool, route: str, name: str | None,
                        version: str | None) -> tuple[int, bytes, bytes, Headers]:
        method = scope["method"]
        headers = self._request_headers(scope)
        if route not in _HEALTH_ROUTES and not admin and not self.authorized(headers.get(b"authorization")):
            self.metrics.auth_failures.labels(self.settings.model_name, "http").inc()
            status, body, extra = self._unauthorized
            return status, body, JSON, extra
        if route == R_OTHER:
            where = "the admin port serves only /metrics, /v2/health/live and /v2/health/ready" if admin else \
                "see the Open Inference Protocol v2 paths under /v2"
            raise HttpError(404, f"no route for {echo(scope['path'])}; {where}")
        post = route in _POST_ROUTES
        if method != ("POST" if post else "GET") and not (method == "HEAD" and not post):
            raise HttpError(405, f"{echo(method)} is not allowed on {route}; use {'POST' if post else 'GET'}",
                            [_ALLOW[post]])
        if route == R_LIVE:
            return 200, b'{"live":true}', JSON, _NO_HEADERS
        if route == R_READY:
            # The protocol: 200 means ready, a 4xx means not (yet) ready. Draining answers 503.
            if self.ready:
                return 200, b'{"ready":true}', JSON, _NO_HEADERS
            return (503 if self.draining else 400), b'{"ready":false}', JSON, _NO_HEADERS
        if route == R_METRICS:
            # The classic text format every Prometheus version scrapes (what generate_latest writes).
            return 200, generate_latest(self.metrics.registry), _METRICS_CONTENT_TYPE, _NO_HEADERS
        if route == R_SERVER:
            return 200, self._server_metadata, JSON, _NO_HEADERS
        self._check_model(name, version)
        if route in (R_MODEL_READY, R_VERSION_READY):
            return (200 if self.ready else 400), orjson.dumps({"name": name, "ready": self.ready}), JSON, _NO_HEADERS
        if self.model is None:
            raise HttpError(503, f"model {name!r} is not ready yet (loading or warming up)", [self._retry_after])
        if route in (R_MODEL, R_VERSION):
            return 200, self._model_metadata, JSON, _NO_HEADERS
        return await self._infer(scope, receive, headers)

    def _request_headers(self, scope: Scope) -> dict[bytes, bytes]:
        """The headers this server reads, checked once: exactly one Host on HTTP/1.1 (RFC 9112 3.2)."""
        wanted: dict[bytes, bytes] = {}
        hosts = 0
        for key, value in scope["headers"]:
            if key == b"host":
                hosts += 1
            elif key in _READ_HEADERS:
                if key in wanted:
                    raise HttpError(400, f"the {key.decode()} header is given more than once", [_CLOSE])
                wanted[key] = value
        if hosts != 1 and (hosts > 1 or scope.get("http_version") != "1.0"):
            raise HttpError(400, "an HTTP/1.1 request needs exactly one Host header", [_CLOSE])
        return wanted

    def _check_model(self, name: str | None, version: str | None) -> None:
        if name != self.settings.model_name:
            raise HttpError(404, f"unknown model {echo(name)}; this server serves {self.settings.model_name!r}")
        if version is not None and (self.model is None or version != self.model.version):
            served = self.model.version if self.model else "(loading)"
            raise HttpError(404, f"unknown version {echo(version)} of model {name!r}; the served version is {served}")

    def _check_body_headers(self, headers: dict[bytes, bytes]) -> int | None:
        """Refuse encodings and content types this server does not read; the binary header length, if any."""
        encoding = headers.get(b"content-encoding")
        if encoding is not None and encoding.strip().lower() != b"identity":
            raise HttpError(415, f"Content-Encoding {echo(encoding.decode('latin-1'))} is not supported; send the "
                            "body uncompressed", [(b"accept-encoding", b"identity")])
        content_type = headers.get(b"content-type")
        if content_type is not None:
            media, _, params = content_type.partition(b";")
            charset = params.strip().lower()
            if media.strip().lower() not in _JSON_TYPES or (charset and charset not in (b"charset=utf-8",
                                                                                         b'charset="utf-8"')):
                raise HttpError(415, f"Content-Type {echo(content_type.decode('latin-1'))} is not supported; send "
                                "application/json (or application/octet-stream with Inference-Header-Content-Length "
                                "for binary tensor data)")
        header_length = headers.get(HEADER_LENGTH)
        if header_length is None:
            return None
        try:
            value = int(header_length)
        except ValueError:
            value = -1
        if value < 0:
            raise HttpError(400, "Inference-Header-Content-Length must be a non-negative integer")
        return value

    # An answer given before the body is read (401, 413, 415, 503) keeps the connection: uvicorn
    # discards the rest of the body (within BODY_TIMEOUT_SECONDS), so a client still uploading
    # reads the answer instead of a reset.
    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        limit = self.settings.max_request_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise HttpError(400, "invalid Content-Length header", [_CLOSE]) from None
            if size > limit:
                raise HttpError(413, f"request body of {size} bytes exceeds the limit of {limit} bytes")
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _infer(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
                     ) -> tuple[int, bytes, bytes, Headers]:
        model = self.model
        batcher = self.batcher
        header_length = self._check_body_headers(headers)
        token = batcher.arrival_started()
        try:
            body = await self._read_body(headers, receive)
            if not body:
                raise RequestError("empty request body; send an inference request JSON object")
            request = parse_infer_request(body, model.inputs, model.outputs, header_length)
        finally:
            batcher.arrival_ended(token)
        results = await batcher.submit(request.inputs, request.rows)
        request_id = request.id if request.id is not None else os.urandom(16).hex()  # uuid4().hex costs 3x more
        body, json_length = infer_response(self.settings.model_name, model.version, request_id, model.outputs,
                                           request.outputs, results, request.binary_outputs)
        if json_length is None:
            return 200, body, JSON, _NO_HEADERS
        return 200, body, OCTET_STREAM, [(HEADER_LENGTH, str(json_length).encode())]
