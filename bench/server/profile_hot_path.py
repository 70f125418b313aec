"""Where our server's time goes on the 1-row JSON hot path: py-spy samples the server under load.

    python -m venv ~/.cache/gpu-model-platform/profile-venv
    ~/.cache/gpu-model-platform/profile-venv/bin/pip install py-spy==0.4.3
    python bench/server/profile_hot_path.py --seconds 15 [--concurrency 1] [--grpc] [--native] [--env NAME=VALUE ...]

Starts app/model_server on 127.0.0.1 pinned to CPU 0 (every limit at its default), drives it with
bench/server/loadgen.py on CPU 1 (1-row JSON requests, closed loop; `--grpc`: loadgen_grpc.py's ModelInfer
calls), and records the server with
`py-spy record --format raw --nonblocking` meanwhile. Prints the functions with the most samples,
inclusive and self, as shares of all samples, and writes the collapsed stacks (flamegraph input).
`--native` adds the C and Cython frames (grpcio's core, ONNX Runtime, the kernel calls' libc wrappers) to the
Python ones (py-spy then pauses the server for each sample: rates fall, shares hold); every thread is
sampled, idle ones not counted.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import APP, MODEL_NAME, free_port, make_bodies  # noqa: E402 (path set above)

PY_SPY = Path(os.environ.get("PY_SPY", Path.home() / ".cache" / "gpu-model-platform" / "profile-venv" / "bin" / "py-spy"))


def summarise(collapsed: Path, top: int) -> dict:
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    share = lambda c: round(100 * c / total, 1)  # noqa: E731
    return {"samples": total,
            "inclusive_pct": [(f, share(c)) for f, c in inclusive.most_common(top)],
            "self_pct": [(f, share(c)) for f, c in own.most_common(top)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--env", action="append", default=[], help="extra server variable NAME=VALUE")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--binary", action="store_true", help="binary tensor data extension instead of JSON")
    parser.add_argument("--grpc", action="store_true", help="gRPC ModelInfer calls (loadgen_grpc.py) instead of REST")
    parser.add_argument("--native", action="store_true", help="py-spy --native: C and Cython frames too")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "model-server-profile")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "ADMIN_PORT": str(free_port()),
           "GRPC_PORT": str(free_port()), "MODEL_DIR": str(APP / "artifacts"), "LOG_LEVEL": "warning",
           **dict(item.split("=", 1) for item in args.env)}
    server_log = open(args.out / "server.log", "wb")
    server = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "model_server"], cwd=APP, env=env,
                              stdout=server_log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{env['ADMIN_PORT']}/v2/health/ready", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        bodies = args.out / "bodies.jsonl"
        make_bodies(bodies, rows_per_request=args.rows)
        if args.grpc:
            client = [str(HERE / "loadgen_grpc.py"), "--target", f"127.0.0.1:{env['GRPC_PORT']}"]
        else:
            client = [str(HERE / "loadgen.py"), "--url", f"http://127.0.0.1:{port}/v2/models/{MODEL_NAME}/infer",
                      *(["--binary"] if args.binary else [])]
        load = subprocess.Popen(["taskset", "-c", "1", sys.executable, *client, "--body-file", str(bodies),
                                 "--requests", "10000000", "--concurrency", str(args.concurrency),
                                 "--time-cap", str(args.seconds + 3)], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        collapsed = args.out / "collapsed.txt"
        subprocess.run([str(PY_SPY), "record", "--pid", str(server.pid), "--duration", str(int(args.seconds)),
                        "--rate", str(args.rate), "--format", "raw", "--threads", "--output", str(collapsed),
                        # py-spy reads native stacks only with the process paused for each sample
                        *(["--native"] if args.native else ["--nonblocking"])],
                       check=True, capture_output=True, timeout=args.seconds + 60)
        result = json.loads(load.communicate(timeout=args.seconds + 60)[0])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(json.dumps({"load": {k: result[k] for k in ("throughput_rps", "latency_ms", "concurrency")},
                      "profile": summarise(collapsed, args.top), "collapsed": str(collapsed)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
