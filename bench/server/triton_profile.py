"""Where our server's time goes under the peer benchmark's load: py-spy samples it while loadgen.py runs.

    python bench/server/triton_profile.py                       # 1-row JSON, 16 clients, 20 s
    python bench/server/triton_profile.py --rows 32 --concurrency 64

Starts our server exactly as triton_peer.py does (pinned to --server-core, loopback, same model and
payloads), runs the JSON load client on --client-core for --seconds, and records the server with
py-spy (from the Triton venv, see requirements-triton.txt) in collapsed-stack form, with native (C)
frames. py-spy samples every thread, waiting or not, so samples whose innermost frames are a wait
(epoll, a lock, a condition variable, an empty queue: idle threads and the idle event loop) are
counted apart; each busy sample is charged to the innermost frame that belongs to a known stage of
a request. Prints the stage shares and the hottest leaf functions; writes the raw stacks (--out)
for flame graphs.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
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
    ("ASGI app (routing, handler)", r"model_server/app\.py|model_server/[a-z_]+\.py"),
    ("HTTP protocol (uvicorn + httptools)", r"uvicorn|httptools|h11|llhttp"),
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
    args = parser.parse_args()
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
