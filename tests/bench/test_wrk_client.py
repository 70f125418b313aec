"""The wrk load client sends loadgen.py's exact requests and counts only 200s as answered."""
from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH_SERVER = str(Path(__file__).resolve().parents[2] / "bench" / "server")
if BENCH_SERVER not in sys.path:  # the benchmark scripts import their neighbours by module name
    sys.path.insert(0, BENCH_SERVER)

import loadgen  # noqa: E402 (needs the path above)
import wrk_client  # noqa: E402

BODY = json.dumps({"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).encode()
URL = "http://127.0.0.1:9/v2/models/m/infer"


def test_the_requests_file_holds_loadgens_binary_requests_byte_for_byte(tmp_path: Path) -> None:
    requests = loadgen.build_requests(URL, [BODY, BODY.replace(b"4]", b"5]")], binary=True)
    path = tmp_path / "requests.bin"
    wrk_client.write_requests(path, requests)
    lengths, rest = path.read_bytes().split(b"\n", 1)
    sizes = [int(n) for n in lengths.split()]
    assert sizes == [len(r) for r in requests]
    assert [rest[:sizes[0]], rest[sizes[0]:]] == requests
    assert b"Inference-Header-Content-Length: " in requests[0] and requests[0].endswith(b"\x00\x00\x80@")


def test_statuses_other_than_2xx_and_socket_errors_are_not_counted_as_answered() -> None:
    report = {"requests": 1000, "duration_us": 2_000_000,
              "errors": {"connect": 0, "read": 1, "write": 0, "status": 10, "timeout": 2},
              "latency_us": {"p50": 1500, "p90": 2500, "p99": 4000, "max": 9000}}
    result = wrk_client.to_result(report, rows=32, concurrency=16, seconds=2)
    assert (result["ok"], result["responses"], result["statuses"]) == (990, 1000, {"200": 990, "4xx/5xx": 10})
    assert result["throughput_rps"] == 495.0 and result["rows_per_s"] == 495.0 * 32
    assert result["connection_errors"] == ["read: 1", "timeout: 2"]
    assert result["latency_ms"] == {"p50": 1.5, "p90": 2.5, "p99": 4.0, "max": 9.0}
