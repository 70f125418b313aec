"""Test data of progressive delivery: the pinned argo-rollouts chart's CRD schemas (Rollout,
AnalysisTemplate, AnalysisRun), read from argoproj/argo-helm at tag argo-rollouts-2.41.0. The controller runs
v1.9.1 (the chart's image tag overridden): its CRDs are v1.9.0's (`git diff v1.9.0 v1.9.1 -- manifests/crds pkg/apis`
in argoproj/argo-rollouts is empty)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

from tests.monitoring.crds import _strict as strict_schema

DATA = Path(__file__).parent
CRDS_FILE = DATA / "argo-rollouts-2.41.0.crds.json"
CHART_KEYS = "argo-rollouts-2.41.0.keys.tsv"  # shipped in components/charts/
CONTROLLER_METRICS = DATA / "argo-rollouts-v1.9.1.controller-metrics.txt"


@cache
def _crd(kind: str) -> dict:
    return json.loads(CRDS_FILE.read_text())["crds"][kind]


@cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(strict_schema(_crd(kind)["schema"]))


def crd_api(kind: str) -> str:
    return f"{_crd(kind)['group']}/{_crd(kind)['version']}"


def crd_problems(manifest: dict) -> list[str]:
    """Every way a Rollout or AnalysisTemplate breaks the pinned CRD's schema (unknown fields included)."""
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in _validator(manifest["kind"]).iter_errors(manifest)]


def controller_metrics() -> set[str]:
    """Metric names the pinned controller serves (histograms also as _bucket, _sum, _count)."""
    names = {line for line in CONTROLLER_METRICS.read_text().splitlines() if line and not line.startswith("#")}
    return names | {f"{n}_{suffix}" for n in names for suffix in ("bucket", "sum", "count")}
