"""The image recipe and the pinned requirement files."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.app.conftest import APP_DIR
from tests.needs import tool

DOCKERFILE = APP_DIR / "Dockerfile"
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.+!-]*$")


def _requirements(name: str) -> list[str]:
    lines = [line.split("#")[0].strip() for line in (APP_DIR / name).read_text().splitlines()]
    return [line for line in lines if line]


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-gpu.txt", "requirements-train.txt"])
def test_every_requirement_is_pinned_exactly(name: str) -> None:
    for line in _requirements(name):
        if line.startswith("-r "):
            assert (APP_DIR / line[3:]).is_file(), line
            continue
        assert PIN.match(line), f"{name}: {line!r} is not pinned with =="


def test_gpu_requirements_are_the_cpu_ones_with_the_gpu_runtime() -> None:
    cpu = set(_requirements("requirements.txt"))
    gpu = set(_requirements("requirements-gpu.txt"))
    ort = next(line for line in cpu if line.startswith("onnxruntime=="))
    ort_gpu = next(line for line in gpu if line.startswith("onnxruntime-gpu=="))
    assert ort.split("==")[1] == ort_gpu.split("==")[1], "CPU and GPU images must run the same ONNX Runtime release"
    assert cpu - {ort} == gpu - {ort_gpu} - {line for line in gpu if line.startswith("nvidia-ml-py==")}


def test_training_requirements_do_not_leak_into_the_server_image() -> None:
    runtime = " ".join(_requirements("requirements.txt") + _requirements("requirements-gpu.txt"))
    for heavy in ("torch==", "scikit-learn==", "onnx==", "onnxscript=="):
        assert heavy not in runtime


def test_base_images_are_pinned_by_tag_and_digest() -> None:
    text = DOCKERFILE.read_text()
    bases = dict(re.findall(r"^ARG ([A-Z_]+_IMAGE)=(\S+)$", text, re.MULTILINE))
    assert set(bases) == {"PYTHON_IMAGE", "CUDA_IMAGE"}
    for ref in bases.values():
        assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}", ref), ref
        assert ":latest" not in ref
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms and all(f in ("${PYTHON_IMAGE}", "${CUDA_IMAGE}") for f in froms), froms
    assert "cudnn-runtime" in bases["CUDA_IMAGE"] and "13.0" in bases["CUDA_IMAGE"]


def test_runtime_stages_are_non_root_expose_the_three_ports_and_label_the_model_version() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    runtime = {s.split()[2]: s for s in stages if " AS " in s.splitlines()[0]
               and s.split()[2] in ("cpu", "gpu")}
    assert set(runtime) == {"cpu", "gpu"}
    assert stages[-1].split()[2] == "cpu", "the default (last) stage must be the CPU image"
    for name, stage in runtime.items():
        assert "USER 10001:10001" in stage, name
        assert "EXPOSE 8080 8081 8082" in stage, name
        assert "PORT=8080" in stage and "GRPC_PORT=8081" in stage and "ADMIN_PORT=8082" in stage, name
        # ONNX Runtime's telemetry (a device id on disk, lookups of a collector host) stays off in the image.
        assert "ORT_DISABLE_TELEMETRY=1" in stage, name
        assert "ADMIN_PORT', '8082'" in stage, f"{name}: the HEALTHCHECK must probe the admin port"
        assert 'org.opencontainers.image.version="${MODEL_VERSION}"' in stage, name
        assert "MODEL_DIR=/models" in stage and "PYTHONDONTWRITEBYTECODE=1" in stage, name
        assert "pip install" not in stage and "build-essential" not in stage and "gcc" not in stage, name
    assert "onnxruntime-gpu" not in (APP_DIR / "requirements.txt").read_text()


def test_dockerignore_admits_only_what_the_image_needs() -> None:
    lines = [line for line in (APP_DIR / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    assert {"!model_server/", "!artifacts/model.onnx", "!requirements.txt"} <= set(lines)


def test_hadolint_finds_nothing() -> None:
    binary = tool("hadolint")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_names_the_images_and_gpu_runtime_the_recipe_pins() -> None:
    image = (APP_DIR / "README.md").read_text().split("## Image", 1)[1]
    bases = dict(re.findall(r"^ARG ([A-Z_]+_IMAGE)=([^@\s]+)@", DOCKERFILE.read_text(), re.MULTILINE))
    assert f"Default target `cpu`: `{bases['PYTHON_IMAGE']}`" in image
    assert f"`--target gpu`: `{bases['CUDA_IMAGE']}`" in image
    [gpu_runtime] = [r for r in _requirements("requirements-gpu.txt") if r.startswith("onnxruntime-gpu==")]
    assert f"onnxruntime-gpu {gpu_runtime.split('==')[1]} from PyPI" in " ".join(image.split())


def test_the_readme_layout_lists_every_module_of_the_server_and_no_other() -> None:
    layout = (APP_DIR / "README.md").read_text().split("```")[1]
    listed = set(re.findall(r"^ {4}(\w+\.py) ", layout, re.MULTILINE))
    modules = {p.name for p in (APP_DIR / "model_server").glob("*.py") if p.name != "__init__.py"}
    assert listed == modules
