"""Closed-loop load clients for the binary tensor extension (HTTP) and for gRPC, same output as loadgen.py.

    python triton_clients.py http-binary --url http://127.0.0.1:8000/v2/models/my-ai-model/infer \
        --rows-file rows.npy --batch 1 --requests 20000 --concurrency 16 --time-cap 60
    python triton_clients.py grpc --target 127.0.0.1:8001 --model my-ai-model ...   # needs grpcio + tritonclient

Both pre-serialise every request once, send --requests of them over --concurrency connections (each
sends its next request when the previous answer is in, like loadgen.py) and print one JSON object
with the fields loadgen.py prints. The HTTP client is loadgen.py's worker; the gRPC one sends
pre-serialised `inference.GRPCInferenceService/ModelInfer` messages (the Open Inference
Protocol's gRPC service, whose messages tritonclient ships as generated code) and does not decode
answers beyond their status. Loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import numpy as np
from loadgen import _loopback_only, closed_loop, summary

INPUT_NAME = "input"
OUTPUT_NAME = "output"


def batches(rows: np.ndarray, batch: int, count: int = 64) -> list[np.ndarray]:
    """`count` different batches of `batch` rows, cycling through `rows`."""
    return [np.take(rows, range(i * batch, (i + 1) * batch), axis=0, mode="wrap").astype(np.float32)
            for i in range(count)]


def binary_request(x: np.ndarray) -> tuple[bytes, int]:
    """A binary tensor extension body: the JSON header, then the raw FP32 bytes; returns (body, header length)."""
    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    header = json.dumps({"inputs": [{"name": INPUT_NAME, "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": OUTPUT_NAME, "parameters": {"binary_data": True}}]},
                        separators=(",", ":")).encode()
    return header + raw, len(header)


async def run_http_binary(url: str, xs: list[np.ndarray], total: int, concurrency: int, time_cap: float) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    _loopback_only(host)
    requests = []
    for x in xs:
        body, header_length = binary_request(x)
        requests.append((f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         f"Content-Type: application/octet-stream\r\n"
                         f"Inference-Header-Content-Length: {header_length}\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return await closed_loop(host, port, requests, total, concurrency, time_cap)


def grpc_request(model: str, x: np.ndarray) -> bytes:
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name=INPUT_NAME, datatype="FP32")
    tensor.shape.extend(x.shape)
    request.outputs.add(name=OUTPUT_NAME)
    request.raw_input_contents.append(np.ascontiguousarray(x, dtype="<f4").tobytes())
    return request.SerializeToString()


async def run_grpc(target: str, model: str, xs: list[np.ndarray], total: int, concurrency: int,
                   time_cap: float) -> dict:
    import grpc

    _loopback_only(target.rsplit(":", 1)[0])
    messages = [grpc_request(model, x) for x in xs]
    state = {"next": 0}
    latencies: list[float] = []
    statuses: dict = {}
    started = time.perf_counter()
    deadline = started + time_cap
    # One channel per client, like one keep-alive connection per HTTP client (gRPC multiplexes
    # otherwise, which would make c=64 one TCP connection).
    channels = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(concurrency)]

    async def client(channel) -> None:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")  # bytes in, bytes out
        while state["next"] < total and time.perf_counter() < deadline:
            index = state["next"]
            state["next"] += 1
            sent = time.perf_counter()
            try:
                await call(messages[index % len(messages)])
                code = 200
            except grpc.aio.AioRpcError as exc:
                code = exc.code().name
            latencies.append(time.perf_counter() - sent)
            statuses[code] = statuses.get(code, 0) + 1

    try:
        results = await asyncio.gather(*(client(c) for c in channels), return_exceptions=True)
    finally:
        for channel in channels:
            await channel.close()
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return summary(latencies, statuses, statuses.get(200, 0), state["next"], errors, time.perf_counter() - started,
                   deadline, concurrency)


def probe_http_binary(url: str, x: np.ndarray) -> dict:
    """One binary request; its status and the decoded output (or the error body)."""
    import http.client

    parts = urlsplit(url)
    _loopback_only(parts.hostname)
    body, header_length = binary_request(x)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, body=body, headers={"Content-Type": "application/octet-stream",
                                                              "Inference-Header-Content-Length": str(header_length)})
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    if response.status != 200:
        return {"status": response.status, "error": answer[:300].decode(errors="replace")}
    length = response.getheader("Inference-Header-Content-Length")
    if length is None:
        return {"status": "no Inference-Header-Content-Length", "error": answer[:300].decode(errors="replace")}
    header = json.loads(answer[:int(length)])
    output = header["outputs"][0]
    if output.get("parameters", {}).get("binary_data_size") is None:
        return {"status": "output not binary", "error": json.dumps(output)[:300]}
    return {"status": 200, "output": np.frombuffer(answer[int(length):], dtype="<f4").tolist()}


def probe_grpc(target: str, model: str, x: np.ndarray) -> dict:
    import grpc
    from tritonclient.grpc import service_pb2

    _loopback_only(target.rsplit(":", 1)[0])
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        try:
            answer = service_pb2.ModelInferResponse.FromString(call(grpc_request(model, x), timeout=10))
        except grpc.RpcError as exc:
            return {"status": exc.code().name, "error": (exc.details() or "")[:300]}
    if answer.raw_output_contents:
        return {"status": 200, "output": np.frombuffer(answer.raw_output_contents[0], dtype="<f4").tolist()}
    return {"status": 200, "output": list(answer.outputs[0].contents.fp32_contents)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocol", choices=("http-binary", "grpc", "probe-http-binary", "probe-grpc"),
                        help="probe-*: one request with the first --batch rows; prints its status and output")
    parser.add_argument("--url", help="http-binary: the infer URL")
    parser.add_argument("--target", help="grpc: host:port")
    parser.add_argument("--model", default="my-ai-model")
    parser.add_argument("--rows-file", required=True, help=".npy of FP32 rows [N, 64]")
    parser.add_argument("--batch", type=int, default=1, help="rows per request")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-cap", type=float, default=60.0)
    args = parser.parse_args()
    xs = batches(np.load(args.rows_file), args.batch)
    if args.protocol == "probe-http-binary":
        result = probe_http_binary(args.url, xs[0])
    elif args.protocol == "probe-grpc":
        result = probe_grpc(args.target, args.model, xs[0])
    elif args.protocol == "http-binary":
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        result = runner(run_http_binary(args.url, xs, args.requests, args.concurrency, args.time_cap))
    else:
        result = asyncio.run(run_grpc(args.target, args.model, xs, args.requests, args.concurrency, args.time_cap))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
