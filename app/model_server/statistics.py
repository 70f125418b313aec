"""Per-model inference statistics since the process started, served at GET /v2/models/{name}/stats.

The response follows the shape of Triton's statistics extension (docs/protocol/extension_statistics.md
in triton-inference-server/server: `model_stats`, each with `inference_count`, `execution_count` and
`inference_stats` of `{count, ns}` pairs), with the pairs this server measures:

- `success` / `fail`: inference requests answered 200 / otherwise, and their time from the request's
  head to its answer;
- `queue`: time requests waited in the batch queue (a request run at once, without queueing, counts 0);
- `compute_infer`: model executions (batches) and their time inside the model.
"""
from __future__ import annotations

import time


class Duration:
    __slots__ = ("count", "ns")

    def __init__(self) -> None:
        self.count = 0
        self.ns = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)

    def as_json(self) -> dict:
        return {"count": self.count, "ns": self.ns}


class ModelStatistics:
    def __init__(self) -> None:
        self.inference_count = 0
        """Rows inferred (a batch of 32 rows counts 32, as Triton counts)."""
        self.execution_count = 0
        self.last_inference_ms = 0
        self.success = Duration()
        self.fail = Duration()
        self.queue = Duration()
        self.compute_infer = Duration()

    def executed(self, seconds: float, rows: int) -> None:
        self.execution_count += 1
        self.inference_count += rows
        self.compute_infer.add(seconds)
        self.last_inference_ms = int(time.time() * 1000)

    def answered(self, ok: bool, seconds: float) -> None:
        (self.success if ok else self.fail).add(seconds)

    def as_json(self, name: str, version: str) -> dict:
        return {"model_stats": [{
            "name": name, "version": version, "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count, "execution_count": self.execution_count,
            "inference_stats": {"success": self.success.as_json(), "fail": self.fail.as_json(),
                                "queue": self.queue.as_json(), "compute_infer": self.compute_infer.as_json()}}]}
