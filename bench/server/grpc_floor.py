"""What one gRPC call costs grpcio itself here: servers whose ModelInfer does nothing, against our server.

    python bench/server/grpc_floor.py [--calls 4000] [--concurrency 16] [--rounds 2]

Starts, one at a time on CPU 0, gRPC servers that answer ModelInfer with a fixed 1x10 FP32 response and do no
other work (grpc.aio with a unary handler, grpc.aio with the stream-unary handler form our server uses to put a
deadline on the request message, grpcio's thread-pool server), then our own server (app/model_server, every
limit at its default, the digits model in app/artifacts); drives each with loadgen_grpc.py on CPU 1 (1-row
requests, closed loop) and prints the server's CPU per call (user + system, every thread, from /proc). What a
do-nothing server costs per call is the floor any Python gRPC server on grpcio pays on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import APP, cpu_seconds, free_port, make_bodies  # noqa: E402 (path set above)

BARE = r'''
import asyncio, sys
from concurrent import futures
sys.path.insert(0, sys.argv[3])
import grpc, numpy as np
from model_server.oip import grpc_predict_v2_pb2 as pb, grpc_predict_v2_pb2_grpc as pb_grpc

def answer(request, context):
    response = pb.ModelInferResponse(model_name=request.model_name, model_version="1", id="x")
    response.outputs.add(name="output", datatype="FP32", shape=[1, 10])
    response.raw_output_contents.append(np.zeros((1, 10), np.float32).tobytes())
    return response

class Servicer(pb_grpc.GRPCInferenceServiceServicer):
    async def ModelInfer(self, request, context):
        return answer(request, context)

async def serve(kind, port):
    server = grpc.aio.server()
    if kind == "aio-stream":
        async def behavior(requests, context):
            return answer(await context.read(), context)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "inference.GRPCInferenceService", {"ModelInfer": grpc.stream_unary_rpc_method_handler(
                behavior, request_deserializer=pb.ModelInferRequest.FromString,
                response_serializer=pb.ModelInferResponse.SerializeToString)}),))
    else:
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()

kind, port = sys.argv[1], int(sys.argv[2])
if kind == "sync":
    class Sync(pb_grpc.GRPCInferenceServiceServicer):
        def ModelInfer(self, request, context):
            return answer(request, context)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Sync(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()
else:
    import uvloop
    uvloop.install()
    asyncio.run(serve(kind, port))
'''
KINDS = ("aio-unary", "aio-stream", "sync", "ours")


def start(kind: str, port: int) -> subprocess.Popen:
    if kind == "ours":
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(free_port()), "ADMIN_PORT": str(free_port()),
               "GRPC_PORT": str(port), "MODEL_DIR": str(APP / "artifacts"), "LOG_LEVEL": "warning"}
        return subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "model_server"], cwd=APP, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", BARE, kind, str(port), str(APP)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _all_ok(run: subprocess.CompletedProcess, calls: int) -> bool:
    """Whether a warm-up run answered every call (our server refuses inference until its model is loaded)."""
    try:
        return run.returncode == 0 and json.loads(run.stdout)["ok"] == calls
    except (ValueError, KeyError):
        return False


def measure(kind: str, bodies: Path, calls: int, concurrency: int) -> dict:
    port = free_port()
    server = start(kind, port)
    try:
        client = ["taskset", "-c", "1", sys.executable, str(HERE / "loadgen_grpc.py"), "--target", f"127.0.0.1:{port}",
                  "--body-file", str(bodies), "--concurrency", str(concurrency)]
        deadline = time.monotonic() + 60
        while not _all_ok(subprocess.run([*client, "--requests", "200"], capture_output=True, text=True), 200):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"{kind}: the server did not answer (ready) within 60 s")
            time.sleep(0.5)
        before = cpu_seconds(server.pid)
        result = json.loads(subprocess.run([*client, "--requests", str(calls)], capture_output=True, text=True,
                                           check=True).stdout)
        used = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"server": kind, "ok": result["ok"], "req_per_s": result["throughput_rps"],
            "p99_ms": result["latency_ms"]["p99"], "cpu_us_per_call": round(used / max(result["ok"], 1) * 1e6, 1),
            "load_1min": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", default=",".join(KINDS), help=f"comma-separated, from {', '.join(KINDS)}")
    args = parser.parse_args()
    bodies = Path(tempfile.mkdtemp()) / "bodies.jsonl"
    make_bodies(bodies)
    for _ in range(args.rounds):
        for kind in args.servers.split(","):
            print(json.dumps(measure(kind, bodies, args.calls, args.concurrency)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
