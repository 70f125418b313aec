"""The contract between `ModelService` and the model server it runs, in one place.

Ports and their names, health paths, the environment variables the Deployment sets, the user the
container runs as, and the metric names `ModelMonitoring`'s alerts and dashboard and the
autoscaler's pod metrics query. docs/workload-contract.md explains each to adopters ("your server
must..."); app/README.md documents how this repository's server implements them. A name changes
here and nowhere else.
"""

from __future__ import annotations

# --- ports: container port names, default numbers, Service port names --------------------------------

HTTP_PORT_NAME = "http"
"""Public Open Inference Protocol v2 REST port: inference and the health paths; never `/metrics`."""
GRPC_PORT_NAME = "grpc"
"""Open Inference Protocol gRPC port."""
ADMIN_PORT_NAME = "admin"
"""Metrics and probes only: `/metrics` and the health paths. Probes use it."""
METRICS_SERVICE_PORT_NAME = "metrics"
"""The Service port (targeting `admin`) the ServiceMonitor scrapes; only the monitoring namespace may reach it."""

DEFAULT_HTTP_PORT = 8080
DEFAULT_GRPC_PORT = 8081
DEFAULT_ADMIN_PORT = 8082
DEFAULT_SERVICE_PORT = 80

# --- paths -------------------------------------------------------------------------------------------

READY_PATH = "/v2/health/ready"
"""200 once the model is loaded and warmed up; 4xx before (Open Inference Protocol)."""
LIVE_PATH = "/v2/health/live"
"""200 as soon as the process serves HTTP."""
METRICS_PATH = "/metrics"
INFER_ROUTES = ".*/infer"
"""`route` label values of inference calls (`/v2/models/{name}[/versions/{version}]/infer`)."""

# --- environment the Deployment sets -----------------------------------------------------------------

ENV_PORT = "PORT"
ENV_GRPC_PORT = "GRPC_PORT"
"""`0` disables gRPC."""
ENV_ADMIN_PORT = "ADMIN_PORT"
ENV_MODEL_NAME = "MODEL_NAME"
"""The model's name in URLs, responses and the `model` label of its metrics."""
ENV_MODEL_VERSION = "MODEL_VERSION"
ENV_MAX_BATCH_SIZE = "MAX_BATCH_SIZE"
ENV_BATCH_WINDOW_MS = "BATCH_WINDOW_MS"
ENV_DRAIN_TIMEOUT_SECONDS = "DRAIN_TIMEOUT_SECONDS"
"""How long the server waits for in-flight requests after SIGTERM."""
ENV_DRAIN_DELAY_SECONDS = "DRAIN_DELAY_SECONDS"
"""Not set by ModelService (the server's default is 0): after SIGTERM, how long the server still accepts new
connections before draining. Set in `env`, it counts in the drain budget."""
ENV_API_KEYS_DIR = "API_KEYS_DIR"
"""Directory of a mounted Secret whose files are the accepted API keys (unset: authentication off)."""
ENV_ORT_DISABLE_TELEMETRY = "ORT_DISABLE_TELEMETRY"
"""ONNX Runtime telemetry off (`1`): set by the image and again by the Deployment."""

MANAGED_ENV: tuple[str, ...] = (ENV_PORT, ENV_GRPC_PORT, ENV_ADMIN_PORT, ENV_MODEL_NAME, ENV_MODEL_VERSION,
                                ENV_MAX_BATCH_SIZE, ENV_BATCH_WINDOW_MS, ENV_ORT_DISABLE_TELEMETRY, ENV_API_KEYS_DIR)
"""Variables `ModelService` sets from its own fields: `env` may not set them (the probes, Service and
NetworkPolicy follow the fields, so an override would make them disagree)."""

# --- the container's identity and filesystem ----------------------------------------------------------

RUN_AS_USER = 10001
"""The image's non-root user; above 10000, clear of host UIDs."""
RUN_AS_GROUP = 10001
WRITABLE_PATHS: tuple[str, ...] = ("/tmp",)
"""The root filesystem is read-only: an emptyDir is mounted on each of these."""

# --- metrics the platform queries (app/README.md "Metrics contract") ----------------------------------

REQUESTS_TOTAL = "inference_requests_total"
REQUEST_DURATION = "inference_request_duration_seconds"
BATCH_SIZE = "inference_batch_size"
IN_FLIGHT_REQUESTS = "inference_requests_in_flight"
BATCH_QUEUE_DEPTH = "inference_batch_queue_depth"
MODEL_INFO = "inference_model_info"
GPU_MEMORY_USED = "inference_gpu_memory_used_bytes"
MODEL_METRICS: tuple[str, ...] = (REQUESTS_TOTAL, REQUEST_DURATION, BATCH_SIZE, IN_FLIGHT_REQUESTS, BATCH_QUEUE_DEPTH,
                                  MODEL_INFO, GPU_MEMORY_USED)
"""Every server metric `ModelMonitoring` and the pod autoscaler read (tests check the list is complete)."""

# --- how long a GPU pod takes to become ready (docs/autoscaling.md, "How long a GPU cold start takes") --

GPU_NODE_COLD_START_SECONDS = 30 + 180 + 30
"""Upper estimates: capacity chosen (30 s), instance booted and Ready (3 min), device plugin up (30 s)."""
IMAGE_PULL_SECONDS = 300
"""Upper estimate for pulling a CUDA runtime image of several GB onto a fresh node."""
