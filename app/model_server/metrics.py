"""Prometheus metrics. The names and labels below are a contract: alerts, dashboards and the
autoscaler are written against them (app/README.md lists them). Add metrics freely; never rename these.
"""
from __future__ import annotations

import itertools
import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

from .statistics import ModelStatistics

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


class _Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Distribution:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # le: the first bound >= value
        self.sum += value


class _LoopFamily:
    """A counter or histogram family for the per-request and per-batch metrics, exposed exactly as
    prometheus_client's own (same names, types, labels and text), but updated without its lock:
    every update and every scrape happens on the event loop thread (HTTP, gRPC, the batcher and
    /metrics all run there), so one lock acquisition per update (about 0.3 us each, ten per
    request) buys nothing."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry,
                 buckets: Sequence[float] | None = None) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = list(labelnames)
        self._bounds = None if buckets is None else tuple(b for b in buckets if b != math.inf)
        self._series: dict[tuple[str, ...], _Count | _Distribution] = {}
        registry.register(self)

    def labels(self, *values: str) -> _Count | _Distribution:
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = _Count() if self._bounds is None else _Distribution(self._bounds)
        return series

    def _family(self) -> CounterMetricFamily | HistogramMetricFamily:
        kind = CounterMetricFamily if self._bounds is None else HistogramMetricFamily
        return kind(self._name, self._documentation, labels=self._labelnames)

    def describe(self) -> list:
        return [self._family()]

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        family = self._family()
        for values, series in list(self._series.items()):
            if isinstance(series, _Count):
                family.add_metric(list(values), series.value)
            else:
                upper = [floatToGoString(b) for b in series.bounds] + ["+Inf"]
                family.add_metric(list(values), list(zip(upper, itertools.accumulate(series.counts), strict=True)),
                                  series.sum)
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
        self.requests = _LoopFamily("inference_requests", "HTTP requests answered, by route template and status code",
                                    ["model", "route", "status"], r)
        self.duration = _LoopFamily("inference_request_duration_seconds",
                                    "Time from request start to response sent, by route template",
                                    ["model", "route"], r, buckets=LATENCY_BUCKETS)
        self.batch_size = _LoopFamily("inference_batch_size", "Rows per model execution after dynamic batching",
                                      ["model"], r, buckets=BATCH_SIZE_BUCKETS).labels(model)
        self.in_flight = Gauge("inference_requests_in_flight", "Inference requests received and not yet answered",
                               ["model"], registry=r).labels(model)
        """Read at scrape time from the server's count (`track_in_flight`), not updated per request."""
        self.queue_depth = Gauge("inference_batch_queue_depth", "Inference requests waiting to join a batch",
                                 ["model"], registry=r).labels(model)
        self.model_info = Gauge("inference_model_info", "The served model; always 1",
                                ["model", "version", "device"], registry=r)
        self.queue_wait = _LoopFamily("inference_queue_wait_seconds",
                                      "Time inference requests waited in the batch queue (0 when run at once)",
                                      ["model"], r, buckets=LATENCY_BUCKETS).labels(model)
        self.statistics = ModelStatistics()
        self.batch_seconds = _LoopFamily("inference_batch_duration_seconds", "Model execution time per batch",
                                         ["model"], r, buckets=LATENCY_BUCKETS).labels(model)
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

    def track_in_flight(self, count: Callable[[], float]) -> None:
        """`inference_requests_in_flight` reads `count()` at each scrape."""
        self.in_flight.set_function(count)

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
