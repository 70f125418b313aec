"""Quality gate: score the exported ONNX model on the held-out split; fail below the bar.

    cd app && python evaluate.py --min-accuracy 0.9 [--model artifacts]

Exit codes: 0 the model meets the bar; 1 it does not (a worse model never ships);
2 the model or its metadata is missing or inconsistent.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from digits_data import INPUT_NAME, OUTPUT_NAME, SEED, load_split
from model_server.artifacts import MODEL_FILE, model_version, read_metadata

# The one place the bar is set; CI passes --min-accuracy only to override it deliberately.
DEFAULT_MIN_ACCURACY = 0.90
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "artifacts"


def heldout_accuracy(model_path: Path, seed: int) -> tuple[float, int]:
    """Accuracy of the ONNX model under ONNX Runtime (CPU) on the held-out rows, and their count."""
    split = load_split(seed)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: split.x_heldout})
    predicted = np.asarray(probabilities).argmax(axis=1)
    return float((predicted == split.y_heldout).mean()), len(split.y_heldout)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-accuracy", type=_fraction, default=DEFAULT_MIN_ACCURACY,
                        help=f"held-out accuracy the model must reach (default {DEFAULT_MIN_ACCURACY})")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR,
                        help=f"directory holding {MODEL_FILE} and metadata.json (default {DEFAULT_MODEL_DIR})")
    args = parser.parse_args(argv)

    model_path = args.model / MODEL_FILE
    if not model_path.is_file():
        print(f"quality gate: no model at {model_path}; run train.py first", file=sys.stderr)
        return 2
    try:
        metadata = read_metadata(args.model)
    except ValueError as exc:
        print(f"quality gate: unreadable metadata: {exc}", file=sys.stderr)
        return 2
    version = model_version(model_path.read_bytes())
    if metadata and metadata.get("version") != version:
        print(f"quality gate: metadata.json names version {metadata.get('version')!r} but {model_path} "
              f"hashes to {version!r}; the two files do not belong together", file=sys.stderr)
        return 2
    # Score on the split the model was trained against, so held-out rows stay unseen.
    seed = int(metadata.get("seed", SEED))

    accuracy, rows = heldout_accuracy(model_path, seed)
    report = {"model": str(model_path), "version": version, "heldout_rows": rows,
              "heldout_accuracy": round(accuracy, 6), "min_accuracy": args.min_accuracy,
              "passed": accuracy >= args.min_accuracy}
    print(json.dumps(report))
    if accuracy < args.min_accuracy:
        print(f"quality gate FAILED: held-out accuracy {accuracy:.4f} is below the bar {args.min_accuracy:.4f} "
              f"(model version {version}); this model must not ship", file=sys.stderr)
        return 1
    print(f"quality gate passed: held-out accuracy {accuracy:.4f} >= {args.min_accuracy:.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
