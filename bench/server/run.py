"""Server benchmark: the same ONNX model in our server, KServe's Python model server and MLServer.

    cd app && python train.py --epochs 10 && cd ..     # the model under test
    python bench/server/run.py                         # ~3 minutes after the first venv setup

Each server gets its own virtualenv under ~/.cache/gpu-model-platform/bench-venvs (created here on
first use; kserve and mlserver pin conflicting dependencies), binds 127.0.0.1 only (checked), is
started, checked for a correct answer, warmed up, load-tested with the same bounded closed-loop
client (bench/server/loadgen.py) at each concurrency, measured for memory, and stopped, one server
after another. Prints a Markdown table and writes all numbers as JSON (--out).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APP = REPO / "app"
CACHE = Path(os.environ.get("BENCH_VENVS", Path.home() / ".cache" / "gpu-model-platform" / "bench-venvs"))
MODEL_NAME = "my-ai-model"
READY_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_venv(name: str, requirements: Path) -> Path:
    """A virtualenv with exactly these requirements, rebuilt when the file changes."""
    venv = CACHE / name
    stamp = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()
    stamp_file = venv / ".requirements-sha256"
    if (venv / "bin" / "python").exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return venv
    print(f"[bench] creating {venv} from {requirements.relative_to(REPO)}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r",
                    str(requirements)], check=True, timeout=1800)
    stamp_file.write_text(stamp)
    return venv


def pip_version(venv: Path, package: str) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          f"from importlib.metadata import version; print(version({package!r}))"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "?"


# --- process facts from /proc -------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return pids


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    """Resident memory of the server and all its child processes (MLServer runs workers)."""
    return round(sum(_status_kib(p, "VmRSS") for p in process_tree(pid)) / 1024, 1)


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets the process tree is listening on."""
    inodes = set()
    for p in process_tree(pid):
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                target = os.readlink(f"/proc/{p}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                found.append(cols[1])
    return found


def _is_loopback(hex_address: str) -> bool:
    host = hex_address.split(":")[0]
    if len(host) == 8:  # IPv4, little-endian: 127.x.x.x ends in 7F
        return host.endswith("7F")
    if host.startswith("0000000000000000FFFF0000"):  # IPv4-mapped IPv6 (::ffff:127.x.x.x)
        return host.endswith("7F")
    return host == "00000000000000000000000001000000"  # ::1


# --- servers -------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    venv: str
    requirements: Path
    version_packages: tuple[str, ...]
    command: Callable[[Path, Path, int, Path], tuple[list[str], dict, Path]]
    """(venv, model path, port, scratch dir) -> (argv, extra env, cwd)"""


def _ours(venv: Path, model: Path, port: int, scratch: Path) -> tuple[list[str], dict, Path]:
    env = {"HOST": "127.0.0.1", "PORT": str(port), "MODEL_DIR": str(model.parent), "LOG_LEVEL": "warning"}
    return [str(venv / "bin" / "python"), "-m", "model_server"], env, APP


def _kserve(venv: Path, model: Path, port: int, scratch: Path) -> tuple[list[str], dict, Path]:
    return ([str(venv / "bin" / "python"), str(HERE / "kserve_server.py"), "--model-path", str(model),
             "--http-port", str(port), "--model-name", MODEL_NAME], {}, scratch)


def _mlserver(batching: bool) -> Callable:
    def command(venv: Path, model: Path, port: int, scratch: Path) -> tuple[list[str], dict, Path]:
        folder = scratch / "mlserver"
        folder.mkdir(exist_ok=True)
        shutil.copy(HERE / "mlserver_runtime.py", folder / "mlserver_runtime.py")
        (folder / "settings.json").write_text(json.dumps({
            "debug": False, "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
            "metrics_port": free_port()}))
        model_settings = {"name": MODEL_NAME, "implementation": "mlserver_runtime.OnnxDigits",
                          "parameters": {"uri": str(model)}}
        if batching:  # MLServer's adaptive batching, set like our defaults (32 rows, 2 ms)
            model_settings.update({"max_batch_size": 32, "max_batch_time": 0.002})
        (folder / "model-settings.json").write_text(json.dumps(model_settings))
        return [str(venv / "bin" / "mlserver"), "start", str(folder)], {}, folder
    return command


SERVERS = {
    "ours": Server("ours (app/model_server)", "ours", APP / "requirements.txt",
                   ("onnxruntime", "uvicorn", "uvloop"), _ours),
    "kserve": Server("KServe ModelServer", "kserve", HERE / "requirements-kserve.txt",
                     ("kserve", "onnxruntime", "fastapi", "uvicorn"), _kserve),
    "mlserver": Server("MLServer", "mlserver", HERE / "requirements-mlserver.txt",
                       ("mlserver", "onnxruntime", "fastapi", "uvicorn"), _mlserver(False)),
    "mlserver-batching": Server("MLServer + adaptive batching", "mlserver", HERE / "requirements-mlserver.txt",
                                ("mlserver", "onnxruntime"), _mlserver(True)),
}


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def make_bodies(path: Path, count: int = 64) -> list[list[float]]:
    rng = random.Random(20261125)
    rows = [[float(rng.randint(0, 16)) for _ in range(64)] for _ in range(count)]
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                            "data": row}]}) + "\n")
    return rows


def first_output(body: bytes) -> list[float]:
    data = json.loads(body)["outputs"][0]["data"]
    return [float(v) for v in (data if not isinstance(data[0], list) else sum(data, []))]


def run_server(key: str, model: Path, bodies_file: Path, row_check: bytes, client: Path,
               levels: list[tuple[int, int]], time_cap: float, reference: list[float] | None) -> dict:
    spec = SERVERS[key]
    venv = ensure_venv(spec.venv, spec.requirements)
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{key}-"))
    argv, extra_env, cwd = spec.command(venv, model, port, scratch)
    env = {**os.environ, **extra_env}
    log = open(scratch / "server.log", "wb")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    result: dict = {"server": spec.name, "key": key,
                    "versions": {p: pip_version(venv, p) for p in spec.version_packages}, "runs": []}
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{key} exited with {proc.returncode}; log in {scratch / 'server.log'}")
            try:
                if http("GET", f"{base}/v2/models/{MODEL_NAME}/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{key} not ready within {READY_TIMEOUT_S} s; log in {scratch / 'server.log'}")
            time.sleep(0.2)
        addresses = listening_addresses(proc.pid)
        if not addresses or not all(_is_loopback(a) for a in addresses):
            raise RuntimeError(f"{key} listens on {addresses}: loopback only")
        result["idle_rss_mib"] = rss_mib(proc.pid)
        status, body = http("POST", f"{base}/v2/models/{MODEL_NAME}/infer", row_check)
        if status != 200:
            raise RuntimeError(f"{key} answered {status}: {body[:300]!r}")
        answer = first_output(body)
        if reference is not None and not all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
                                             for a, b in zip(answer, reference, strict=True)):
            raise RuntimeError(f"{key} computes a different answer than our server")
        result["answer"] = answer
        url = f"{base}/v2/models/{MODEL_NAME}/infer"
        peak_rss = result["idle_rss_mib"]
        for concurrency, requests in levels:
            warm = subprocess.run([str(client), str(HERE / "loadgen.py"), "--url", url, "--body-file",
                                   str(bodies_file), "--requests", str(min(1000, requests)), "--concurrency",
                                   str(concurrency), "--time-cap", "30"], capture_output=True, text=True, timeout=120)
            if warm.returncode != 0:
                raise RuntimeError(f"warm-up failed: {warm.stderr[-500:]}")
            load = subprocess.run([str(client), str(HERE / "loadgen.py"), "--url", url, "--body-file",
                                   str(bodies_file), "--requests", str(requests), "--concurrency",
                                   str(concurrency), "--time-cap", str(time_cap)],
                                  capture_output=True, text=True, timeout=time_cap + 120)
            if load.returncode != 0:
                raise RuntimeError(f"load failed: {load.stderr[-500:]}")
            run = json.loads(load.stdout)
            run["rss_mib"] = rss_mib(proc.pid)
            peak_rss = max(peak_rss, run["rss_mib"])
            result["runs"].append(run)
            print(f"[bench] {key:18s} c={concurrency:<3d} {run['throughput_rps']:>9.1f} req/s  "
                  f"p50 {run['latency_ms']['p50']:.2f} ms  p99 {run['latency_ms']['p99']:.2f} ms  "
                  f"ok {run['ok']}/{run['responses']}  rss {run['rss_mib']} MiB", file=sys.stderr)
        result["peak_rss_mib"] = peak_rss
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        log.close()
    return result


def markdown(results: list[dict]) -> str:
    lines = ["| Server | Concurrency | Requests OK | Throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | RSS after run (MiB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        for run in r["runs"]:
            lat = run["latency_ms"]
            lines.append(f"| {r['server']} | {run['concurrency']} | {run['ok']}/{run['requests_sent']} | "
                         f"{run['throughput_rps']:.0f} | {lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | "
                         f"{run['rss_mib']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="ours,kserve,mlserver,mlserver-batching",
                        help=f"comma-separated, from {', '.join(SERVERS)}")
    parser.add_argument("--levels", default="1:3000,16:20000,64:20000",
                        help="concurrency:requests pairs, comma-separated")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per load run, at most")
    parser.add_argument("--model", type=Path, default=APP / "artifacts" / "model.onnx")
    parser.add_argument("--out", type=Path, default=CACHE.parent / "bench-server-results.json")
    parser.add_argument("--peers", choices=["triton"],
                        help="instead: ours vs Triton Inference Server on pinned cores, interleaved rounds "
                             "(bench/server/triton_peer.py --help; build first: bash bench/server/triton_build.sh)")
    args, rest = parser.parse_known_args()
    if args.peers == "triton":  # its own options (--rounds, --protocols, ...) pass through
        import triton_peer
        own = ["--model", str(args.model), "--levels", args.levels, "--time-cap", str(args.time_cap)]
        if args.out != parser.get_default("out"):
            own += ["--out", str(args.out)]
        return triton_peer.main([*rest, *own])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if not args.model.is_file():
        print(f"no model at {args.model}: run `cd app && python train.py --epochs 10` first", file=sys.stderr)
        return 2
    keys = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SERVERS]
    if unknown:
        print(f"unknown server(s) {unknown}; choose from {list(SERVERS)}", file=sys.stderr)
        return 2
    levels = [(int(c), int(n)) for c, n in (pair.split(":") for pair in args.levels.split(","))]

    client = ensure_venv("ours", APP / "requirements.txt") / "bin" / "python"  # has uvloop for the client
    scratch = Path(tempfile.mkdtemp(prefix="bench-bodies-"))
    bodies_file = scratch / "bodies.jsonl"
    rows = make_bodies(bodies_file)
    row_check = json.dumps({"id": "check", "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                                       "data": rows[0]}]}).encode()
    results: list[dict] = []
    reference = None
    for key in keys:
        result = run_server(key, args.model, bodies_file, row_check, client, levels, args.time_cap, reference)
        reference = reference or result["answer"]
        results.append(result)
    summary = {
        "date": time.strftime("%Y-%m-%d"), "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                       "python": platform.python_version(),
                                                       "cpu_model": _cpu_model()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "model": str(args.model),
        "model_sha256_12": hashlib.sha256(args.model.read_bytes()).hexdigest()[:12], "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print(markdown(results))
    print(f"\nresults: {args.out}", file=sys.stderr)
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
