"""Server settings, read once from environment variables (the Kubernetes Deployment sets them).

Every variable has a default; an invalid value stops the server at start with a message that
names the variable, the value and what is allowed. app/README.md documents each one.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .artifacts import MODEL_FILE

T = TypeVar("T")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # one URL path segment, no escaping needed


class ConfigError(ValueError):
    """One or more environment variables are invalid; the message lists every problem."""


@dataclass(frozen=True)
class Settings:
    port: int = 8080
    """Public port: inference and health, never /metrics."""
    host: str = "0.0.0.0"
    grpc_port: int = 8081
    """Open Inference Protocol gRPC; 0 turns gRPC off."""
    admin_port: int = 8082
    """Metrics and health only (probes, Prometheus); never inference."""
    api_keys_dir: Path | None = None
    """Each non-empty regular file holds one accepted API key; None turns authentication off."""
    model_name: str = "my-ai-model"
    model_version: str | None = None
    """None: take the version from metadata.json (or the model file's content hash)."""
    model_dir: Path = Path("artifacts")
    """The image sets MODEL_DIR=/models; `artifacts` suits `cd app && python -m model_server`."""
    max_batch_size: int = 32
    batch_window_ms: float = 2.0
    max_request_bytes: int = 1024 * 1024
    drain_timeout_seconds: float = 25.0
    drain_delay_seconds: float = 0.0
    """After SIGTERM, keep accepting new connections this long (readiness already failing)."""
    max_connections: int = 1000
    """Open public HTTP connections at most (capped below the process's file descriptor limit at start)."""
    max_concurrent_requests: int = 256
    """Inference requests (HTTP and gRPC) admitted (body complete), queued or run at once; more get 503 + Retry-After."""
    max_queue_size: int = 128
    """Requests waiting in the batcher at most; more get 503 + Retry-After."""
    queue_timeout_ms: float = 2000.0
    """A request still queued this long when its batch would start is answered 503 instead."""
    max_header_bytes: int = 16384
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    keep_alive_timeout_seconds: float = 75.0
    retry_after_seconds: int = 1
    log_level: str = "info"
    intra_op_threads: int = 1
    """ONNX Runtime CPU threads per inference. One leaves the other core to the event loop."""
    test_inference_delay_ms: float = 0.0
    """Test-only: sleep this long before every inference, to hold requests in flight deterministically."""
    # --- observability (request log and traces: request_log.py, tracing.py) ---
    request_log: bool = True
    """One JSON line per answered request on stdout (successful probes and scrapes excepted)."""
    otlp_endpoint: str | None = None
    """OTLP gRPC endpoint of the OpenTelemetry Collector; None: no tracing at all."""
    trace_sample_ratio: float = 0.05
    """Share of new traces kept (a caller's sampling decision always wins)."""

    @property
    def model_path(self) -> Path:
        return self.model_dir / MODEL_FILE


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value
    parse.expects = f"an integer from {low} to {high}"  # type: ignore[attr-defined]
    return parse


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text.strip())
        if not low <= value <= high:  # also rejects nan
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return value
    parse.expects = f"a number from {low:g} to {high:g}"  # type: ignore[attr-defined]
    return parse


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def _model_name(text: str) -> str:
    if not _MODEL_NAME_RE.match(text):
        raise ValueError("must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
    return text


def _log_level(text: str) -> str:
    if text.strip().lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (any case)")
    return text.strip().lower()


def _keys_dir(text: str) -> Path:
    path = Path(_non_empty(text))
    if not path.is_dir():
        raise ValueError("must be a directory (a mounted Secret with one API key per file)")
    return path


def _model_dir(text: str) -> Path:
    path = Path(_non_empty(text))
    if not (path / MODEL_FILE).is_file():
        raise ValueError(f"must be a directory containing {MODEL_FILE} (not found: {path / MODEL_FILE})")
    return path


def _on_off(text: str) -> bool:
    if text.strip().lower() not in ("on", "off"):
        raise ValueError("must be on or off")
    return text.strip().lower() == "on"


def _url(text: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?/?", text.strip()):
        raise ValueError("must be http(s)://host:port of an OTLP gRPC receiver, such as http://otel-collector:4317")
    return text.strip()


_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    # env var: (Settings field, parser)
    "PORT": ("port", _integer(1, 65535)),
    "GRPC_PORT": ("grpc_port", _integer(0, 65535)),
    "ADMIN_PORT": ("admin_port", _integer(1, 65535)),
    "HOST": ("host", _non_empty),
    "API_KEYS_DIR": ("api_keys_dir", _keys_dir),
    "MODEL_NAME": ("model_name", _model_name),
    "MODEL_VERSION": ("model_version", _non_empty),
    "MODEL_DIR": ("model_dir", _model_dir),
    "MAX_BATCH_SIZE": ("max_batch_size", _integer(1, 4096)),
    "BATCH_WINDOW_MS": ("batch_window_ms", _number(0, 1000)),
    "MAX_REQUEST_BYTES": ("max_request_bytes", _integer(1024, 1024 ** 3)),
    "DRAIN_TIMEOUT_SECONDS": ("drain_timeout_seconds", _number(0, 3600)),
    "DRAIN_DELAY_SECONDS": ("drain_delay_seconds", _number(0, 3600)),
    "MAX_CONNECTIONS": ("max_connections", _integer(1, 1_000_000)),
    "MAX_CONCURRENT_REQUESTS": ("max_concurrent_requests", _integer(1, 1_000_000)),
    "MAX_QUEUE_SIZE": ("max_queue_size", _integer(1, 1_000_000)),
    "QUEUE_TIMEOUT_MS": ("queue_timeout_ms", _number(1, 3_600_000)),
    "MAX_HEADER_BYTES": ("max_header_bytes", _integer(1024, 1024 ** 2)),
    "HEADER_TIMEOUT_SECONDS": ("header_timeout_seconds", _number(0.1, 3600)),
    "BODY_TIMEOUT_SECONDS": ("body_timeout_seconds", _number(0.1, 3600)),
    "KEEP_ALIVE_TIMEOUT_SECONDS": ("keep_alive_timeout_seconds", _number(0.1, 3600)),
    "RETRY_AFTER_SECONDS": ("retry_after_seconds", _integer(0, 3600)),
    "LOG_LEVEL": ("log_level", _log_level),
    "INTRA_OP_THREADS": ("intra_op_threads", _integer(1, 256)),
    "TEST_INFERENCE_DELAY_MS": ("test_inference_delay_ms", _number(0, 60_000)),
    "REQUEST_LOG": ("request_log", _on_off),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("otlp_endpoint", _url),
    "OTEL_TRACES_SAMPLER_ARG": ("trace_sample_ratio", _number(0, 1)),
}
ENV_VARS = tuple(_PARSERS)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from `environ`; unset variables keep their defaults. Raises ConfigError naming each bad variable."""
    values: dict[str, object] = {}
    problems: list[str] = []
    for var, (field_name, parse) in _PARSERS.items():
        if var not in environ:
            continue
        raw = environ[var]
        try:
            values[field_name] = parse(raw)
        except ValueError as exc:
            reason = str(exc) if not str(exc).startswith(("invalid literal", "could not convert")) else \
                f"must be {getattr(parse, 'expects', 'valid')}"
            problems.append(f"{var}={raw!r}: {reason}")
    if "model_dir" not in values and "MODEL_DIR" not in environ:
        default_dir = Settings.model_dir
        if not (default_dir / MODEL_FILE).is_file():
            problems.append(f"MODEL_DIR is unset and the default {str(default_dir)!r} has no {MODEL_FILE}; "
                            "train a model (python train.py --epochs 10) or set MODEL_DIR")
    ports = {var: values.get(field_name, getattr(Settings, field_name))
             for var, field_name in (("PORT", "port"), ("GRPC_PORT", "grpc_port"), ("ADMIN_PORT", "admin_port"))}
    clashes = sorted({var for var, port in ports.items() if port and list(ports.values()).count(port) > 1})
    if clashes:
        problems.append(f"{', '.join(f'{v}={ports[v]}' for v in clashes)}: each port must be different")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return Settings(**values)  # type: ignore[arg-type]
