"""The rules and the Alertmanager config the program deploys, checked by Prometheus's own tools.

`promtool check rules` validates the rule files rendered from the prod stack's PrometheusRules;
`promtool test rules` runs unit tests, written here as series, proving that each alert fires on the
series that should fire it and stays silent on healthy ones (at production thresholds); `amtool`
validates the rendered Alertmanager config and shows where critical and warning alerts go.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.observability.model_monitoring import (
    WAKE_UP_MARGIN_SECONDS,
    ModelMonitoring,
    ModelMonitoringArgs,
    model_rules,
)
from components.observability.monitoring_alertmanager import AlertReceiver, alertmanager_config, render
from components.observability.monitoring_rules import (
    DCGM_JOB,
    ModelAlertThresholds,
    RolloutSignals,
    ScaleToZeroSignals,
    alert_names,
    gpu_rule_groups,
)
from components.observability.monitoring_stack import MonitoringStack
from components.serving.model_service import ServedModel
from stack_config import component_args as build
from tests.harness import components, stack_config
from tools.synth import Synthesis

pytestmark = pytest.mark.slow
PROMTOOL, AMTOOL = shutil.which("promtool"), shutil.which("amtool")
needs_promtool = pytest.mark.tools("promtool")
needs_amtool = pytest.mark.tools("amtool")


@cache
def program(stack: str) -> Synthesis:
    """The stack's monitoring as the program declares it: the stack and the model's monitoring."""
    config = stack_config(stack)

    def build_all(opts):
        monitoring = MonitoringStack("monitoring", build.monitoring_args(config), opts)
        model = ServedModel(config.model.name, namespace=config.model_namespace, team=config.model.team)
        # A ServedModel stands for the program's model: the signals its ModelScaleToZero or ModelCanary would give.
        asleep, canary = config.model.scale_to_zero, build.releases_as_canary(config)
        args = dataclasses.replace(
            build.model_monitoring_args(config, monitoring, model),
            scale_to_zero=ScaleToZeroSignals(
                deployment=config.model.name, route_name=build.MODEL_SCALE_TO_ZERO,
                wake_up_for=f"{asleep.max_wait_seconds + WAKE_UP_MARGIN_SECONDS}s",
                holder_namespace=asleep.keda_namespace) if asleep.enabled else None,
            rollout=RolloutSignals(rollout=config.model.name) if canary else None)
        ModelMonitoring("model-monitoring", args, build.after(opts, monitoring))

    return components(build_all)


def rule_files(stack: str, directory: Path, *, strip_annotations: bool = False) -> list[Path]:
    """Each PrometheusRule of the stack as a Prometheus rule file."""
    paths = []
    for registration, manifest in program(stack).kubernetes_objects(masked=False):
        if manifest["kind"] != "PrometheusRule":
            continue
        groups = copy.deepcopy(manifest["spec"]["groups"])
        if strip_annotations:  # promtool compares annotations too; the templates are checked by `check rules`
            for rule in (r for g in groups for r in g["rules"]):
                rule.pop("annotations", None)
        path = directory / f"{registration.name}.yml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        paths.append(path)
    return sorted(paths)


def alertmanager_file(stack: str, directory: Path) -> Path:
    secret = next(m for _, m in program(stack).kubernetes_objects(masked=False)
                  if m["kind"] == "Secret" and "alertmanager.yaml" in (m.get("stringData") or {}))
    path = directory / f"alertmanager-{stack}.yml"
    path.write_text(secret["stringData"]["alertmanager.yaml"])
    return path


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


# ------------------------------------------------------------------------------------------- check rules

@needs_promtool
@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_rule_files_the_program_renders_pass_promtool_check(stack, tmp_path):
    files = rule_files(stack, tmp_path)
    assert len(files) == 2, files
    result = run(PROMTOOL, "check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


@needs_promtool
def test_promtool_check_rejects_a_broken_rule(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "Broken", "expr": "sum(rate(x[5m]) > ", "labels": {"severity": "warning"}}]}]}))
    assert run(PROMTOOL, "check", "rules", str(broken)).returncode != 0


# ------------------------------------------------------------------------------------------- unit tests

@dataclass
class Case:
    """One promtool test group: input series, and the alerts expected at one evaluation time."""

    name: str
    alert: str
    series: dict[str, str]
    eval_time: str
    expected: list[dict[str, str]] = field(default_factory=list)
    interval: str = "1m"

    def as_promtool(self) -> dict:
        return {"name": self.name, "interval": self.interval,
                "input_series": [{"series": s, "values": v} for s, v in self.series.items()],
                "alert_rule_test": [{"eval_time": self.eval_time, "alertname": self.alert,
                                     "exp_alerts": [{"exp_labels": e} for e in self.expected]}]}


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def model_cases() -> list[Case]:
    config = stack_config("prod")
    model, ns = config.model.name, config.model_namespace
    target = {"namespace": ns, "job": model, "instance": "10.0.1.7:8080", "pod": f"{model}-7d9-x"}
    app = {**target, "model": model}
    static = {"service": model, "namespace": ns}
    infer = {**app, "route": "/v2/models/{name}/infer"}
    ok, error, bad_request = ({**infer, "status": s} for s in ("200", "500", "400"))
    info = {**app, "version": "3f2a", "device": "cuda"}
    restarts = {"namespace": ns, "container": model, "pod": f"{model}-7d9-x", "job": "kube-state-metrics"}
    buckets = ("0.1", "0.5", "1", "+Inf")
    ratio_labels = {"namespace": ns, "job": model, "model": model}
    return [
        Case("model down: its only replica stops", "ModelDown",
             {_series("inference_model_info", info): "1x5 stale"}, "15m",
             [{"severity": "critical", **static}]),
        Case("model up: a replica serves a loaded model", "ModelDown",
             {_series("inference_model_info", info): "1x30"}, "15m"),
        Case("errors: 10% 5xx from minute 30 burn the budget fast", "ModelErrorBudgetBurn",
             {_series("inference_requests_total", ok): "0+100x90", _series("inference_requests_total", error): "0x30 0+10x60"},
             "60m", [{"severity": "critical", "window": "1h", **static, **ratio_labels},
                     {"severity": "critical", "window": "6h", **static, **ratio_labels}]),
        Case("errors: a sustained 10% 5xx also opens the slow-burn ticket", "ModelErrorBudgetBurn",
             {_series("inference_requests_total", ok): "0+100x150", _series("inference_requests_total", error): "0x30 0+10x120"},
             "140m", [{"severity": "critical", "window": "1h", **static, **ratio_labels},
                      {"severity": "critical", "window": "6h", **static, **ratio_labels},
                      {"severity": "warning", "window": "1d", **static, **ratio_labels}]),
        Case("errors: 10% bad requests (4xx) are not the service's fault", "ModelErrorBudgetBurn",
             {_series("inference_requests_total", ok): "0+100x90", _series("inference_requests_total", bad_request): "0+10x90"},
             "60m"),
        Case("latency: 90% of requests between 0.5 and 1 s", "ModelLatencyP99AboveSlo",
             {_series("inference_request_duration_seconds_bucket", {**infer, "le": le}): v
              for le, v in zip(buckets, ("0+0x30", "0+10x30", "0+100x30", "0+100x30"), strict=True)},
             "20m", [{"severity": "warning", **static, "job": model, "model": model}]),
        Case("latency: every request under 0.1 s", "ModelLatencyP99AboveSlo",
             {_series("inference_request_duration_seconds_bucket", {**infer, "le": le}): "0+100x30" for le in buckets},
             "20m"),
        Case("restarts: one per minute", "ModelPodsRestarting",
             {_series("kube_pod_container_status_restarts_total", restarts): "0+1x20"}, "10m",
             [{"severity": "warning", **static, **restarts}]),
        Case("restarts: none, and a sidecar restarting is not the model", "ModelPodsRestarting",
             {_series("kube_pod_container_status_restarts_total", restarts): "0x20",
              _series("kube_pod_container_status_restarts_total", {**restarts, "container": "istio-proxy"}): "0+1x20"},
             "10m"),
        Case("scrape: the target is down", "ModelScrapeTargetMissing",
             {_series("up", target): "1x5 0x10"}, "12m", [{"severity": "warning", **static, **target}]),
        Case("scrape: no target is discovered at all", "ModelScrapeTargetMissing",
             {_series("up", {**target, "job": "someone-else"}): "1x10"}, "7m",
             [{"severity": "warning", **static, "job": model}]),
        Case("scrape: the target is up", "ModelScrapeTargetMissing", {_series("up", target): "1x15"}, "12m"),
    ]


def gpu_cases() -> list[Case]:
    gpu = {"job": DCGM_JOB, "node": "ip-10-0-1-5", "gpu": "0", "UUID": "GPU-4b1e", "modelName": "NVIDIA A10G",
           "Hostname": "ip-10-0-1-5"}
    on_pod = {**gpu, "namespace": "my-ai-model", "pod": "my-ai-model-7d9-x", "container": "my-ai-model"}
    static = {"service": "gpu"}
    util = "DCGM_FI_DEV_GPU_UTIL"
    return [
        Case("saturated: 99% busy for half an hour", "GpuUtilizationSaturated", {_series(util, on_pod): "99x30"}, "30m",
             [{"severity": "warning", **static, **on_pod}]),
        Case("saturated: 60% busy is healthy", "GpuUtilizationSaturated", {_series(util, on_pod): "60x30"}, "30m"),
        Case("idle: 1% for four hours", "GpuIdle", {_series(util, gpu): "1x240"}, "200m",
             [{"severity": "warning", **static, **gpu}]),
        Case("idle: 50% is working", "GpuIdle", {_series(util, gpu): "50x240"}, "200m"),
        Case("memory: 98% of the framebuffer used", "GpuMemoryNearFull",
             {_series("DCGM_FI_DEV_FB_USED", on_pod): "23000x20", _series("DCGM_FI_DEV_FB_FREE", on_pod): "500x20"},
             "15m", [{"severity": "warning", **static, **on_pod}]),
        Case("memory: 40% used", "GpuMemoryNearFull",
             {_series("DCGM_FI_DEV_FB_USED", on_pod): "9000x20", _series("DCGM_FI_DEV_FB_FREE", on_pod): "13000x20"}, "15m"),
        Case("xid: XID 79 appears as a new err_code series", "GpuXidError",
             {_series("DCGM_FI_DEV_XID_ERRORS", {**gpu, "err_code": "0", "err_msg": "none"}): "0x9 stale",
              _series("DCGM_FI_DEV_XID_ERRORS", {**gpu, "err_code": "79", "err_msg": "fallen off the bus"}): "_x10 79x20"},
             "12m", [{"severity": "warning", **static, **gpu}]),
        Case("xid: the value changes on one series (exporters without err_code)", "GpuXidError",
             {_series("DCGM_FI_DEV_XID_ERRORS", gpu): "0x10 48x20"}, "12m", [{"severity": "warning", **static, **gpu}]),
        Case("xid: an old XID the exporter still reports does not alert forever", "GpuXidError",
             {_series("DCGM_FI_DEV_XID_ERRORS", gpu): "0x10 48x30"}, "35m"),
        Case("xid: none", "GpuXidError", {_series("DCGM_FI_DEV_XID_ERRORS", gpu): "0x30"}, "20m"),
        Case("temperature: 91 °C", "GpuTemperatureHigh", {_series("DCGM_FI_DEV_GPU_TEMP", gpu): "91x20"}, "15m",
             [{"severity": "warning", **static, **gpu}]),
        Case("temperature: 70 °C", "GpuTemperatureHigh", {_series("DCGM_FI_DEV_GPU_TEMP", gpu): "70x20"}, "15m"),
        Case("exporter: two GPU nodes, one exporter target", "GpuMetricsMissing",
             {_series("kube_node_status_capacity", {"node": n, "resource": "nvidia_com_gpu", "unit": "integer"}): "1x20"
              for n in ("a", "b")} | {_series("up", {"job": DCGM_JOB, "instance": "10.0.1.5:9400"}): "1x20"},
             "15m", [{"severity": "warning", **static}]),
        Case("exporter: two GPU nodes, two targets", "GpuMetricsMissing",
             {_series("kube_node_status_capacity", {"node": n, "resource": "nvidia_com_gpu", "unit": "integer"}): "1x20"
              for n in ("a", "b")} | {_series("up", {"job": DCGM_JOB, "instance": i}): "1x20" for i in ("x:9400", "y:9400")},
             "15m"),
        Case("exporter: GPU nodes scaled to zero is not an outage", "GpuMetricsMissing",
             {_series("kube_node_status_capacity", {"node": "cpu", "resource": "cpu", "unit": "core"}): "2x20"}, "15m"),
    ]


def node_disk_cases() -> list[Case]:
    fs = {"job": "node-exporter", "instance": "ip-10-0-1-5", "device": "/dev/nvme0n1p1", "mountpoint": "/",
          "fstype": "xfs"}
    shm = {**fs, "device": "shm", "mountpoint": "/dev/shm", "fstype": "tmpfs"}
    condition = {"job": "kube-state-metrics", "node": "ip-10-0-1-5", "condition": "DiskPressure"}
    static = {"service": "node"}
    gib = 2**30
    return [
        Case("disk: 5 GiB free of 100 on a GPU node's root", "NodeDiskNearlyFull",
             {_series("node_filesystem_avail_bytes", fs): f"{5 * gib}x30",
              _series("node_filesystem_size_bytes", fs): f"{100 * gib}x30"}, "20m",
             [{"severity": "warning", **static, **fs}]),
        Case("disk: 40 GiB free, and a full tmpfs is not a disk", "NodeDiskNearlyFull",
             {_series("node_filesystem_avail_bytes", fs): f"{40 * gib}x30",
              _series("node_filesystem_size_bytes", fs): f"{100 * gib}x30",
              _series("node_filesystem_avail_bytes", shm): "0x30", _series("node_filesystem_size_bytes", shm): "64x30"},
             "20m"),
        Case("pressure: the kubelet reports DiskPressure", "NodeDiskPressure",
             {_series("kube_node_status_condition", {**condition, "status": "true"}): "0x2 1x20",
              _series("kube_node_status_condition", {**condition, "status": "false"}): "1x2 0x20"}, "15m",
             [{"severity": "warning", **static, **condition, "status": "true"}]),
        Case("pressure: none", "NodeDiskPressure",
             {_series("kube_node_status_condition", {**condition, "status": "true"}): "0x20",
              _series("kube_node_status_condition", {**condition, "status": "false"}): "1x20"}, "15m"),
    ]


def _unit_test_file(directory: Path, rules: list[Path], cases: list[Case]) -> Path:
    path = directory / "tests.yml"
    path.write_text(yaml.safe_dump({"rule_files": [str(p) for p in rules], "evaluation_interval": "1m",
                                    "tests": [c.as_promtool() for c in cases]}, sort_keys=False, allow_unicode=True))
    return path


def test_every_alert_has_a_firing_case_and_a_silent_case():
    cases = model_cases() + gpu_cases() + node_disk_cases()
    deployed = alert_names(model_rules(ModelMonitoringArgs(model=ServedModel("m"))) + gpu_rule_groups())
    assert {c.alert for c in cases if c.expected} == set(deployed)
    assert {c.alert for c in cases if not c.expected} == set(deployed)


@needs_promtool
def test_promtool_unit_tests_prove_each_alert_fires_and_stays_silent(tmp_path):
    cases = model_cases() + gpu_cases() + node_disk_cases()
    tests = _unit_test_file(tmp_path, rule_files("prod", tmp_path, strip_annotations=True), cases)
    result = run(PROMTOOL, "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
@pytest.mark.parametrize("thresholds", [
    ModelAlertThresholds(down_for="1h"),  # would not page before the 15m evaluation
    ModelAlertThresholds(restarts=50),
])
def test_the_unit_tests_fail_when_a_rule_is_weakened(thresholds, tmp_path):
    config = stack_config("prod")
    weakened = model_rules(ModelMonitoringArgs(model=ServedModel(config.model.name, namespace=config.model_namespace),
                                               availability=config.monitoring.slo.availability,
                                               latency_p99_seconds=config.monitoring.slo.latency_p99_seconds,
                                               thresholds=thresholds))
    for rule in (r for g in weakened for r in g["rules"]):
        rule.pop("annotations", None)
    rules = tmp_path / "weakened.yml"
    rules.write_text(yaml.safe_dump({"groups": weakened}, sort_keys=False))
    result = run(PROMTOOL, "test", "rules", str(_unit_test_file(tmp_path, [rules], model_cases())))
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------- Alertmanager

@needs_amtool
@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_rendered_alertmanager_config_passes_amtool_check(stack, tmp_path):
    result = run(AMTOOL, "check-config", str(alertmanager_file(stack, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_amtool
def test_amtool_check_rejects_a_broken_config(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"route": {"receiver": "missing"}, "receivers": [{"name": "null"}]}))
    assert run(AMTOOL, "check-config", str(broken)).returncode != 0


def _routes(stack: str, directory: Path, *labels: str) -> list[str]:
    result = run(AMTOOL, "config", "routes", "test", f"--config.file={alertmanager_file(stack, directory)}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


@needs_amtool
@pytest.mark.parametrize(("stack", "labels", "receivers"), [
    ("prod", ("alertname=ModelDown", "severity=critical", "service=my-ai-model", "namespace=my-ai-model"), ["ml-pager"]),
    ("prod", ("alertname=ModelLatencyP99AboveSlo", "severity=warning", "service=my-ai-model"), ["ml-chat"]),
    ("prod", ("alertname=GpuIdle", "severity=warning", "service=gpu"), ["ml-chat"]),
    ("prod", ("alertname=Watchdog", "severity=none"), ["null"]),
    ("prod", ("alertname=KubeCPUOvercommit", "severity=info"), ["null"]),
    ("dev", ("alertname=ModelDown", "severity=critical", "service=my-ai-model"), ["ml-chat"]),
    ("dev", ("alertname=GpuXidError", "severity=warning", "service=gpu"), ["ml-chat"]),
    ("local", ("alertname=ModelDown", "severity=critical"), ["null"]),
])
def test_amtool_routes_critical_alerts_to_the_pager_and_warnings_to_chat(stack, labels, receivers, tmp_path):
    assert _routes(stack, tmp_path, *labels) == receivers


def _templates(node) -> list[str]:
    if isinstance(node, dict):
        return [t for v in node.values() for t in _templates(v)]
    if isinstance(node, list):
        return [t for v in node for t in _templates(v)]
    return [node] if isinstance(node, str) and "{{" in node else []


@needs_amtool
def test_every_notification_template_renders(tmp_path):
    config = yaml.safe_load(alertmanager_file("prod", tmp_path).read_text())
    templates = _templates(config["receivers"])
    assert len(templates) >= 5  # Slack title and text, PagerDuty description, severity and details
    empty = tmp_path / "none.tmpl"
    empty.write_text("")
    for template in templates + ["{{ .Status | noSuchFunction }}"]:
        result = run(AMTOOL, "template", "render", f"--template.glob={empty}", f"--template.text={template}")
        broken = template.endswith("noSuchFunction }}")
        assert (result.returncode != 0) == broken, (template, result.stderr)


@needs_amtool
@pytest.mark.parametrize(("labels", "receivers"), [
    ({"alertname": "ModelDown", "severity": "critical", "team": "fraud"}, ["fraud-chat", "platform-pager"]),
    ({"alertname": "ModelLatencyP99AboveSlo", "severity": "warning", "team": "fraud"}, ["fraud-chat"]),
    ({"alertname": "ModelDown", "severity": "critical", "team": "churn"}, ["churn-chat", "platform-pager"]),
    ({"alertname": "ModelPodsRestarting", "severity": "warning", "team": "churn"}, ["churn-chat"]),
    ({"alertname": "GpuIdle", "severity": "warning", "service": "gpu"}, ["null"]),
    ({"alertname": "GpuXidError", "severity": "critical", "service": "gpu"}, ["platform-pager"]),
])
def test_amtool_routes_each_teams_alerts_to_its_own_receivers_and_the_shared_pager(labels, receivers, tmp_path):
    teams = [AlertReceiver("fraud-chat", "slack", ("critical", "warning"), url="https://hooks.example/f", teams=("fraud",)),
             AlertReceiver("churn-chat", "slack", ("critical", "warning"), url="https://hooks.example/c", teams=("churn",)),
             AlertReceiver("platform-pager", "pagerduty", ("critical",), routing_key="k")]
    config = tmp_path / "alertmanager.yml"
    config.write_text(render(alertmanager_config(teams)))
    result = run(AMTOOL, "config", "routes", "test", f"--config.file={config}", *[f"{k}={v}" for k, v in labels.items()])
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.strip().split(",")) == receivers
