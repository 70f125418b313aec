"""Bounded HTTP/1.1 load client for Open Inference Protocol servers on loopback.

    python bench/server/loadgen.py --url http://127.0.0.1:8080/v2/models/my-ai-model/infer \
        --requests 20000 --concurrency 64 --time-cap 60 --body-file bodies.jsonl [--binary] \
        [--header "Authorization: Bearer KEY"]

Sends exactly --requests POSTs (or fewer if --time-cap seconds pass first) over --concurrency
keep-alive connections, each connection sending its next request when the previous answer is in
(closed loop). Bodies are pre-serialised and cycled. With --binary each JSON body is re-encoded
with the binary tensor data extension (FP32 inputs as raw bytes after the JSON header, outputs asked
for as binary). Prints one JSON object: counts, throughput, latency percentiles and rows/s.
Refuses any host but loopback.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import struct
import sys
import time
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # plain asyncio works too, just with more client overhead
    uvloop = None


def _loopback_only(host: str) -> None:
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load-test {host}: loopback addresses only")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


async def http_worker(host: str, port: int, requests: list[bytes], state: dict, latencies: list[float],
                  statuses: dict[int, int], deadline: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while state["next"] < state["total"] and time.perf_counter() < deadline:
            index = state["next"]
            state["next"] += 1
            request = requests[index % len(requests)]
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            lower = head.lower()
            # At the start of a line: `inference-header-content-length:` also contains the name.
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                length = int(lower[at + 17:lower.find(b"\r\n", at + 2)])
            elif b"transfer-encoding: chunked" in lower:
                raise RuntimeError("chunked responses are not supported by this client")
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def to_binary(body: bytes) -> tuple[bytes, int]:
    """A JSON inference request re-encoded with the binary tensor data extension: (body, JSON length)."""
    request = json.loads(body)
    blobs = []
    for tensor in request["inputs"]:
        data = tensor.pop("data")
        flat = list(_flatten(data))
        blob = struct.pack(f"<{len(flat)}f", *flat)
        tensor["parameters"] = {"binary_data_size": len(blob)}
        blobs.append(blob)
    request["parameters"] = {"binary_data_output": True}
    head = json.dumps(request, separators=(",", ":")).encode()
    return head + b"".join(blobs), len(head)


def _flatten(data):
    for item in data:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def rows_of(body: bytes) -> int:
    return json.loads(body)["inputs"][0]["shape"][0]


def build_requests(url: str, bodies: list[bytes], binary: bool = False, headers: list[str] = ()) -> list[bytes]:
    """The whole HTTP requests (head and body) for `bodies`, as sent (also by wrk_client.py)."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = parts.path or "/"
    extra = "".join(f"{h}\r\n" for h in headers)
    requests = []
    for body in bodies:
        content_type = "application/json"
        if binary:
            body, json_length = to_binary(body)
            content_type = f"application/octet-stream\r\nInference-Header-Content-Length: {json_length}"
        requests.append((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
                         f"{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return requests


async def run(url: str, bodies: list[bytes], total: int, concurrency: int, time_cap: float,
              binary: bool = False, headers: list[str] = ()) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    _loopback_only(host)
    return await closed_loop(host, port, build_requests(url, bodies, binary, headers), total, concurrency, time_cap,
                             rows_of(bodies[0]))


async def closed_loop(host: str, port: int, requests: list[bytes], total: int, concurrency: int, time_cap: float,
                      rows: int | None = None) -> dict:
    """Send `total` of the raw `requests` (cycled) over `concurrency` keep-alive connections, each sending its next
    request when the previous answer is in, for at most `time_cap` seconds; the `summary` of the run."""
    state = {"next": 0, "total": total}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    deadline = started + time_cap
    results = await asyncio.gather(*(http_worker(host, port, requests, state, latencies, statuses, deadline)
                                     for _ in range(concurrency)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return summary(latencies, statuses, statuses.get(200, 0), state["next"], errors, elapsed, deadline, concurrency,
                   rows)


def summary(latencies: list[float], statuses: dict, ok: int, sent: int, errors: list[str], elapsed: float,
            deadline: float, concurrency: int, rows: int | None = None) -> dict:
    """The JSON object every load client prints: counts, throughput, latency percentiles (and rows/s when the
    rows per request are known)."""
    latencies.sort()
    result = {
        "requests_sent": sent, "responses": len(latencies), "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "connection_errors": errors[:5], "elapsed_s": round(elapsed, 3),
        "hit_time_cap": time.perf_counter() >= deadline,
        "throughput_rps": round(ok / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {name: round(percentile(latencies, q) * 1000, 3)
                       for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "concurrency": concurrency,
    }
    if rows is not None:
        result["rows_per_request"] = rows
        result["rows_per_s"] = round(ok * rows / elapsed, 1) if elapsed else 0.0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, help="one JSON request body per line")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-cap", type=float, default=60.0, help="stop sending after this many seconds")
    parser.add_argument("--binary", action="store_true", help="use the binary tensor data extension")
    parser.add_argument("--header", action="append", default=[], help="extra request header, 'Name: value'")
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        bodies = [line.strip() for line in f if line.strip()]
    runner = uvloop.run if uvloop is not None else asyncio.run
    result = runner(run(args.url, bodies, args.requests, args.concurrency, args.time_cap, args.binary, args.header))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
