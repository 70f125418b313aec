"""End to end on 127.0.0.1: the canary analysis promotes a healthy canary, aborts an erroring or a slow one, and
does not promote an idle one.

The Argo Rollouts controller cannot run here (it needs a Kubernetes API server); what runs for real:
- the inference server (app/, `python -m model_server`): one stable and four canaries, each its own process,
  scraped by a real Prometheus with the labels the ServiceMonitor gives pods in a cluster (job = the model,
  namespace, and `rollouts_pod_template_hash` from the pod label, per ModelMonitoring's `podTargetLabels`);
- the AnalysisTemplate rendered by the project's `ModelCanary` component (only the windows are test-sized,
  as the monitoring end-to-end test shortens `for:`), its queries sent to that Prometheus exactly as the
  controller sends them (args resolved from the pod template hashes, `/api/v1/query` at the current time),
  and its success/failure conditions, limits and counts evaluated the way Argo Rollouts v1.9.0 does
  (tests/progressive_delivery/argo_analysis.py names the Go code each step follows); the healthy canary is
  then taken through the rendered Rollout's steps (setWeight, analysis, pause) to 100%.
What does not run: the controller's reconciliation (ReplicaSets, pod template hashes, the weights it sets):
the hashes are given as the scrape labels the pods would carry.

The canaries: healthy (the stable's model); erroring (a model that fails inside ONNX Runtime on inputs the
stable's model serves: the same traffic mix gets real 500s); slow (the stable's model, its requests' bodies
held 600 ms by the client, which the server's own latency histogram counts since it times from the request
headers: a regression the latency metrics see without burning the shared CPU); idle (running and scraped,
no request). Every process is stopped in `finally`, every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse

import pytest
import yaml

from components.serving.progressive_delivery import (
    CANARY_HASH_ARG,
    STABLE_HASH_ARG,
    CanaryAnalysis,
    CanaryStep,
    ModelCanary,
    ModelCanaryArgs,
)
from tests.harness import components, only
from tests.monitoring import processes
from tests.monitoring.processes import MODEL_INPUT_WIDTH, POISON_PIXEL, api_json, wait_until
from tests.progressive_delivery.argo_analysis import (
    FAILED,
    INCONCLUSIVE,
    SUCCESSFUL,
    rollout_decision,
    run_analysis,
    walk_steps,
)
from tests.serving import wiring

# In CI a missing Prometheus fails the test (README's `bash scripts/test` installs it); elsewhere it is skipped.
pytestmark = [pytest.mark.slow, pytest.mark.tools("prometheus", "promtool")]

MODEL, NAMESPACE = "my-ai-model", "e2e"
STABLE_HASH = "5d8f7c9b4"
# Production limits (the SLO's 14.4x burn on a 99.9% objective, 0.5 s p99, +1 point, +100 ms); test-sized windows.
ANALYSIS = CanaryAnalysis(max_error_ratio=14.4 * 0.001, max_latency_p99_seconds=0.5, max_error_ratio_increase=0.01,
                          max_latency_p99_increase_seconds=0.1, min_requests=20, window="10s", interval="2s", count=3)
SLOW_BODY_SECONDS = 0.6
POISON_SHARE = 5  # every fifth request carries a pixel the erroring canary's model cannot look up
WAIT = 60.0


class Traffic:
    """Inference requests from `threads` threads, each body optionally held `body_delay` s after the headers."""

    def __init__(self, port: int, *, per_thread_per_second: float = 8.0, threads: int = 1, body_delay: float = 0.0):
        self.port, self.interval, self.body_delay = port, 1.0 / per_thread_per_second, body_delay
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _body(poisoned: bool) -> bytes:
        pixels = [POISON_PIXEL if poisoned else float(i % 17) for i in range(MODEL_INPUT_WIDTH)]
        return json.dumps({"inputs": [{"name": "input", "shape": [1, MODEL_INPUT_WIDTH], "datatype": "FP32",
                                       "data": pixels}]}).encode()

    def _run(self) -> None:
        sent = 0
        while not self._stop.is_set() and sent < 5000:
            body = self._body(sent % POISON_SHARE == 0)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.putrequest("POST", f"/v2/models/{MODEL}/infer")
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders()
                if self.body_delay:
                    time.sleep(self.body_delay)
                conn.send(body)
                self.statuses.append(conn.getresponse().status)
                conn.close()
            except OSError:
                self.statuses.append(0)
            sent += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)


def _rendered(prometheus_port: int) -> tuple[dict, dict]:
    """The AnalysisTemplate (metadata and spec) and the Rollout's canary steps `ModelCanary` renders, pointed at
    this Prometheus; prod's step shape (10% with a timed pause, then 50%), test-sized pause."""
    synthesis = components(lambda opts: ModelCanary("model-canary", ModelCanaryArgs(
        model=wiring.canary_model(opts, name=MODEL, namespace=NAMESPACE), rollouts=wiring.rollouts(opts),
        analysis=ANALYSIS, prometheus=f"http://127.0.0.1:{prometheus_port}",
        steps=[CanaryStep(10, pause="1s"), CanaryStep(50)]), opts))
    template = only([r for r in synthesis.resources if r.type.endswith(":AnalysisTemplate")]).inputs
    rollout = only([r for r in synthesis.resources if r.type.endswith(":Rollout")]).inputs
    return template, rollout["spec"]["strategy"]["canary"]["steps"]


def test_the_canary_analysis_promotes_a_healthy_canary_and_stops_an_erroring_a_slow_and_an_idle_one(tmp_path):
    started: list[processes.Process] = []
    traffic: list[Traffic] = []
    try:
        plain = processes.write_tiny_model(tmp_path / "stable-model")
        faulty = processes.write_tiny_model(tmp_path / "faulty-model", fails_on_large_pixels=True)
        servers = {"stable": (STABLE_HASH, plain), "healthy": ("7b6c5d4e3", plain), "erroring": ("6a5b4c3d2", faulty),
                   "slow": ("9f8e7d6c5", plain), "idle": ("4c3b2a1f0", plain)}
        ports, metrics_ports = {}, {}
        for role, (_, model_dir) in servers.items():
            ports[role] = processes.free_port()
            started.append(processes.start_model_server(model_dir, ports[role], tmp_path, MODEL))
            metrics_ports[role] = started[-1].admin_port  # the server's /metrics are on its admin port
        prometheus, prom_port = processes.start_prometheus({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": MODEL, "static_configs": [
                {"targets": [f"127.0.0.1:{metrics_ports[role]}"],
                 "labels": {"namespace": NAMESPACE, "rollouts_pod_template_hash": pod_hash}}
                for role, (pod_hash, _) in servers.items()]}],
        }, [], tmp_path)
        started.append(prometheus)
        up = urllib.parse.urlencode({"query": f'count(up{{job="{MODEL}"}} == 1) == 5'})
        wait_until(lambda: api_json(prom_port, f"/api/v1/query?{up}")["data"]["result"], WAIT,
                   "Prometheus to scrape the five servers", prometheus)
        template, steps = _rendered(prom_port)
        metrics = template["spec"]["metrics"]
        assert {a["name"] for a in template["spec"]["args"]} == {CANARY_HASH_ARG, STABLE_HASH_ARG}

        # Every server but the idle canary gets the same traffic mix; the slow one's bodies arrive late.
        traffic += [Traffic(ports[role]) for role in ("stable", "healthy", "erroring")]
        traffic.append(Traffic(ports["slow"], threads=8, body_delay=SLOW_BODY_SECONDS))

        outcomes: dict[str, tuple[str, dict]] = {}

        def analyse(role: str) -> None:
            outcomes[role] = run_analysis(metrics, {CANARY_HASH_ARG: servers[role][0], STABLE_HASH_ARG: STABLE_HASH})

        # One AnalysisRun per canary, side by side (each ~initialDelay + (count - 1) x interval).
        runs = [threading.Thread(target=analyse, args=(role,)) for role in ("healthy", "erroring", "slow", "idle")]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=WAIT)
        assert set(outcomes) == {"healthy", "erroring", "slow", "idle"}, f"an analysis did not finish: {sorted(outcomes)}"
        # The healthy canary through the rendered Rollout's steps: both analyses pass, then 100%.
        walked = walk_steps(steps, {template["metadata"]["name"]: template["spec"]},
                            {CANARY_HASH_ARG: servers["healthy"][0], STABLE_HASH_ARG: STABLE_HASH})
        for t in traffic:
            t.stop()
        assert walked == ("promoted", ["setWeight 10", "analysis Successful", "pause 1s", "setWeight 50",
                                       "analysis Successful", "setWeight 100"]), walked

        report = {role: {"run": phase, "decision": rollout_decision(phase),
                         "metrics": {n: [(p, v) for p, v in r.measurements] for n, r in results.items()}}
                  for role, (phase, results) in outcomes.items()}
        print(yaml.safe_dump(report, sort_keys=False, width=200))

        phase, results = outcomes["healthy"]
        assert (phase, rollout_decision(phase)) == (SUCCESSFUL, "promote"), report["healthy"]
        assert all(len(r.measurements) == ANALYSIS.count for r in results.values()), "promotion only after every count"

        phase, results = outcomes["erroring"]
        assert (phase, rollout_decision(phase)) == (FAILED, "abort"), report["erroring"]
        assert results["error-ratio"].phase() == FAILED and results["error-ratio-vs-stable"].phase() == FAILED
        assert 500 in traffic[2].statuses and set(traffic[0].statuses) == {200}, \
            "the erroring canary fails on requests the stable serves"

        phase, results = outcomes["slow"]
        assert (phase, rollout_decision(phase)) == (FAILED, "abort"), report["slow"]
        assert results["latency-p99-vs-stable"].phase() == FAILED and results["latency-p99"].phase() == FAILED
        assert results["error-ratio"].phase() != FAILED, "slow, not erroring"

        phase, results = outcomes["idle"]
        assert (phase, rollout_decision(phase)) == (INCONCLUSIVE, "pause"), report["idle"]
        assert all(value == [] for r in results.values() for _, value in r.measurements), \
            "no canary request: every query returns nothing, so no metric can pass or fail"
    finally:
        for t in traffic:
            t.stop()
        for process in reversed(started):
            process.stop()
