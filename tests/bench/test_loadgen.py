"""The REST load generator frames responses by their Content-Length header, not by another header
whose name contains it (the binary extension's Inference-Header-Content-Length)."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

BENCH_SERVER = str(Path(__file__).resolve().parents[2] / "bench" / "server")
if BENCH_SERVER not in sys.path:  # the benchmark scripts import their neighbours by module name
    sys.path.insert(0, BENCH_SERVER)

import loadgen  # noqa: E402 (needs the path above)

BODY = json.dumps({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}).encode()
ANSWER = b'{"outputs":[]}' + b"\0" * 40


async def _serve_binary_answers() -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[-1].split(b"\r\n")[0])
                await reader.readexactly(length)
                # The extension's header first: a substring search for "content-length:" would find it.
                writer.write(b"HTTP/1.1 200 OK\r\ninference-header-content-length: 14\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_binary_responses_are_framed_by_their_content_length() -> None:
    async def scenario() -> dict:
        server, port = await _serve_binary_answers()
        async with server:
            return await asyncio.wait_for(
                loadgen.run(f"http://127.0.0.1:{port}/v2/models/m/infer", [BODY], 20, 2, 10, binary=True), 20)

    # A private loop: asyncio.run would leave the main thread without an event loop, which the
    # Pulumi mock tests sharing this worker process expect to find.
    loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert result["ok"] == 20 and result["connection_errors"] == [], result
