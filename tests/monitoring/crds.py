"""Our custom resources against the CRD schemas of the pinned chart, strictly.

The API server silently prunes fields a CRD does not declare, so a misspelt `honorLabels` would
vanish without an error. Here every object schema that lists its properties refuses any other.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

CRDS_FILE = Path(__file__).parent / "kube-prometheus-stack-88.5.3.crds.json"


def _strict(node):
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    crd = json.loads(CRDS_FILE.read_text())["crds"][kind]
    return jsonschema.Draft7Validator(_strict(crd["schema"]))


def kinds() -> set[str]:
    return set(json.loads(CRDS_FILE.read_text())["crds"])


def problems(manifest: dict) -> list[str]:
    """Every way the object breaks its CRD's schema, as `path: message`."""
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in _validator(manifest["kind"]).iter_errors(manifest)]
