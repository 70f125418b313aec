"""The metrics in process: the exposition every alert, dashboard and the autoscaler read, and the
NVML gauge with a stand-in NVML (the GPU image's library is absent here)."""
from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

from model_server import metrics as metrics_module
from model_server.metrics import GpuMemoryCollector, Metrics
from prometheus_client import generate_latest

EXPOSITION = Path(__file__).with_name("data") / "metrics_exposition.txt"


def _exposition(metrics: Metrics) -> list[str]:
    text = generate_latest(metrics.registry).decode()
    return [line for line in text.splitlines() if "inference" in line]


def test_every_contract_family_is_exposed_with_its_name_help_labels_and_values() -> None:
    m = Metrics("m")
    m.observe_request("/v2/x", 200, 0.003)
    m.observe_request("/v2/x", 200, 0.02)
    m.observe_request("/v2/y", 404, 0.0002)
    m.reject("too_big")
    m.queue_wait.observe(0.2)
    m.batch_size.observe(3)
    m.batch_seconds.observe(0.001)
    m.model_info.labels("m", "v1", "cpu").set(1)
    m.ready.set(1)
    m.connections.labels("m", "public").set(2)
    m.auth_failures.labels("m", "http").inc()
    m.queue_depth.set(4)
    m.track_in_flight(lambda: 5)
    assert _exposition(m) == EXPOSITION.read_text().splitlines()


def test_requests_count_from_zero_per_route_and_status() -> None:
    m = Metrics("digits")
    m.observe_request("/v2/health/ready", 503, 0.001)
    lines = _exposition(m)
    assert 'inference_requests_total{model="digits",route="/v2/health/ready",status="503"} 1.0' in lines
    assert 'inference_request_duration_seconds_count{model="digits",route="/v2/health/ready"} 1.0' in lines


class FakeNvml(types.ModuleType):
    """pynvml with two devices: the first reports its used memory, the second fails to read."""

    def __init__(self, fail_init: bool = False) -> None:
        super().__init__("pynvml")
        self.fail_init = fail_init

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetMemoryInfo(self, handle: int):
        if handle == 1:
            raise RuntimeError("GPU is lost")
        return types.SimpleNamespace(used=123456789)


def test_gpu_memory_is_read_per_device_and_a_failing_device_is_skipped(monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    collector = GpuMemoryCollector()
    collector.start()
    with caplog.at_level(logging.DEBUG, logger=metrics_module.log.name):
        (family,) = list(collector.collect())
    assert [(s.labels, s.value) for s in family.samples] == [({"device": "cuda:0"}, 123456789.0)]
    assert "NVML read failed for cuda:1: GPU is lost" in [r.getMessage() for r in caplog.records]


def test_gpu_memory_without_nvml_logs_why_and_exposes_no_samples(monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(fail_init=True))
    collector = GpuMemoryCollector()
    with caplog.at_level(logging.INFO, logger=metrics_module.log.name):
        collector.start()
    assert "GPU memory metric unavailable: NVML Shared Library Not Found" in [r.getMessage() for r in caplog.records]
    assert list(collector.collect())[0].samples == []
