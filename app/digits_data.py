"""The digits data set and its fixed train/held-out split, shared by training and evaluation.

scikit-learn ships the data set inside the package, so nothing is downloaded. Evaluation
imports this module too, so the quality gate scores exactly the rows training never saw.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 20261125
HELDOUT_FRACTION = 0.2
N_FEATURES = 64  # 8x8 pixels, each 0..16
N_CLASSES = 10

INPUT_NAME = "input"
OUTPUT_NAME = "output"


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_heldout: np.ndarray
    y_heldout: np.ndarray
    data_hash: str
    """sha256 of the whole data set (features then labels, as stored), short form."""


def load_split(seed: int = SEED) -> Split:
    """Raw pixel values as FP32 (the model scales them itself) and a stratified split."""
    x, y = load_digits(return_X_y=True)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:16]
    x_train, x_heldout, y_train, y_heldout = train_test_split(
        x, y, test_size=HELDOUT_FRACTION, random_state=seed, stratify=y)
    return Split(x_train, y_train, x_heldout, y_heldout, digest)

