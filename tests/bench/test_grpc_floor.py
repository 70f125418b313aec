"""bench/server/grpc_floor.py, wired end to end in a bounded run: the do-nothing gRPC servers answer every call
and each gets its CPU per call measured (the figure docs/benchmarks-server.md quotes as grpcio's floor)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_each_do_nothing_grpc_server_answers_every_call_and_gets_its_cpu_per_call() -> None:
    kinds = ["aio-unary", "aio-stream", "sync"]
    done = subprocess.run([sys.executable, str(REPO / "bench" / "server" / "grpc_floor.py"), "--calls", "60",
                           "--concurrency", "2", "--rounds", "1", "--servers", ",".join(kinds)],
                          capture_output=True, text=True, timeout=240, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["server"] for r in results] == kinds
    assert all(r["ok"] == 60 and r["cpu_us_per_call"] > 0 and r["req_per_s"] > 0 for r in results), results
