"""The quality gate, run against the built image: the held-out digits through the image's own server.

app/evaluate.py scores the ONNX file with ONNX Runtime in the CI job; this scores what ships (the
server, its dependencies and the model as packaged in the image) over Open Inference Protocol v2 REST,
so an image that loads another model, or answers wrongly, never gets a digest deployed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

_BATCH = 64


def wait_ready(base_url: str, timeout_s: float = 120.0) -> None:
    """Poll `/v2/health/ready` until it answers 200, or fail naming the URL."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.5)
    raise TimeoutError(f"{base_url}/v2/health/ready not ready after {timeout_s:.0f}s ({last})")


def predict(base_url: str, model: str, rows: Sequence[Sequence[float]], input_name: str = "input") -> list[int]:
    """The class the server predicts for each row (argmax of its output), in batches."""
    predicted: list[int] = []
    for start in range(0, len(rows), _BATCH):
        batch = [list(map(float, row)) for row in rows[start:start + _BATCH]]
        body = json.dumps({"inputs": [{"name": input_name, "datatype": "FP32", "shape": [len(batch), len(batch[0])],
                                       "data": [v for row in batch for v in row]}]}).encode()
        request = urllib.request.Request(f"{base_url}/v2/models/{model}/infer", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        [output] = answer["outputs"]
        classes = output["shape"][1]
        data = output["data"]
        if len(data) != len(batch) * classes:
            raise ValueError(f"the server answered {len(data)} values for {len(batch)} rows of {classes} classes")
        predicted += [max(range(classes), key=lambda c, r=r: data[r * classes + c]) for r in range(len(batch))]
    return predicted


def gate(base_url: str, model: str, rows: Sequence[Sequence[float]], labels: Sequence[int],
         min_accuracy: float) -> dict:
    """Accuracy of the served model on `rows`; `passed` is whether it reaches `min_accuracy`."""
    wait_ready(base_url)
    predicted = predict(base_url, model, rows)
    accuracy = sum(int(p == y) for p, y in zip(predicted, labels, strict=True)) / len(labels)
    return {"url": base_url, "rows": len(labels), "accuracy": round(accuracy, 6), "min_accuracy": min_accuracy,
            "passed": accuracy >= min_accuracy}


def heldout_rows(app_dir: str) -> tuple[list[list[float]], list[int]]:
    """The held-out split training never saw, from app/digits_data.py (the same rows evaluate.py scores)."""
    import sys

    sys.path.insert(0, app_dir)
    try:
        from digits_data import load_split  # noqa: PLC0415 (app/ is not a package)
    finally:
        sys.path.remove(app_dir)
    split = load_split()
    return split.x_heldout.tolist(), split.y_heldout.tolist()
