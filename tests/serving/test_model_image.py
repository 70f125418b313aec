"""ModelImage: what is built, where it is pushed with which credentials, and which version it carries."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import rpc

from components.serving.model_image import (
    ModelImage,
    ModelImageArgs,
    content_hash,
    context_files,
    digest_reference,
    dockerfile_stages,
    read_dockerignore,
)
from components.serving.model_registry import ModelRegistry
from components.serving.model_service import ModelService
from stack_config import ConfigError
from stack_config.component_args import gpu_scheduling, model_image_args, model_service_args, registry_args
from tests.harness import container, only, stack_config
from tests.serving.test_model_registry import collect_garbage_after_each_test, config_with  # noqa: F401
from tools.synth import PROJECT_DIR, Synthesis, run

IMAGE = "docker:index/image:Image"
REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model"
DIGEST_RE = re.compile(r"^(?P<repo>[^@\s]+)@sha256:[0-9a-f]{64}$")

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=python:3.11-slim
FROM ${BASE} AS build
FROM ${BASE} AS gpu
ARG MODEL_VERSION=unknown
FROM --platform=linux/amd64 ${BASE} as cpu
ARG MODEL_VERSION=unknown
"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A small build context shaped like `app/`, with an allow-list `.dockerignore`."""
    root = tmp_path / "ctx"
    for rel, text in {
        "Dockerfile": DOCKERFILE,
        ".dockerignore": "*\n!server/\n!artifacts/model.onnx\n!artifacts/metadata.json\n**/__pycache__\n",
        "server/app.py": "print('serve')\n",
        "server/__pycache__/app.cpython-311.pyc": "bytecode",
        "artifacts/model.onnx": "weights-v1",
        "notes.md": "not in the image",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _write_metadata(context: Path, **fields: Any) -> None:
    (context / "artifacts" / "metadata.json").write_text(json.dumps(fields))


def _image(context: Path | str, **changes: Any) -> tuple[Synthesis, SimpleNamespace]:
    """Run one ModelImage; also return its plain-Python attributes."""
    seen = SimpleNamespace()

    def program():
        args = ModelImageArgs(**{"repository_url": REPO, "context": str(context), "ecr_registry_id": "123456789012",
                                 **changes})
        image = ModelImage("model-image", args)
        seen.model_version, seen.version_source, seen.image_tag = image.model_version, image.version_source, image.image_tag

    return run(program), seen


def _build(synthesis: Synthesis) -> dict:
    return only(synthesis.of_type(IMAGE), "docker image").inputs["build"]


def _component_outputs(synthesis: Synthesis) -> dict:
    return only(synthesis.of_type("gpu-model-platform:index:ModelImage")).component_outputs


def _secret_at(raw: Any, *path: str) -> bool:
    """Whether the value at `path` of deserialized inputs is, or sits inside, a Pulumi secret."""
    for key in path:
        if rpc.is_rpc_secret(raw):
            return True
        raw = raw[key]
    return rpc.is_rpc_secret(raw)


def registry_image_service_program(config) -> Callable[[], None]:
    """ModelRegistry, ModelImage and ModelService wired from a stack config exactly as `__main__.py` does."""

    def program():
        registry = ModelRegistry("registry", registry_args(config))
        image = ModelImage("model-image", model_image_args(config, registry))
        gpu_nodes = SimpleNamespace(scheduling=gpu_scheduling(config.gpu_node_group)) \
            if config.gpu_node_group.enabled else None
        kubernetes = pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider("test-kubernetes", context="kind-test")})
        ModelService("model", model_service_args(config, image, gpu_nodes), kubernetes)
        pulumi.export("image", image.image_ref)
        pulumi.export("modelVersion", image.model_version)

    return program


# --- what is built ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, variant", [("dev", "gpu"), ("prod", "gpu"), ("local", "cpu")])
def test_the_image_is_built_for_linux_amd64_from_the_configured_context_and_variant(name, variant):
    config = stack_config(name)
    assert config.model.image_variant == variant
    build = _build(run(registry_image_service_program(config)))
    assert Path(build["context"]).resolve() == PROJECT_DIR / config.model.build_context
    # The Docker provider reads the Dockerfile path from the working directory, not from the context.
    assert Path(build["dockerfile"]).resolve() == PROJECT_DIR / config.model.build_context / config.model.dockerfile
    assert build["platform"] == "linux/amd64"
    assert build["target"] == variant
    assert build["builderVersion"] == "BuilderBuildKit"


def test_the_app_dockerfile_declares_both_variants_and_the_version_label_argument():
    dockerfile = (PROJECT_DIR / "app" / "Dockerfile").read_text()
    assert {"cpu", "gpu"} <= dockerfile_stages(dockerfile)
    for stage in ("cpu", "gpu"):
        body = re.split(rf"(?im)^FROM\s+\S+\s+AS\s+{stage}\s*$", dockerfile)[1].split("\nFROM ")[0]
        assert re.search(r"(?m)^ARG MODEL_VERSION\b", body), f"stage {stage} must take MODEL_VERSION"
        assert "org.opencontainers.image.version=\"${MODEL_VERSION}\"" in body, stage


def test_a_variant_the_dockerfile_lacks_is_refused(context):
    (context / "Dockerfile").write_text("FROM python:3.11-slim AS cpu\n")
    with pytest.raises(ValueError, match=r"variant: got 'gpu'; .* declares no stage `AS gpu` \(stages: cpu\)") as caught:
        _image(context, variant="gpu")
    assert caught.value.registered_resources == []


def test_build_args_carry_the_model_version_and_the_trained_revision(context):
    _write_metadata(context, version="abc123def456", git_revision="0" * 40)
    synthesis, _ = _image(context)
    assert _build(synthesis)["args"] == {"MODEL_VERSION": "abc123def456", "GIT_REVISION": "0" * 40}


# --- where it goes ---------------------------------------------------------------------------------------

def test_ecr_pushes_log_in_with_a_token_whose_password_is_secret(context):
    synthesis, seen = _image(context)
    image = only(synthesis.of_type(IMAGE))
    assert _secret_at(image.raw_inputs, "registry", "password"), image.name
    registry = image.inputs["registry"]
    assert registry["username"] == "AWS"
    assert registry["server"] == REPO.split("/")[0]
    assert registry["password"].startswith("fake-ecr-token-")
    assert registry["password"] not in json.dumps(image.masked_inputs)
    assert image.inputs["imageName"] == f"{REPO}:{seen.image_tag}"
    assert image.inputs["skipPush"] is False


def test_a_local_registry_is_pushed_to_without_credentials(context):
    synthesis, seen = _image(context, repository_url="localhost:5001/my-ai-model", ecr_registry_id=None)
    image = only(synthesis.of_type(IMAGE))
    assert "registry" not in image.inputs, image.inputs.get("registry")
    assert image.inputs["imageName"] == f"localhost:5001/my-ai-model:{seen.image_tag}"
    assert not [r for r in synthesis.resources if r.type.startswith("aws:")]


def test_image_ref_is_the_pushed_image_by_digest_never_a_tag(context):
    synthesis, _ = _image(context)
    ref = _component_outputs(synthesis)["image_ref"]
    match = DIGEST_RE.match(ref)
    assert match and match["repo"] == REPO, ref
    assert ref == only(synthesis.of_type(IMAGE)).outputs["repoDigest"]


def test_a_digest_of_another_repository_is_refused():
    digest = "@sha256:" + "a" * 64
    assert digest_reference(REPO, REPO + digest) == REPO + digest
    for wrong in (f"localhost:5001/my-ai-model{digest}", f"{REPO}:v1", None):
        with pytest.raises(ValueError, match="is not"):
            digest_reference(REPO, wrong)


@pytest.mark.parametrize("name", ["dev", "local"])
def test_the_model_service_runs_the_image_by_digest_labelled_with_the_model_version(name):
    config = config_with(name, "model", version="2.4.1")
    synthesis = run(registry_image_service_program(config))
    deployment = only(synthesis.of_type("kubernetes:apps/v1:Deployment"))
    image = container(deployment)["image"]
    assert DIGEST_RE.match(image) and image == synthesis.stack_outputs["image"], image
    assert image.startswith(only(synthesis.of_type("gpu-model-platform:index:ModelRegistry")).component_outputs["repository_url"])
    assert deployment.inputs["metadata"]["labels"]["app.kubernetes.io/version"] == "2.4.1"
    assert synthesis.stack_outputs["modelVersion"] == "2.4.1"


# --- which version ---------------------------------------------------------------------------------------

def test_the_configured_version_wins_over_the_metadata(context):
    _write_metadata(context, version="fromtraining1")
    synthesis, seen = _image(context, version="1.2.0")
    assert (seen.model_version, seen.version_source) == ("1.2.0", "config")
    assert _build(synthesis)["args"]["MODEL_VERSION"] == "1.2.0"


def test_the_metadata_version_is_used_when_none_is_configured(context):
    _write_metadata(context, version="fromtraining1")
    synthesis, seen = _image(context)
    assert (seen.model_version, seen.version_source) == ("fromtraining1", "metadata")
    assert _component_outputs(synthesis)["model_version"] == "fromtraining1"


def test_without_either_the_version_is_a_content_hash_and_is_the_tag(context):
    _, seen = _image(context)
    assert seen.version_source == "content"
    assert re.fullmatch(r"[0-9a-f]{12}", seen.model_version), seen.model_version
    assert seen.image_tag == seen.model_version


def test_the_tag_is_the_version_plus_the_content_so_a_changed_server_never_reuses_an_immutable_tag(context):
    _, before = _image(context, version="1.2.0")
    (context / "server" / "app.py").write_text("print('fixed')\n")
    _, after = _image(context, version="1.2.0")
    assert before.model_version == after.model_version == "1.2.0"
    assert before.image_tag.startswith("1.2.0-") and after.image_tag.startswith("1.2.0-")
    assert before.image_tag != after.image_tag


def test_the_content_hash_is_deterministic_and_ignores_what_docker_ignores(context):
    first = _image(context)[1].model_version
    assert _image(context)[1].model_version == first
    (context / "notes.md").write_text("edited, still ignored")
    (context / "server" / "__pycache__" / "app.cpython-311.pyc").write_text("other bytecode")
    os.utime(context / "server" / "app.py", (0, 0))
    assert _image(context)[1].model_version == first
    (context / "artifacts" / "model.onnx").write_text("weights-v2")
    assert _image(context)[1].model_version != first


def test_the_content_hash_follows_the_variant_the_platform_and_the_dockerfile(context):
    dockerfile = context / "Dockerfile"
    base = content_hash(context, dockerfile, "gpu", "linux/amd64")
    assert content_hash(context, dockerfile, "cpu", "linux/amd64") != base
    assert content_hash(context, dockerfile, "gpu", "linux/arm64") != base
    dockerfile.write_text(DOCKERFILE + "LABEL x=y\n")
    assert content_hash(context, dockerfile, "gpu", "linux/amd64") != base


def test_the_hash_does_not_depend_on_where_the_context_lives(context, tmp_path):
    import shutil
    copy = tmp_path / "elsewhere" / "ctx"
    shutil.copytree(context, copy)
    assert content_hash(context, context / "Dockerfile", "gpu", "linux/amd64") == \
        content_hash(copy, copy / "Dockerfile", "gpu", "linux/amd64")


def test_context_files_follow_dockerignore_semantics(context):
    assert context_files(context, read_dockerignore((context / ".dockerignore").read_text())) == [
        "artifacts/model.onnx", "server/app.py"]
    patterns = read_dockerignore("# comment\n\n/build\n*.log\n!keep.log\ndocs/**/*.md\n")
    for rel, text in {"build/x": "", "a.log": "", "keep.log": "", "sub/a.log": "", "docs/a/b/c.md": "",
                      "docs/top.md": "", "src/main.py": ""}.items():
        (context / "other" / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / "other" / rel).write_text(text)
    # `*.log` matches at the top only (Docker's `*` stops at `/`); `docs/**/*.md` matches at any depth.
    assert context_files(context / "other", patterns) == ["keep.log", "src/main.py", "sub/a.log"]


def test_the_real_app_context_sends_only_the_server_artifacts_and_requirements():
    app = PROJECT_DIR / "app"
    files = context_files(app, read_dockerignore((app / ".dockerignore").read_text()))
    assert files and all(f.startswith(("model_server/", "artifacts/", "requirements")) for f in files), files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


# --- refusals --------------------------------------------------------------------------------------------

def test_broken_metadata_is_an_error_naming_the_file_not_a_silent_fallback(context):
    (context / "artifacts" / "metadata.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"metadata\.json: not readable JSON"):
        _image(context)
    _write_metadata(context, version="1.0+cuda")
    with pytest.raises(ValueError, match=r"metadata\.json: version: got '1\.0\+cuda'"):
        _image(context)


@pytest.mark.parametrize("changes, expected", [
    ({"version": "v1/beta"}, "version: got 'v1/beta'"),
    ({"version": "-leading-dash"}, "version: got '-leading-dash'"),
    ({"version": "x" * 64}, "version: got 'xxxx"),
    ({"variant": "tpu"}, "variant: got 'tpu'"),
    ({"platform": "amd64"}, "platform: got 'amd64'"),
    ({"build_args": {"BAD-NAME": "1"}}, "build_args.BAD-NAME: got 'BAD-NAME'; must be an environment variable name"),
    ({"dockerfile": "Dockerfile.missing"}, "dockerfile: got 'Dockerfile.missing'"),
])
def test_bad_args_are_refused_naming_the_field_before_anything_is_registered(context, changes, expected):
    with pytest.raises(ValueError, match="ModelImage 'model-image'") as caught:
        _image(context, **changes)
    assert expected in str(caught.value)
    assert caught.value.registered_resources == []


def test_a_missing_context_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"context: got '.*nowhere'; not a directory"):
        _image(tmp_path / "nowhere")


@pytest.mark.parametrize("version", ["1.0+cuda", "v1/2", "-x", "x" * 64])
def test_a_version_that_cannot_be_a_label_and_a_tag_is_a_config_error(version):
    with pytest.raises(ConfigError) as caught:
        config_with("dev", "model", version=version)
    assert any(p.startswith(f"gpu-model-platform:model.version: got {version!r}") for p in caught.value.problems), \
        caught.value.problems


def test_component_outputs_are_registered(context):
    synthesis, seen = _image(context)
    outputs = _component_outputs(synthesis)
    assert outputs["model_version"] == seen.model_version and outputs["image_tag"] == seen.image_tag
    assert outputs["version_source"] == "content"
    assert outputs["image_name"] == f"{REPO}:{seen.image_tag}"
    assert DIGEST_RE.match(outputs["image_ref"])
