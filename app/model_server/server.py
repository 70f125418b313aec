"""The process around the application: listeners (public, admin, gRPC), signals, and the drain.

One uvloop event loop runs everything: the two HTTP listeners (`http1.Http1Protocol`, with the
limits of `http_limits`), the gRPC server, the batcher, and one sweep of connection deadlines
every `http1_deadlines.SWEEP_S`. On SIGTERM (or SIGINT):

1. readiness fails at once (`/v2/health/ready` answers 503 on both ports; gRPC ServerReady false);
   requests keep being served;
2. for DRAIN_DELAY_SECONDS new connections are still accepted (for load balancers that have not
   yet seen the pod leave); every response now says `Connection: close`;
3. the public and gRPC listeners close (connections the kernel already accepted into the listen queue
   are taken and answered with `Connection: close` first, not reset); connections with nothing in flight are closed once quiet
   for a second (a client already sending its next request is served first), the others after
   their response; gRPC gets GOAWAY and finishes its calls;
4. when no public connection is left, or DRAIN_TIMEOUT_SECONDS ran out (the requests still running
   are then answered 503), the admin listener closes and the process exits 0.

A second SIGINT skips what is left of the drain.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time

import uvloop

from .app import ModelServer
from .config import Settings
from .http1 import Http1Protocol
from .http1_deadlines import sweep
from .http_limits import Connections

log = logging.getLogger("model_server")

BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class ModelHttpServer:
    def __init__(self, app: ModelServer, connections: Connections) -> None:
        self.app = app
        self.settings: Settings = app.settings
        self.connections = connections
        self.grpc = None
        self.public: asyncio.AbstractServer | None = None
        self.admin: asyncio.AbstractServer | None = None
        self.fatal: str | None = None
        self.should_exit = False
        self.force_exit = False
        self.drain_started: float | None = None
        self._exit: asyncio.Event | None = None
        self._public_socket: socket.socket | None = None
        """A second descriptor of the public listening socket: keeps it listening after the server stops
        accepting, so the connections already queued can still be taken (`_close_public`)."""

    def run(self) -> None:
        uvloop.run(self.serve())

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Handled without re-raising: a clean drain exits 0 (Kubernetes reads 143 as a crash).
            loop.add_signal_handler(sig, self.handle_exit, sig)
        await self.app.startup()
        await self.startup(loop)
        if not self.should_exit:
            await self._exit.wait()
        await self.shutdown()

    def handle_exit(self, sig: int) -> None:
        if not self.should_exit:
            log.info("received %s: readiness fails now; draining (delay %.1f s, then up to %.1f s for in-flight "
                     "requests)", signal.Signals(sig).name, self.settings.drain_delay_seconds,
                     self.settings.drain_timeout_seconds)
        elif sig == signal.SIGINT:
            self.force_exit = True
        self._stop()

    def stop_fatally(self, message: str) -> None:
        self.fatal = message
        self.force_exit = True
        self._stop()

    def _stop(self) -> None:
        self.should_exit = True
        if self._exit is not None:
            self._exit.set()

    # --- start ---------------------------------------------------------------------------------
    async def startup(self, loop: asyncio.AbstractEventLoop) -> None:
        s = self.settings
        app, connections = self.app, self.connections
        try:
            public_socket, admin_socket = bind(s.host, s.port), bind(s.host, s.admin_port)
        except OSError as exc:
            self.stop_fatally(f"cannot listen on {s.host}: {exc}")
            return
        self._public_socket = public_socket.dup()
        self.public = await loop.create_server(lambda: Http1Protocol(app, connections, False), sock=public_socket,
                                               backlog=BACKLOG)
        self.admin = await loop.create_server(lambda: Http1Protocol(app, connections, True), sock=admin_socket,
                                              backlog=BACKLOG)
        sweep(connections, loop)
        if s.grpc_port:
            from .grpc_service import build_server  # grpcio is imported only when gRPC is on

            try:
                self.grpc = build_server(self.app, s.host, self.connections.limits.max_connections)
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
    async def shutdown(self) -> None:
        s = self.settings
        connections = self.connections
        self.drain_started = time.monotonic()
        self.app.start_draining()
        connections.start_draining()
        if s.drain_delay_seconds and not self.force_exit:
            await self._sleep_unless_forced(s.drain_delay_seconds)
        if self.public is not None:
            await self._close_public()
        deadline = time.monotonic() + s.drain_timeout_seconds
        grpc_stop = None
        if self.grpc is not None:
            grpc_stop = asyncio.ensure_future(self.grpc.stop(grace=0 if self.force_exit else s.drain_timeout_seconds))
        if not await self._wait_for_public(deadline) and connections.public:
            log.error("drain timeout: %d request(s) still running after %.1f s; answering them 503",
                      self.app.active, s.drain_timeout_seconds)
            for connection in list(connections.public):
                connection.cut_off()
            await asyncio.sleep(0.1)  # let the 503s reach the socket before the loop ends
        if grpc_stop is not None:
            await grpc_stop
        if self.admin is not None:
            self.admin.close()
        if connections.sweeper is not None:
            connections.sweeper.cancel()
        for connection in list(connections.admin) + list(connections.public):
            connection.close()
        await self.app.shutdown()

    async def _close_public(self) -> None:
        """Stop accepting, take every connection still in the listen queue (each is answered with
        `Connection: close`), then stop listening: closing with a full queue reset those connections."""
        self.public.close()
        listener, self._public_socket = self._public_socket, None
        if listener is None:
            return
        listener.setblocking(False)
        loop = asyncio.get_running_loop()
        app, connections = self.app, self.connections
        try:
            for _ in range(BACKLOG):
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.setblocking(False)
                await loop.connect_accepted_socket(lambda: Http1Protocol(app, connections, False), conn)
        except OSError as exc:  # out of descriptors: what is left in the queue is reset
            log.warning("drain: could not take the queued connections: %s", exc)
        finally:
            listener.close()

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
