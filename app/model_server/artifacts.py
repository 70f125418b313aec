"""The on-disk contract between training and serving: file names and the version rule.

Kept free of heavy imports so `train.py` and `evaluate.py` can share it with the server.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"


def model_version(onnx_bytes: bytes) -> str:
    """A short content hash: the same weights always carry the same version, new weights a new one."""
    return hashlib.sha256(onnx_bytes).hexdigest()[:12]


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """metadata.json as a dict, or {} when the directory has none (a hand-made model, say)."""
    path = model_dir / METADATA_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data
