"""What CI reads of each stack (tools/delivery/stacks.py): the repository the stack admits images from must be
the one the workflows run in, and a `models:` catalogue goes through delivery with one digest pushed to each
model's own repository and set on each model's config key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.catalogue.fixture import EXAMPLE, STACK, sections
from tests.catalogue.fixture import config as catalogue_config
from tests.catalogue.fixture import example as catalogue_example
from tools.delivery import stacks

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE_DIR = EXAMPLE.parent
DIGEST = "sha256:" + "a" * 64
HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


def _pyproject_repository() -> str:
    source = re.search(r'^Source = "https://github.com/([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert source
    return source.group(1)


# --- the repository identity ------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_files_name_this_repository_as_the_one_whose_signatures_are_admitted(stack):
    assert stacks.stack_config(stack).delivery.repository == _pyproject_repository()


def test_a_stack_whose_repository_is_not_the_workflows_is_refused_naming_key_both_values_and_the_fix():
    with pytest.raises(SystemExit) as refused:
        stacks.stack_info("prod", github_repository="someone/their-copy")
    message = str(refused.value)
    assert message.startswith("Pulumi.prod.yaml: gpu-model-platform:delivery.repository is "
                              f"'{_pyproject_repository()}', but these workflows run in 'someone/their-copy'")
    assert "Set delivery.repository to 'someone/their-copy'" in message


def test_the_repository_must_match_case_for_case_since_the_signature_names_it_so():
    upper = _pyproject_repository().upper()
    with pytest.raises(SystemExit, match="case for case"):
        stacks.stack_info("prod", github_repository=upper)
    assert stacks.stack_info("prod", github_repository=_pyproject_repository())["stack"] == "prod"


def test_the_ci_stacks_step_passes_the_workflows_repository():
    action = (ROOT / ".github" / "actions" / "ci-stacks" / "action.yml").read_text()
    assert 'python -m tools.delivery ci-stacks --github-repository "$GITHUB_REPOSITORY"' in action


def test_the_ci_stacks_command_fails_for_another_repository():
    result = subprocess.run([sys.executable, "-m", "tools.delivery", "ci-stacks", "--github-repository", "a/b"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "delivery.repository is" in result.stderr and result.stdout == ""


# --- a catalogue through delivery ---------------------------------------------------------------------------

def test_a_single_model_stack_deploys_the_digest_to_model_image_as_before():
    info = stacks.stack_info("prod")
    config = stacks.stack_config("prod")
    assert info["variant"] == config.model.image_variant
    assert info["repository"] == config.registry_name_for("prod")
    assert info["models"] == [{"name": config.model.name, "key": "model", "variant": config.model.image_variant,
                               "repository": info["repository"]}]
    image = f"{HOST}/{info['repository']}@{DIGEST}"
    assert stacks.model_images("prod", image, "v7") == [("model.image", image), ("model.version", "v7")]
    assert stacks.model_images("prod", image, "") == [("model.image", image)]


def test_each_catalogue_model_gets_the_digest_in_its_own_repository_on_its_own_key():
    info = stacks.stack_info(STACK, CATALOGUE_DIR)
    names = [m.name for m in (v.model for v in stacks.stack_config(STACK, CATALOGUE_DIR).catalogue())]
    assert [m["name"] for m in info["models"]] == names and len(names) == 3
    assert [m["key"] for m in info["models"]] == ["models[0]", "models[1]", "models[2]"]
    pairs = dict(stacks.model_images(STACK, f"{HOST}/{info['repository']}@{DIGEST}", "v2", CATALOGUE_DIR))
    assert {k for k in pairs if k.endswith(".image")} == {"models[0].image", "models[1].image", "models[2].image"}
    assert all(pairs[f"{m['key']}.image"] == f"{HOST}/{m['repository']}@{DIGEST}" for m in info["models"])
    assert all(pairs[f"{m['key']}.version"] == "v2" for m in info["models"])


def test_the_repositories_ci_pushes_to_are_the_ones_the_program_creates_for_each_model():
    created = sorted(r.inputs["name"] for r in catalogue_example().of_type("aws:ecr/repository:Repository"))
    assert created == sorted(m["repository"] for m in stacks.stack_info(STACK, CATALOGUE_DIR)["models"])


def test_a_vendor_runtime_keeps_its_own_image_and_is_not_built():
    models = [dict(m) for m in sections()["models"]]
    models[2].pop("apiKeys", None)
    models[2].update(runtime="vllm", authentication="none")
    config = catalogue_config(models=models)
    assert config.models[2].runtime == "vllm"
    assert [m["name"] for m in stacks.built_models(config, STACK)] == ["llm-chat", "image-classifier"]


def test_models_ci_builds_with_two_variants_are_refused_with_the_fix(monkeypatch):
    two = [{"name": "a", "key": "models[0]", "variant": "gpu", "repository": "a-prod"},
           {"name": "b", "key": "models[1]", "variant": "cpu", "repository": "b-prod"}]
    monkeypatch.setattr(stacks, "built_models", lambda config, stack: two)
    with pytest.raises(SystemExit, match=r"image variants \['cpu', 'gpu'\]; CI deploys one tested image"):
        stacks.stack_info("prod")


def test_the_image_variants_to_build_are_those_of_the_models_ci_builds():
    assert stacks.image_variants(CATALOGUE_DIR) == ["gpu"]
    assert stacks.image_variants() == sorted({stacks.stack_config(s).model.image_variant for s in stacks.stack_names()})
