"""A request holder on 127.0.0.1 following the contract of the KEDA HTTP add-on's interceptor, v0.15.0.

The real interceptor cannot run here: it is a Go program that reads its routes, Services and
EndpointSlices from a Kubernetes API server, and this machine has neither the API server nor a way to
fetch the release binaries. This class does what the interceptor's proxy chain does for one
InterceptorRoute, as read from kedacore/http-add-on tag v0.15.0:

- `interceptor/middleware/routing.go`: a request whose Host matches no route gets 404;
- `interceptor/middleware/counting.go`: a matched request counts as pending (the concurrency the
  external scaler reports to KEDA, which scales the Deployment from zero) until it is answered;
- `interceptor/middleware/endpoint_resolver.go`: the request waits until the target Service has a ready
  endpoint (here: the server's readiness path answers 200, which is what the kubelet's readiness probe turns
  into a ready EndpointSlice endpoint) or `timeouts.readiness` passes; past it, with `coldStart.fallback`,
  the request goes to the fallback Service instead;
- `interceptor/handler/upstream.go`: the request is proxied with its Host header kept.

What answers is real: the inference server (app/) and nginx running the cold-start answer's own config.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
               "proxy-authenticate"}


class Holder:
    """One route: `hosts` -> `target_port` (readiness at `ready_path`), held up to `readiness_timeout`, else fallback."""

    def __init__(self, hosts: list[str], target_port: int, fallback_port: int, readiness_timeout: float,
                 ready_path: str = "/v2/health/ready", on_pending: Callable[[int], None] | None = None):
        self.hosts, self.target_port, self.fallback_port = set(hosts), target_port, fallback_port
        self.readiness_timeout, self.ready_path = readiness_timeout, ready_path
        self.on_pending = on_pending or (lambda n: None)
        self.pending = self.most_pending = 0
        self.fallbacks = 0
        self._lock = threading.Lock()
        holder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                holder._serve(self)

            def do_POST(self) -> None:
                holder._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _count(self, delta: int) -> None:
        with self._lock:
            self.pending += delta
            self.most_pending = max(self.most_pending, self.pending)
            pending = self.pending
        self.on_pending(pending)

    def _ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.target_port, timeout=1)
        try:
            conn.request("GET", self.ready_path)
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _wait_for_ready(self) -> bool:
        deadline = time.monotonic() + self.readiness_timeout
        while time.monotonic() < deadline:
            if self._ready():
                return True
            time.sleep(0.1)
        return False

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        host = (request.headers.get("Host") or "").split(":")[0]
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if host not in self.hosts:
            self._answer(request, 404, [("Content-Type", "text/plain")], b"Not Found\n")
            return
        self._count(+1)
        try:
            port = self.target_port if self._wait_for_ready() else self._fall_back()
            status, headers, payload = self._forward(request, port, body)
            self._answer(request, status, headers, payload)
        finally:
            self._count(-1)

    def _fall_back(self) -> int:
        with self._lock:
            self.fallbacks += 1
        return self.fallback_port

    @staticmethod
    def _forward(request: BaseHTTPRequestHandler, port: int, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn.request(request.command, request.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, [(k, v) for k, v in response.getheaders()
                                     if k.lower() not in _HOP_BY_HOP | {"content-length", "date", "server"}], response.read()
        finally:
            conn.close()

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
