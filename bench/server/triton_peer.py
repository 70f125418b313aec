"""Triton Inference Server as the peer to beat: our server against tritonserver, one pinned core each.

    cd app && python train.py --epochs 10 && cd ..     # the model under test
    bash bench/server/triton_build.sh                  # once: venv + Triton's ONNX Runtime backend
    python bench/server/run.py --peers triton          # or: python bench/server/triton_peer.py

Both servers run the same ONNX file with ONNX Runtime 1.31.1 (one intra-op thread), batches of at
most 32 rows, on 127.0.0.1 (checked), pinned with taskset to one core (--server-core); the load
clients run pinned to the other (--client-core). A round starts both servers, checks their answers
against ONNX Runtime, runs every scenario (protocol x rows per request x concurrency: a warm-up,
then the measured run) on one server right after the other, alternating which goes first, and
stops both; each number in the summary is the median of the rounds. Pairing runs this closely
matters on a shared machine, where the load from other processes changes from minute to minute.
The server's CPU time per request (from /proc, all threads) is reported too: unlike throughput it
barely depends on how much of the core other processes take. Scenarios a server does not support (it answers a probe
with an error) are reported as such, not measured. Prints Markdown tables and writes all runs as
JSON (--out).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import matrix_doc
import numpy as np
import run as bench  # bench/server/run.py: venvs, ports, /proc facts, the JSON request bodies
from triton_repo import write_model_repository

HERE = Path(__file__).resolve().parent
TRITON_CACHE = Path(os.environ.get("TRITON_CACHE", Path.home() / ".cache" / "gpu-model-platform" / "triton"))
TRITON_VENV = TRITON_CACHE / "venv"
TRITON_BACKENDS = TRITON_CACHE / "backends"
MODEL_NAME = bench.MODEL_NAME
PROTOCOLS = ("json", "binary", "grpc")
CLIENTS = ("own", "independent")
"""The two load clients of every scenario: the project's own (loadgen.py for REST, loadgen_grpc.py for gRPC,
Python on uvloop) and an independent one (wrk, C, for REST; tritonclient's gRPC client for gRPC)."""
WRK_SECONDS = 10.0
"""Length of a wrk run (it runs for a time, not a request count; at most --time-cap)."""


@dataclass(frozen=True)
class Scenario:
    protocol: str
    rows: int

    @property
    def label(self) -> str:
        return f"{self.protocol} {self.rows} row{'s' if self.rows > 1 else ''}"


@dataclass
class Running:
    """A started server: its process (the server itself: taskset execs it) and its ports."""
    key: str
    name: str
    proc: subprocess.Popen
    http_port: int
    grpc_port: int
    scratch: Path
    versions: dict = field(default_factory=dict)


def tritonserver() -> Path:
    found = list(TRITON_VENV.glob("lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver"))
    if not found or not (TRITON_BACKENDS / "onnxruntime" / "libtriton_onnxruntime.so").is_file():
        raise SystemExit(f"no Triton build under {TRITON_CACHE}: run `bash bench/server/triton_build.sh` first")
    return found[0]


def _start(key: str, name: str, argv: list[str], env: dict, cwd: Path, core: int, http_port: int, grpc_port: int,
           scratch: Path) -> Running:
    log = open(scratch / f"{key}.log", "wb")
    proc = subprocess.Popen(["taskset", "-c", str(core), *argv], cwd=cwd, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    server = Running(key, name, proc, http_port, grpc_port, scratch)
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + bench.READY_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{key} exited with {proc.returncode}; log in {scratch / f'{key}.log'}")
            try:
                if bench.http("GET", f"{base}/v2/models/{MODEL_NAME}/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{key} not ready within {bench.READY_TIMEOUT_S} s; log in {scratch / f'{key}.log'}")
            time.sleep(0.2)
        addresses = bench.listening_addresses(proc.pid)
        if not addresses or not all(bench._is_loopback(a) for a in addresses):
            raise RuntimeError(f"{key} listens on {addresses}: loopback only")
    except BaseException:
        stop(server)
        raise
    return server


def ours_python() -> Path:
    """The interpreter with app/requirements.txt: our server and the project's own load clients run on it."""
    return bench.ensure_venv("ours", bench.APP / "requirements.txt") / "bin" / "python"


def start_ours(model: Path, core: int, scratch: Path, python: Path) -> Running:
    http_port, grpc_port, admin_port = bench.free_port(), bench.free_port(), bench.free_port()
    # GRPC_PORT / ADMIN_PORT: the server's contract (docs: app/README.md); a server without gRPC ignores them.
    env = {"HOST": "127.0.0.1", "PORT": str(http_port), "GRPC_PORT": str(grpc_port), "ADMIN_PORT": str(admin_port),
           "MODEL_DIR": str(model.parent), "LOG_LEVEL": "warning", "ORT_DISABLE_TELEMETRY": "1"}
    server = _start("ours", "ours (app/model_server)", [str(python), "-m", "model_server"], env,
                    bench.APP, core, http_port, grpc_port, scratch)
    server.versions = {p: bench.pip_version(python.parents[1], p) for p in ("onnxruntime", "httptools", "uvloop",
                                                                            "grpcio")}
    return server


def start_triton(model: Path, core: int, scratch: Path, max_queue_delay_us: int) -> Running:
    binary = tritonserver()
    repository = scratch / "triton-models"
    shutil.rmtree(repository, ignore_errors=True)
    write_model_repository(model, repository, MODEL_NAME, max_queue_delay_us=max_queue_delay_us)
    http_port, grpc_port, metrics_port = bench.free_port(), bench.free_port(), bench.free_port()
    argv = [str(binary), "--model-repository", str(repository), "--backend-directory", str(TRITON_BACKENDS),
            "--disable-auto-complete-config", "--http-address", "127.0.0.1", "--http-port", str(http_port),
            "--grpc-address", "127.0.0.1", "--grpc-port", str(grpc_port),
            # Metrics stay on, like ours (it counts every request), on loopback.
            "--metrics-address", "127.0.0.1", "--metrics-port", str(metrics_port),
            "--allow-gpu-metrics", "false", "--log-info", "false", "--exit-timeout-secs", "5"]
    server = _start("triton", "Triton Inference Server", argv, {}, scratch, core, http_port, grpc_port, scratch)
    status, body = bench.http("GET", f"http://127.0.0.1:{http_port}/v2")
    server.versions = {"tritonserver": json.loads(body).get("version", "?") if status == 200 else "?",
                       **{p: bench.pip_version(TRITON_VENV, p) for p in ("nvidia-pytriton", "onnxruntime")}}
    if max_queue_delay_us:
        server.name += f" (max_queue_delay {max_queue_delay_us} us)"
    return server


def stop(server: Running) -> None:
    try:
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(server.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.proc.wait(timeout=10)


# --- payloads and answers ------------------------------------------------------------------------
@dataclass
class Payloads:
    rows: np.ndarray
    rows_file: Path
    json_files: dict[int, Path]
    reference: np.ndarray
    """ONNX Runtime's output for `rows`, computed in this process."""


def make_payloads(model: Path, scratch: Path, row_counts: list[int]) -> Payloads:
    import onnxruntime as ort

    rows = np.array(bench.make_bodies(scratch / "bodies-1.jsonl"), dtype=np.float32)  # 64 rows, run.py's seed
    rows_file = scratch / "rows.npy"
    np.save(rows_file, rows)
    json_files = {1: scratch / "bodies-1.jsonl"}
    for count in row_counts:
        if count == 1:
            continue
        path = scratch / f"bodies-{count}.jsonl"
        with path.open("w") as f:
            for i in range(64):
                x = np.take(rows, range(i * count, (i + 1) * count), axis=0, mode="wrap")
                f.write(json.dumps({"inputs": [{"name": "input", "shape": [count, 64], "datatype": "FP32",
                                                "data": x.reshape(-1).tolist()}]}) + "\n")
        json_files[count] = path
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"input": rows})[0]
    return Payloads(rows, rows_file, json_files, reference)


def _client(protocol: str, client: str, server: Running, payloads: Payloads, rows: int, requests: int,
            concurrency: int, time_cap: float, core: int, python: Path, probe: bool = False) -> dict:
    """One load run (or, `probe`, one checked request) of `client` against `server`; loadgen.py's JSON."""
    url = f"http://127.0.0.1:{server.http_port}/v2/models/{MODEL_NAME}/infer"
    bodies = str(payloads.json_files[rows])
    binary = ["--binary"] if protocol == "binary" else []
    if probe:
        tool = "probe-grpc" if protocol == "grpc" else "probe-http-binary"
        argv = [str(TRITON_VENV / "bin" / "python"), str(HERE / "triton_clients.py"), tool, "--url", url,
                "--target", f"127.0.0.1:{server.grpc_port}", "--model", MODEL_NAME,
                "--rows-file", str(payloads.rows_file), "--batch", str(rows)]
    elif client == "independent" and protocol != "grpc":  # wrk runs for a time, not a request count
        argv = [str(python), str(HERE / "wrk_client.py"), "--url", url, "--body-file", bodies, *binary,
                "--concurrency", str(concurrency), "--seconds", str(min(time_cap, WRK_SECONDS))]
    elif client == "independent":
        argv = [str(TRITON_VENV / "bin" / "python"), str(HERE / "triton_clients.py"), "grpc", "--target",
                f"127.0.0.1:{server.grpc_port}", "--model", MODEL_NAME, "--rows-file", str(payloads.rows_file),
                "--batch", str(rows)]
    elif protocol == "grpc":
        argv = [str(python), str(HERE / "loadgen_grpc.py"), "--target", f"127.0.0.1:{server.grpc_port}",
                "--model", MODEL_NAME, "--body-file", bodies]
    else:
        argv = [str(python), str(HERE / "loadgen.py"), "--url", url, "--body-file", bodies, *binary]
    if not probe and "wrk_client.py" not in argv[1]:
        argv += ["--requests", str(requests), "--concurrency", str(concurrency), "--time-cap", str(time_cap)]
    done = subprocess.run(["taskset", "-c", str(core), *argv], capture_output=True, text=True, timeout=time_cap + 120)
    if done.returncode != 0:
        raise RuntimeError(f"{protocol} {client} client failed: {done.stderr[-800:]}")
    return json.loads(done.stdout)


def check(server: Running, scenario: Scenario, payloads: Payloads, core: int) -> str | None:
    """None when the server answers this scenario correctly; else why not (unsupported or wrong)."""
    want = payloads.reference[:scenario.rows]
    if scenario.protocol == "json":
        body = json.dumps({"id": "check", "inputs": [{"name": "input", "shape": [scenario.rows, 64], "datatype": "FP32",
                                                      "data": payloads.rows[:scenario.rows].reshape(-1).tolist()}]})
        status, answer = bench.http("POST", f"http://127.0.0.1:{server.http_port}/v2/models/{MODEL_NAME}/infer",
                                    body.encode())
        if status != 200:
            return f"HTTP {status}: {answer[:200]!r}"
        got = np.array(bench.first_output(answer), dtype=np.float32)
    else:
        probe = _client(scenario.protocol, "independent", server, payloads, scenario.rows, 1, 1, 30, core,
                        Path(sys.executable), probe=True)
        if probe["status"] != 200:
            return f"{scenario.protocol}: {probe['status']} {probe.get('error', '')[:200]}"
        got = np.array(probe["output"], dtype=np.float32)
    if got.size != want.size or not np.allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-7):
        return f"answer differs from ONNX Runtime's: {got.reshape(-1)[:4]} vs {want.reshape(-1)[:4]}"
    return None


def measure(server: Running, scenario: Scenario, client: str, concurrency: int, requests: int, payloads: Payloads,
            time_cap: float, client_core: int, python: Path) -> dict:
    """A warm-up, then one measured run, with the server's CPU time over the measured run."""
    _client(scenario.protocol, "own", server, payloads, scenario.rows, min(1000, requests), concurrency, 30,
            client_core, python)
    cpu_before = cpu_seconds(server.proc.pid)
    run = _client(scenario.protocol, client, server, payloads, scenario.rows, requests, concurrency, time_cap,
                  client_core, python)
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    run.update({"protocol": scenario.protocol, "rows": scenario.rows, "client": client,
                "rss_mib": bench.rss_mib(server.proc.pid), "server_cpu_s": round(cpu, 3),
                "loadavg_1m": os.getloadavg()[0],
                "server_cpu_us_per_request": round(cpu / run["ok"] * 1e6, 1) if run["ok"] else None})
    print(f"[triton_peer] {server.key:6s} {scenario.label:14s} {client:11s} c={concurrency:<3d} "
          f"{run['throughput_rps']:>9.1f} req/s  p50 {run['latency_ms']['p50']:.2f} ms  "
          f"p99 {run['latency_ms']['p99']:.2f} ms  ok {run['ok']}/{run['responses']}  "
          f"cpu {run['server_cpu_us_per_request']} us/req  load {run['loadavg_1m']:.1f}", file=sys.stderr)
    return run


def run_round(servers: list[Running], scenarios: list[Scenario], levels: list[tuple[int, int]], payloads: Payloads,
              time_cap: float, client_core: int, number: int, clients: list[str], python: Path) -> list[dict]:
    """Both servers are up (pinned to the same core, the idle one costs nothing); every scenario and
    concurrency runs on one right after the other, so each pair of runs sees the same machine load."""
    results = [{"server": s.name, "key": s.key, "round": number, "versions": s.versions,
                "idle_rss_mib": bench.rss_mib(s.proc.pid), "unsupported": {}, "runs": []} for s in servers]
    for scenario in scenarios:
        able = []
        for server, result in zip(servers, results, strict=True):
            problem = check(server, scenario, payloads, client_core)
            if problem:
                result["unsupported"][scenario.label] = problem
                print(f"[triton_peer] {server.key:6s} {scenario.label:14s} not measured: {problem}", file=sys.stderr)
            else:
                able.append((server, result))
        turn = 0
        for concurrency, requests in levels:
            for client in clients:
                for server, result in (able if turn % 2 == 0 else able[::-1]):
                    result["runs"].append(measure(server, scenario, client, concurrency, requests, payloads, time_cap,
                                                  client_core, python))
                turn += 1
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree, all threads (from /proc/<pid>/stat)."""
    total = 0
    for p in bench.process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


# --- summary -------------------------------------------------------------------------------------
def _key(run: dict) -> tuple[str, int, int, str]:
    return run["protocol"], run["rows"], run["concurrency"], run.get("client", "own")


def medians(rounds: list[dict], key: str) -> dict[tuple[str, int, int, str], dict]:
    """Per scenario and concurrency: median throughput and p99 over this server's rounds."""
    grouped: dict[tuple[str, int, int, str], list[dict]] = {}
    for result in rounds:
        if result["key"] == key:
            for run in result["runs"]:
                grouped.setdefault(_key(run), []).append(run)
    def median(values) -> float | None:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    return {k: {"throughput_rps": median(r["throughput_rps"] for r in runs),
                "p99_ms": median(r["latency_ms"]["p99"] for r in runs),
                "cpu_us_per_request": median(r.get("server_cpu_us_per_request") for r in runs),
                "rounds": len(runs)} for k, runs in grouped.items()}


def paired_ratios(rounds: list[dict], ours: str = "ours", peer: str = "triton") -> dict[tuple[str, int, int, str], float]:
    """Per scenario and concurrency: the median over rounds of peer/ours throughput within the round."""
    by_round: dict[tuple[int, str], dict] = {(r["round"], r["key"]): {_key(run): run for run in r["runs"]}
                                             for r in rounds}
    ratios: dict[tuple[str, int, int, str], list[float]] = {}
    for (number, key), runs in by_round.items():
        if key != ours:
            continue
        for k, run in runs.items():
            other = by_round.get((number, peer), {}).get(k)
            if other and run["throughput_rps"]:
                ratios.setdefault(k, []).append(other["throughput_rps"] / run["throughput_rps"])
    return {k: statistics.median(v) for k, v in ratios.items()}


def markdown(rounds: list[dict], ours: str = "ours", peer: str = "triton") -> str:
    lines = ["| Round | Server | Protocol | Rows/request | Concurrency | Client | Requests OK | req/s | rows/s "
             "| p50 (ms) | p99 (ms) | server CPU (us/req) | load (1 min) | RSS (MiB) |",
             "| ---: | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for result in rounds:
        for run in result["runs"]:
            lat = run["latency_ms"]
            lines.append(f"| {result['round']} | {result['key']} | {run['protocol']} | {run['rows']} | "
                         f"{run['concurrency']} | {run.get('client', 'own')} | {run['ok']}/{run['requests_sent']} | "
                         f"{run['throughput_rps']:.0f} | "
                         f"{run['throughput_rps'] * run['rows']:.0f} | {lat['p50']:.2f} | {lat['p99']:.2f} | "
                         f"{_fmt(run.get('server_cpu_us_per_request'))} | {_fmt(run.get('loadavg_1m'), '.1f')} | "
                         f"{run['rss_mib']:.0f} |")
    a, b, paired = medians(rounds, ours), medians(rounds, peer), paired_ratios(rounds, ours, peer)
    lines += ["", f"| Protocol | Rows/request | Concurrency | Client | {ours} req/s | {peer} req/s | {peer} / {ours} "
              f"| same, paired by round | {ours} p99 (ms) | {peer} p99 (ms) | {ours} CPU (us/req) | {peer} CPU (us/req) |",
              "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k in sorted(set(a) | set(b), key=lambda k: (PROTOCOLS.index(k[0]), k[1], k[2], k[3])):
        x, y = a.get(k, {}), b.get(k, {})
        ratio = (f"{y['throughput_rps'] / x['throughput_rps']:.2f}x"
                 if x.get("throughput_rps") and y.get("throughput_rps") else "-")
        pair = f"{paired[k]:.2f}x" if k in paired else "-"
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {_fmt(x.get('throughput_rps'))} | "
                     f"{_fmt(y.get('throughput_rps'))} | {ratio} | {pair} | {_fmt(x.get('p99_ms'), '.2f')} | "
                     f"{_fmt(y.get('p99_ms'), '.2f')} | {_fmt(x.get('cpu_us_per_request'))} | "
                     f"{_fmt(y.get('cpu_us_per_request'))} |")
    return "\n".join(lines)


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def compare(*, model: Path, levels: list[tuple[int, int]], time_cap: float, rounds: int, protocols: list[str],
            row_counts: list[int], server_core: int, client_core: int, max_queue_delay_us: int, out: Path,
            clients: list[str], python: Path | None, peer: str, doc: Path | None) -> int:
    if not model.is_file():
        print(f"no model at {model}: run `cd app && python train.py --epochs 10` first", file=sys.stderr)
        return 2
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        print("needs taskset and at least two CPUs (one for the server, one for the clients)", file=sys.stderr)
        return 2
    if "independent" in clients and set(protocols) - {"grpc"} and shutil.which("wrk") is None:
        print("the independent REST client is wrk: `apt-get install wrk` (Debian's wrk 4.1.0)", file=sys.stderr)
        return 2
    if peer == "triton":
        tritonserver()
    python = python or ours_python()
    started = time.time()
    load_at_start = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-triton-"))
    payloads = make_payloads(model, scratch, row_counts)
    scenarios = [Scenario(p, r) for p in protocols for r in row_counts]
    results: list[dict] = []
    for number in range(1, rounds + 1):
        servers: list[Running] = []
        try:
            servers.append(start_ours(model, server_core, scratch, python))
            if peer == "triton":
                servers.append(start_triton(model, server_core, scratch, max_queue_delay_us))
            if number % 2 == 0:  # alternate which server goes first
                servers.reverse()
            results += run_round(servers, scenarios, levels, payloads, time_cap, client_core, number, clients, python)
        finally:
            for server in servers:
                stop(server)
    summary = {
        "date": time.strftime("%Y-%m-%d"), "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": matrix_doc.commit(bench.REPO), "duration_s": round(time.time() - started),
        "machine": {"cpus": os.cpu_count(), "cpu_model": bench._cpu_model(), "server_core": server_core,
                    "client_core": client_core},
        "model": str(model), "model_sha256_12": hashlib.sha256(model.read_bytes()).hexdigest()[:12],
        "triton_max_queue_delay_us": max_queue_delay_us, "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg(), "rounds": results,
        "medians": {k: {"|".join(map(str, s)): v for s, v in medians(results, k).items()} for k in ("ours", "triton")},
        "paired_ratios_triton_over_ours": {"|".join(map(str, s)): v for s, v in paired_ratios(results).items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    table = markdown(results)
    print(table)
    if doc is not None:
        matrix_doc.write_section(doc, matrix_doc.section(summary, table))
        print(f"table written into {doc}", file=sys.stderr)
    print(f"\nresults: {out}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=bench.APP / "artifacts" / "model.onnx")
    p.add_argument("--levels", default="1:3000,16:20000,64:20000", help="concurrency:requests pairs, comma-separated")
    p.add_argument("--time-cap", type=float, default=30.0, help="seconds per measured run, at most")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the summary takes medians")
    p.add_argument("--protocols", default="json,binary,grpc", help=f"comma-separated, from {', '.join(PROTOCOLS)}")
    p.add_argument("--rows", default="1,32", help="rows per request, comma-separated")
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    p.add_argument("--max-queue-delay-us", type=int, default=0, help="Triton's dynamic batching delay (see triton_repo.py)")
    p.add_argument("--out", type=Path, default=bench.CACHE.parent / "bench-triton-results.json")
    p.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated, from {', '.join(CLIENTS)}")
    p.add_argument("--python", type=Path, help="interpreter with app/requirements.txt for our server and our "
                   "load clients (default: a virtualenv made from that file)")
    p.add_argument("--peer", choices=["triton", "none"], default="triton", help="none: our server alone")
    p.add_argument("--doc", type=Path, default=matrix_doc.DOC,
                   help="Markdown file whose results section is replaced by the tables ('-': none)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    if unknown := [p for p in protocols if p not in PROTOCOLS]:
        print(f"unknown protocol(s) {unknown}; choose from {list(PROTOCOLS)}", file=sys.stderr)
        return 2
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if unknown := [c for c in clients if c not in CLIENTS]:
        print(f"unknown client(s) {unknown}; choose from {list(CLIENTS)}", file=sys.stderr)
        return 2
    levels = [(int(c), int(n)) for c, n in (pair.split(":") for pair in args.levels.split(","))]
    return compare(model=args.model, levels=levels, time_cap=args.time_cap, rounds=args.rounds, protocols=protocols,
                   row_counts=[int(r) for r in args.rows.split(",")], server_core=args.server_core,
                   client_core=args.client_core, max_queue_delay_us=args.max_queue_delay_us, out=args.out,
                   clients=clients, python=args.python, peer=args.peer,
                   doc=None if str(args.doc) == "-" else args.doc)


if __name__ == "__main__":
    sys.exit(main())
