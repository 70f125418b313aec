"""Triton model repository for the benchmark's ONNX model: <repo>/<model name>/config.pbtxt + 1/model.onnx.

    python bench/server/triton_repo.py app/artifacts/model.onnx /tmp/triton-models

The config names the model's real input and output tensors (read from the ONNX graph, so it cannot
drift from the model), and sets Triton up like our server's defaults (app/model_server/config.py):
batches of at most MAX_BATCH_SIZE=32 rows, one model instance on the CPU, ONNX Runtime with one
intra-op and one inter-op thread. Field names and values follow Triton's model configuration schema
(triton-inference-server/common r24.10, protobuf/model_config.proto) and the ONNX Runtime backend's
parameters (triton-inference-server/onnxruntime_backend r24.10, src/onnxruntime.cc:
intra_op_thread_count, inter_op_thread_count).

Batch window: our server waits up to BATCH_WINDOW_MS=2 for more rows but stops as soon as no other
request is being read, so a lone client is never held. Triton's max_queue_delay_microseconds has no
such early exit: a value of 2000 delays every request of a lone client by up to 2 ms. With 0 (the
default used here) Triton still batches whatever queued while its instance was busy, which is what
our server does under load. --max-queue-delay-us sets another value for comparison.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

# ONNX TensorProto element types -> Triton model-config data types (model_config.proto DataType).
ONNX_TO_TRITON = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16",
                  6: "TYPE_INT32", 7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64",
                  12: "TYPE_UINT32", 13: "TYPE_UINT64"}
MODEL_FILE = "model.onnx"
MODEL_VERSION = "1"


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str
    dims: tuple[int, ...]
    """Without the batch dimension (Triton adds it when max_batch_size > 0); -1 = variable."""


def onnx_signature(model_path: Path) -> tuple[list[Tensor], list[Tensor]]:
    """The graph's inputs (initializers excluded) and outputs, each with its leading batch axis removed."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}

    def tensor(value_info) -> Tensor:
        kind = value_info.type.tensor_type
        if kind.elem_type not in ONNX_TO_TRITON:
            raise ValueError(f"tensor {value_info.name!r} has ONNX element type {kind.elem_type}, "
                             f"not one of {sorted(ONNX_TO_TRITON)}")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim]
        if not dims or dims[0] not in (-1, 0):
            raise ValueError(f"tensor {value_info.name!r} has shape {dims}: dynamic batching needs a "
                             "variable first (batch) dimension")
        return Tensor(value_info.name, ONNX_TO_TRITON[kind.elem_type], tuple(dims[1:]))

    inputs = [tensor(v) for v in graph.input if v.name not in initializers]
    outputs = [tensor(v) for v in graph.output]
    return inputs, outputs


def _tensors(kind: str, tensors: list[Tensor]) -> str:
    entries = ",\n".join(f'  {{ name: "{t.name}" data_type: {t.data_type} dims: [ {", ".join(map(str, t.dims))} ] }}'
                         for t in tensors)
    return f"{kind} [\n{entries}\n]"


def config_pbtxt(name: str, inputs: list[Tensor], outputs: list[Tensor], *, max_batch_size: int = 32,
                 max_queue_delay_us: int = 0, intra_op_threads: int = 1) -> str:
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    if max_queue_delay_us < 0:
        raise ValueError(f"max_queue_delay_us must be 0 or more, got {max_queue_delay_us}")
    return "\n".join([
        f'name: "{name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        _tensors("input", inputs),
        _tensors("output", outputs),
        f"dynamic_batching {{ max_queue_delay_microseconds: {max_queue_delay_us} }}",
        "instance_group [ { count: 1 kind: KIND_CPU } ]",
        f'parameters {{ key: "intra_op_thread_count" value: {{ string_value: "{intra_op_threads}" }} }}',
        'parameters { key: "inter_op_thread_count" value: { string_value: "1" } }',
        "",
    ])


def write_model_repository(model_path: Path, repository: Path, name: str, *, max_batch_size: int = 32,
                           max_queue_delay_us: int = 0) -> Path:
    """Writes <repository>/<name>/{config.pbtxt, 1/model.onnx}; returns the config file."""
    inputs, outputs = onnx_signature(model_path)
    model_dir = repository / name
    (model_dir / MODEL_VERSION).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, model_dir / MODEL_VERSION / MODEL_FILE)
    config = model_dir / "config.pbtxt"
    config.write_text(config_pbtxt(name, inputs, outputs, max_batch_size=max_batch_size,
                                   max_queue_delay_us=max_queue_delay_us))
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("repository", type=Path)
    parser.add_argument("--name", default="my-ai-model")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-queue-delay-us", type=int, default=0)
    args = parser.parse_args()
    config = write_model_repository(args.model, args.repository, args.name, max_batch_size=args.max_batch_size,
                                    max_queue_delay_us=args.max_queue_delay_us)
    print(config.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
