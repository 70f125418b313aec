"""Where our server's time goes under the peer benchmark's load: py-spy samples it while loadgen.py runs.

    python bench/server/triton_profile.py                       # 1-row JSON, 16 clients, 20 s
    python bench/server/triton_profile.py --rows 32 --concurrency 64
    python bench/server/triton_profile.py --pieces                # time request-path pieces in-process

Starts our server exactly as triton_peer.py does (pinned to --server-core, loopback, same model and
payloads), runs the JSON load client on --client-core for --seconds, and records the server with
py-spy (from the Triton venv, see requirements-triton.txt) in collapsed-stack form, with native (C)
frames. py-spy samples every thread, waiting or not, so samples whose innermost frames are a wait
(epoll, a lock, a condition variable, an empty queue: idle threads and the idle event loop) are
counted apart; each busy sample is charged to the innermost frame that belongs to a known stage of
a request. Prints the stage shares and the hottest leaf functions; writes the raw stacks (--out)
for flame graphs. --pieces instead times the pieces of the request path one by one with timeit
(imports app/model_server in this interpreter, which needs app/requirements.txt installed).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import timeit
from collections import Counter
from pathlib import Path

import triton_peer as peer

# A sample is a wait when one of its innermost frames is one of these.
IDLE = re.compile(r"^(epoll_p?wait|epoll_wait|pthread_cond_(timed)?wait|sem_(timed)?wait|PyThread_acquire_lock_timed"
                  r"|_queue_SimpleQueue_get|select|poll|take_gil|futex\w*) ")
IDLE_DEPTH = 4
# (stage, pattern on "function (file:line)"), first match from the innermost frame wins.
STAGES = [
    ("socket syscalls (read/write)", r"^(write|writev|send|sendmsg|read|recv|recvmsg|__libc_(write|read|send|recv))"
                                     r" \(libc"),
    ("ONNX Runtime inference", r"onnxruntime|InferenceSession|model\.py:\d+\)$|\(run \(model_server/model"),
    ("JSON encode (orjson)", r"orjson|dumps"),
    ("JSON decode (orjson)", r"loads"),
    ("numpy (arrays, concat, slicing)", r"numpy|np\."),
    ("metrics (prometheus_client)", r"prometheus_client"),
    ("dynamic batcher", r"model_server/batcher\.py"),
    ("request validation / protocol", r"model_server/protocol\.py"),
    ("HTTP protocol (model_server/http1*.py + httptools; uvicorn before)",
     r"model_server/http1(_[a-z]+)?\.py|model_server/http_limits\.py|uvicorn|httptools|h11|llhttp"),
    ("application (routing, handler)", r"model_server/app\.py|model_server/[a-z_0-9]+\.py"),
    ("event loop (uvloop / asyncio)", r"uvloop|asyncio|selectors|libuv|epoll|loop\.c|uv__|uv_run|_asynciomodule|task_step"),
]
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*)\)$")


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, pattern in STAGES:
            if re.search(pattern, frame):
                return stage
    return "other (interpreter, startup, unknown)"


def summarise(collapsed: str) -> tuple[int, int, Counter, Counter]:
    """(busy samples, wait samples, busy samples per stage, per leaf) from py-spy's --format raw output."""
    stages: Counter = Counter()
    leaves: Counter = Counter()
    busy = idle = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        n = int(count)
        if any(IDLE.match(frame) for frame in frames[-IDLE_DEPTH:]):
            idle += n
            continue
        busy += n
        stages[stage_of(frames)] += n
        leaves[frames[-1]] += n
    return busy, idle, stages, leaves


def report(total: int, stages: Counter, leaves: Counter, top: int = 20) -> str:
    lines = ["| Stage | Share of busy samples |", "| --- | ---: |"]
    lines += [f"| {stage} | {n / total:.1%} |" for stage, n in stages.most_common()]
    lines += ["", "| Leaf function (innermost frame) | Share |", "| --- | ---: |"]
    lines += [f"| `{leaf}` | {n / total:.1%} |" for leaf, n in leaves.most_common(top)]
    return "\n".join(lines)


def pieces(model: Path) -> str:
    """Best-of-5 timeit of each piece of a 1-row and a 32-row JSON request, in microseconds."""
    sys.path.insert(0, str(peer.bench.APP))
    import uuid

    import numpy as np
    import orjson
    from model_server.app import match_route
    from model_server.metrics import Metrics
    from model_server.model import OnnxModel
    from model_server.protocol import infer_response, parse_infer_request

    onnx_model = OnnxModel(model)
    metrics = Metrics("my-ai-model")
    rng = random.Random(20261125)  # run.py's rows
    row = [float(rng.randint(0, 16)) for _ in range(64)]
    rows = []

    def timed(label: str, fn, number: int = 5000) -> None:
        rows.append(f"| {label} | {min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6:.1f} |")

    for count in (1, 32):
        body = json.dumps({"inputs": [{"name": "input", "shape": [count, 64], "datatype": "FP32",
                                       "data": row * count}]}).encode()
        request = parse_infer_request(body, onnx_model.inputs, onnx_model.outputs)
        outputs = onnx_model.run(request.inputs)
        data = orjson.loads(body)["inputs"][0]["data"]
        array = np.array(data).reshape(count, 64).astype(np.float32)
        timed(f"{count} row(s): `orjson.loads` of the body", lambda body=body: orjson.loads(body))
        timed(f"{count} row(s): `np.array` of the parsed data", lambda data=data: np.array(data))
        timed(f"{count} row(s): `np.isfinite(x).all()`", lambda array=array: np.isfinite(array).all())
        timed(f"{count} row(s): `parse_infer_request` (all of the above + checks)",
              lambda body=body: parse_infer_request(body, onnx_model.inputs, onnx_model.outputs))
        timed(f"{count} row(s): ONNX Runtime `session.run`", lambda request=request: onnx_model.run(request.inputs))
        timed(f"{count} row(s): `infer_response` (orjson with numpy)",
              lambda outputs=outputs: infer_response("my-ai-model", "1", "id", onnx_model.outputs, ["output"], outputs))

    def errstate() -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            pass

    timed("`np.errstate(...)` enter + exit", errstate)
    timed("`uuid.uuid4().hex` (server-made id)", lambda: uuid.uuid4().hex)
    timed("`match_route` of the infer path", lambda: match_route("/v2/models/my-ai-model/infer"))
    timed("metrics per request: counter + histogram", lambda: metrics.observe_request("/v2/models/{name}/infer", 200, 1e-3))
    timed("metrics per request: in-flight gauge inc + dec", lambda: (metrics.in_flight.inc(), metrics.in_flight.dec()))
    timed("metrics per batch: 2 histograms + queue gauge",
          lambda: (metrics.batch_seconds.observe(1e-5), metrics.batch_size.observe(1), metrics.queue_depth.set(0)))
    return "\n".join(["| Piece | us (best of 5) |", "| --- | ---: |", *rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=peer.bench.APP / "artifacts" / "model.onnx")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--out", type=Path, default=peer.bench.CACHE.parent / "bench-triton-profile")
    parser.add_argument("--pieces", action="store_true", help="time the request path's pieces instead")
    args = parser.parse_args()
    if args.pieces:
        print(pieces(args.model))
        return 0
    py_spy = peer.TRITON_VENV / "bin" / "py-spy"
    if not py_spy.exists():
        print(f"no {py_spy}: run `bash bench/server/triton_build.sh` first", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    payloads = peer.make_payloads(args.model, scratch, sorted({1, args.rows}))
    args.out.mkdir(parents=True, exist_ok=True)
    collapsed = args.out / f"ours-json-{args.rows}row-c{args.concurrency}.collapsed"
    server = peer.start_ours(args.model, args.server_core, scratch)
    try:
        peer._client("json", server, payloads, args.rows, 2000, args.concurrency, 30, args.client_core)  # warm-up
        record = subprocess.Popen([str(py_spy), "record", "--pid", str(server.proc.pid), "--rate", str(args.rate),
                                   "--duration", str(int(args.seconds)), "--format", "raw", "--output", str(collapsed),
                                   "--native"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        cpu_before = peer.cpu_seconds(server.proc.pid)
        run = peer._client("json", server, payloads, args.rows, 10**9, args.concurrency, args.seconds, args.client_core)
        cpu = peer.cpu_seconds(server.proc.pid) - cpu_before
        _, err = record.communicate(timeout=args.seconds + 60)
        if record.returncode != 0:
            print(f"py-spy failed: {err[-800:]}", file=sys.stderr)
            return 1
    finally:
        peer.stop(server)
    busy, idle, stages, leaves = summarise(collapsed.read_text())
    print(f"ours, JSON {args.rows} row(s), c={args.concurrency}: {run['throughput_rps']:.0f} req/s under py-spy "
          f"(sampling slows it), p99 {run['latency_ms']['p99']:.2f} ms, server CPU "
          f"{cpu / max(run['ok'], 1) * 1e6:.0f} us/request; {busy} busy samples, {idle} waiting (all threads)\n")
    print(report(busy, stages, leaves))
    print(f"\nraw stacks: {collapsed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
