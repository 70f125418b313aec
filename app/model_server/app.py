"""The application: Open Inference Protocol v2 REST routes, health, and /metrics.

One application serves two listeners (the HTTP front end, `http1`, tells it which): the public
port (inference, model metadata and health; API key required except for health) and the admin
port (`/metrics` and health only, for probes and Prometheus; never inference). No web framework
and no ASGI layer: the front end calls `begin` when a request head is complete (everything but
an inference request is answered there, before any body is read) and `finish` with the body of
an inference request, which is admitted then (a slow upload holds no inference slot); the hot
path is one dict lookup for the route, orjson in and out, and the batcher. Every answer goes
through `_finish`, which also records the request metrics, so no route can forget them.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable

import orjson
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from . import SERVER_NAME, __version__
from .auth import ApiKeys
from .batcher import DynamicBatcher, InferenceError, Overloaded
from .config import Settings
from .exchange import Answer, Deliver, Headers, HttpRequest
from .metrics import Metrics
from .model import ModelLoadError, OnnxModel
from .protocol import BinaryLayouts, InferRequest, RequestError, echo, error_body, infer_response, parse_infer_request
from .request_log import CLIENT_CLOSED, QUIET_ROUTES, REQUEST_ID_HEADER, RequestLog, request_id
from .tracing import RequestTrace, Tracing, tracing_from

log = logging.getLogger(__name__)


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
R_STATS = "/v2/models/{name}/stats"
R_VERSION_STATS = "/v2/models/{name}/versions/{version}/stats"
R_METRICS = "/metrics"
R_OTHER = "other"

_STATIC = {"/v2": R_SERVER, "/v2/": R_SERVER, "/v2/health/live": R_LIVE, "/v2/health/ready": R_READY}
_ADMIN = {"/metrics": R_METRICS, "/v2/health/live": R_LIVE, "/v2/health/ready": R_READY}
_MODEL_ROUTES = {(): R_MODEL, ("ready",): R_MODEL_READY, ("infer",): R_INFER, ("stats",): R_STATS}
_VERSION_ROUTES = {(): R_VERSION, ("ready",): R_VERSION_READY, ("infer",): R_VERSION_INFER,
                   ("stats",): R_VERSION_STATS}
_POST_ROUTES = {R_INFER, R_VERSION_INFER}
_HEALTH_ROUTES = {R_LIVE, R_READY}
_ALLOW = {True: (b"allow", b"POST"), False: (b"allow", b"GET, HEAD")}
_JSON_TYPES = {b"application/json", b"application/octet-stream"}
METRICS_REUSE_S = 1.0
"""A connection asking /metrics again within this long gets the same page: rendering costs milliseconds
of the event loop, so a client pipelining /metrics would otherwise stall every probe behind it."""


_ROUTES_SEEN: dict[str, tuple[str, str | None, str | None]] = {}
"""match_route's answers for the paths served lately (the model's few, in practice); bounded."""
ROUTES_SEEN_MAX = 64


def match_route(path: str) -> tuple[str, str | None, str | None]:
    """(route template, model name, model version) for a request path on the public port."""
    seen = _ROUTES_SEEN.get(path)
    if seen is not None:
        return seen
    route = _STATIC.get(path)
    if route is not None:
        return route, None, None
    matched = _match_model_route(path)
    if matched[0] != R_OTHER:  # scanners' paths are not remembered
        if len(_ROUTES_SEEN) >= ROUTES_SEEN_MAX:
            _ROUTES_SEEN.clear()
        _ROUTES_SEEN[path] = matched
    return matched


def _match_model_route(path: str) -> tuple[str, str | None, str | None]:
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


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Headers = _NO_HEADERS) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class ModelServer:
    """The application serving one model. Live at once; ready after the model is loaded and warmed up,
    not ready again once draining started."""

    def __init__(self, settings: Settings, on_fatal: Callable[[str], None] = lambda message: None) -> None:
        self.settings = settings
        self.metrics = Metrics(settings.model_name)
        self.model: OnnxModel | None = None
        self._layouts = BinaryLayouts()
        """Checked binary request layouts for the model's signature (one model per process)."""
        self.batcher: DynamicBatcher | None = None
        self.ready = False
        self.draining = False
        self.active = 0
        """Inference requests (HTTP and gRPC) admitted and not yet answered."""
        self.abandoned = 0
        """Requests cut off because the drain timeout ran out."""
        self.grpc_active = 0
        """gRPC inference calls in progress."""
        self.metrics.track_in_flight(lambda: self.active)
        self.api_keys = ApiKeys(settings.api_keys_dir) if settings.api_keys_dir is not None else None
        self._on_fatal = on_fatal
        self._loader: asyncio.Task | None = None
        self._server_metadata = orjson.dumps({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})
        self._model_metadata = b""
        self._retry_after = (b"retry-after", str(settings.retry_after_seconds).encode())
        # Request ids the client did not give: a random prefix per process and a counter (unique,
        # and 10x cheaper than a random id per request).
        self._id_prefix = os.urandom(8).hex() + "-"
        self._id_counter = itertools.count(1)
        # --- observability: the request log and traces (request_log.py, tracing.py) ---
        self.request_log = RequestLog(settings.model_name, enabled=settings.request_log)
        self.tracing: Tracing | None = tracing_from(settings.otlp_endpoint, settings.trace_sample_ratio,
                                                    settings.model_name, settings.model_version or "")
        self._unauthorized = (401, error_body("missing or invalid API key: send 'Authorization: Bearer <key>'"),
                              [(b"www-authenticate", b'Bearer realm="model"')])

    # --- lifecycle -------------------------------------------------------------------------
    async def startup(self) -> None:
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
                                      others_in_flight=self._others_in_flight,
                                      cpu_bound=model.device == "cpu" and not s.test_inference_delay_ms)
        self.batcher.start()
        if not self.draining:
            self.ready = True
            self.metrics.ready.set(1)
        log.info("ready: model %s version %s on %s, max batch %d, window %.1f ms", s.model_name, model.version,
                 model.device, s.max_batch_size, s.batch_window_ms)

    def _others_in_flight(self) -> int:
        """Inference requests admitted besides the one asking (HTTP requests are admitted when their
        body is complete; bodies still being read are the batcher's arrivals)."""
        return self.active - 1

    def start_draining(self) -> None:
        """SIGTERM: readiness fails from now on; requests in flight (and arriving) are still served."""
        self.draining = True
        self.ready = False
        self.metrics.ready.set(0)

    async def shutdown(self) -> None:
        self.start_draining()
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
        if self.batcher is not None:
            await self.batcher.stop()
        if self.tracing is not None:  # send the spans still buffered
            self.tracing.shutdown()
        self.request_log.flush()  # the lines of the last event loop pass

    # --- admission (shared with gRPC) ------------------------------------------------------------
    def admit(self) -> bool:
        """Count one more inference request in, or False when MAX_CONCURRENT_REQUESTS are already in."""
        if self.active >= self.settings.max_concurrent_requests:
            self.metrics.reject("concurrency_limit")
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1

    def authorized(self, token_or_header: bytes | None, *, is_header: bool = True) -> bool:
        if self.api_keys is None:
            return True
        ok = self.api_keys.check(token_or_header) if is_header else self.api_keys.check_token(token_or_header or b"")
        return ok

    # --- HTTP (called by http1.Http1Protocol) ---------------------------------------------------
    def begin(self, request: HttpRequest) -> Answer | None:
        """A request head is complete: its answer if it can be given now (everything but an
        admitted inference request), else None and the request waits for its body (`finish`)."""
        request.started = time.perf_counter()
        admin = request.admin
        if admin:
            route, name, version = match_admin_route(request.path), None, None
        else:
            route, name, version = match_route(request.path)
        request.route = route
        self._observe_begin(request, route)
        try:
            return self._begin(request, route, name, version)
        except HttpError as exc:
            return self._finish(request, exc.status, error_body(exc.message), JSON, exc.headers)
        except Exception as exc:  # a bug must still produce an answer and a counted 500
            return self._crashed(request, exc)

    def _begin(self, request: HttpRequest, route: str, name: str | None, version: str | None) -> Answer | None:
        headers = request.headers
        if request.duplicate is not None:
            raise HttpError(400, f"the {request.duplicate.decode()} header is given more than once", [_CLOSE])
        if request.hosts != 1 and (request.hosts > 1 or not request.http10):
            # RFC 9112 3.2: exactly one Host on HTTP/1.1.
            raise HttpError(400, "an HTTP/1.1 request needs exactly one Host header", [_CLOSE])
        admin = request.admin
        if route not in _HEALTH_ROUTES and not admin and not self.authorized(headers.get(b"authorization")):
            self.metrics.auth_failures.labels(self.settings.model_name, "http").inc()
            status, body, extra = self._unauthorized
            return self._finish(request, status, body, JSON, extra)
        if route == R_OTHER:
            where = "the admin port serves only /metrics, /v2/health/live and /v2/health/ready" if admin else \
                "see the Open Inference Protocol v2 paths under /v2"
            raise HttpError(404, f"no route for {echo(request.path)}; {where}")
        method = request.method
        post = route in _POST_ROUTES
        if method != ("POST" if post else "GET") and not (method == "HEAD" and not post):
            raise HttpError(405, f"{echo(method)} is not allowed on {route}; use {'POST' if post else 'GET'}",
                            [_ALLOW[post]])
        if route == R_LIVE:
            return self._finish(request, 200, b'{"live":true}', JSON)
        if route == R_READY:
            # The protocol: 200 means ready, a 4xx means not (yet) ready. Draining answers 503.
            if self.ready:
                return self._finish(request, 200, b'{"ready":true}', JSON)
            return self._finish(request, 503 if self.draining else 400, b'{"ready":false}', JSON)
        if route == R_METRICS:
            # The classic text format every Prometheus version scrapes (what generate_latest writes).
            return self._finish(request, 200, self._metrics_page(request.kept), _METRICS_CONTENT_TYPE)
        if route == R_SERVER:
            return self._finish(request, 200, self._server_metadata, JSON)
        self._check_model(name, version)
        if route in (R_MODEL_READY, R_VERSION_READY):
            return self._finish(request, 200 if self.ready else 400,
                                orjson.dumps({"name": name, "ready": self.ready}), JSON)
        if self.model is None:
            raise HttpError(503, f"model {name!r} is not ready yet (loading or warming up)", [self._retry_after])
        if route in (R_MODEL, R_VERSION):
            return self._finish(request, 200, self._model_metadata, JSON)
        if route in (R_STATS, R_VERSION_STATS):
            return self._finish(request, 200, orjson.dumps(self.metrics.statistics.as_json(
                self.settings.model_name, self.model.version)), JSON)
        # Inference: everything that can be refused is refused before the body is read.
        request.header_length = self._check_body_headers(headers)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise HttpError(400, "invalid Content-Length header", [_CLOSE]) from None
            limit = self.settings.max_request_bytes
            if size > limit:
                raise HttpError(413, f"request body of {size} bytes exceeds the limit of {limit} bytes")
        # Admitted once the body is complete (`finish`): a slow upload holds no inference slot.
        request.token = self.batcher.arrival_started()
        return None

    def _metrics_page(self, kept: dict) -> bytes:
        """The metrics page, rendered at most once per METRICS_REUSE_S for one connection."""
        now = time.monotonic()
        rendered_at, page = kept.get("metrics", (0.0, b""))
        if not page or now - rendered_at >= METRICS_REUSE_S:
            page = generate_latest(self.metrics.registry)
            kept["metrics"] = (now, page)
        return page

    def finish(self, request: HttpRequest, body: bytes, deliver: Deliver) -> None:
        """The body of an inference request is complete: admit it (else 503) and answer through `deliver`,
        now (the model ran inline, or the request was refused) or when its batch is done."""
        batcher = self.batcher
        try:
            try:
                if not self.admit():
                    raise HttpError(503, "server at its concurrency limit; retry shortly", [self._retry_after])
                request.admitted = True
                if not body:
                    raise RequestError("empty request body; send an inference request JSON object")
                parsed = parse_infer_request(body, self.model.inputs, self.model.outputs, request.header_length,
                                             self._layouts)
            finally:
                batcher.arrival_ended(request.token)
                request.token = None
            self._observe_batching(request, parsed.rows)
            # A fast model collects the requests of this event loop pass into one batch (running a
            # lone one at once would run every request alone: each is answered before the next is
            # read); a slow one queues them for the batcher task.
            if batcher.collect(parsed.inputs, parsed.rows,
                               lambda result: deliver(request, self._collected_done(request, parsed, result))):
                return
            outcome = batcher.enqueue(parsed.inputs, parsed.rows, parsed.timeout_s)
        except Exception as exc:
            deliver(request, self._failed(request, exc))
            return
        if isinstance(outcome, dict):
            deliver(request, self._inferred(request, parsed, outcome))
            return
        request.future = outcome
        outcome.add_done_callback(lambda future: deliver(request, self._batch_done(request, parsed, future)))

    def _collected_done(self, request: HttpRequest, parsed: InferRequest, outcome: object) -> Answer:
        if isinstance(outcome, BaseException):
            return self._failed(request, outcome)
        return self._inferred(request, parsed, outcome)  # type: ignore[arg-type]

    def _batch_done(self, request: HttpRequest, parsed: InferRequest, future: asyncio.Future) -> Answer | None:
        if future.cancelled():  # the client went away or the drain timeout answered it
            return None
        exc = future.exception()
        if exc is not None:
            return self._failed(request, exc)
        return self._inferred(request, parsed, future.result())

    def _inferred(self, request: HttpRequest, parsed: InferRequest, results: dict) -> Answer:
        try:
            request_id = parsed.id if parsed.id is not None else request.request_id or self._new_id()
            body, json_length = infer_response(self.settings.model_name, self.model.version, request_id,
                                               self.model.outputs, parsed.outputs, results, parsed.binary_outputs)
        except Exception as exc:
            return self._failed(request, exc)
        if json_length is None:
            return self._finish(request, 200, body, JSON)
        return self._finish(request, 200, body, OCTET_STREAM, [(HEADER_LENGTH, str(json_length).encode())])

    def _failed(self, request: HttpRequest, exc: BaseException) -> Answer:
        if isinstance(exc, HttpError):
            return self._finish(request, exc.status, error_body(exc.message), JSON, exc.headers)
        if isinstance(exc, RequestError):
            return self._finish(request, exc.status, error_body(exc.message), JSON)
        if isinstance(exc, Overloaded):
            self.metrics.reject(exc.reason)
            return self._finish(request, 503, error_body(str(exc)), JSON, [self._retry_after])
        if isinstance(exc, InferenceError):
            return self._finish(request, 500, error_body(str(exc)), JSON)
        return self._crashed(request, exc)

    def _crashed(self, request: HttpRequest, exc: BaseException) -> Answer:
        log.error("unhandled error on %s", request.route, exc_info=exc)
        return self._finish(request, 500, error_body(f"internal error: {type(exc).__name__}"), JSON)

    def _finish(self, request: HttpRequest, status: int, body: bytes, content_type: bytes,
                headers: Headers = _NO_HEADERS) -> Answer:
        """Every answer of the application passes here: the request metrics, statistics, log line and spans,
        and its admission ends. Every answer carries the request's id."""
        seconds = time.perf_counter() - request.started
        self.metrics.observe_request(request.route, status, seconds)
        if request.route in _POST_ROUTES and request.method == "POST":
            self.metrics.statistics.answered(status == 200, seconds)
        if request.admitted:
            request.admitted = False
            self.release()
        return status, body, content_type, [*headers, self._observe_end(request, status, seconds)]

    # --- observability hooks (request_log.py, tracing.py) ----------------------------------------
    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_counter):x}"

    def _observe_begin(self, request: HttpRequest, route: str) -> None:
        """The request's id (the client's X-Request-Id when safe, else a new one) and its server span."""
        request.request_id = request_id(request.headers.get(REQUEST_ID_HEADER), self._new_id)
        if self.tracing is not None and route not in QUIET_ROUTES:
            request.trace = self.tracing.start(request.method, route, request.headers, request.request_id)

    def _observe_batching(self, request: HttpRequest, rows: int) -> None:
        request.rows = rows
        if isinstance(request.trace, RequestTrace) and self.tracing is not None:
            self.tracing.batching(request.trace, rows)

    def _observe_end(self, request: HttpRequest, status: int, seconds: float) -> tuple[bytes, bytes]:
        """The log line and the end of the spans; the `X-Request-Id` response header."""
        rid = request.request_id or self._new_id()
        trace = request.trace if isinstance(request.trace, RequestTrace) else None
        if trace is not None:
            request.trace = None
            Tracing.finish(trace, status)
        if not request.logged:
            request.logged = True
            self.request_log.record(request_id=rid, route=request.route, method=request.method, status=status,
                                    seconds=seconds, batch_size=request.rows,
                                    trace_id=trace.trace_id if trace else None)
        return REQUEST_ID_HEADER, rid.encode()

    def _client_gone(self, request: HttpRequest) -> None:
        """After an abort, unless the application answered at once (a 400 or 413 for an unfinished body): the
        request still gets its line and its span ends, with the status the HTTP layer wrote (a 408 for a late
        body), or `CLIENT_CLOSED` when nobody is left to answer."""
        if not request.logged:
            status = CLIENT_CLOSED if request.response is None else int(request.response.split(b" ", 2)[1])
            self._observe_end(request, status, time.perf_counter() - request.started)

    def refuse(self, request: HttpRequest, status: int, message: str) -> Answer:
        """An answer from the HTTP layer to a request the application saw (a chunked body past the limit)."""
        return self._finish(request, status, error_body(message), JSON)

    def abort(self, request: HttpRequest) -> None:
        """Nobody is left to answer (the client went away, or its body timed out): free what the request holds."""
        if request.token is not None:
            self.batcher.arrival_ended(request.token)
            request.token = None
        if request.future is not None and not request.future.done():
            request.future.cancel()
        if request.admitted:
            request.admitted = False
            self.release()
        if request.request_id is not None and not request.logged:  # the application saw it: it gets a line
            asyncio.get_running_loop().call_soon(self._client_gone, request)

    def cut_off(self, request: HttpRequest) -> Answer:
        """The drain timeout ran out before this request was answered: 503, and the connection closes."""
        self.abandoned += 1
        self.abort(request)
        return self._finish(request, 503, error_body("server shutting down: the drain timeout ran out before this "
                                                     "request finished; retry on another replica"), JSON, [_CLOSE])

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
        if content_type is not None and content_type not in _JSON_TYPES:  # else: exactly a type we read
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
        value = int(header_length) if header_length.isdigit() else -1  # no sign, no spaces, no underscores
        if value < 0:
            raise HttpError(400, "Inference-Header-Content-Length must be a non-negative integer")
        return value

