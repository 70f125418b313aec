"""ServingRuntime's two computations: the container args a profile starts its server with, and the metric names its
signals query (what docs/runtimes.md lists and the exposed-series files are checked against)."""

from __future__ import annotations

from dataclasses import replace

from components.serving.runtimes import MODEL_SERVER, TRITON, VLLM, Series


def test_a_profiles_args_get_the_model_its_folder_and_the_ports_given():
    assert TRITON.start_args("fraud", "/models", 9000, 9001, 9002) == [
        "--model-repository=/models", "--http-port=9000", "--grpc-port=9001", "--metrics-port=9002",
        "--metrics-config=summary_latencies=true"]
    assert VLLM.start_args("llama", "/weights/llama", http_port=9000) == [
        "/weights/llama", "--served-model-name", "llama", "--host", "0.0.0.0", "--port", "9000"]


def test_ports_not_given_are_the_profiles_own_and_no_folder_is_made_up():
    assert TRITON.start_args("fraud", "/models") == [
        "--model-repository=/models", f"--http-port={TRITON.http_port}", f"--grpc-port={TRITON.grpc_port}",
        f"--metrics-port={TRITON.admin_port}", "--metrics-config=summary_latencies=true"]
    assert VLLM.start_args("llama")[:3] == ["", "--served-model-name", "llama"]


def test_a_profile_without_args_keeps_the_images_own():
    assert MODEL_SERVER.args is None and MODEL_SERVER.start_args("fraud", "/models", 9000) is None


def test_a_histogram_is_queried_by_its_three_series_and_a_summary_by_its_own_name():
    names, latency = MODEL_SERVER.metric_names(), MODEL_SERVER.signals.latency.series.metric
    assert latency.endswith("_seconds") and MODEL_SERVER.signals.latency.kind == "histogram"
    assert {f"{latency}_bucket", f"{latency}_sum", f"{latency}_count"} <= names and latency not in names
    summary = TRITON.signals.latency
    assert summary.kind == "summary" and summary.series.metric in TRITON.metric_names()
    assert f"{summary.series.metric}_bucket" not in TRITON.metric_names()


def test_every_series_a_profile_reads_is_named_single_or_in_a_tuple():
    for runtime in (MODEL_SERVER, VLLM, TRITON):
        series = [s for v in vars(runtime.signals).values() for s in (v if isinstance(v, tuple) else (v,))
                  if isinstance(s, Series)]
        assert len(runtime.signals.requests) >= 1 and series, runtime
        assert {s.metric for s in series} <= runtime.metric_names(), runtime


def test_a_custom_profile_counting_requests_over_several_series_reads_each_of_them():
    """A runtime of one's own may count requests in series no other signal reads."""
    requests = (Series("my_server_ok_total"), Series("my_server_failed_total"))
    runtime = replace(TRITON, signals=replace(TRITON.signals, requests=requests))
    assert {"my_server_ok_total", "my_server_failed_total"} <= runtime.metric_names()
