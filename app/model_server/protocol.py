"""Open Inference Protocol v2 (REST) payloads: validate inference requests, build responses.

The protocol is the KServe/Triton "Predict Protocol - Version 2", with the binary tensor data
extension: an input may carry `parameters.binary_data_size` instead of `data`, its bytes following
the JSON object in the body (whose length the `Inference-Header-Content-Length` header gives), and
an output is returned the same way when the request asks for it (`parameters.binary_data` on the
output, or `parameters.binary_data_output` on the request). JSON tensor data may come nested or
flattened; it is read in row-major order and returned flattened. Every malformed request becomes a
RequestError whose message is returned as `{"error": "..."}` with a 4xx status; messages quote
client input only in short, cut-down form (`echo`), so an error is never an amplifier.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
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
_FLOAT_MAX = {name: float(np.finfo(dtype).max) for name, dtype in (("FP16", np.float16), ("FP32", np.float32),
                                                                   ("FP64", np.float64))}
ECHO_CHARS = 64
"""The most characters of client input an error message quotes."""
MAX_ERROR_CHARS = 1024


class RequestError(Exception):
    """A client error: `status` (4xx) and a message that says what is wrong and what is expected."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def cut(text: str) -> str:
    """`text` cut to ECHO_CHARS."""
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS - 3] + "..."


def echo(value: Any) -> str:
    """repr(value), cut to ECHO_CHARS: enough to recognise the mistake, too little to amplify."""
    text = repr(value) if not isinstance(value, (list, dict)) or len(value) < ECHO_CHARS else \
        f"<{type(value).__name__} of {len(value)} items>"
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS - 3] + "..."


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    rows: int
    """Size of the batch dimension shared by all inputs."""
    outputs: list[str]
    """Output names to return, in order."""
    binary_outputs: frozenset[str] = frozenset()
    """Outputs to return as binary data (the binary tensor data extension)."""
    timeout_s: float | None = None
    """`parameters.timeout`: the longest the request may wait in the batch queue (None: the server's limit)."""


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_tensor(name: Any, datatype: Any, shape: Any, specs: dict[str, TensorSpec]) -> TensorSpec:
    """The model's spec for an input described by name, datatype and shape, or a RequestError."""
    if not isinstance(name, str):
        raise RequestError("every input needs a string 'name'")
    spec = specs.get(name)
    if spec is None:
        raise RequestError(f"unknown input {echo(name)}; the model's inputs are: {', '.join(map(repr, specs))}")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise RequestError(f"input {name!r}: datatype {echo(datatype)} is not an Open Inference Protocol datatype; "
                           f"the model expects {spec.datatype}")
    if datatype != spec.datatype:
        raise RequestError(f"input {name!r}: datatype {datatype} does not match the model's {spec.datatype}")
    if (not isinstance(shape, (list, tuple))
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise RequestError(f"input {name!r}: 'shape' must be an array of non-negative integers, got {echo(shape)}")
    if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape, strict=False)):
        raise RequestError(f"input {name!r}: shape {cut(_shape_text(shape))} does not match the model's "
                           f"{_shape_text(spec.shape)} (-1 = any size)")
    if shape[0] < 1:
        raise RequestError(f"input {name!r}: the batch dimension (shape[0]) must be at least 1")
    return spec


def array_from_bytes(spec: TensorSpec, shape: Sequence[int], data: bytes | memoryview, what: str) -> np.ndarray:
    """A tensor from raw little-endian row-major bytes (binary extension, gRPC raw contents)."""
    expected = math.prod(shape) * spec.dtype.itemsize
    if len(data) != expected:
        raise RequestError(f"input {spec.name!r}: {what} has {len(data)} bytes but shape {_shape_text(shape)} of "
                           f"{spec.datatype} needs {expected}")
    return _array_of(spec, shape, data)


def _array_of(spec: TensorSpec, shape: Sequence[int], data: bytes | memoryview) -> np.ndarray:
    """`array_from_bytes` once the length is known to fit the shape: the checks that depend on the bytes."""
    array = np.frombuffer(data, dtype=spec.dtype.newbyteorder("<")).reshape(shape)
    if spec.dtype.kind == "b" and not np.isin(np.frombuffer(data, dtype=np.uint8), (0, 1)).all():
        raise RequestError(f"input {spec.name!r}: BOOL binary data must be bytes 0 or 1")
    return array.astype(spec.dtype, copy=False)


def array_from_values(spec: TensorSpec, shape: Sequence[int], data: Any) -> np.ndarray:
    """A tensor from JSON (or gRPC typed) values, checked against the datatype's range."""
    name = spec.name
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
    if spec.dtype.kind == "f":
        # One reduction before the cast instead of a cast under np.errstate plus isfinite after it
        # (measured: 8 vs 12 us for 64 values). NaN fails the comparison too (gRPC floats can be NaN;
        # JSON numbers cannot be, orjson refuses them).
        if not abs(parsed).max() <= _FLOAT_MAX[spec.datatype]:
            raise RequestError(f"input {name!r}: 'data' has values outside the {spec.datatype} range")
        return parsed.astype(spec.dtype, copy=False)
    if spec.dtype.kind == "b":
        return parsed.astype(spec.dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        array = parsed.astype(spec.dtype, copy=False)
    if not (parsed == array).all():
        raise RequestError(f"input {name!r}: 'data' has values outside the {spec.datatype} range")
    return array


def _parse_input(item: Any, specs: dict[str, TensorSpec], binary: memoryview | None,
                 offset: int, may_hold_bools: bool = True) -> tuple[str, np.ndarray, int]:
    if not isinstance(item, dict):
        raise RequestError("each entry of 'inputs' must be a JSON object with name, shape, datatype and data")
    name, shape = item.get("name"), item.get("shape")
    spec = check_tensor(name, item.get("datatype"), shape, specs)
    params = item.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise RequestError(f"input {name!r}: 'parameters' must be a JSON object when given")
    size = params.get("binary_data_size") if params else None
    if size is not None:
        if binary is None:
            raise RequestError(f"input {name!r}: 'binary_data_size' needs the Inference-Header-Content-Length "
                               "header giving the length of the JSON part of the body")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RequestError(f"input {name!r}: 'binary_data_size' must be a non-negative integer")
        if "data" in item:
            raise RequestError(f"input {name!r}: give either 'data' or 'binary_data_size', not both")
        if offset + size > len(binary):
            raise RequestError(f"input {name!r}: 'binary_data_size' {size} runs past the end of the body "
                               f"({len(binary) - offset} binary bytes left)")
        return name, array_from_bytes(spec, shape, binary[offset:offset + size], "binary data"), offset + size
    data = item.get("data")
    if not isinstance(data, list):
        raise RequestError(f"input {name!r}: 'data' must be a JSON array of numbers (nested or flat)")
    if may_hold_bools and spec.datatype != "BOOL" and _holds_bool(data):
        # numpy would read true as 1 next to numbers: refused like a string would be.
        raise RequestError(f"input {name!r}: 'data' holds booleans, non-numeric values; {spec.datatype} needs numbers")
    return name, array_from_values(spec, shape, data), offset


def _holds_bool(data: list) -> bool:
    return any(value is True or value is False or (type(value) is list and _holds_bool(value)) for value in data)


MAX_TIMEOUT_US = 2**63 - 1
"""The largest `parameters.timeout` taken (int64, what the gRPC parameter carries)."""


def schedule_timeout(priority: Any, timeout: Any) -> float | None:
    """The schedule-policy parameters (Triton's schedule_policy extension: `priority`, 1 highest, 0 the
    default; `timeout` in microseconds, 0 the default): the longest this request may wait in the batch
    queue, in seconds (None: the server's QUEUE_TIMEOUT_MS alone), or a RequestError. A priority other
    than 0 is refused rather than ignored: this server has one queue, in arrival order."""
    if priority not in (None, 0) or isinstance(priority, bool):
        raise RequestError("parameters.priority is not supported: this server has one priority level; "
                           "leave it out (or 0)")
    if timeout is None:
        return None
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 <= timeout <= MAX_TIMEOUT_US:
        raise RequestError(f"parameters.timeout must be a whole number of microseconds from 0 to {MAX_TIMEOUT_US} "
                           f"(0: the server's queue timeout), got {echo(timeout)}")
    return timeout / 1e6 if timeout else None


def _flag(params: Any, key: str, where: str) -> bool:
    if params is None:
        return False
    if not isinstance(params, dict):
        raise RequestError(f"{where}: 'parameters' must be a JSON object when given")
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise RequestError(f"{where}: parameter {key!r} must be true or false")
    return value


def requested_outputs(requested: Any, outputs: Sequence[TensorSpec], binary_default: bool
                      ) -> tuple[list[str], frozenset[str]]:
    """(output names in order, the ones to return as binary) from a request's `outputs`."""
    output_names = [spec.name for spec in outputs]
    if requested is None:
        return output_names, frozenset(output_names if binary_default else ())
    if not isinstance(requested, list):
        raise RequestError("'outputs' must be an array of objects with a string 'name'")
    if not requested:
        # Absent means every output; an empty list would run the model to return nothing.
        raise RequestError("'outputs' is empty: name at least one output, or leave 'outputs' out for all of them")
    # Each output at most once, so a response is never bigger than the model's outputs: a request
    # that lists one output thousands of times would otherwise multiply the response (and memory).
    if len(requested) > len(output_names):
        raise RequestError(f"'outputs' lists {len(requested)} entries but the model has {len(output_names)} "
                           f"output(s): {', '.join(map(repr, output_names))}; name each at most once")
    wanted: list[str] = []
    binary: set[str] = set()
    for item in requested:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise RequestError("'outputs' must be an array of objects with a string 'name'")
        name = item["name"]
        if name not in output_names:
            raise RequestError(f"unknown output {echo(name)}; the model's outputs are: "
                               f"{', '.join(map(repr, output_names))}")
        if name in wanted:
            raise RequestError(f"output {name!r} is requested more than once")
        wanted.append(name)
        params = item.get("parameters")
        if params is not None and not isinstance(params, dict):  # a number here was a 500 (TypeError)
            raise RequestError(f"output {name!r}: 'parameters' must be a JSON object when given")
        if (_flag(params, "binary_data", f"output {name!r}") if params and "binary_data" in params
                else binary_default):
            binary.add(name)
    return wanted, frozenset(binary)


MEMO_HEADER_BYTES = 4096
"""The largest JSON part of a binary request whose checked layout `BinaryLayouts` keeps."""
MEMO_ENTRIES = 64
"""How many layouts `BinaryLayouts` keeps (all are dropped when it is full: it is a cache, not a store)."""


@dataclass
class _Layout:
    """What the checks of one binary request's JSON part found: everything but the tensor bytes."""
    id: str | None
    inputs: list[tuple[TensorSpec, tuple[int, ...], int, int]]
    """(spec, shape, offset, size) of each input's bytes after the JSON part."""
    rows: int
    outputs: list[str]
    binary_outputs: frozenset[str]
    timeout_s: float | None


class BinaryLayouts:
    """Checked layouts of binary requests by their exact JSON part, for one model's signature.

    A client of the binary extension sends the same JSON part with every request of one shape
    (names, datatypes, shapes, sizes; only the tensor bytes change). Parsing and checking it is
    most of the work of a binary request, and its outcome depends only on those bytes and on the
    body's length, so a request whose JSON part was checked before skips straight to the checks
    of its tensor bytes. Bounded in entries and in key size, so clients cannot grow it."""

    def __init__(self) -> None:
        self.layouts: dict[tuple[bytes, int], _Layout] = {}

    def remember(self, key: tuple[bytes, int], layout: _Layout) -> None:
        if len(key[0]) > MEMO_HEADER_BYTES:
            return
        if len(self.layouts) >= MEMO_ENTRIES:
            self.layouts.clear()
        self.layouts[key] = layout


def _from_layout(layout: _Layout, binary: memoryview) -> InferRequest:
    arrays = {}
    for spec, shape, offset, size in layout.inputs:
        dtype = spec.dtype
        if dtype.kind in "fiu" and dtype.isnative and _LITTLE_ENDIAN:
            # Numbers in the machine's own (little-endian) order: the bytes are the array as they are.
            arrays[spec.name] = np.frombuffer(binary, dtype, size // dtype.itemsize, offset).reshape(shape)
        else:
            arrays[spec.name] = _array_of(spec, shape, binary[offset:offset + size])
    return InferRequest(layout.id, arrays, layout.rows, layout.outputs, layout.binary_outputs, layout.timeout_s)


def batch_rows(arrays: dict[str, np.ndarray], specs: Iterable[str]) -> int:
    """The request's batch size, once every input of the model (`specs`: their names) is given, all with the same
    batch dimension."""
    missing = [name for name in specs if name not in arrays]
    if missing:
        raise RequestError(f"missing input(s): {', '.join(map(repr, missing))}")
    rows = {array.shape[0] for array in arrays.values()}
    if len(rows) != 1:
        raise RequestError(f"all inputs must have the same batch dimension (shape[0]); got {sorted(rows)}")
    return rows.pop()


def parse_infer_request(body: bytes, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                        header_length: int | None = None, layouts: BinaryLayouts | None = None) -> InferRequest:
    """Validate one `$inference_request` body against the model's signature.

    `header_length` is the Inference-Header-Content-Length value: the JSON object is that many
    bytes, binary tensor data follows. None: the whole body is JSON. `layouts`: the memo of
    checked binary JSON parts for this signature (`BinaryLayouts`), if the caller keeps one.
    """
    binary = None
    key = None
    if header_length is not None:
        if header_length > len(body):
            raise RequestError(f"Inference-Header-Content-Length is {header_length} but the body has only "
                               f"{len(body)} bytes")
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
        if layouts is not None:
            key = (body, len(binary))
            layout = layouts.layouts.get(key)
            if layout is not None:
                return _from_layout(layout, binary)
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON in request body: {str(exc)[:200]}") from None
    if not isinstance(request, dict):
        raise RequestError("request body must be a JSON object (an inference request with 'inputs')")

    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError("'id' must be a string when given")
    if request_id is not None and len(request_id) > 256:
        raise RequestError("'id' must be at most 256 characters")
    params = request.get("parameters")
    binary_default = _flag(params, "binary_data_output", "request")
    timeout_s = schedule_timeout(params.get("priority"), params.get("timeout")) if params else None

    items = request.get("inputs")
    if not isinstance(items, list) or not items:
        raise RequestError("'inputs' must be a non-empty array of input tensors")
    specs = {spec.name: spec for spec in inputs}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    placed: list[tuple[TensorSpec, tuple[int, ...], int, int]] | None = [] if key is not None else None
    # Only a body with a JSON boolean somewhere is searched for booleans inside numeric data. No key of
    # the protocol holds an "l", so one memchr for it spares most bodies the search for "false".
    may_hold_bools = b"true" in body or (b"l" in body and b"false" in body)
    for item in items:
        start = offset
        name, array, offset = _parse_input(item, specs, binary, offset, may_hold_bools)
        if name in arrays:
            raise RequestError(f"input {name!r} is given more than once")
        arrays[name] = array
        if placed is not None:
            if offset == start:  # JSON data: only the binary inputs' layout is remembered
                placed = None
            else:
                placed.append((specs[name], tuple(array.shape), start, offset - start))
    if binary is not None and offset != len(binary):
        raise RequestError(f"the body has {len(binary) - offset} binary byte(s) that no input's "
                           "'binary_data_size' accounts for")
    wanted, binary_outputs = requested_outputs(request.get("outputs"), outputs, binary_default)
    parsed = InferRequest(request_id, arrays, batch_rows(arrays, specs), wanted, binary_outputs, timeout_s)
    if placed is not None:
        layouts.remember(key, _Layout(request_id, placed, parsed.rows, wanted, binary_outputs, timeout_s))
    return parsed


class NonFiniteOutput(RequestError):
    """The model produced inf or NaN, which JSON numbers cannot carry."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"output {name!r} holds non-finite values (inf or NaN), which JSON cannot represent: the inputs are "
            "probably far outside what the model was trained on. Request the output as binary data "
            "(parameters.binary_data_output) or use gRPC to receive the raw IEEE 754 values", status=422)


def infer_response(model_name: str, model_version: str, request_id: str, outputs: Sequence[TensorSpec],
                   wanted: Sequence[str], results: dict[str, np.ndarray],
                   binary: frozenset[str] = frozenset()) -> tuple[bytes, int | None]:
    """(`$inference_response` body, JSON length when binary data follows it, else None).

    JSON data is flattened in row-major order; binary outputs are appended after the JSON object in
    the order listed, little-endian, their size in `parameters.binary_data_size`.
    """
    if binary and len(binary) == len(wanted):
        return _binary_response(model_name, model_version, request_id, outputs, wanted, results)
    by_name = {spec.name: spec for spec in outputs}
    tensors = []
    blobs = []
    for name in wanted:
        array = np.ascontiguousarray(results[name])
        tensor = {"name": name, "datatype": by_name[name].datatype, "shape": list(array.shape)}
        if name in binary:
            blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = array.reshape(-1)
        tensors.append(tensor)
    head = orjson.dumps({"model_name": model_name, "model_version": model_version, "id": request_id,
                         "outputs": tensors}, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson writes inf and NaN as null. Looking for "null" in the bytes is far cheaper than an
    # isfinite pass per output; only when it appears (it may also be in a name or an id) is each
    # JSON output checked exactly.
    if b"null" in head:
        for tensor in tensors:
            data = tensor.get("data")
            if data is not None and data.dtype.kind == "f" and not np.isfinite(data).all():
                raise NonFiniteOutput(tensor["name"])
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)


_LITTLE_ENDIAN = sys.byteorder == "little"
_BINARY_HEADS: dict[tuple, tuple[bytes, bytes]] = {}
"""The JSON part of all-binary responses around the id, by everything else it says (bounded like BinaryLayouts)."""


def _binary_response(model_name: str, model_version: str, request_id: str, outputs: Sequence[TensorSpec],
                     wanted: Sequence[str], results: dict[str, np.ndarray]) -> tuple[bytes, int]:
    """`infer_response` when every output is binary: the JSON part differs between two answers of
    the same shapes only by the id, so it is written once per shape and the id put in its place."""
    blobs = []
    layout: list = [model_name, model_version]
    for name in wanted:
        array = results[name]
        if not (_LITTLE_ENDIAN and array.dtype.isnative):
            array = array.astype(array.dtype.newbyteorder("<"))
        blob = array.tobytes()  # row-major whatever the array's layout
        blobs.append(blob)
        layout += (name, array.shape, len(blob))
    key = tuple(layout)
    parts = _BINARY_HEADS.get(key)
    if parts is None:
        by_name = {spec.name: spec for spec in outputs}
        tensors = [{"name": name, "datatype": by_name[name].datatype, "shape": list(results[name].shape),
                    "parameters": {"binary_data_size": len(blob)}} for name, blob in zip(wanted, blobs, strict=True)]
        # orjson keeps the keys in this order and writes no spaces, so this is exactly
        # orjson.dumps({"model_name", "model_version", "id", "outputs"}) split around the id.
        parts = (orjson.dumps({"model_name": model_name, "model_version": model_version})[:-1] + b',"id":',
                 b',"outputs":' + orjson.dumps(tensors) + b"}")
        if len(_BINARY_HEADS) >= MEMO_ENTRIES:
            _BINARY_HEADS.clear()
        _BINARY_HEADS[key] = parts
    head = parts[0] + orjson.dumps(request_id) + parts[1]
    return b"".join([head, *blobs]), len(head)


def error_body(message: str) -> bytes:
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS - 3] + "..."
    return orjson.dumps({"error": message})
