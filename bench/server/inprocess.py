"""The server's Python cost per request, without sockets: the HTTP front end, the application, the
batcher and ONNX Runtime, driven in process.

    python bench/server/inprocess.py [--rows 32] [--binary] [--clients 16] [--seconds 5] [--profile] [--env K=V]

Builds the real application (`ModelServer`) on the model in app/artifacts and `--clients`
`Http1Protocol` connections on a uvloop loop, each with a transport that only keeps what is
written. One round feeds every connection one whole request (as one read, like a request that
arrives in one segment), then lets the event loop run one pass, in which the fast lane runs the
requests of the round as one batch; every answer is checked to be a 200. Prints the time per
request (best of the `--repeat` timed runs), which is the server's Python and ONNX Runtime cost
per request without the kernel's socket and wake-up work; `--profile` prints cProfile's top
functions for one run instead.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "app"))
from loadgen import build_requests  # noqa: E402 (path set above)
from model_server.app import ModelServer  # noqa: E402
from model_server.config import load_settings  # noqa: E402
from model_server.http1 import Http1Protocol  # noqa: E402
from model_server.http_limits import Connections, Limits  # noqa: E402
from run import APP, MODEL_NAME, make_bodies  # noqa: E402


class Sink(asyncio.Transport):
    """A transport that keeps the answers written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def close(self) -> None:
        raise AssertionError("the server closed a keep-alive connection")

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # nothing is ever buffered: every write is taken at once

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True


def requests(rows: int, binary: bool) -> list[bytes]:
    path = Path(tempfile.mkdtemp()) / "bodies.jsonl"
    make_bodies(path, rows_per_request=rows)
    return build_requests(f"http://127.0.0.1:8080/v2/models/{MODEL_NAME}/infer", path.read_bytes().splitlines(),
                          binary)


async def main_async(args: argparse.Namespace) -> list[float]:
    settings = load_settings({"MODEL_DIR": str(APP / "artifacts"), "GRPC_PORT": "0", "LOG_LEVEL": "warning",
                              **dict(pair.split("=", 1) for pair in args.env)})
    app = ModelServer(settings)
    await app.startup()
    while app.batcher is None:
        await asyncio.sleep(0.05)
    state = Connections(Limits(max_header_bytes=settings.max_header_bytes,
                               header_timeout_s=settings.header_timeout_seconds,
                               body_timeout_s=settings.body_timeout_seconds, max_connections=1000,
                               retry_after_s=settings.retry_after_seconds, admin_port=settings.admin_port),
                        on_reject=app.metrics.reject)
    connections = []
    for _ in range(args.clients):
        protocol = Http1Protocol(app, state, False)
        protocol.connection_made(Sink())
        connections.append(protocol)
    bodies = requests(args.rows, args.binary)

    async def rounds(count: int) -> None:
        for i in range(count):
            for j, protocol in enumerate(connections):
                protocol.data_received(bodies[(i + j) % len(bodies)])
            await asyncio.sleep(0)  # one pass: the fast lane's batch and the answers
            for _ in range(1000):  # the first batches go through the batcher task (cost still unknown)
                if all(protocol.transport.written for protocol in connections):
                    break
                await asyncio.sleep(0.001)
            for protocol in connections:
                written = protocol.transport.written
                if len(written) != 1 or not written[0].startswith(b"HTTP/1.1 200 "):
                    raise AssertionError(f"not one 200 answer: {written[:1]!r}")
                written.clear()

    await rounds(200)  # warm up
    count = max(1, int(args.seconds * 20_000 / args.clients / max(1, args.rows // 4)))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await rounds(count)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        return []
    per_request = []
    for _ in range(args.repeat):
        started = time.thread_time()  # CPU time: other processes on the machine move it far less than wall time
        await rounds(count)
        per_request.append((time.thread_time() - started) / (count * args.clients) * 1e6)
    await app.shutdown()
    return per_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--binary", action="store_true")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0, help="rough length of one timed run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--env", action="append", default=[], help="server setting, KEY=VALUE (e.g. REQUEST_LOG=off)")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    per_request = uvloop.run(main_async(args))
    if per_request:
        print(json.dumps({"rows": args.rows, "binary": args.binary, "clients": args.clients,
                          "us_per_request_best": round(min(per_request), 2),
                          "us_per_request_runs": [round(v, 2) for v in per_request]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
