"""Every Kubernetes object each stack declares, checked by the real schemas and by checkov."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from tests.harness import STACKS, stack, stack_config
from tests.needs import checkov

# Custom resources have no schema in kubernetes-validate; their fields are pinned by their component tests.
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/", "karpenter.sh/", "karpenter.k8s.aws/", "keda.sh/", "http.keda.sh/",
                          "argoproj.io/",  # checked against the pinned CRDs in test_progressive_delivery
                          "policy.sigstore.dev/")  # and in tests/security/test_image_admission.py

# Each skipped checkov check, with the reason it does not apply.
CHECKOV_SKIPS = {
    "CKV_K8S_15": "Image pull policy Always: images are pinned by digest, so IfNotPresent can never run stale code.",
}


def _kubernetes_version(name: str) -> str:
    return f"{stack_config(name).cluster.kubernetes_version}.0"


def _objects(name: str) -> list[dict]:
    return [manifest for _, manifest in stack(name).kubernetes_objects(masked=False)]


@pytest.mark.parametrize("name", STACKS)
def test_every_builtin_object_passes_strict_schema_validation(name):
    checked, problems = 0, []
    for manifest in _objects(name):
        if manifest["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
            continue
        try:
            kubernetes_validate.validate(manifest, _kubernetes_version(name), strict=True)
            checked += 1
        except Exception as error:  # ValidationError and SchemaNotFoundError both mean "not valid here"
            problems.append(f"{manifest['kind']}/{manifest['metadata'].get('name')}: {error}")
    assert not problems, "\n".join(problems)
    assert checked >= 6


@pytest.mark.parametrize("name", STACKS)
def test_every_kubernetes_resource_uses_the_stacks_explicit_provider(name):
    synthesis = stack(name)
    providers = {r.urn for r in synthesis.of_type("pulumi:providers:kubernetes")}
    kubernetes_resources = [r for r in synthesis.resources if r.type.startswith("kubernetes:") and r.custom]
    assert kubernetes_resources
    for r in kubernetes_resources:
        assert r.provider_urn in providers, f"{r.type} {r.name} uses provider {r.provider!r}"


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory) -> dict[str, dict]:
    binary = checkov()
    root = tmp_path_factory.mktemp("manifests")
    for name in STACKS:
        objects = [m for m in _objects(name) if not m["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS)]
        (root / f"{name}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=True))
    result = subprocess.run(
        [binary, "--directory", str(root), "--framework", "kubernetes", "--output", "json", "--compact", "--skip-download",
         "--skip-check", ",".join(CHECKOV_SKIPS)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    by_stack: dict[str, dict] = {name: {"passed": 0, "failed": []} for name in STACKS}
    for part in reports:
        results = part.get("results", {})
        for check in results.get("passed_checks", []):
            by_stack[Path(check["file_path"]).stem]["passed"] += 1
        for check in results.get("failed_checks", []):
            by_stack[Path(check["file_path"]).stem]["failed"].append(
                f"{check['check_id']} {check['check_name']} on {check['resource']}")
    return by_stack


@pytest.mark.parametrize("name", STACKS)
def test_checkov_finds_nothing_to_fail(checkov_report, name):
    assert checkov_report[name]["failed"] == [], "\n".join(checkov_report[name]["failed"])
    assert checkov_report[name]["passed"] > 20
