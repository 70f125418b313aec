"""The same closed-loop load as loadgen.py, sent by wrk (C, one thread) so the client does not cap the rate.

    apt-get install wrk          # Debian's wrk 4.1.0 (bench only: not needed by the tests or CI)
    python bench/server/wrk_client.py --url http://127.0.0.1:8080/v2/models/my-ai-model/infer \
        --body-file bodies.jsonl --concurrency 16 --seconds 5 [--binary] [--header "Authorization: Bearer KEY"]

loadgen.py is one Python process: at 32-row binary requests and 16 clients its core is the limit,
not the server's (the server's core was 71% busy). wrk keeps `--concurrency` keep-alive
connections on one thread, each sending its next request when the previous answer is in, for
`--seconds`. The requests are the ones loadgen.py sends, byte for byte (same bodies, the binary
extension's encoding, the same headers), pre-built here and cycled by wrk_requests.lua. Prints one
JSON object with loadgen.py's fields; statuses other than 2xx/3xx, and socket errors or timeouts,
are counted, so `ok` is only the 200s (our server sends no 3xx). Refuses any host but loopback.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from loadgen import _loopback_only, build_requests, rows_of  # noqa: E402 (path set above)

SCRIPT = HERE / "wrk_requests.lua"


def write_requests(path: Path, requests: list[bytes]) -> None:
    """The file wrk_requests.lua reads: a line of request lengths, then the requests back to back."""
    with path.open("wb") as f:
        f.write(" ".join(str(len(r)) for r in requests).encode() + b"\n")
        for request in requests:
            f.write(request)


def to_result(report: dict, rows: int, concurrency: int, seconds: float) -> dict:
    """wrk's report (from wrk_requests.lua's `done`) in loadgen.py's shape."""
    elapsed = report["duration_us"] / 1e6
    responses = report["requests"]
    failed_status = report["errors"]["status"]
    ok = responses - failed_status
    socket_errors = {k: v for k, v in report["errors"].items() if k != "status" and v}
    return {
        "client": "wrk", "requests_sent": responses, "responses": responses, "ok": ok,
        "statuses": {"200": ok, **({"4xx/5xx": failed_status} if failed_status else {})},
        "connection_errors": [f"{k}: {v}" for k, v in socket_errors.items()],
        "elapsed_s": round(elapsed, 3), "hit_time_cap": elapsed >= seconds,
        "throughput_rps": round(ok / elapsed, 1) if elapsed else 0.0,
        "rows_per_request": rows, "rows_per_s": round(ok * rows / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {name: round(report["latency_us"][name] / 1000, 3) for name in ("p50", "p90", "p99", "max")},
        "concurrency": concurrency,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, help="one JSON request body per line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--binary", action="store_true", help="use the binary tensor data extension")
    parser.add_argument("--header", action="append", default=[], help="extra request header, 'Name: value'")
    parser.add_argument("--wrk", default=os.environ.get("WRK", "wrk"))
    args = parser.parse_args()
    if shutil.which(args.wrk) is None:
        print(f"{args.wrk} not found: install it with `apt-get install wrk` (Debian's wrk 4.1.0)", file=sys.stderr)
        return 2
    parts = urlsplit(args.url)
    _loopback_only(parts.hostname)
    with open(args.body_file, "rb") as f:
        bodies = [line.strip() for line in f if line.strip()]
    with tempfile.TemporaryDirectory() as scratch:
        requests_file = Path(scratch) / "requests.bin"
        write_requests(requests_file, build_requests(args.url, bodies, args.binary, args.header))
        seconds = max(1, round(args.seconds))
        done = subprocess.run([args.wrk, "-t", "1", "-c", str(args.concurrency), "-d", f"{seconds}s",
                               "--timeout", "10s", "-s", str(SCRIPT), args.url],
                              env={**os.environ, "WRK_REQUESTS": str(requests_file)}, capture_output=True, text=True,
                              timeout=seconds + 60)
    if done.returncode != 0:
        print(done.stdout[-1000:], done.stderr[-1000:], file=sys.stderr)
        return 1
    report = json.loads(done.stdout[done.stdout.index("WRK_JSON ") + 9:].splitlines()[0])
    print(json.dumps(to_result(report, rows_of(bodies[0]), args.concurrency, seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
