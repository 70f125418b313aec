"""The ONNX model behind the server: one ONNX Runtime session and its tensor signature."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# ONNX Runtime's built-in telemetry writes a device id and an event database under $HOME and looks
# up a collector host; the variable stops both (ort.disable_telemetry_events() does not stop the
# lookups). The image and the Deployment set it; set it here too, before onnxruntime is imported,
# so a run without it (a laptop, a test) is just as quiet. An explicit other value is respected.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402 (after the telemetry switch above)

from .artifacts import model_version, read_metadata

log = logging.getLogger(__name__)

# ONNX Runtime type strings -> (Open Inference Protocol datatype, numpy dtype).
ORT_TYPES: dict[str, tuple[str, np.dtype]] = {
    "tensor(bool)": ("BOOL", np.dtype(np.bool_)),
    "tensor(uint8)": ("UINT8", np.dtype(np.uint8)),
    "tensor(uint16)": ("UINT16", np.dtype(np.uint16)),
    "tensor(uint32)": ("UINT32", np.dtype(np.uint32)),
    "tensor(uint64)": ("UINT64", np.dtype(np.uint64)),
    "tensor(int8)": ("INT8", np.dtype(np.int8)),
    "tensor(int16)": ("INT16", np.dtype(np.int16)),
    "tensor(int32)": ("INT32", np.dtype(np.int32)),
    "tensor(int64)": ("INT64", np.dtype(np.int64)),
    "tensor(float16)": ("FP16", np.dtype(np.float16)),
    "tensor(float)": ("FP32", np.dtype(np.float32)),
    "tensor(double)": ("FP64", np.dtype(np.float64)),
}

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


class ModelLoadError(RuntimeError):
    """The model file cannot be served (unreadable, or a signature this server cannot batch)."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    """Open Inference Protocol datatype, e.g. FP32."""
    dtype: np.dtype
    shape: tuple[int, ...]
    """-1 marks a variable dimension; dimension 0 is always the batch axis."""

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _tensor_spec(node: ort.NodeArg) -> TensorSpec:
    if node.type not in ORT_TYPES:
        raise ModelLoadError(f"tensor {node.name!r} has type {node.type}, which this server cannot serve")
    datatype, dtype = ORT_TYPES[node.type]
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
    return TensorSpec(node.name, datatype, dtype, shape)


def choose_providers(available: Sequence[str]) -> list[str]:
    """CUDA first when this ONNX Runtime build and machine offer it, CPU always as the fallback."""
    return [CUDA_PROVIDER, CPU_PROVIDER] if CUDA_PROVIDER in available else [CPU_PROVIDER]


class OnnxModel:
    """A loaded model: `run(inputs)` maps input name -> batch array to output name -> batch array."""

    def __init__(self, path: Path, *, version: str | None = None, intra_op_threads: int = 1,
                 test_delay_s: float = 0.0) -> None:
        try:
            model_bytes = path.read_bytes()
            metadata = read_metadata(path.parent)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read the model at {path}: {exc}") from exc
        self.version = version or str(metadata.get("version") or model_version(model_bytes))

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        # Spinning threads would compete with the event loop for the same cores between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = choose_providers(ort.get_available_providers())
        try:
            self._session = ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for bad models
            raise ModelLoadError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self.providers = self._session.get_providers()
        self.device = "cuda" if self.providers and self.providers[0] == CUDA_PROVIDER else "cpu"
        self.inputs = tuple(_tensor_spec(n) for n in self._session.get_inputs())
        self.outputs = tuple(_tensor_spec(n) for n in self._session.get_outputs())
        for spec in self.inputs + self.outputs:
            if not spec.shape or spec.shape[0] != -1:
                raise ModelLoadError(
                    f"tensor {spec.name!r} has shape {list(spec.shape)}; dynamic batching needs a variable "
                    "first (batch) dimension on every input and output")
        self._output_names = [o.name for o in self.outputs]
        # Given to every run: without it the binding builds a default RunOptions per call (about 1 us).
        self._run_options = ort.RunOptions()
        self._test_delay_s = test_delay_s
        log.info("loaded %s version %s on %s (providers %s)", path, self.version, self.device, self.providers)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One inference over a whole batch. Called from the inference thread, never the event loop."""
        if self._test_delay_s:
            time.sleep(self._test_delay_s)
        results = self._session.run(self._output_names, inputs, self._run_options)
        return dict(zip(self._output_names, results, strict=False))

    def example_inputs(self, batch: int) -> dict[str, np.ndarray]:
        """Zeros of every input's shape with `batch` rows (variable inner dimensions set to 1)."""
        return {spec.name: np.zeros((batch,) + tuple(d if d > 0 else 1 for d in spec.shape[1:]), dtype=spec.dtype)
                for spec in self.inputs}

    def warm_up(self, max_batch_size: int) -> None:
        """Run the smallest and largest batch once so the first real requests pay no one-off costs."""
        started = time.perf_counter()
        for batch in sorted({1, max_batch_size}):
            self.run(self.example_inputs(batch))
        log.info("warm-up done in %.1f ms", (time.perf_counter() - started) * 1000)
