"""Asleep is not down, proven with promtool on dev's own rendered rules: zero replicas on purpose is silent, a
wake-up within its budget is silent, and a model that should be awake (replicas wanted or requests held) but
has no ready replica past the budget pages, as does a missing scrape target while it should be awake."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import stack, stack_config
from tests.needs import tool
from tests.observability.test_alerting_tools import Case, _series

PROMTOOL = shutil.which("promtool")


@pytest.fixture
def needs_promtool():
    tool("promtool")


def _dev_model_rules(directory: Path) -> Path:
    [groups] = [copy.deepcopy(m["spec"]["groups"]) for _, m in stack("dev").kubernetes_objects(masked=False)
                if m["kind"] == "PrometheusRule" and any(g["name"] == "my-ai-model.alerts" for g in m["spec"]["groups"])]
    for rule in (r for g in groups for r in g["rules"]):
        rule.pop("annotations", None)
    path = directory / "dev-model-rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def cases() -> list[Case]:
    config = stack_config("dev")
    model, ns = config.model.name, config.model_namespace
    wait_minutes = config.model.scale_to_zero.max_wait_seconds // 60 + 2  # the rules' wake-up budget: 12m in dev
    static = {"service": model, "namespace": ns, "severity": "critical"}
    target = {"namespace": ns, "job": model, "instance": "10.0.1.7:8080", "pod": f"{model}-7d9-x"}
    info = _series("inference_model_info", {**target, "model": model, "version": "1", "device": "cuda"})
    desired = _series("kube_deployment_spec_replicas", {"namespace": ns, "deployment": model, "job": "kube-state-metrics"})
    held = _series("interceptor_request_concurrency", {"route_namespace": ns, "route_name": "model-scale-to-zero",
                                                       "namespace": "keda", "job": "interceptor"})
    up = _series("up", target)
    late, early = f"{wait_minutes + 8}m", f"{wait_minutes - 2}m"
    return [
        Case("asleep: zero replicas wanted, nothing held, no replica: silent", "ModelDown",
             {desired: "0x60", held: "0x60"}, "40m"),
        Case("asleep: no scrape target at all while asleep: silent", "ModelScrapeTargetMissing",
             {desired: "0x60", held: "0x60"}, "40m"),
        Case("woke then slept: served for 10m, back to zero replicas: silent", "ModelDown",
             {desired: "1x10 0x50", held: "0x60", info: "1x10 stale"}, "40m"),
        Case("waking: replicas wanted, a request held, not ready yet within the budget: silent", "ModelDown",
             {desired: "0x5 1x60", held: "0x5 1x60"}, early),
        Case("should be up: a replica wanted and none ready past the budget: pages", "ModelDown",
             {desired: "0x5 1x60", held: "0x5 1x60"}, late, [static]),
        Case("should be up: requests held but KEDA never asks for a replica: pages", "ModelDown",
             {desired: "0x60", held: "0x5 3x60"}, late, [static]),
        Case("awake then crashed: replica wanted, its metrics gone past the budget: pages", "ModelDown",
             {desired: "1x60", held: "0x60", info: "1x5 stale"}, late, [static]),
        Case("should be up: no scrape target past the budget while a replica is wanted", "ModelScrapeTargetMissing",
             {desired: "1x60", held: "0x60"}, late, [{**static, "severity": "warning", "job": model}]),
        Case("a target down is always reported", "ModelScrapeTargetMissing",
             {desired: "1x60", up: "1x5 0x60"}, late, [{**static, "severity": "warning", **target}]),
    ]


def _run(directory: Path, rules: Path) -> subprocess.CompletedProcess:
    tests = directory / "tests.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": "1m",
                                     "tests": [c.as_promtool() for c in cases()]}, sort_keys=False))
    return subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.usefixtures("needs_promtool")
def test_promtool_proves_asleep_is_silent_and_should_be_awake_pages(tmp_path):
    result = _run(tmp_path, _dev_model_rules(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.usefixtures("needs_promtool")
def test_the_same_cases_fail_against_prods_rules_that_do_not_know_asleep(tmp_path):
    """Without the scale-to-zero awareness (the always-on rules), a model asleep on purpose would page."""
    [groups] = [copy.deepcopy(m["spec"]["groups"]) for _, m in stack("prod").kubernetes_objects(masked=False)
                if m["kind"] == "PrometheusRule" and any(g["name"] == "my-ai-model.alerts" for g in m["spec"]["groups"])]
    for rule in (r for g in groups for r in g["rules"]):
        rule.pop("annotations", None)
    rules = tmp_path / "always-on.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    result = _run(tmp_path, rules)
    assert result.returncode != 0 and "asleep: zero replicas wanted" in result.stdout + result.stderr
