"""Test data of scale to zero: the pinned KEDA charts' values keys and CRD schemas, and the interceptor's metrics."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

from tests.monitoring.crds import _strict as strict_schema

DATA = Path(__file__).parent
CRDS_FILE = DATA / "keda-2.20.2-http-0.15.0.crds.json"
# The charts' values keys ship with the package (components/charts/), which checks extra values against them.
KEDA_KEYS, HTTP_KEYS = "keda-2.20.2.keys.tsv", "keda-add-ons-http-0.15.0.keys.tsv"
INTERCEPTOR_METRICS = DATA / "http-add-on-0.15.0.interceptor-metrics.txt"


@cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    crd = json.loads(CRDS_FILE.read_text())["crds"][kind]
    return jsonschema.Draft7Validator(strict_schema(crd["schema"]))


def crd_api(kind: str) -> str:
    crd = json.loads(CRDS_FILE.read_text())["crds"][kind]
    return f"{crd['group']}/{crd['version']}"


def crd_problems(manifest: dict) -> list[str]:
    """Every way a ScaledObject or InterceptorRoute breaks the pinned CRD's schema (unknown fields included)."""
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in _validator(manifest["kind"]).iter_errors(manifest)]


def interceptor_metrics() -> set[str]:
    return {line for line in INTERCEPTOR_METRICS.read_text().splitlines() if line and not line.startswith("#")}
