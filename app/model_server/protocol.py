"""Open Inference Protocol v2 (REST) payloads: validate inference requests, build responses.

The protocol is the KServe/Triton "Predict Protocol - Version 2". Tensor data may come nested or
flattened; it is read in row-major order and returned flattened. Every malformed request becomes a
RequestError whose message is returned as `{"error": "..."}` with a 4xx status.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from .model import TensorSpec

DATATYPES = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                       "FP16", "FP32", "FP64", "BYTES"})
# Which numpy kinds of parsed JSON data each target datatype accepts (i: int, u: uint, f: float, b: bool).
_ACCEPTED_KINDS = {"BOOL": "b", "FP16": "iuf", "FP32": "iuf", "FP64": "iuf"}
_INTEGER_KINDS = "iu"


class RequestError(Exception):
    """A client error: `status` (4xx) and a message that says what is wrong and what is expected."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    rows: int
    """Size of the batch dimension shared by all inputs."""
    outputs: list[str]
    """Output names to return, in order."""


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _parse_input(item: Any, specs: dict[str, TensorSpec]) -> tuple[str, np.ndarray]:
    if not isinstance(item, dict):
        raise RequestError("each entry of 'inputs' must be a JSON object with name, shape, datatype and data")
    name = item.get("name")
    if not isinstance(name, str):
        raise RequestError("every input needs a string 'name'")
    spec = specs.get(name)
    if spec is None:
        raise RequestError(f"unknown input {name!r}; the model's inputs are: {', '.join(map(repr, specs))}")

    datatype = item.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise RequestError(f"input {name!r}: datatype {datatype!r} is not an Open Inference Protocol datatype; "
                           f"the model expects {spec.datatype}")
    if datatype != spec.datatype:
        raise RequestError(f"input {name!r}: datatype {datatype} does not match the model's {spec.datatype}")

    shape = item.get("shape")
    if (not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise RequestError(f"input {name!r}: 'shape' must be an array of non-negative integers, got {shape!r}")
    if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape, strict=False)):
        raise RequestError(f"input {name!r}: shape {_shape_text(shape)} does not match the model's "
                           f"{_shape_text(spec.shape)} (-1 = any size)")
    if shape[0] < 1:
        raise RequestError(f"input {name!r}: the batch dimension (shape[0]) must be at least 1")

    params = item.get("parameters")
    if isinstance(params, dict) and "binary_data_size" in params:
        raise RequestError(f"input {name!r}: the binary tensor data extension is not supported; send JSON data")
    data = item.get("data")
    if not isinstance(data, list):
        raise RequestError(f"input {name!r}: 'data' must be a JSON array of numbers (nested or flat)")
    try:
        array = np.array(data)
    except (ValueError, TypeError, OverflowError):
        raise RequestError(f"input {name!r}: 'data' must be an array of numbers; nested arrays must be "
                           "rectangular") from None
    accepted = _ACCEPTED_KINDS.get(spec.datatype, _INTEGER_KINDS)
    if array.dtype.kind not in accepted:
        raise RequestError(f"input {name!r}: 'data' holds non-numeric or mixed values; {spec.datatype} "
                           f"needs {'booleans' if accepted == 'b' else 'numbers'}")
    expected = math.prod(shape)
    if array.size != expected:
        raise RequestError(f"input {name!r}: 'data' has {array.size} values but shape {_shape_text(shape)} "
                           f"needs {expected}")
    parsed = array.reshape(shape)
    with np.errstate(over="ignore", invalid="ignore"):
        array = parsed.astype(spec.dtype, copy=False)
    in_range = np.isfinite(array).all() if array.dtype.kind == "f" else (
        array.dtype.kind == "b" or (parsed == array).all())
    if not in_range:
        raise RequestError(f"input {name!r}: 'data' has values outside the {spec.datatype} range")
    return name, array


def parse_infer_request(body: bytes, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> InferRequest:
    """Validate one `$inference_request` JSON body against the model's signature."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON in request body: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError("request body must be a JSON object (an inference request with 'inputs')")

    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError("'id' must be a string when given")
    parameters = request.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise RequestError("'parameters' must be a JSON object when given")

    items = request.get("inputs")
    if not isinstance(items, list) or not items:
        raise RequestError("'inputs' must be a non-empty array of input tensors")
    specs = {spec.name: spec for spec in inputs}
    arrays: dict[str, np.ndarray] = {}
    for item in items:
        name, array = _parse_input(item, specs)
        if name in arrays:
            raise RequestError(f"input {name!r} is given more than once")
        arrays[name] = array
    missing = [name for name in specs if name not in arrays]
    if missing:
        raise RequestError(f"missing input(s): {', '.join(map(repr, missing))}")
    rows = {array.shape[0] for array in arrays.values()}
    if len(rows) != 1:
        raise RequestError(f"all inputs must have the same batch dimension (shape[0]); got {sorted(rows)}")

    output_names = [spec.name for spec in outputs]
    requested = request.get("outputs")
    if requested is None:
        wanted = output_names
    else:
        if not isinstance(requested, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                      for o in requested):
            raise RequestError("'outputs' must be an array of objects with a string 'name'")
        wanted = [o["name"] for o in requested]
        unknown = [n for n in wanted if n not in output_names]
        if unknown:
            raise RequestError(f"unknown output(s) {', '.join(map(repr, unknown))}; the model's outputs are: "
                               f"{', '.join(map(repr, output_names))}")
    return InferRequest(request_id, arrays, rows.pop(), wanted)


def infer_response(model_name: str, model_version: str, request_id: str, outputs: Sequence[TensorSpec],
                   wanted: Sequence[str], results: dict[str, np.ndarray]) -> bytes:
    """`$inference_response` JSON bytes, tensor data flattened in row-major order."""
    by_name = {spec.name: spec for spec in outputs}
    tensors = []
    for name in wanted:
        array = np.ascontiguousarray(results[name])
        tensors.append({"name": name, "datatype": by_name[name].datatype, "shape": list(array.shape),
                        "data": array.reshape(-1)})
    return orjson.dumps({"model_name": model_name, "model_version": model_version, "id": request_id,
                         "outputs": tensors}, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})
