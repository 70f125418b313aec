"""Each serving runtime's profile against what its pinned version exposes, and its alerts driven by promtool.

The series each runtime exposes are kept in tests/serving/runtimes/ (taken from the runtime's source at the
pinned version, or from its real binary; each file says which). Every name and label a profile's signals query
must be in that list, and the promtool cases below feed the generated rules with series named exactly as the
runtime exposes them (each input series is checked against the list before use).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.observability.model_monitoring import ModelMonitoringArgs, model_rules
from components.observability.monitoring_rules import TokenLatencyObjectives, alert_names
from components.serving.model_service import ModelServiceArgs, ServedModel
from components.serving.pod_autoscaling import adapter_rule, pods_metric, scale_signals
from components.serving.runtimes import MODEL_SERVER, RUNTIMES, TRITON, VLLM, Distribution, Series, ServingRuntime
from tests.observability.test_alerting_tools import PROMTOOL, Case, _series, _unit_test_file, needs_promtool, run

HERE = Path(__file__).parent / "runtimes"
MODEL, NAMESPACE = "llama", "llm"
TARGET = {"namespace": NAMESPACE, "job": MODEL, "instance": "10.0.1.7:8000", "pod": f"{MODEL}-7d9-x"}
STATIC = {"service": MODEL, "namespace": NAMESPACE}
PINNED = [VLLM, TRITON]


@cache
def exposed(runtime: ServingRuntime) -> dict[str, set[str]]:
    """Series name -> label names, from the runtime's recorded list."""
    series: dict[str, set[str]] = {}
    for name in runtime.exposed_series:
        for line in (HERE / name).read_text().splitlines():
            if line and not line.startswith("#"):
                metric, _, labels = line.split("\t")
                series[metric] = set(filter(None, labels.split(",")))
    return series


def as_exposed(runtime: ServingRuntime, metric: str, labels: dict[str, str]) -> str:
    """A promtool input series, refused unless the runtime exposes that name with those labels (plus the scrape's)."""
    known = exposed(runtime)
    assert metric in known, f"{runtime.name} {runtime.version} exposes no {metric}"
    own = set(labels) - set(TARGET) - {"le"}
    assert own <= known[metric], f"{metric} has labels {sorted(known[metric])}, not {sorted(own - known[metric])}"
    return _series(metric, labels)


def _signal_series(runtime: ServingRuntime) -> list[tuple[str, Series, str]]:
    out = []
    for signal, value in vars(runtime.signals).items():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, Series):
                out.append((signal, item, item.metric))
            elif isinstance(item, Distribution):
                suffix = "_bucket" if item.kind == "histogram" else ""
                out.append((signal, item.series, item.series.metric + suffix))
    return out


@pytest.mark.parametrize("runtime", PINNED, ids=lambda r: r.name)
def test_every_series_and_label_a_profile_queries_is_one_its_pinned_version_exposes(runtime):
    known = exposed(runtime)
    assert known, f"no recorded series for {runtime.name}"
    for signal, series, metric in _signal_series(runtime):
        assert metric in known, f"{runtime.name}.{signal}: {metric} is not exposed by {runtime.version}"
        labels = {label for label, _ in series.matchers} | ({series.model_label} if series.model_label else set())
        assert labels <= known[metric], f"{runtime.name}.{signal}: {metric} has no label {sorted(labels - known[metric])}"
    assert runtime.metric_names() <= set(known)


def test_the_recorded_lists_name_their_version_and_source():
    for runtime in PINNED:
        for name in runtime.exposed_series:
            header = (HERE / name).read_text().split("\n\n")[0]
            assert runtime.version in name and runtime.version in header, name


def test_the_profile_check_sees_a_name_the_runtime_does_not_expose():
    wrong = replace(VLLM, signals=replace(VLLM.signals, queue_depth=Series("vllm:num_requests_queued",
                                                                            model_label="model_name")))
    with pytest.raises(AssertionError, match="num_requests_queued"):
        test_every_series_and_label_a_profile_queries_is_one_its_pinned_version_exposes(wrong)


def test_the_profiles_are_listed_by_name_and_this_servers_is_the_default():
    assert set(RUNTIMES) == {"model-server", "vllm", "triton"}
    assert ServedModel("m").runtime is MODEL_SERVER
    assert ModelServiceArgs(image="r@sha256:" + "a" * 64).runtime is MODEL_SERVER


def test_a_runtime_fills_in_ports_health_paths_and_its_start_command():
    vllm = ModelServiceArgs.for_runtime(VLLM, "r@sha256:" + "a" * 64, MODEL, "/models/llama-3.1-8b")
    assert (vllm.container_port, vllm.admin_port, vllm.grpc_port) == (8000, None, None)
    assert (vllm.probes.readiness_path, vllm.probes.port) == ("/health", "http")
    assert vllm.command == ["vllm", "serve"]
    assert vllm.container_args == ["/models/llama-3.1-8b", "--served-model-name", MODEL, "--host", "0.0.0.0",
                                   "--port", "8000"]
    triton = ModelServiceArgs.for_runtime(TRITON, "r@sha256:" + "a" * 64, "detector", "/models")
    assert (triton.container_port, triton.grpc_port, triton.admin_port, triton.probes.port) == (8000, 8001, 8002, "http")
    assert "--metrics-port=8002" in triton.container_args and "--model-repository=/models" in triton.container_args


# ------------------------------------------------------------------------------------ scale signals

def test_llm_servers_scale_on_waiting_requests_or_kv_cache_use_served_under_a_kubernetes_safe_name():
    assert scale_signals(VLLM) == ["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"]
    rule = adapter_rule("vllm:kv_cache_usage_perc", "1m")
    assert rule["seriesQuery"] == 'vllm:kv_cache_usage_perc{namespace!="",pod!=""}'
    assert rule["name"] == {"matches": "^vllm:kv_cache_usage_perc$", "as": "vllm_kv_cache_usage_perc"}
    assert pods_metric("vllm:kv_cache_usage_perc", 0.8).name == "vllm_kv_cache_usage_perc"
    assert pods_metric("vllm:kv_cache_usage_perc", 0.8).target_average_value == "800m"
    assert scale_signals(TRITON) == ["nv_inference_pending_request_count"]
    assert scale_signals(MODEL_SERVER) == ["inference_batch_queue_depth", "inference_requests_in_flight"]


# ------------------------------------------------------------------------------------ promtool

def rules_of(runtime: ServingRuntime, tokens: TokenLatencyObjectives | None = None) -> list[dict]:
    args = ModelMonitoringArgs(model=ServedModel(MODEL, namespace=NAMESPACE, runtime=runtime), latency_p99_seconds=0.5,
                               tokens=tokens)
    groups = model_rules(args)
    for rule in (r for g in groups for r in g["rules"]):
        rule.pop("annotations", None)
    return groups


LLM_OBJECTIVES = TokenLatencyObjectives(time_to_first_token_p99_seconds=2.0, inter_token_latency_p99_seconds=0.1)


def vllm_cases() -> list[Case]:
    engine = {**TARGET, "model_name": MODEL, "engine": "0"}
    chat = {**TARGET, "handler": "/v1/chat/completions", "method": "POST"}
    ok, failed, refused = ({**chat, "status": s} for s in ("2xx", "5xx", "4xx"))
    ratio = {"namespace": NAMESPACE, "job": MODEL}

    def histogram(metric: str, per_bucket: dict[str, str]) -> dict[str, str]:
        return {as_exposed(VLLM, f"{metric}_bucket", {**engine, "le": le}): v for le, v in per_bucket.items()}

    requests = "http_requests_total"
    return [
        Case("vllm: 10% of chat completions answered 5xx burn the budget", "ModelErrorBudgetBurn",
             {as_exposed(VLLM, requests, ok): "0+100x90", as_exposed(VLLM, requests, failed): "0x30 0+10x60"}, "60m",
             [{"severity": "critical", "window": "1h", **STATIC, **ratio},
              {"severity": "critical", "window": "6h", **STATIC, **ratio}]),
        Case("vllm: 4xx (a bad prompt, a wrong key) burn nothing", "ModelErrorBudgetBurn",
             {as_exposed(VLLM, requests, ok): "0+100x90", as_exposed(VLLM, requests, refused): "0+10x90"}, "60m"),
        # TTFT buckets of vllm/v1/metrics/buckets.py: ... 1.0, 2.5, 5.0 ...
        Case("vllm: most first tokens take 2.5 to 5 s", "ModelTimeToFirstTokenP99AboveSlo",
             histogram("vllm:time_to_first_token_seconds",
                       {"1.0": "0+1x30", "2.5": "0+10x30", "5.0": "0+100x30", "+Inf": "0+100x30"}),
             "20m", [{"severity": "warning", **STATIC, "job": MODEL, "model_name": MODEL}]),
        Case("vllm: first tokens under a second", "ModelTimeToFirstTokenP99AboveSlo",
             histogram("vllm:time_to_first_token_seconds", {le: "0+100x30" for le in ("1.0", "2.5", "5.0", "+Inf")}),
             "20m"),
        Case("vllm: tokens 150 to 200 ms apart", "ModelInterTokenLatencyP99AboveSlo",
             histogram("vllm:inter_token_latency_seconds",
                       {"0.1": "0+0x30", "0.15": "0+5x30", "0.2": "0+500x30", "+Inf": "0+500x30"}),
             "20m", [{"severity": "warning", **STATIC, "job": MODEL, "model_name": MODEL}]),
        Case("vllm: tokens 50 ms apart", "ModelInterTokenLatencyP99AboveSlo",
             histogram("vllm:inter_token_latency_seconds", {le: "0+500x30" for le in ("0.1", "0.15", "0.2", "+Inf")}),
             "20m"),
        Case("vllm: its engine stops reporting", "ModelDown",
             {as_exposed(VLLM, "vllm:num_requests_running", engine): "1x5 stale"}, "15m",
             [{"severity": "critical", **STATIC}]),
        Case("vllm: an engine reports", "ModelDown",
             {as_exposed(VLLM, "vllm:num_requests_running", engine): "0x30"}, "15m"),
    ]


def triton_cases() -> list[Case]:
    model = {**TARGET, "model": MODEL, "version": "1"}
    ratio = {"namespace": NAMESPACE, "job": MODEL, "model": MODEL}
    success, failure = "nv_inference_request_success", "nv_inference_request_failure"
    summary = "nv_inference_request_summary_us"
    return [
        Case("triton: 10% of requests fail in the backend", "ModelErrorBudgetBurn",
             {as_exposed(TRITON, success, model): "0+90x90",
              as_exposed(TRITON, failure, {**model, "reason": "BACKEND"}): "0x30 0+10x60",
              as_exposed(TRITON, failure, {**model, "reason": "CANCELED"}): "0x90"}, "60m",
             [{"severity": "critical", "window": "1h", **STATIC, **ratio},
              {"severity": "critical", "window": "6h", **STATIC, **ratio}]),
        Case("triton: requests the clients cancelled are not the server's failures", "ModelErrorBudgetBurn",
             {as_exposed(TRITON, success, model): "0+90x90",
              as_exposed(TRITON, failure, {**model, "reason": "BACKEND"}): "0x90",
              as_exposed(TRITON, failure, {**model, "reason": "CANCELED"}): "0+10x90"}, "60m"),
        Case("triton: its p99 (the server's summary, in microseconds) at 0.8 s", "ModelLatencyP99AboveSlo",
             {as_exposed(TRITON, summary, {**model, "quantile": "0.99"}): "800000x30",
              as_exposed(TRITON, summary, {**model, "quantile": "0.5"}): "20000x30"}, "20m",
             [{"severity": "warning", **STATIC, **ratio}]),
        Case("triton: its p99 at 20 ms", "ModelLatencyP99AboveSlo",
             {as_exposed(TRITON, summary, {**model, "quantile": "0.99"}): "20000x30"}, "20m"),
        Case("triton: the model is unloaded", "ModelDown",
             {as_exposed(TRITON, success, model): "5x5 stale"}, "15m", [{"severity": "critical", **STATIC}]),
        Case("triton: the model is loaded", "ModelDown", {as_exposed(TRITON, success, model): "5x30"}, "15m"),
    ]


CASES = {"vllm": (vllm_cases, LLM_OBJECTIVES), "triton": (triton_cases, None)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_alert_of_a_runtime_has_a_firing_case_and_a_silent_case(name):
    cases, tokens = CASES[name]
    alerts = set(alert_names(rules_of(RUNTIMES[name], tokens)))
    fired = {c.alert for c in cases() if c.expected}
    silent = {c.alert for c in cases() if not c.expected}
    assert fired == silent
    assert {"ModelDown", "ModelErrorBudgetBurn"} <= fired <= alerts
    if name == "vllm":
        assert {"ModelTimeToFirstTokenP99AboveSlo", "ModelInterTokenLatencyP99AboveSlo"} <= fired


@needs_promtool
@pytest.mark.parametrize("name", sorted(CASES))
def test_promtool_drives_each_runtimes_alerts_with_the_series_it_exposes(name, tmp_path):
    cases, tokens = CASES[name]
    rules = tmp_path / f"{name}.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rules_of(RUNTIMES[name], tokens)}, sort_keys=False))
    checked = run(PROMTOOL, "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = run(PROMTOOL, "test", "rules", str(_unit_test_file(tmp_path, [rules], cases())))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_runtime_cases_fail_against_another_runtimes_names(tmp_path):
    """The cases prove the names matter: vLLM's series never fire rules generated for this repository's server."""
    rules = tmp_path / "wrong.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rules_of(MODEL_SERVER)}, sort_keys=False))
    firing = [c for c in vllm_cases() if c.expected and c.alert in {"ModelErrorBudgetBurn", "ModelDown"}]
    result = run(PROMTOOL, "test", "rules", str(_unit_test_file(tmp_path, [rules], firing)))
    assert result.returncode != 0
    assert re.search(r"ModelErrorBudgetBurn", result.stdout + result.stderr)


def test_a_token_objective_is_refused_for_a_runtime_without_token_latencies():
    from components._args import InvalidArgs
    from components.observability.model_monitoring import ModelMonitoring
    from tests.harness import components

    with pytest.raises(InvalidArgs, match=r"tokens: .*time to first token.*'triton'"):
        components(lambda opts: ModelMonitoring("m", ModelMonitoringArgs(
            model=ServedModel(MODEL, runtime=TRITON), tokens=TokenLatencyObjectives(2.0)), opts))


# ------------------------------------------------------------------------------------ dashboards

def _dashboard(runtime: ServingRuntime, tokens: TokenLatencyObjectives | None = None) -> dict:
    from components.observability.model_monitoring import model_target
    from components.observability.monitoring_dashboards import model_dashboard

    args = ModelMonitoringArgs(model=ServedModel(MODEL, namespace=NAMESPACE, runtime=runtime), tokens=tokens)
    return model_dashboard("uid", model_target(args), 0.999, 0.5, tokens=tokens)


def _queries(board: dict) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_an_llm_servers_dashboard_has_a_row_of_tokens_token_latencies_and_kv_cache():
    board = _dashboard(VLLM, LLM_OBJECTIVES)
    titles = [p["title"] for p in board["panels"]]
    assert {"Tokens per second", "Time to first token", "Inter-token latency", "KV cache use"} <= set(titles)
    text = "\n".join(_queries(board))
    assert 'vllm:generation_tokens_total{namespace="llm", job="llama", model_name="llama"}' in text
    assert "vector(2)" in text and "vector(0.1)" in text, "the objectives are drawn"
    assert not {"Tokens per second", "KV cache use"} & {p["title"] for p in _dashboard(TRITON)["panels"]}
    assert "Batch size (rows per model execution)" not in titles  # vLLM exposes no batch histogram


@pytest.mark.parametrize("runtime", PINNED, ids=lambda r: r.name)
def test_a_runtimes_dashboard_queries_only_series_it_exposes(runtime):
    from tests.monitoring.promql import metric_names

    names = set().union(*(metric_names(q) for q in _queries(_dashboard(runtime))))
    ours = {n for n in names if not n.startswith(("kube_", "up")) and n != "vector"}
    assert ours and ours <= set(exposed(runtime)), ours - set(exposed(runtime))


@needs_promtool
@pytest.mark.parametrize("runtime", PINNED, ids=lambda r: r.name)
def test_a_runtimes_dashboard_queries_are_valid_promql(runtime, tmp_path):
    rules = [{"record": f"dashboard:query{i}", "expr": e.replace("$__rate_interval", "5m")}
             for i, e in enumerate(_queries(_dashboard(runtime, LLM_OBJECTIVES if runtime.llm else None)))]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(PROMTOOL, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_a_keda_trigger_on_vllms_waiting_requests_is_one_valid_query_of_the_models_series(tmp_path):
    from components.observability.model_monitoring import model_target
    from components.serving.pod_autoscaling import keda_prometheus_trigger

    target = model_target(ModelMonitoringArgs(model=ServedModel(MODEL, namespace=NAMESPACE, runtime=VLLM)))
    trigger = keda_prometheus_trigger(target, VLLM.signals.queue_depth, 4, "http://prometheus-operated.monitoring:9090")
    assert trigger["type"] == "prometheus" and trigger["metadata"]["threshold"] == "4"
    query = trigger["metadata"]["query"]
    assert query == ('sum(avg_over_time(vllm:num_requests_waiting{namespace="llm", job="llama", '
                     'model_name="llama"}[1m]))')
    path = tmp_path / "trigger.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": [{"record": "keda:trigger", "expr": query}]}]}))
    assert run(PROMTOOL, "check", "rules", str(path)).returncode == 0
