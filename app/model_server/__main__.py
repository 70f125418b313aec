"""`python -m model_server`: read the environment, serve until SIGTERM, drain, exit 0.

Exit codes: 0 after a graceful shutdown; 1 if the model could not be loaded or warmed up, or a
port could not be opened; 2 for invalid configuration (the message names the variable).
"""
from __future__ import annotations

import logging
import os
import resource
import sys

from .app import ModelServer
from .config import ConfigError, load_settings
from .http_limits import Connections, Limits, effective_max_connections
from .server import ModelHttpServer

log = logging.getLogger("model_server")


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64


def main() -> int:
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"model_server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    holder: list[ModelHttpServer] = []
    app = ModelServer(settings, on_fatal=lambda message: holder[0].stop_fatally(message))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    max_connections = effective_max_connections(settings.max_connections,
                                                nofile if nofile != resource.RLIM_INFINITY else 1 << 20,
                                                _open_descriptors(), 2 if settings.grpc_port else 1)
    if max_connections < settings.max_connections:
        log.warning("MAX_CONNECTIONS=%d lowered to %d to fit the file descriptor limit (%d)",
                    settings.max_connections, max_connections, nofile)
    limits = Limits(max_header_bytes=settings.max_header_bytes, header_timeout_s=settings.header_timeout_seconds,
                    body_timeout_s=settings.body_timeout_seconds, max_connections=max_connections,
                    retry_after_s=settings.retry_after_seconds, admin_port=settings.admin_port,
                    # The memory bodies held when the inference slot was taken at the head: as much again.
                    upload_budget=settings.max_concurrent_requests * settings.max_request_bytes)
    connections = Connections(limits, on_reject=app.metrics.reject,
                              on_count=lambda listener, n: app.metrics.connections.labels(
                                  settings.model_name, listener).set(n))
    server = ModelHttpServer(app, connections)
    holder.append(server)
    server.run()
    if server.fatal:
        log.error("exiting: %s", server.fatal)
        return 1
    if app.abandoned:
        log.warning("drain timeout: abandoned %d in-flight request(s) after %.1f s", app.abandoned,
                    settings.drain_timeout_seconds)
    else:
        log.info("shut down cleanly")
    if app.batcher is not None and app.batcher.busy:
        # A batch is still inside ONNX Runtime on the daemon inference thread; tearing the
        # interpreter down around native code risks a crash, and the drain is over: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
