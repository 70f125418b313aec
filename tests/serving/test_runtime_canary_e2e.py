"""End to end on 127.0.0.1: the canary AnalysisTemplate `ModelCanary` renders for vLLM and for Triton judges pods by
the series those runtimes expose: healthy Successful, erroring or slow Failed, idle Inconclusive.

What runs for real: Prometheus, scraping one stand-in pod per role (tests/serving/runtime_exporter.py: the series
vLLM 0.34.0 or Triton 2.51.0 expose, each name and label checked against the recorded list) with the labels the
ServiceMonitor gives pods (job = the model, namespace, `rollouts_pod_template_hash`); the AnalysisTemplate's
queries, sent to it as the Argo Rollouts controller sends them, judged as v1.9.0 does
(tests/progressive_delivery/argo_analysis.py). Windows are test-sized; limits are production-like.
"""

from __future__ import annotations

import threading
import urllib.parse

import pytest

from components.serving.model_service import ModelService, ModelServiceArgs
from components.serving.progressive_delivery import (
    CANARY_HASH_ARG,
    STABLE_HASH_ARG,
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    ModelCanary,
    ModelCanaryArgs,
)
from components.serving.runtimes import TRITON, VLLM, ServingRuntime
from tests.aws_platform import DIGEST_IMAGE
from tests.harness import components, only
from tests.monitoring import processes
from tests.monitoring.processes import api_json, wait_until
from tests.progressive_delivery.argo_analysis import FAILED, INCONCLUSIVE, SUCCESSFUL, run_analysis
from tests.serving.runtime_exporter import Behaviour, RuntimeExporter
from tests.serving.test_runtime_profiles import exposed

pytestmark = [pytest.mark.slow, pytest.mark.tools("prometheus")]

MODEL, NAMESPACE, STABLE_HASH = "llama", "e2e", "5d8f7c9b4"
WAIT = 60.0
SIZED = {"min_requests": 20, "window": "10s", "interval": "2s", "count": 3}
# vLLM: judged on errors and token latencies (p99 TTFT under 2 s, ITL under 100 ms), not on request length.
VLLM_ANALYSIS = CanaryAnalysis(max_error_ratio=0.0144, max_latency_p99_seconds=30.0, check_request_latency=False,
                               max_time_to_first_token_p99_seconds=2.0, max_inter_token_latency_p99_seconds=0.1,
                               **SIZED)
TRITON_ANALYSIS = CanaryAnalysis(max_error_ratio=0.0144, max_latency_p99_seconds=0.5, **SIZED)

ROLES = {
    "vllm": (VLLM, VLLM_ANALYSIS, {
        "healthy": Behaviour(), "erroring": Behaviour(error_share=0.2),
        "slow": Behaviour(ttft_seconds=4.0), "idle": Behaviour(requests_per_second=0)}),
    "triton": (TRITON, TRITON_ANALYSIS, {
        "healthy": Behaviour(latency_seconds=0.02), "erroring": Behaviour(error_share=0.2, latency_seconds=0.02),
        "slow": Behaviour(latency_seconds=0.9), "idle": Behaviour(requests_per_second=0)}),
}
HASHES = {"stable": STABLE_HASH, "healthy": "7b6c5d4e3", "erroring": "6a5b4c3d2", "slow": "9f8e7d6c5",
          "idle": "4c3b2a1f0"}
# The check each slow canary fails.
SLOW_CHECK = {"vllm": "time-to-first-token-p99", "triton": "latency-p99"}


def _template(runtime: ServingRuntime, analysis: CanaryAnalysis, prometheus_port: int) -> dict:
    """The AnalysisTemplate of a canary of a model running `runtime`: the runtime is read from the ModelService."""
    def program(opts):
        model = ModelService(MODEL, ModelServiceArgs.for_runtime(
            runtime, DIGEST_IMAGE, MODEL, namespace=NAMESPACE, replicas=2, progressive_rollout=True), opts)
        rollouts = ArgoRollouts("argo-rollouts", ArgoRolloutsArgs(), opts)
        return ModelCanary("model-canary", ModelCanaryArgs(
            model=model, rollouts=rollouts, analysis=analysis, prometheus=f"http://127.0.0.1:{prometheus_port}"), opts)
    synthesis = components(program)
    return only([r for r in synthesis.resources if r.type.endswith(":AnalysisTemplate")]).inputs


@pytest.mark.parametrize("name", sorted(ROLES))
def test_the_runtimes_canary_analysis_promotes_a_healthy_canary_and_stops_an_erroring_a_slow_and_an_idle_one(
        name, tmp_path):
    runtime, analysis, behaviours = ROLES[name]
    pods: dict[str, RuntimeExporter] = {}
    started: list[processes.Process] = []
    try:
        for role, behaviour in {"stable": behaviours["healthy"], **behaviours}.items():
            pods[role] = RuntimeExporter(runtime, MODEL, behaviour, exposed(runtime))
        prometheus, prom_port = processes.start_prometheus({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": MODEL, "metrics_path": runtime.metrics_path, "static_configs": [
                {"targets": [f"127.0.0.1:{pod.port}"],
                 "labels": {"namespace": NAMESPACE, "rollouts_pod_template_hash": HASHES[role]}}
                for role, pod in pods.items()]}],
        }, [], tmp_path)
        started.append(prometheus)
        up = urllib.parse.urlencode({"query": f'count(up{{job="{MODEL}"}} == 1) == {len(pods)}'})
        wait_until(lambda: api_json(prom_port, f"/api/v1/query?{up}")["data"]["result"], WAIT,
                   "Prometheus to scrape every pod", prometheus)
        metrics = _template(runtime, analysis, prom_port)["spec"]["metrics"]
        if name == "vllm":
            assert {m["name"] for m in metrics} == {"error-ratio", "error-ratio-vs-stable", "time-to-first-token-p99",
                                                    "inter-token-latency-p99"}

        outcomes: dict[str, tuple[str, dict]] = {}

        def analyse(role: str) -> None:
            outcomes[role] = run_analysis(metrics, {CANARY_HASH_ARG: HASHES[role], STABLE_HASH_ARG: STABLE_HASH})

        runs = [threading.Thread(target=analyse, args=(role,)) for role in ("healthy", "erroring", "slow", "idle")]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=WAIT)
        report = {role: (phase, {n: r.measurements for n, r in results.items()})
                  for role, (phase, results) in outcomes.items()}
        assert set(outcomes) == {"healthy", "erroring", "slow", "idle"}, report

        assert outcomes["healthy"][0] == SUCCESSFUL, report["healthy"]
        phase, results = outcomes["erroring"]
        assert phase == FAILED and results["error-ratio"].phase() == FAILED, report["erroring"]
        phase, results = outcomes["slow"]
        assert phase == FAILED and results[SLOW_CHECK[name]].phase() == FAILED, report["slow"]
        assert results["error-ratio"].phase() != FAILED, "slow, not erroring"
        phase, results = outcomes["idle"]
        assert phase == INCONCLUSIVE, report["idle"]
        assert all(value == [] for r in results.values() for _, value in r.measurements), report["idle"]
    finally:
        for pod in pods.values():
            pod.stop()
        for process in started:
            process.stop()
