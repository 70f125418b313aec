"""train.py and the evaluate.py quality gate, run as the CLI commands CI runs."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import version as installed_version
from pathlib import Path

import numpy as np
import pytest

from tests.app.conftest import APP_DIR, write_model_dir

pytestmark = [pytest.mark.slow, pytest.mark.tools("torch")]  # training needs app/requirements-train.txt

EPOCHS = 10


GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _run(script: str, *args: str, timeout: float = 180, **extra_env: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **extra_env}
    return subprocess.run([sys.executable, script, *args], cwd=APP_DIR, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _train(out: Path, epochs: int = EPOCHS, *extra: str) -> dict:
    result = _run("train.py", "--epochs", str(epochs), "--out", str(out), *extra, GIT_COMMIT=GIT_COMMIT)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "metadata.json").read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    _train(out)
    return out


def test_training_writes_the_model_and_its_metadata(trained: Path) -> None:
    from digits_data import SEED

    model_bytes = (trained / "model.onnx").read_bytes()
    meta = json.loads((trained / "metadata.json").read_text())
    assert meta["model_name"] == "my-ai-model"
    assert meta["version"] == hashlib.sha256(model_bytes).hexdigest()[:12]
    assert (meta["epochs"], meta["seed"]) == (EPOCHS, SEED)
    assert re.fullmatch(r"[0-9a-f]{16}", meta["data_hash"])
    assert meta["dataset"]["train_rows"] + meta["dataset"]["heldout_rows"] == 1797
    assert set(meta["metrics"]) == {"heldout_accuracy", "train_accuracy", "train_loss"}
    assert 0.9 <= meta["metrics"]["heldout_accuracy"] <= 1.0
    assert meta["versions"]["torch"].split("+")[0] == installed_version("torch").split("+")[0]
    assert meta["versions"]["onnx"] == installed_version("onnx")
    assert meta["git_revision"] == GIT_COMMIT, "CI's GIT_COMMIT wins over the checkout's revision"
    assert set(meta["versions"]) == {"python", "torch", "onnx", "scikit-learn"}
    assert meta["versions"]["scikit-learn"] == installed_version("scikit-learn")
    assert set(meta["hyperparameters"]) == {"hidden", "batch_size", "learning_rate", "optimizer"}


def test_the_export_has_the_served_signature_with_a_dynamic_batch_axis(trained: Path) -> None:
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(trained / "model.onnx"))
    [inp], [out] = model.graph.input, model.graph.output
    assert (inp.name, inp.type.tensor_type.elem_type) == ("input", onnx.TensorProto.FLOAT)
    assert (out.name, out.type.tensor_type.elem_type) == ("output", onnx.TensorProto.FLOAT)
    in_dims, out_dims = inp.type.tensor_type.shape.dim, out.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and not in_dims[0].HasField("dim_value")
    assert out_dims[0].dim_param and in_dims[1].dim_value == 64 and out_dims[1].dim_value == 10
    session = ort.InferenceSession(str(trained / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        (probs,) = session.run(None, {"input": np.zeros((batch, 64), dtype=np.float32)})
        assert probs.shape == (batch, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_the_same_seed_gives_the_same_model_and_metadata_wherever_it_runs(trained: Path, tmp_path: Path) -> None:
    # Train from a copy of app/ outside the repository: the version must not depend on the
    # checkout path (the exporter's stack traces are stripped) and no git revision is known there.
    copy = tmp_path / "elsewhere"
    shutil.copytree(APP_DIR, copy, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    result = subprocess.run([sys.executable, "train.py", "--epochs", str(EPOCHS), "--out", str(out)], cwd=copy,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert (out / "model.onnx").read_bytes() == (trained / "model.onnx").read_bytes()
    again = json.loads((out / "metadata.json").read_text())
    first = json.loads((trained / "metadata.json").read_text())
    assert again.pop("git_revision") is None
    first.pop("git_revision")
    assert again == first


def test_epochs_are_respected(trained: Path, tmp_path: Path) -> None:
    one = _train(tmp_path, epochs=1)
    full = json.loads((trained / "metadata.json").read_text())
    assert one["epochs"] == 1
    assert one["version"] != full["version"]
    assert one["metrics"]["train_loss"] > full["metrics"]["train_loss"]


def test_epochs_must_be_at_least_one(tmp_path: Path) -> None:
    result = _run("train.py", "--epochs", "0", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "must be >= 1" in result.stderr
    assert not (tmp_path / "model.onnx").exists()


def test_quality_gate_passes_a_good_model_at_the_default_bar(trained: Path) -> None:
    result = _run("evaluate.py", "--model", str(trained))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["min_accuracy"] == 0.9
    # ONNX Runtime scores the exported model the same as torch scored it before export.
    meta = json.loads((trained / "metadata.json").read_text())
    assert abs(report["heldout_accuracy"] - meta["metrics"]["heldout_accuracy"]) <= 1 / 360


def test_quality_gate_fails_a_model_below_the_bar(trained: Path) -> None:
    accuracy = json.loads((trained / "metadata.json").read_text())["metrics"]["heldout_accuracy"]
    bar = min(1.0, accuracy + 0.01)
    result = _run("evaluate.py", "--model", str(trained), "--min-accuracy", str(bar))
    assert result.returncode == 1
    assert f"quality gate FAILED: held-out accuracy {accuracy:.4f} is below the bar {bar:.4f}" in result.stderr


def test_quality_gate_fails_an_untrained_model(tmp_path: Path) -> None:
    write_model_dir(tmp_path)  # random weights: about one digit in ten right
    result = _run("evaluate.py", "--model", str(tmp_path), "--min-accuracy", "0.9")
    assert result.returncode == 1
    assert json.loads(result.stdout)["heldout_accuracy"] < 0.5
    assert "must not ship" in result.stderr


def test_quality_gate_refuses_a_model_that_does_not_match_its_metadata(trained: Path, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes((trained / "model.onnx").read_bytes())
    meta = json.loads((trained / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps({**meta, "version": "000000000000"}))
    result = _run("evaluate.py", "--model", str(tmp_path))
    assert result.returncode == 2
    assert "do not belong together" in result.stderr


def test_quality_gate_without_a_model_says_so(tmp_path: Path) -> None:
    result = _run("evaluate.py", "--model", str(tmp_path))
    assert result.returncode == 2
    assert "no model at" in result.stderr and "run train.py first" in result.stderr
