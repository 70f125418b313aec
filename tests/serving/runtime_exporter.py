"""A stand-in for one pod of vLLM or Triton on 127.0.0.1: its /metrics, as that runtime names and labels them.

No GPU here, so vLLM cannot run; what runs is a server exposing the series vLLM 0.34.0 (or Triton 2.51.0) exposes,
every name and label checked against tests/serving/runtimes/ before it is served, with values that follow a
behaviour (requests per second, share failing, time to first token, gap between tokens, request latency) as
time passes. Counters grow from the start, histograms put every observation in the first bucket that holds it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from components.serving.runtimes import TRITON, VLLM, ServingRuntime

# vllm/v1/metrics/buckets.py (0.34.0): a subset of each default, as prometheus_client prints them.
TTFT_BUCKETS = ("0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0", "+Inf")
ITL_BUCKETS = ("0.01", "0.025", "0.05", "0.075", "0.1", "0.15", "0.2", "0.3", "+Inf")
E2E_BUCKETS = ("0.3", "0.5", "0.8", "1.0", "1.5", "2.0", "2.5", "5.0", "+Inf")
TOKENS_PER_REQUEST = 50


@dataclass(frozen=True)
class Behaviour:
    requests_per_second: float = 20.0
    """0: idle (no request ever)."""
    error_share: float = 0.0
    ttft_seconds: float = 0.2
    itl_seconds: float = 0.02
    latency_seconds: float = 1.2


def _histogram(name: str, labels: str, buckets: tuple[str, ...], value: float, count: int) -> list[str]:
    lines = [f'{name}_bucket{{{labels},le="{le}"}} {count if le == "+Inf" or float(le) >= value else 0}'
             for le in buckets]
    return lines + [f"{name}_sum{{{labels}}} {value * count}", f"{name}_count{{{labels}}} {count}"]


def vllm_series(model: str, b: Behaviour, elapsed: float) -> list[str]:
    total = int(b.requests_per_second * elapsed)
    failed = int(total * b.error_share)
    engine = f'model_name="{model}",engine="0"'
    lines = [f"vllm:num_requests_running{{{engine}}} {1 if total else 0}", f"vllm:num_requests_waiting{{{engine}}} 0",
             f"vllm:kv_cache_usage_perc{{{engine}}} 0.1", f"vllm:generation_tokens_total{{{engine}}} "
             f"{(total - failed) * TOKENS_PER_REQUEST}", f"vllm:prompt_tokens_total{{{engine}}} {total * 20}"]
    lines += _histogram("vllm:time_to_first_token_seconds", engine, TTFT_BUCKETS, b.ttft_seconds, total - failed)
    lines += _histogram("vllm:inter_token_latency_seconds", engine, ITL_BUCKETS, b.itl_seconds,
                        (total - failed) * (TOKENS_PER_REQUEST - 1))
    lines += _histogram("vllm:e2e_request_latency_seconds", engine, E2E_BUCKETS, b.latency_seconds, total - failed)
    if total:  # prometheus-fastapi-instrumentator creates a label set at its first request
        chat = 'handler="/v1/chat/completions",method="POST"'
        lines.append(f'http_requests_total{{{chat},status="2xx"}} {total - failed}')
        if failed:
            lines.append(f'http_requests_total{{{chat},status="5xx"}} {failed}')
    return lines


def triton_series(model: str, b: Behaviour, elapsed: float) -> list[str]:
    total = int(b.requests_per_second * elapsed)
    failed = int(total * b.error_share)
    labels = f'model="{model}",version="1"'
    lines = [f"nv_inference_request_success{{{labels}}} {total - failed}",
             f"nv_inference_pending_request_count{{{labels}}} 0"]
    lines += [f'nv_inference_request_failure{{model="{model}",reason="{r}",version="1"}} '
              f'{failed if r == "BACKEND" else 0}' for r in ("OTHER", "CANCELED", "BACKEND", "REJECTED")]
    if total:
        micros = int(b.latency_seconds * 1e6)
        lines += [f'nv_inference_request_summary_us{{{labels},quantile="{q}"}} {micros}'
                  for q in ("0.5", "0.9", "0.95", "0.99", "0.999")]
    return lines


SERIES = {VLLM.name: vllm_series, TRITON.name: triton_series}


def metric_of(line: str) -> tuple[str, set[str]]:
    name, _, rest = line.partition("{")
    labels = {part.split("=")[0] for part in rest.rsplit("}", 1)[0].split('",') if "=" in part}
    return name, labels


class RuntimeExporter:
    """One pod's /metrics on a free port of 127.0.0.1 until `stop()`."""

    def __init__(self, runtime: ServingRuntime, model: str, behaviour: Behaviour,
                 exposed: dict[str, set[str]]):
        self.runtime, self.model, self.behaviour, self.started = runtime, model, behaviour, time.monotonic()
        for line in self.text().splitlines():  # a name or label the pinned version does not expose fails here
            name, labels = metric_of(line)
            assert name in exposed and labels - {"le", "quantile"} <= exposed[name] | set(), line
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = exporter.text().encode()
                self.send_response(200 if self.path == exporter.runtime.metrics_path else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def text(self) -> str:
        lines = SERIES[self.runtime.name](self.model, self.behaviour, time.monotonic() - self.started)
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
