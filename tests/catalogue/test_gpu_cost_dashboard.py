"""The GPU cost dashboard on the example catalogue: per model and namespace, whole GPUs and time-sliced shares,
priced from tools.cost's table; every query valid PromQL on a metric kube-state-metrics really exposes."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from components.observability.gpu_cost import cost_queries
from tests.catalogue import fixture
from tests.harness import stack
from tests.monitoring.promql import kube_state_metrics, metric_names
from tools.cost import prices

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _dashboard(synthesis) -> dict:
    maps = [r.raw_inputs for r in synthesis.resources if r.type == CONFIG_MAP and r.name == "gpu-cost-dashboard"]
    assert len(maps) == 1
    return json.loads(next(iter(maps[0]["data"].values())))


def _exprs(board: dict) -> list[str]:
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def test_the_catalogue_gets_one_cost_dashboard_in_the_monitoring_namespace_and_single_model_stacks_none():
    synthesis = fixture.example()
    maps = [r.raw_inputs for r in synthesis.resources if r.type == CONFIG_MAP and r.name == "gpu-cost-dashboard"]
    assert maps[0]["metadata"]["namespace"] == "monitoring"
    assert maps[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert not any(r.name == "gpu-cost-dashboard" for r in stack("prod").resources)


def test_whole_gpus_and_shares_are_priced_from_the_dated_table():
    exprs = _exprs(_dashboard(fixture.example()))
    whole = prices.INSTANCE_HOUR["g5.xlarge"]  # one GPU per g5.xlarge
    share = round(whole / fixture.sections()["sharedGpuPool"]["replicas"], 4)
    assert any('resource="nvidia_com_gpu"' in e and e.endswith(f" * {whole:g}") for e in exprs)
    assert any('resource="nvidia_com_gpu_shared"' in e and e.endswith(f" * {share:g}") for e in exprs)
    assert any("sum by (namespace, model)" in e for e in exprs), "a cost per model"


def test_an_unpriced_resource_gets_gpu_hours_but_no_cost_panel():
    panels = cost_queries({"nvidia_com_gpu": None})
    assert sorted(panels) == ["GPU-hours this range, by namespace", "GPUs requested, by model"]


def test_the_queries_read_only_what_kube_state_metrics_exposes():
    exprs = _exprs(_dashboard(fixture.example()))
    assert {name for e in exprs for name in metric_names(e)} - set(kube_state_metrics()) - {"label_replace"} == set()


@pytest.mark.tools("promtool")
def test_every_cost_query_is_valid_promql(tmp_path):
    exprs = _exprs(_dashboard(fixture.example()))
    rules = [{"record": f"cost:query{i}", "expr": e.replace("$__range", "1d")} for i, e in enumerate(exprs)]
    path = tmp_path / "cost.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "cost", "rules": rules}]}))
    result = subprocess.run([shutil.which("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
