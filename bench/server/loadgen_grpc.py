"""Bounded gRPC load client for the Open Inference Protocol (inference.GRPCInferenceService/ModelInfer).

    python bench/server/loadgen_grpc.py --target 127.0.0.1:8081 --body-file bodies.jsonl \
        --requests 20000 --concurrency 64 --time-cap 60 [--metadata "authorization=Bearer KEY"]

The same closed loop as loadgen.py (C concurrent calls on one channel, each sending its next
request when the previous answer is in), the same JSON bodies file turned into ModelInferRequest
messages with raw_input_contents, the same JSON output. Loopback only. Uses the stubs generated
from the protocol's .proto in app/model_server/oip.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import struct
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))
from model_server.oip import grpc_predict_v2_pb2 as pb  # noqa: E402 (path set above)
from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc  # noqa: E402 (path set above)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import _flatten, summary  # noqa: E402 (path set above)


def to_message(body: bytes, model: str) -> pb.ModelInferRequest:
    request = json.loads(body)
    message = pb.ModelInferRequest(model_name=model)
    for tensor in request["inputs"]:
        flat = list(_flatten(tensor["data"]))
        message.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        message.raw_input_contents.append(struct.pack(f"<{len(flat)}f", *flat))
    return message


async def run(target: str, model: str, bodies: list[bytes], total: int, concurrency: int, time_cap: float,
              metadata: tuple) -> dict:
    host = target.rsplit(":", 1)[0].strip("[]")
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load-test {host}: loopback addresses only")
    messages = [to_message(body, model) for body in bodies]
    rows = messages[0].inputs[0].shape[0]
    state = {"next": 0}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        started = time.perf_counter()
        deadline = started + time_cap

        async def worker() -> None:
            while state["next"] < total and time.perf_counter() < deadline:
                message = messages[state["next"] % len(messages)]
                state["next"] += 1
                sent = time.perf_counter()
                try:
                    await stub.ModelInfer(message, metadata=metadata, timeout=30)
                    code = "OK"
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().name
                latencies.append(time.perf_counter() - sent)
                statuses[code] = statuses.get(code, 0) + 1

        results = await asyncio.gather(*(worker() for _ in range(concurrency)), return_exceptions=True)
        elapsed = time.perf_counter() - started
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return summary(latencies, statuses, statuses.get("OK", 0), state["next"], errors, elapsed, deadline, concurrency,
                   rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the gRPC endpoint")
    parser.add_argument("--model", default="my-ai-model")
    parser.add_argument("--body-file", required=True, help="one JSON request body per line (as for loadgen.py)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-cap", type=float, default=60.0)
    parser.add_argument("--metadata", action="append", default=[], help="'key=value' call metadata")
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        bodies = [line.strip() for line in f if line.strip()]
    metadata = tuple(tuple(item.split("=", 1)) for item in args.metadata)
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(run(args.target, args.model, bodies, args.requests, args.concurrency, args.time_cap,
                                metadata))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
