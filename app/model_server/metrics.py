"""Prometheus metrics. The names and labels below are a contract: alerts, dashboards and the
autoscaler are written against them (app/README.md lists them). Add metrics freely; never rename these.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger(__name__)

# Sub-millisecond resolution: a CPU inference here takes well under 5 ms end to end.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = tuple(float(2 ** i) for i in range(11))  # 1, 2, 4, ..., 1024


class GpuMemoryCollector:
    """`inference_gpu_memory_used_bytes{device}`, read from NVML at scrape time.

    Device-wide used memory (NVML cannot attribute memory to a process inside a container's PID
    namespace); with one model pod per GPU that is this server's footprint. On CPU the family is
    exposed with no samples.
    """

    def __init__(self) -> None:
        self._handles: list[tuple[str, object]] = []
        self._nvml = None

    def start(self) -> None:
        """Called once the model runs on CUDA; until then (and on CPU) the family has no samples."""
        try:
            import pynvml  # provided by nvidia-ml-py, installed in the GPU image only

            pynvml.nvmlInit()
            self._handles = [(f"cuda:{i}", pynvml.nvmlDeviceGetHandleByIndex(i))
                             for i in range(pynvml.nvmlDeviceGetCount())]
            self._nvml = pynvml
        except Exception as exc:  # no NVML library or no driver: leave the gauge empty, keep serving
            log.warning("GPU memory metric unavailable: %s", exc)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("inference_gpu_memory_used_bytes",
                                   "GPU memory in use on the device (NVML, device-wide)", labels=["device"])
        for device, handle in self._handles:
            try:
                family.add_metric([device], float(self._nvml.nvmlDeviceGetMemoryInfo(handle).used))
            except Exception as exc:  # a scrape must never fail because NVML hiccupped
                log.debug("NVML read failed for %s: %s", device, exc)
        yield family


class Metrics:
    """All server metrics in one registry, with per-model label children bound once up front."""

    def __init__(self, model: str) -> None:
        # `*_created` series double the series count and no dashboard or alert here reads them.
        disable_created_metrics()
        self.model = model
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter("inference_requests", "HTTP requests answered, by route template and status code",
                                ["model", "route", "status"], registry=r)
        self.duration = Histogram("inference_request_duration_seconds",
                                  "Time from request start to response sent, by route template",
                                  ["model", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("inference_batch_size", "Rows per model execution after dynamic batching",
                                    ["model"], buckets=BATCH_SIZE_BUCKETS, registry=r).labels(model)
        self.in_flight = Gauge("inference_requests_in_flight", "Inference requests received and not yet answered",
                               ["model"], registry=r).labels(model)
        self.queue_depth = Gauge("inference_batch_queue_depth", "Inference requests waiting to join a batch",
                                 ["model"], registry=r).labels(model)
        self.model_info = Gauge("inference_model_info", "The served model; always 1",
                                ["model", "version", "device"], registry=r)
        self.batch_seconds = Histogram("inference_batch_duration_seconds", "Model execution time per batch",
                                       ["model"], buckets=LATENCY_BUCKETS, registry=r).labels(model)
        self.ready = Gauge("inference_model_ready", "1 once the model is loaded and warmed up, else 0",
                           ["model"], registry=r).labels(model)
        self.rejections = Counter(
            "inference_rejections", "Requests and connections refused by a limit or by the HTTP parser, by reason",
            ["model", "reason"], registry=r)
        self.connections = Gauge("inference_open_connections", "Open HTTP connections, by listener (public, admin)",
                                 ["model", "listener"], registry=r)
        self.auth_failures = Counter("inference_auth_failures", "Requests refused for a missing or wrong API key, "
                                     "by protocol (http, grpc)", ["model", "protocol"], registry=r)
        self.gpu_memory = GpuMemoryCollector()
        r.register(self.gpu_memory)
        self._children: dict[tuple[str, int], tuple[object, object]] = {}
        self._rejection_children: dict[str, object] = {}

    def reject(self, reason: str) -> None:
        child = self._rejection_children.get(reason)
        if child is None:  # reasons are a fixed set of code constants, never client input
            child = self._rejection_children[reason] = self.rejections.labels(self.model, reason)
        child.inc()

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        children = self._children.get(key)
        if children is None:  # routes and statuses are few and fixed, so this cache stays small
            children = (self.requests.labels(self.model, route, str(status)),
                        self.duration.labels(self.model, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
