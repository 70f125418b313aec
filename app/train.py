"""Train the digits MLP and export it to ONNX with its metadata.

    cd app && python train.py --epochs 10            # writes artifacts/model.onnx + metadata.json

The run is deterministic for a given seed and epoch count: same data split, same weights,
same ONNX bytes and so the same version (a content hash of model.onnx).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import sklearn
import torch
from digits_data import INPUT_NAME, N_CLASSES, N_FEATURES, OUTPUT_NAME, SEED, Split, load_split
from model_server.artifacts import METADATA_FILE, MODEL_FILE, model_version
from torch import nn

APP_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = APP_DIR / "artifacts"
DEFAULT_MODEL_NAME = "my-ai-model"

HIDDEN = 64
BATCH_SIZE = 64
LEARNING_RATE = 0.005
PIXEL_MAX = 16.0  # digits pixels are 0..16; the model scales its own input so clients send raw values


class DigitsMLP(nn.Module):
    """64 raw pixel values in, 10 class probabilities out."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(N_FEATURES, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, N_CLASSES))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x / PIXEL_MAX)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


def _accuracy(model: DigitsMLP, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((predicted == y).mean())


def train(split: Split, epochs: int, seed: int) -> tuple[DigitsMLP, float]:
    """Mini-batch Adam on the training rows; returns the model and the last epoch's mean loss."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DigitsMLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.from_numpy(split.x_train)
    y = torch.from_numpy(split.y_train)
    epoch_loss = float("nan")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model.logits(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        epoch_loss = total / len(x)
    model.eval()
    return model, epoch_loss


def export_onnx(model: DigitsMLP) -> bytes:
    """ONNX bytes with a dynamic batch axis: input `input` FP32 [-1, 64], output `output` FP32 [-1, 10]."""
    example = torch.zeros(2, N_FEATURES, dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter warns about optional torchvision ops we do not use
        program = torch.onnx.export(
            model, (example,), dynamo=True, external_data=False, verbose=False,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},))
    program.save(buffer, external_data=False)
    onnx_model = onnx.load_from_string(buffer.getvalue())
    _strip_debug_info(onnx_model)
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model.SerializeToString()


def _strip_debug_info(model: onnx.ModelProto) -> None:
    """Drop the exporter's per-node debug metadata (Python stack traces with absolute file paths and
    line numbers). Without this the bytes, and so the version, would change with the checkout
    directory or a reformatted train.py although the model is the same."""
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for proto in (*graph.node, *graph.input, *graph.output, *graph.value_info, *graph.initializer):
            del proto.metadata_props[:]
        for node in graph.node:
            for attr in node.attribute:  # subgraphs of If/Loop/Scan
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
    for function in model.functions:
        for node in function.node:
            del node.metadata_props[:]


def git_revision() -> str | None:
    """CI passes GIT_COMMIT; a checkout answers `git rev-parse`; otherwise unknown (None)."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=APP_DIR, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def build_metadata(*, name: str, onnx_bytes: bytes, split: Split, epochs: int, seed: int,
                   train_loss: float, train_accuracy: float, heldout_accuracy: float) -> dict:
    opset = next((o.version for o in onnx.load_from_string(onnx_bytes).opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "model_name": name,
        "version": model_version(onnx_bytes),
        "format": "onnx",
        "opset": opset,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, N_FEATURES],
                    "description": "8x8 digit image, raw pixel values 0..16, row-major"}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, N_CLASSES],
                     "description": "probability of each digit 0..9 (softmax)"}],
        "data_hash": split.data_hash,
        "dataset": {"name": "sklearn.datasets.load_digits", "train_rows": len(split.y_train),
                    "heldout_rows": len(split.y_heldout)},
        "metrics": {"heldout_accuracy": round(heldout_accuracy, 6),
                    "train_accuracy": round(train_accuracy, 6),
                    "train_loss": round(train_loss, 6)},
        "epochs": epochs,
        "seed": seed,
        "hyperparameters": {"hidden": HIDDEN, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE,
                            "optimizer": "adam"},
        "git_revision": git_revision(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "onnx": onnx.__version__, "scikit-learn": sklearn.__version__},
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=_positive_int, required=True, help="passes over the training rows")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed for split, init and shuffling (default {SEED})")
    parser.add_argument("--name", default=DEFAULT_MODEL_NAME, help=f"model name (default {DEFAULT_MODEL_NAME})")
    args = parser.parse_args(argv)
    # The exporter logs each optimisation pass at INFO; only problems are worth showing.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # ...and it warns that torchvision's detection ops are unavailable, which this model never uses.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

    torch.set_num_threads(1)  # tiny model: one thread is as fast and keeps float sums in a fixed order
    torch.use_deterministic_algorithms(True)
    split = load_split(args.seed)
    model, train_loss = train(split, args.epochs, args.seed)
    heldout_accuracy = _accuracy(model, split.x_heldout, split.y_heldout)
    onnx_bytes = export_onnx(model)
    metadata = build_metadata(
        name=args.name, onnx_bytes=onnx_bytes, split=split, epochs=args.epochs, seed=args.seed,
        train_loss=train_loss, train_accuracy=_accuracy(model, split.x_train, split.y_train),
        heldout_accuracy=heldout_accuracy)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / MODEL_FILE).write_bytes(onnx_bytes)
    (args.out / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), "version": metadata["version"], "epochs": args.epochs,
                      "heldout_accuracy": metadata["metrics"]["heldout_accuracy"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
