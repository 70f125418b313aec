"""Server benchmark: the same ONNX model in our server, KServe's Python model server and MLServer.

    cd app && python train.py --epochs 10 && cd ..     # the model under test
    python bench/server/run.py                         # ~3 minutes after the first venv setup
    python bench/server/run.py --servers ours,ours-auth --pin \
        --workloads json:1,json:32,binary:1,binary:32,grpc:1,grpc:32      # protocols, auth on/off

    python bench/server/run.py --servers ours --client wrk --pin --repeat 3 \
        --workloads json:32,binary:32 --levels 1:2000,16:8000       # wrk as the REST client (apt-get install wrk)

A workload is PROTOCOL:ROWS: `json` (REST, JSON tensors), `binary` (REST, binary tensor data
extension), `grpc` (the protocol's gRPC service) with ROWS rows per request; a server runs the
workloads its `protocols` lists and skips the others. `ours-auth` is our server with API keys on
(every request carries the key). --pin runs each server on CPU 0 and the load client on CPU 1
(taskset), so a server's number is what one core gives.

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
import statistics
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
    print(f"[bench] creating {venv} from {requirements}", file=sys.stderr)
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree so far (/proc/PID/stat, clock ticks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


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
    """(venv, model path, port, scratch dir) -> (argv, extra env, cwd). For a `grpc` workload the
    extra env names the gRPC port as GRPC_PORT."""
    protocols: tuple[str, ...] = ("json",)
    """Workload protocols this server is measured with (json, binary, grpc)."""
    api_key: str | None = None
    """When set, the clients send it (`Authorization: Bearer`); the command must enable it."""


BENCH_API_KEY = "bench-" + "k" * 40


def _ours(venv: Path, model: Path, port: int, scratch: Path, *, auth: bool = False) -> tuple[list[str], dict, Path]:
    # Every limit at its default: the hardened server is what is measured.
    env = {"HOST": "127.0.0.1", "PORT": str(port), "GRPC_PORT": str(free_port()), "ADMIN_PORT": str(free_port()),
           "MODEL_DIR": str(model.parent), "LOG_LEVEL": "warning"}
    if auth:
        keys = scratch / "api-keys"
        keys.mkdir(exist_ok=True)
        (keys / "primary").write_text(BENCH_API_KEY)
        (keys / "secondary").write_text("bench-other-" + "s" * 40)
        env["API_KEYS_DIR"] = str(keys)
    return [str(venv / "bin" / "python"), "-m", "model_server"], env, APP


def _ours_auth(venv: Path, model: Path, port: int, scratch: Path) -> tuple[list[str], dict, Path]:
    return _ours(venv, model, port, scratch, auth=True)


def checkout_server(app: Path) -> Server:
    """Our server from another checkout's app/ directory (`--servers ours@DIR`), e.g. to measure a
    change against the code before it: `git archive main app | tar -x -C /tmp/main`, then ours@/tmp/main/app."""
    if not (app / "model_server").is_dir():
        raise SystemExit(f"{app} has no model_server/: give an app/ directory of a checkout")

    def command(venv: Path, model: Path, port: int, scratch: Path) -> tuple[list[str], dict, Path]:
        argv, env, _ = _ours(venv, model, port, scratch)
        return argv, env, app
    # The checkout's own requirements (an older one may need uvicorn), in a venv of their own.
    requirements = app / "requirements.txt"
    venv = "ours-" + hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    return Server(f"ours @ {app}", venv, requirements, ("onnxruntime", "uvicorn", "httptools"), command,
                  ("json", "binary", "grpc"))


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
                   ("onnxruntime", "httptools", "uvloop", "grpcio"), _ours, ("json", "binary", "grpc")),
    "ours-auth": Server("ours, API keys on", "ours", APP / "requirements.txt",
                        ("onnxruntime", "httptools", "uvloop", "grpcio"), _ours_auth, ("json", "binary", "grpc"),
                        api_key=BENCH_API_KEY),
    "kserve": Server("KServe ModelServer", "kserve", HERE / "requirements-kserve.txt",
                     ("kserve", "onnxruntime", "fastapi", "uvicorn"), _kserve),
    "mlserver": Server("MLServer", "mlserver", HERE / "requirements-mlserver.txt",
                       ("mlserver", "onnxruntime", "fastapi", "uvicorn"), _mlserver(False)),
    "mlserver-batching": Server("MLServer + adaptive batching", "mlserver", HERE / "requirements-mlserver.txt",
                                ("mlserver", "onnxruntime"), _mlserver(True)),
}


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def make_bodies(path: Path, count: int = 64, rows_per_request: int = 1) -> list[list[float]]:
    """`count` request bodies of `rows_per_request` digit-like rows each; returns the rows of the first ones."""
    rng = random.Random(20261125)
    rows = [[float(rng.randint(0, 16)) for _ in range(64)] for _ in range(count + rows_per_request)]
    with path.open("w") as f:
        for i in range(count):
            batch = rows[i:i + rows_per_request]
            f.write(json.dumps({"inputs": [{"name": "input", "shape": [rows_per_request, 64], "datatype": "FP32",
                                            "data": sum(batch, [])}]}) + "\n")
    return rows


def first_output(body: bytes) -> list[float]:
    data = json.loads(body)["outputs"][0]["data"]
    return [float(v) for v in (data if not isinstance(data[0], list) else sum(data, []))]


HTTP_CLIENT = {"name": "loadgen", "seconds": 5.0}
"""The REST load client (--client): loadgen.py (Python) or wrk (wrk_client.py), and wrk's run length."""


def _client_argv(client: Path, protocol: str, spec: Server, base: str, grpc_port: str | None, bodies: Path,
                 requests: int, concurrency: int, time_cap: float) -> list[str]:
    common = ["--body-file", str(bodies), "--requests", str(requests), "--concurrency", str(concurrency),
              "--time-cap", str(time_cap)]
    if protocol == "grpc":
        auth = ["--metadata", f"authorization=Bearer {spec.api_key}"] if spec.api_key else []
        return [str(client), str(HERE / "loadgen_grpc.py"), "--target", f"127.0.0.1:{grpc_port}", *common, *auth]
    auth = ["--header", f"Authorization: Bearer {spec.api_key}"] if spec.api_key else []
    binary = ["--binary"] if protocol == "binary" else []
    url = f"{base}/v2/models/{MODEL_NAME}/infer"
    if HTTP_CLIENT["name"] == "wrk":  # a fixed duration instead of a request count
        seconds = HTTP_CLIENT["seconds"] if requests > 1000 else 1
        return [str(client), str(HERE / "wrk_client.py"), "--url", url, "--body-file", str(bodies), "--concurrency",
                str(concurrency), "--seconds", str(min(seconds, time_cap)), *binary, *auth]
    return [str(client), str(HERE / "loadgen.py"), "--url", url, *common, *binary, *auth]


def _pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


def run_server(key: str, model: Path, workloads: list[tuple[str, int, Path]], row_check: bytes, client: Path,
               levels: list[tuple[int, int]], time_cap: float, reference: list[float] | None,
               server_cpu: int | None = None, client_cpu: int | None = None) -> dict:
    spec = SERVERS[key]
    venv = ensure_venv(spec.venv, spec.requirements)
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{key.replace('/', '_')}-"))
    argv, extra_env, cwd = spec.command(venv, model, port, scratch)
    env = {**os.environ, **extra_env}
    log = open(scratch / "server.log", "wb")
    proc = subprocess.Popen(_pinned(argv, server_cpu), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    result: dict = {"server": spec.name, "key": key,
                    "versions": {p: pip_version(venv, p) for p in spec.version_packages}, "runs": []}
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{key} exited with {proc.returncode}; log in {scratch / 'server.log'}")
            try:
                if http("GET", f"{base}/v2/models/{MODEL_NAME}/ready", timeout=2, headers=headers)[0] == 200:
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
        status, body = http("POST", f"{base}/v2/models/{MODEL_NAME}/infer", row_check, headers=headers)
        if status != 200:
            raise RuntimeError(f"{key} answered {status}: {body[:300]!r}")
        answer = first_output(body)
        if reference is not None and not all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
                                             for a, b in zip(answer, reference, strict=True)):
            raise RuntimeError(f"{key} computes a different answer than our server")
        result["answer"] = answer
        peak_rss = result["idle_rss_mib"]
        for protocol, rows, bodies_file in workloads:
            if protocol not in spec.protocols:
                print(f"[bench] {key}: no {protocol} workload (server speaks {', '.join(spec.protocols)})",
                      file=sys.stderr)
                continue
            for concurrency, requests in levels:
                grpc_port = extra_env.get("GRPC_PORT")
                warm_argv = _client_argv(client, protocol, spec, base, grpc_port, bodies_file, min(1000, requests),
                                         concurrency, 30)
                warm = subprocess.run(_pinned(warm_argv, client_cpu), capture_output=True, text=True, timeout=120)
                if warm.returncode != 0:
                    raise RuntimeError(f"warm-up failed: {warm.stderr[-500:]}")
                load_argv = _client_argv(client, protocol, spec, base, grpc_port, bodies_file, requests, concurrency,
                                         time_cap)
                cpu_before = cpu_seconds(proc.pid)
                load = subprocess.run(_pinned(load_argv, client_cpu), capture_output=True, text=True,
                                      timeout=time_cap + 120)
                if load.returncode != 0:
                    raise RuntimeError(f"load failed: {load.stderr[-500:]}")
                run = json.loads(load.stdout)
                # Server CPU per answered request: unlike req/s, barely moved by other load on the machine.
                cpu_us = (cpu_seconds(proc.pid) - cpu_before) / max(1, run["responses"]) * 1e6
                run.update({"protocol": protocol, "rss_mib": rss_mib(proc.pid), "server_cpu_us_per_request": round(cpu_us, 1)})
                peak_rss = max(peak_rss, run["rss_mib"])
                result["runs"].append(run)
                print(f"[bench] {key:18s} {protocol:6s} rows={rows:<3d} c={concurrency:<3d} "
                      f"{run['throughput_rps']:>9.1f} req/s {run['rows_per_s']:>10.1f} rows/s  "
                      f"p50 {run['latency_ms']['p50']:.2f} ms  p99 {run['latency_ms']['p99']:.2f} ms  "
                      f"cpu {cpu_us:.0f} us/req  ok {run['ok']}/{run['responses']}  rss {run['rss_mib']} MiB",
                      file=sys.stderr)
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
    lines = ["| Server | Protocol | Rows/request | Concurrency | Requests OK | Throughput (req/s) | Rows/s | p50 (ms) "
             "| p90 (ms) | p99 (ms) | Server CPU (us/req) | RSS after run (MiB) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        for run in r["runs"]:
            lat = run["latency_ms"]
            lines.append(f"| {r['server']} | {run.get('protocol', 'json')} | {run.get('rows_per_request', 1)} | "
                         f"{run['concurrency']} | {run['ok']}/{run['requests_sent']} | "
                         f"{run['throughput_rps']:.0f} | {run.get('rows_per_s', run['throughput_rps']):.0f} | "
                         f"{lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | "
                         f"{run.get('server_cpu_us_per_request', float('nan')):.0f} | {run['rss_mib']:.0f} |")
    return "\n".join(lines)


def medians(results: list[dict]) -> str:
    """Per server, protocol, rows and concurrency: the median of the repeated runs."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        for run in r["runs"]:
            key = (r["server"], run.get("protocol", "json"), run.get("rows_per_request", 1), run["concurrency"])
            groups.setdefault(key, []).append(run)
    lines = ["| Server | Protocol | Rows/request | Concurrency | Runs | Median req/s | Median rows/s | Median p50 (ms) "
             "| Median p99 (ms) | Median server CPU (us/req) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (server, protocol, rows, concurrency), runs in groups.items():
        lines.append(f"| {server} | {protocol} | {rows} | {concurrency} | {len(runs)} | "
                     f"{statistics.median(r['throughput_rps'] for r in runs):.0f} | "
                     f"{statistics.median(r.get('rows_per_s', r['throughput_rps']) for r in runs):.0f} | "
                     f"{statistics.median(r['latency_ms']['p50'] for r in runs):.2f} | "
                     f"{statistics.median(r['latency_ms']['p99'] for r in runs):.2f} | "
                     f"{statistics.median(r.get('server_cpu_us_per_request', float('nan')) for r in runs):.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="ours,kserve,mlserver,mlserver-batching",
                        help=f"comma-separated, from {', '.join(SERVERS)}, or ours@DIR (the app/ of another checkout)")
    parser.add_argument("--levels", default="1:3000,16:20000,64:20000",
                        help="concurrency:requests pairs, comma-separated")
    parser.add_argument("--workloads", default="json:1",
                        help="protocol:rows pairs, comma-separated; protocols json, binary, grpc")
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, load client on CPU 1 (taskset)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the whole server list this many times, interleaved (A, B, A, B, ...)")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per load run, at most")
    parser.add_argument("--model", type=Path, default=APP / "artifacts" / "model.onnx")
    parser.add_argument("--out", type=Path, default=CACHE.parent / "bench-server-results.json")
    parser.add_argument("--client", choices=["loadgen", "wrk"], default="loadgen",
                        help="REST load client: loadgen.py (Python, asyncio) or wrk (C; `apt-get install wrk`; "
                             "runs --wrk-seconds per level instead of a request count); gRPC always uses "
                             "loadgen_grpc.py")
    parser.add_argument("--wrk-seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--peers", choices=["triton"],
                        help="instead: ours vs Triton Inference Server on pinned cores, interleaved rounds "
                             "(bench/server/triton_peer.py --help; build first: bash bench/server/triton_build.sh)")
    args, rest = parser.parse_known_args()
    if args.peers == "triton":  # its own options (--rounds, --protocols, ...) pass through
        own = ["--model", str(args.model), "--levels", args.levels, "--time-cap", str(args.time_cap)]
        if args.out != parser.get_default("out"):
            own += ["--out", str(args.out)]
        # A process of its own, not an import: triton_peer imports this module for its helpers.
        return subprocess.call([sys.executable, str(HERE / "triton_peer.py"), *rest, *own])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    HTTP_CLIENT.update(name=args.client, seconds=args.wrk_seconds)
    if args.client == "wrk" and shutil.which("wrk") is None:
        print("--client wrk needs wrk: `apt-get install wrk` (Debian's wrk 4.1.0)", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"no model at {args.model}: run `cd app && python train.py --epochs 10` first", file=sys.stderr)
        return 2
    keys = [k.strip() for k in args.servers.split(",") if k.strip()]
    for key in keys:
        if key.startswith("ours@"):
            SERVERS[key] = checkout_server(Path(key[5:]))
    unknown = [k for k in keys if k not in SERVERS]
    if unknown:
        print(f"unknown server(s) {unknown}; choose from {list(SERVERS)}", file=sys.stderr)
        return 2
    levels = [(int(c), int(n)) for c, n in (pair.split(":") for pair in args.levels.split(","))]

    client = ensure_venv("ours", APP / "requirements.txt") / "bin" / "python"  # has uvloop for the client
    scratch = Path(tempfile.mkdtemp(prefix="bench-bodies-"))
    workloads = []
    for item in args.workloads.split(","):
        protocol, rows_text = item.strip().split(":")
        if protocol not in ("json", "binary", "grpc"):
            print(f"unknown protocol {protocol!r} in --workloads; use json, binary or grpc", file=sys.stderr)
            return 2
        bodies_file = scratch / f"bodies-{rows_text}.jsonl"
        if not bodies_file.exists():
            make_bodies(bodies_file, rows_per_request=int(rows_text))
        workloads.append((protocol, int(rows_text), bodies_file))
    rows = make_bodies(scratch / "bodies-check.jsonl")
    row_check = json.dumps({"id": "check", "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                                       "data": rows[0]}]}).encode()
    results: list[dict] = []
    reference = None
    for key in [k for _ in range(args.repeat) for k in keys]:
        result = run_server(key, args.model, workloads, row_check, client, levels, args.time_cap, reference,
                            *((0, 1) if args.pin else (None, None)))
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
    if args.repeat > 1:
        print("\n" + medians(results))
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
