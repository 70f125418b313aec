"""`python -m model_server`: read the environment, serve until SIGTERM, drain, exit 0.

Exit codes: 0 after a graceful shutdown; 1 if the model could not be loaded or warmed up;
2 for invalid configuration (the message names the variable).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

import uvicorn

from .app import ModelServer
from .config import ConfigError, load_settings

log = logging.getLogger("model_server")


class _DrainingServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, which turns a clean drain into exit
    code 143. Kubernetes reads a non-zero code as a crash, so handle the signals without re-raising."""

    fatal: str | None = None

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
            log.info("received %s: no new connections; draining in-flight requests (up to %.0f s)",
                     signal.Signals(sig).name, self.config.timeout_graceful_shutdown or 0)
        super().handle_exit(sig, frame)

    def stop_fatally(self, message: str) -> None:
        self.fatal = message
        self.should_exit = True


def main() -> int:
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"model_server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    holder: list[_DrainingServer] = []
    app = ModelServer(settings, on_fatal=lambda message: holder[0].stop_fatally(message))
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop", http="httptools", lifespan="on",
        access_log=False, log_level=settings.log_level, server_header=False,
        timeout_graceful_shutdown=settings.drain_timeout_seconds, log_config=None,
        # Request bodies are bounded by MAX_REQUEST_BYTES in the app; keep-alive connections from
        # clients and proxies are reused, so allow them to idle longer than uvicorn's 5 s default.
        timeout_keep_alive=30)
    server = _DrainingServer(config)
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
