"""The process around the ASGI app: listeners (public, admin, gRPC), signals, and the drain.

uvicorn runs the app (uvloop + httptools, with the limits of http_limits); this subclass of
uvicorn.Server binds both HTTP ports itself, starts the gRPC server in the same event loop, and
replaces uvicorn's shutdown, which closes idle keep-alive connections at once (a client sending
its next request at that moment gets a reset) and stops readiness only by refusing connections.
On SIGTERM (or SIGINT):

1. readiness fails at once (`/v2/health/ready` answers 503 on both ports; gRPC ServerReady false);
   requests keep being served;
2. for DRAIN_DELAY_SECONDS new connections are still accepted (for load balancers that have not
   yet seen the pod leave); every response now says `Connection: close`;
3. the public and gRPC listeners close; connections with nothing in flight are closed once quiet
   for a second, the others after their response; gRPC gets GOAWAY and finishes its calls;
4. when no public connection is left, or DRAIN_TIMEOUT_SECONDS ran out (the requests still running
   are then answered 503), the admin listener closes and the process exits 0.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Iterator

import uvicorn

from .app import ModelServer
from .config import Settings
from .http_limits import Connections

log = logging.getLogger("model_server")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (uvicorn's create_server takes it over)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class ModelHttpServer(uvicorn.Server):
    fatal: str | None = None

    def __init__(self, config: uvicorn.Config, app: ModelServer, connections: Connections) -> None:
        super().__init__(config)
        self.app = app
        self.settings: Settings = app.settings
        self.connections = connections
        self.grpc = None
        self.drain_started: float | None = None

    # --- signals: uvicorn re-raises SIGTERM after its shutdown, which turns a clean drain into exit
    # code 143; Kubernetes reads a non-zero code as a crash, so handle the signals without re-raising.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: object) -> None:
        if not self.should_exit:
            log.info("received %s: readiness fails now; draining (delay %.1f s, then up to %.1f s for in-flight "
                     "requests)", signal.Signals(sig).name, self.settings.drain_delay_seconds,
                     self.settings.drain_timeout_seconds)
        elif sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    def stop_fatally(self, message: str) -> None:
        self.fatal = message
        self.should_exit = True

    # --- start ---------------------------------------------------------------------------------
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        s = self.settings
        try:
            listeners = [bind(s.host, s.port), bind(s.host, s.admin_port)]
        except OSError as exc:
            self.stop_fatally(f"cannot listen on {s.host}: {exc}")
            return
        await super().startup(sockets=listeners)
        tasks = self.server_state.tasks
        self.app.http_tasks = lambda: len(tasks)
        if s.grpc_port:
            from .grpc_service import build_server  # grpcio is imported only when gRPC is on

            try:
                self.grpc = build_server(self.app, s.host)
                await self.grpc.start()
            except Exception as exc:  # grpc raises RuntimeError when the port is taken
                self.grpc = None
                self.stop_fatally(f"cannot start gRPC on {s.host}:{s.grpc_port}: {exc}")
                return
        log.info("serving on %s: HTTP port %d (inference, health), admin port %d (metrics, health), %s; "
                 "authentication %s", s.host, s.port, s.admin_port,
                 f"gRPC port {s.grpc_port}" if s.grpc_port else "gRPC off",
                 f"on ({s.api_keys_dir})" if s.api_keys_dir else "OFF")
        if s.api_keys_dir is None:
            log.warning("API_KEYS_DIR is unset: every client may call the model without a key")

    # --- drain ---------------------------------------------------------------------------------
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        s = self.settings
        self.drain_started = time.monotonic()
        self.app.start_draining()
        self.connections.start_draining()
        public, admin = (self.servers + [None, None])[:2]
        if s.drain_delay_seconds and not self.force_exit:
            await self._sleep_unless_forced(s.drain_delay_seconds)
        if public is not None:
            public.close()
        deadline = time.monotonic() + s.drain_timeout_seconds
        grpc_stop = None
        if self.grpc is not None:
            grpc_stop = asyncio.ensure_future(self.grpc.stop(grace=s.drain_timeout_seconds))
        if not await self._wait_for_public(deadline) and self.server_state.tasks:
            log.error("drain timeout: %d request(s) still running after %.1f s; answering them 503",
                      len(self.server_state.tasks), s.drain_timeout_seconds)
            for task in list(self.server_state.tasks):
                task.cancel(msg="drain timeout")
            await asyncio.wait(list(self.server_state.tasks), timeout=2.0)
        if grpc_stop is not None:
            await grpc_stop
        if admin is not None:
            admin.close()
        for connection in list(self.connections.admin) + list(self.connections.public):
            connection.transport.close()
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _sleep_unless_forced(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.force_exit and time.monotonic() < end:
            await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))

    async def _wait_for_public(self, deadline: float) -> bool:
        """Wait until no public connection and no inference request is left (True), or the deadline
        passes or a second SIGINT arrives (False)."""
        while not self.force_exit and time.monotonic() < deadline:
            if not self.connections.public and self.app.active == 0:
                return True
            await asyncio.sleep(0.02)
        return not self.connections.public and self.app.active == 0
