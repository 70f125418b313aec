"""Write a `Synthesis` to files: resources as JSON, Kubernetes manifests, Helm releases, outputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from tools.synth.engine import Synthesis

# Objects others depend on go first, so `kubectl apply -f manifests.yaml` works in one pass.
_APPLY_ORDER = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
                "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "StorageClass"]


def _apply_rank(manifest: dict) -> tuple:
    kind = manifest.get("kind", "")
    rank = _APPLY_ORDER.index(kind) if kind in _APPLY_ORDER else len(_APPLY_ORDER)
    meta = manifest.get("metadata") or {}
    return rank, kind, meta.get("namespace") or "", meta.get("name") or ""


def resources_document(synthesis: Synthesis) -> list[dict]:
    """Every resource: type, logical name, parent, provider, inputs (secrets masked), options."""
    return [
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom,
         "provider": r.provider, "inputs": r.masked_inputs, "options": r.options}
        for r in synthesis.resources
    ]


def manifests(synthesis: Synthesis) -> list[dict]:
    """Kubernetes objects in apply order (secrets masked)."""
    return sorted((m for _, m in synthesis.kubernetes_objects(masked=True)), key=_apply_rank)


def helm_documents(synthesis: Synthesis) -> dict[str, dict]:
    """Helm releases by logical name: chart, version, repository, namespace, values (secrets masked)."""
    documents = {}
    for release in synthesis.helm_releases():
        inputs = release.masked_inputs
        documents[release.name] = {
            "chart": inputs.get("chart"),
            "version": inputs.get("version"),
            "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
            "namespace": inputs.get("namespace"),
            "values": inputs.get("values") or {},
        }
    return documents


def summary(synthesis: Synthesis) -> str:
    """Resources counted by enclosing component and type."""
    counts: Counter = Counter()
    for r in synthesis.resources:
        component = synthesis.component_of(r)
        owner = f"{component.type.rsplit(':', 1)[-1]}({component.name})" if component else "(stack)"
        counts[(owner, r.type)] += 1
    lines = [f"stack {synthesis.stack}: {len(synthesis.resources)} resources"]
    for (owner, type_token), n in sorted(counts.items()):
        lines.append(f"  {owner:<40} {type_token:<60} {n}")
    return "\n".join(lines)


def _dump_json(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write(synthesis: Synthesis, out: Path) -> list[Path]:
    """Write every artefact under `out` (replacing earlier ones); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    helm_dir = out / "helm"
    helm_dir.mkdir(exist_ok=True)
    for stale in helm_dir.glob("*.yaml"):
        stale.unlink()
    files = {
        out / "resources.json": _dump_json(resources_document(synthesis)),
        out / "outputs.json": _dump_json(synthesis.stack_outputs),
        out / "manifests.yaml": yaml.safe_dump_all(manifests(synthesis), sort_keys=True),
    }
    for name, document in helm_documents(synthesis).items():
        files[helm_dir / f"{name}.yaml"] = yaml.safe_dump(document, sort_keys=True)
    for path, text in files.items():
        path.write_text(text)
    return sorted(files)
