"""The offline synth: deterministic files, secrets masked, realistic mocked outputs, clear config errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pulumi
import pytest
import yaml

from tests.harness import AWS_STACKS, STACKS, TEST_SECRETS, stack
from tools.synth import PROJECT_DIR, render, run


def _synth_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.synth", *args], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=120)


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_runs_write_identical_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = _synth_cli("--stack", "dev", "--out", str(out))
        assert result.returncode == 0, result.stderr
    assert _tree(first) == _tree(second)
    assert {"resources.json", "manifests.yaml", "outputs.json"} <= set(_tree(first))
    assert any(name.startswith("helm/") for name in _tree(first))
    assert "stack dev:" in result.stdout and "ModelService(model)" in result.stdout


@pytest.mark.parametrize("name", STACKS)
def test_written_files_never_contain_a_secret(tmp_path, name):
    render.write(stack(name), tmp_path)
    text = "\n".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    for path, value in TEST_SECRETS.items():
        assert value not in text, f"{path} leaked into {name}'s synth output"
    assert "[secret]" in text


@pytest.mark.parametrize("name", STACKS)
def test_resources_document_every_resource_with_its_parent_and_inputs(tmp_path, name):
    render.write(stack(name), tmp_path)
    resources = json.loads((tmp_path / "resources.json").read_text())
    urns = {r["urn"] for r in resources}
    assert len(resources) == len(stack(name).resources)
    for r in resources:
        assert r["type"] and r["name"] and isinstance(r["inputs"], dict)
        assert r["parent"].endswith("pulumi:pulumi:Stack::gpu-model-platform-" + name) or r["parent"] in urns, r["urn"]
    manifests = list(yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()))
    assert manifests[0]["kind"] == "Namespace"
    assert all({"apiVersion", "kind", "metadata"} <= set(m) for m in manifests)


@pytest.mark.parametrize("name", AWS_STACKS)
def test_mocked_outputs_have_the_shapes_aws_gives(name):
    outputs = stack(name).stack_outputs
    region = "us-west-2"
    assert re.fullmatch(rf"123456789012\.dkr\.ecr\.{region}\.amazonaws\.com/[a-z0-9-]+", outputs["repositoryUrl"])
    assert re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", outputs["image"])
    assert outputs["kubeconfig"] == "[secret]"
    arns = [v for r in stack(name).resources for k, v in r.outputs.items() if k == "arn" and isinstance(v, str)]
    assert arns and all(re.match(r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:(123456789012)?:", a) for a in arns), arns[:5]


def test_bad_config_fails_with_the_config_error_and_writes_nothing(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_DIR / "__main__.py", project)
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    document["config"]["gpu-model-platform:gpuNodeGroup"]["capacityType"] = "CHEAP"
    (project / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))
    result = _synth_cli("--stack", "broken", "--project-dir", str(project), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "gpu-model-platform:gpuNodeGroup.capacityType: got 'CHEAP'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_stack_names_the_stacks_there_are():
    result = _synth_cli("--stack", "staging")
    assert result.returncode == 2
    assert "Pulumi.staging.yaml" in result.stderr and "dev" in result.stderr


def test_the_engine_records_parents_options_and_masks_secret_outputs():
    class Box(pulumi.ComponentResource):
        def __init__(self, name: str):
            super().__init__("test:index:Box", name)
            import pulumi_kubernetes as k8s
            k8s.core.v1.ConfigMap(f"{name}-config", data={"a": "b"},
                                  opts=pulumi.ResourceOptions(parent=self, protect=True, ignore_changes=["data"]))
            self.register_outputs({"ok": True})

    def program():
        Box("box")
        pulumi.export("token", pulumi.Output.secret("s3cr3t-token"))
        pulumi.export("plain", "visible")

    synthesis = run(program)
    box = synthesis.named("box")
    config_map = synthesis.named("box-config")
    assert config_map.parent == box.urn and not box.custom and config_map.custom
    assert config_map.options["protect"] is True and config_map.options["ignoreChanges"] == ["data"]
    assert box.component_outputs == {"ok": True}
    assert synthesis.stack_outputs == {"plain": "visible", "token": "[secret]"}
    # Each run is isolated: a second run starts from an empty program.
    assert len(run(lambda: None).resources) == 0
