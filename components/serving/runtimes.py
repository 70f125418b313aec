"""Serving runtimes as data: what the platform must know about a model server to run, watch, scale and judge it.

A `ServingRuntime` (KServe's ServingRuntime, as a typed profile) declares a server's ports, health paths, how it
is started, and how its own metrics map onto the platform's signals: requests, errors, a latency distribution,
in flight, queued, a series per loaded replica, and for LLM servers time to first token, inter-token latency,
tokens and KV-cache use. `ModelMonitoring`'s rules and dashboard, `ModelCanary`'s analysis and the pod autoscaler
are generated from the profile, so every runtime gets the same SLO machinery.

Three profiles ship: this repository's server (`MODEL_SERVER`, the default: its names live in
`server_contract`), vLLM's OpenAI-compatible server (`VLLM`) and NVIDIA Triton (`TRITON`). Every metric name,
label, port and path of the last two comes from the runtime's source at the version the profile pins
(`source`); tests/serving/runtimes/ keeps the series each one exposes, taken from that source, and the tests
drive the generated alerts with exactly those names. A team declares its own profile the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from . import server_contract as contract


@dataclass(frozen=True)
class Series:
    """One metric as a signal reads it: its name, the matchers narrowing it, and the label naming the model."""

    metric: str
    """The exposed name (a counter with its `_total` suffix when the client library adds one)."""
    matchers: tuple[tuple[str, str], ...] = ()
    """(label, `="value"` / `=~"regex"` / `!="value"`) pairs that narrow the series to what the signal counts."""
    model_label: Optional[str] = "model"
    """The label carrying the model's name; None when the series has none (one model per server)."""


@dataclass(frozen=True)
class Distribution:
    """A latency (or size) distribution: a Prometheus histogram, or a summary whose quantiles the server computes."""

    series: Series
    """The histogram's base name (without `_bucket`), or the summary's name."""
    kind: str = "histogram"
    """`histogram` (quantiles from `_bucket` over the query window) or `summary` (the server's own quantiles over
    its own sliding window: not aggregatable across replicas, so the highest replica's is taken)."""
    to_seconds: float = 1.0
    """Factor from the metric's unit to seconds (1e-6 for microseconds)."""


@dataclass(frozen=True)
class RuntimeSignals:
    """How a runtime's own metrics map onto the platform's signals; None: the runtime does not expose it."""

    requests: tuple[Series, ...]
    """Inference requests answered, summed over the tuple (a runtime counting successes and failures apart lists
    both). Every signal below is read from the same scrape target."""
    errors: Series
    """Inference requests the server failed (its fault, not the caller's): the error budget burns on these."""
    latency: Optional[Distribution] = None
    """Request latency: `ModelLatencyP99AboveSlo` and the canary's latency checks."""
    in_flight: Optional[Series] = None
    """Requests being executed now (gauge)."""
    queue_depth: Optional[Series] = None
    """Requests waiting to be executed (gauge): the scale signal when the server queues."""
    ready: Optional[Series] = None
    """A series present once per replica with a loaded model: its absence is `ModelDown`."""
    batch_size: Optional[Distribution] = None
    device_memory: Optional[Series] = None
    """Accelerator memory used, in bytes (gauge)."""
    status_label: Optional[str] = None
    """The label of `requests` holding the answer's status (the dashboard splits traffic by it)."""
    info_labels: tuple[str, ...] = ()
    """Labels of `ready` worth showing (version, device)."""
    device_label: Optional[str] = None
    """The label of `device_memory` naming the device."""
    # LLM servers
    time_to_first_token: Optional[Distribution] = None
    inter_token_latency: Optional[Distribution] = None
    prompt_tokens: Optional[Series] = None
    """Prompt tokens processed (counter)."""
    generation_tokens: Optional[Series] = None
    """Tokens generated (counter)."""
    kv_cache_usage: Optional[Series] = None
    """Share of the KV cache in use, 0..1 (gauge): the other LLM scale signal."""


@dataclass(frozen=True)
class ServingRuntime:
    """A model server as the platform knows it (ports, paths, start, metrics), pinned to one version."""

    name: str
    """Short name (`model-server`, `vllm`, `triton`): the dashboard's tag, the stack config's `runtime`."""
    version: str
    """The runtime's version every fact below was read at."""
    source: str
    """Where the facts come from: repository, tag or commit, files."""
    signals: RuntimeSignals
    http_port: int
    """Inference (and, without `admin_port`, metrics and health)."""
    grpc_port: Optional[int] = None
    admin_port: Optional[int] = None
    """Metrics and health only, when the server has a port for them."""
    health_on_admin: bool = True
    """The health paths are served on `admin_port` (False: on `http_port`, with metrics alone on `admin_port`)."""
    readiness_path: str = contract.READY_PATH
    liveness_path: str = contract.LIVE_PATH
    metrics_path: str = contract.METRICS_PATH
    command: Optional[tuple[str, ...]] = None
    """Entrypoint; None keeps the image's."""
    args: Optional[tuple[str, ...]] = None
    """Arguments, with `{model_name}`, `{model_dir}`, `{http_port}`, `{grpc_port}`, `{admin_port}` filled in by
    `start_args`; None keeps the image's."""
    inference_paths: tuple[str, ...] = ()
    """Paths of inference calls (documentation and the examples' load tests)."""
    llm: bool = False
    """Generates tokens: the LLM alerts, canary checks and dashboard row apply."""
    api_keys: Literal["files", "env", "none"] = "none"
    """How the server learns its accepted API keys (`ModelServiceArgs.api_keys`): `files`, one per key in a
    mounted Secret at `API_KEYS_DIR` (this repository's server); `env`, exactly one key in `api_key_env`, read from
    the Secret (`secretKeyRef`); `none`, it checks no key (api_keys are refused)."""
    api_key_env: Optional[str] = None
    """With `api_keys: env`, the variable the server reads its one key from."""
    exposed_series: tuple[str, ...] = field(default_factory=tuple)
    """File names under tests/serving/runtimes/ listing the series the pinned version exposes."""

    def start_args(self, model_name: str, model_dir: str = "", http_port: Optional[int] = None,
                   grpc_port: Optional[int] = None, admin_port: Optional[int] = None) -> Optional[list[str]]:
        """The container's args for this model and these ports (None: the image's own)."""
        if self.args is None:
            return None
        values = {"model_name": model_name, "model_dir": model_dir, "http_port": http_port or self.http_port,
                  "grpc_port": grpc_port or self.grpc_port, "admin_port": admin_port or self.admin_port}
        return [arg.format(**values) for arg in self.args]

    def metric_names(self) -> set[str]:
        """Every metric name the profile's signals query (each histogram's `_bucket`, `_sum` and `_count`)."""
        names: set[str] = set()
        for value in vars(self.signals).values():
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, Series):
                    names.add(item.metric)
                elif isinstance(item, Distribution):
                    base = item.series.metric
                    names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"} if item.kind == "histogram" else {base}
        return names


_INFER = (("route", f'=~"{contract.INFER_ROUTES}"'),)

MODEL_SERVER = ServingRuntime(
    name="model-server", version="this repository", source="app/README.md (Metrics contract), server_contract.py",
    signals=RuntimeSignals(
        requests=(Series(contract.REQUESTS_TOTAL, _INFER),),
        errors=Series(contract.REQUESTS_TOTAL, (*_INFER, ("status", '=~"5.."'))),
        latency=Distribution(Series(contract.REQUEST_DURATION, _INFER)),
        in_flight=Series(contract.IN_FLIGHT_REQUESTS),
        queue_depth=Series(contract.BATCH_QUEUE_DEPTH),
        ready=Series(contract.MODEL_INFO),
        batch_size=Distribution(Series(contract.BATCH_SIZE)),
        device_memory=Series(contract.GPU_MEMORY_USED, model_label=None),
        status_label="status", info_labels=("version", "device"), device_label="device",
    ),
    http_port=contract.DEFAULT_HTTP_PORT, grpc_port=contract.DEFAULT_GRPC_PORT, admin_port=contract.DEFAULT_ADMIN_PORT,
    inference_paths=("/v2/models/{model_name}/infer",), api_keys="files",
)
"""This repository's ONNX server (app/): the platform's defaults, unchanged."""

_VLLM_COMPLETIONS = (("handler", '=~"/v1/chat/completions|/v1/completions"'),)
_VLLM_MODEL = "model_name"

VLLM = ServingRuntime(
    name="vllm", version="0.34.0",
    source=("vllm 0.34.0 sdist (PyPI, sha256 fcad848b...0113): vllm/v1/metrics/loggers.py (PrometheusStatLogger: "
            "labels model_name, engine), vllm/entrypoints/serve/instrumentator/metrics.py (prometheus-fastapi-"
            "instrumentator, whose v8.0.2 metrics.py default() gives http_requests_total{method,status,handler} with "
            "status grouped as 2xx..5xx), instrumentator/health.py (/health), entrypoints/common/cli_args.py "
            "(port 8000), serve/middleware/register.py (--api-key, a list, else the one key of VLLM_API_KEY, checked "
            "on /v1 routes by serve/middleware/authenticate.py; envs.py reads VLLM_API_KEY as one string)"),
    signals=RuntimeSignals(
        # The OpenAI routes' HTTP answers: vLLM's own counters only count requests the engine finished.
        requests=(Series("http_requests_total", _VLLM_COMPLETIONS, model_label=None),),
        errors=Series("http_requests_total", (*_VLLM_COMPLETIONS, ("status", '="5xx"')), model_label=None),
        latency=Distribution(Series("vllm:e2e_request_latency_seconds", model_label=_VLLM_MODEL)),
        in_flight=Series("vllm:num_requests_running", model_label=_VLLM_MODEL),
        queue_depth=Series("vllm:num_requests_waiting", model_label=_VLLM_MODEL),
        ready=Series("vllm:num_requests_running", model_label=_VLLM_MODEL),
        time_to_first_token=Distribution(Series("vllm:time_to_first_token_seconds", model_label=_VLLM_MODEL)),
        inter_token_latency=Distribution(Series("vllm:inter_token_latency_seconds", model_label=_VLLM_MODEL)),
        prompt_tokens=Series("vllm:prompt_tokens_total", model_label=_VLLM_MODEL),
        generation_tokens=Series("vllm:generation_tokens_total", model_label=_VLLM_MODEL),
        kv_cache_usage=Series("vllm:kv_cache_usage_perc", model_label=_VLLM_MODEL),
        status_label="status",
    ),
    http_port=8000, readiness_path="/health", liveness_path="/health",
    command=("vllm", "serve"),
    # `--served-model-name` makes the model's name the `model_name` label the signals select.
    args=("{model_dir}", "--served-model-name", "{model_name}", "--host", "0.0.0.0", "--port", "{http_port}"),
    inference_paths=("/v1/chat/completions", "/v1/completions"),
    llm=True, exposed_series=("vllm-0.34.0.series.txt",),
    # One key, from the environment: `--api-key` would put the key in the pod spec's args, in plain text.
    api_keys="env", api_key_env="VLLM_API_KEY",
)
"""vLLM's OpenAI-compatible server (`vllm serve`): metrics and health on its one HTTP port."""

_TRITON_MODEL = "model"

TRITON = ServingRuntime(
    name="triton", version="2.51.0",
    source=("triton-inference-server/core src/metrics.cc, src/metric_model_reporter.cc (labels model, version; "
            "failure reason REJECTED|CANCELED|BACKEND|OTHER), snapshot 73aad7c; the series the tritonserver 2.51.0 "
            "binary of nvidia-pytriton 0.7.0 exposes, scraped in tests/serving/test_triton_e2e.py"),
    signals=RuntimeSignals(
        requests=(Series("nv_inference_request_success", model_label=_TRITON_MODEL),
                  Series("nv_inference_request_failure", model_label=_TRITON_MODEL)),
        # A request the client cancelled is not the server's failure.
        errors=Series("nv_inference_request_failure", (("reason", '!="CANCELED"'),), model_label=_TRITON_MODEL),
        # Triton keeps no request latency histogram (only the first response's, for decoupled models); its
        # summary's quantiles need `--metrics-config summary_latencies=true`, which `args` sets.
        latency=Distribution(Series("nv_inference_request_summary_us", model_label=_TRITON_MODEL), kind="summary",
                             to_seconds=1e-6),
        queue_depth=Series("nv_inference_pending_request_count", model_label=_TRITON_MODEL),
        ready=Series("nv_inference_request_success", model_label=_TRITON_MODEL),
        device_memory=Series("nv_gpu_memory_used_bytes", model_label=None),
        info_labels=("version",), device_label="gpu_uuid",
    ),
    http_port=8000, grpc_port=8001, admin_port=8002, health_on_admin=False,
    command=("tritonserver",),
    args=("--model-repository={model_dir}", "--http-port={http_port}", "--grpc-port={grpc_port}",
          "--metrics-port={admin_port}", "--metrics-config=summary_latencies=true"),
    inference_paths=("/v2/models/{model_name}/infer",),
    exposed_series=("triton-2.51.0.series.txt",),
)
"""NVIDIA Triton Inference Server: KServe v2 protocol on 8000/8001, metrics on 8002, health on the HTTP port."""

RUNTIMES: dict[str, ServingRuntime] = {r.name: r for r in (MODEL_SERVER, VLLM, TRITON)}
"""The shipped profiles by name (the stack config's `model.runtime`)."""
