"""The Open Inference Protocol's request checks and responses, in process (protocol.py): each malformed request
is refused with the message a client reads (what is wrong, what is expected), each bound at its exact edge,
and the responses' JSON and binary parts are what the protocol says."""
from __future__ import annotations

import json

import numpy as np
import pytest
from model_server.model import TensorSpec
from model_server.protocol import (
    ECHO_CHARS,
    MAX_ERROR_CHARS,
    MEMO_ENTRIES,
    MEMO_HEADER_BYTES,
    BinaryLayouts,
    NonFiniteOutput,
    RequestError,
    array_from_bytes,
    array_from_values,
    batch_rows,
    check_tensor,
    cut,
    echo,
    error_body,
    infer_response,
    parse_infer_request,
    requested_outputs,
    schedule_timeout,
)

X = TensorSpec("x", "FP32", np.dtype(np.float32), (-1, 2))
I8 = TensorSpec("i", "INT8", np.dtype(np.int8), (-1, 2))
U8 = TensorSpec("u", "UINT8", np.dtype(np.uint8), (-1, 2))
B = TensorSpec("b", "BOOL", np.dtype(np.bool_), (-1, 2))
H = TensorSpec("h", "FP16", np.dtype(np.float16), (-1, 1))
SPECS = {s.name: s for s in (X, I8, U8, B, H)}
Y = TensorSpec("y", "FP32", np.dtype(np.float32), (-1, 2))
Z = TensorSpec("z", "INT8", np.dtype(np.int8), (-1, 1))


def _refused(call, *args) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call(*args)
    return caught.value


def _parse(payload, inputs=(X,), outputs=(Y,), header_length=None, layouts=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_infer_request(body, inputs, outputs, header_length, layouts)


def _x(data=(1, 2), shape=(1, 2), **extra) -> dict:
    return {"name": "x", "datatype": "FP32", "shape": list(shape), "data": list(data), **extra}


# --- echoing client input -----------------------------------------------------------------------------------

def test_client_input_is_quoted_at_most_echo_chars_long() -> None:
    assert ECHO_CHARS == 64
    assert cut("a" * 64) == "a" * 64
    assert cut("a" * 65) == "a" * 61 + "..."
    assert echo("a" * 62) == repr("a" * 62)  # 64 characters with its quotes
    assert echo("a" * 63) == "'" + "a" * 60 + "..."
    assert echo([1] * 63).startswith("[1, 1") and len(echo([1] * 63)) == 64
    assert echo([1] * 64) == "<list of 64 items>"
    assert echo({str(k): k for k in range(64)}) == "<dict of 64 items>"
    assert echo(12) == "12"


def test_an_error_body_is_json_and_cut_at_max_error_chars() -> None:
    assert json.loads(error_body("x" * MAX_ERROR_CHARS)) == {"error": "x" * 1024}
    assert json.loads(error_body("x" * 1025)) == {"error": "x" * 1021 + "..."}


# --- one tensor's description ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "datatype", "shape", "message"), [
    (7, "FP32", [1, 2], "every input needs a string 'name'"),
    ("w", "FP32", [1, 2], "unknown input 'w'; the model's inputs are: 'x', 'i', 'u', 'b', 'h'"),
    ("x", "FLOAT", [1, 2], "input 'x': datatype 'FLOAT' is not an Open Inference Protocol datatype; "
                           "the model expects FP32"),
    ("x", 5, [1, 2], "input 'x': datatype 5 is not an Open Inference Protocol datatype; the model expects FP32"),
    ("x", "FP64", [1, 2], "input 'x': datatype FP64 does not match the model's FP32"),
    ("x", "FP32", "1,2", "input 'x': 'shape' must be an array of non-negative integers, got '1,2'"),
    ("x", "FP32", [1, True], "input 'x': 'shape' must be an array of non-negative integers, got [1, True]"),
    ("x", "FP32", [1, -2], "input 'x': 'shape' must be an array of non-negative integers, got [1, -2]"),
    ("x", "FP32", [1, 2.0], "input 'x': 'shape' must be an array of non-negative integers, got [1, 2.0]"),
    ("x", "FP32", [1, 3], "input 'x': shape [1, 3] does not match the model's [-1, 2] (-1 = any size)"),
    ("x", "FP32", [1, 2, 1], "input 'x': shape [1, 2, 1] does not match the model's [-1, 2] (-1 = any size)"),
    ("x", "FP32", [0, 2], "input 'x': the batch dimension (shape[0]) must be at least 1"),
])
def test_a_tensor_description_that_does_not_fit_the_model_is_refused_saying_why(name, datatype, shape,
                                                                                message: str) -> None:
    error = _refused(check_tensor, name, datatype, shape, SPECS)
    assert (error.message, error.status) == (message, 400)


def test_a_tensor_description_that_fits_gives_the_models_spec() -> None:
    assert check_tensor("x", "FP32", [1, 2], SPECS) is X
    assert check_tensor("x", "FP32", (7, 2), SPECS) is X


# --- tensor values ---------------------------------------------------------------------------------------------

def test_binary_tensor_bytes_must_be_exactly_what_the_shape_needs() -> None:
    assert array_from_bytes(X, [1, 2], np.array([1, 2], "<f4").tobytes(), "raw").tolist() == [[1.0, 2.0]]
    error = _refused(array_from_bytes, X, [1, 2], b"\0" * 9, "binary data")
    assert error.message == "input 'x': binary data has 9 bytes but shape [1, 2] of FP32 needs 8"
    assert _refused(array_from_bytes, B, [1, 2], b"\x01\x02", "raw").message == \
        "input 'b': BOOL binary data must be bytes 0 or 1"
    assert array_from_bytes(B, [1, 2], b"\x01\x00", "raw").tolist() == [[True, False]]


@pytest.mark.parametrize(("spec", "values", "ok"), [
    (I8, [127, -128], True), (I8, [128, 0], False), (I8, [0, -129], False),
    (U8, [255, 0], True), (U8, [-1, 0], False), (U8, [256, 0], False),
    (I8, [1.5, 0], False),
])
def test_integer_values_must_fit_their_datatype_exactly(spec: TensorSpec, values: list, ok: bool) -> None:
    if ok:
        array = array_from_values(spec, [1, 2], values)
        assert array.dtype == spec.dtype and array.tolist() == [values]
    else:
        error = _refused(array_from_values, spec, [1, 2], values)
        assert error.message in (f"input {spec.name!r}: 'data' has values outside the {spec.datatype} range",
                                 f"input {spec.name!r}: 'data' holds non-numeric or mixed values; "
                                 f"{spec.datatype} needs numbers")


def test_float_values_must_fit_their_datatype_and_be_finite() -> None:
    assert array_from_values(H, [1, 1], [65504.0]).tolist() == [[65504.0]]
    assert array_from_values(H, [1, 1], [-65504]).dtype == np.float16
    for bad in ([65520.0], [-1e6], [float("nan")], [float("inf")]):
        assert _refused(array_from_values, H, [1, 1], bad).message == \
            "input 'h': 'data' has values outside the FP16 range"
    assert array_from_values(X, [1, 2], [3.4e38, 1]).dtype == np.float32
    assert _refused(array_from_values, X, [1, 2], [3.5e38, 1]).message == \
        "input 'x': 'data' has values outside the FP32 range"


def test_values_of_the_wrong_kind_count_or_form_are_refused() -> None:
    assert _refused(array_from_values, X, [1, 2], [[1, 2], [3]]).message == \
        "input 'x': 'data' must be an array of numbers; nested arrays must be rectangular"
    assert _refused(array_from_values, X, [1, 2], ["a", "b"]).message == \
        "input 'x': 'data' holds non-numeric or mixed values; FP32 needs numbers"
    assert _refused(array_from_values, B, [1, 2], [1, 0]).message == \
        "input 'b': 'data' holds non-numeric or mixed values; BOOL needs booleans"
    assert _refused(array_from_values, X, [1, 2], [1, 2, 3]).message == \
        "input 'x': 'data' has 3 values but shape [1, 2] needs 2"
    assert array_from_values(B, [1, 2], [True, False]).tolist() == [[True, False]]
    assert array_from_values(X, [2, 2], [[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]


# --- one input of a request ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("item", "message"), [
    ("x", "each entry of 'inputs' must be a JSON object with name, shape, datatype and data"),
    (_x(parameters=[1]), "input 'x': 'parameters' must be a JSON object when given"),
    (_x(parameters={"binary_data_size": 8}),
     "input 'x': 'binary_data_size' needs the Inference-Header-Content-Length header giving the length of the "
     "JSON part of the body"),
    ({**_x(), "data": "1,2"}, "input 'x': 'data' must be a JSON array of numbers (nested or flat)"),
    ({**_x(), "data": None}, "input 'x': 'data' must be a JSON array of numbers (nested or flat)"),
    (_x(data=(1, True)), "input 'x': 'data' holds booleans, non-numeric values; FP32 needs numbers"),
    (_x(data=([1, False],), shape=(1, 2)), "input 'x': 'data' holds booleans, non-numeric values; FP32 needs numbers"),
])
def test_a_malformed_input_is_refused_saying_what_is_expected(item, message: str) -> None:
    error = _refused(_parse, {"inputs": [item]})
    assert error.message == message


def _binary_body(size, tail: bytes = b"\0" * 8, **extra) -> tuple[bytes, int]:
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                                   "parameters": {"binary_data_size": size}, **extra}]}).encode()
    return head + tail, len(head)


@pytest.mark.parametrize(("size", "extra", "data", "message"), [
    (-1, {}, b"\0" * 8, "input 'x': 'binary_data_size' must be a non-negative integer"),
    (True, {}, b"\0" * 8, "input 'x': 'binary_data_size' must be a non-negative integer"),
    ("8", {}, b"\0" * 8, "input 'x': 'binary_data_size' must be a non-negative integer"),
    (8, {"data": [1, 2]}, b"\0" * 8, "input 'x': give either 'data' or 'binary_data_size', not both"),
    (8, {}, b"\0" * 7, "input 'x': 'binary_data_size' 8 runs past the end of the body (7 binary bytes left)"),
    (4, {}, b"\0" * 8, "input 'x': binary data has 4 bytes but shape [1, 2] of FP32 needs 8"),
    (8, {}, b"\0" * 9, "the body has 1 binary byte(s) that no input's 'binary_data_size' accounts for"),
])
def test_a_malformed_binary_input_is_refused_saying_what_is_expected(size, extra, data, message: str) -> None:
    body, length = _binary_body(size, data, **extra)
    assert _refused(_parse, body, (X,), (Y,), length).message == message


def test_a_binary_input_of_exactly_the_bytes_left_is_read() -> None:
    body, length = _binary_body(8, np.array([1.5, -2], "<f4").tobytes())
    request = _parse(body, header_length=length)
    assert request.inputs["x"].tolist() == [[1.5, -2.0]] and request.rows == 1


# --- the request as a whole ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "message"), [
    (b"[1, 2]", "request body must be a JSON object (an inference request with 'inputs')"),
    ({"id": 5, "inputs": [_x()]}, "'id' must be a string when given"),
    ({"id": "a" * 257, "inputs": [_x()]}, "'id' must be at most 256 characters"),
    ({"inputs": []}, "'inputs' must be a non-empty array of input tensors"),
    ({"inputs": {"x": 1}}, "'inputs' must be a non-empty array of input tensors"),
    ({}, "'inputs' must be a non-empty array of input tensors"),
    ({"inputs": [_x(), _x()]}, "input 'x' is given more than once"),
    ({"inputs": [_x()], "parameters": {"binary_data_output": 1}},
     "request: parameter 'binary_data_output' must be true or false"),
    ({"inputs": [_x()], "parameters": "yes"}, "request: 'parameters' must be a JSON object when given"),
    ({"inputs": [_x()], "parameters": {"priority": 1}},
     "parameters.priority is not supported: this server has one priority level; leave it out (or 0)"),
    ({"inputs": [_x()], "parameters": {"timeout": -1}},
     "parameters.timeout must be a whole number of microseconds from 0 to 9223372036854775807 (0: the server's "
     "queue timeout), got -1"),
])
def test_a_malformed_request_is_refused_saying_what_is_expected(payload, message: str) -> None:
    assert _refused(_parse, payload).message == message


def test_malformed_json_is_refused_with_the_parsers_reason() -> None:
    assert _refused(_parse, b'{"inputs": [').message.startswith("malformed JSON in request body: ")


def test_an_id_of_256_characters_and_the_default_schedule_policy_are_accepted() -> None:
    request = _parse({"id": "a" * 256, "inputs": [_x()], "parameters": {"priority": 0, "binary_data_output": False}})
    assert request.id == "a" * 256 and request.binary_outputs == frozenset() and request.timeout_s is None
    assert schedule_timeout(None, None) is None and schedule_timeout(0, 0) is None
    assert _refused(schedule_timeout, True, None).message.startswith("parameters.priority is not supported")
    assert _refused(schedule_timeout, False, None).message.startswith("parameters.priority is not supported")


def test_a_queue_timeout_in_microseconds_is_taken_up_to_the_int64_bound() -> None:
    assert _parse({"inputs": [_x()], "parameters": {"timeout": 1500}}).timeout_s == 0.0015
    assert schedule_timeout(None, 1) == 1e-6
    assert schedule_timeout(0, 2**63 - 1) == (2**63 - 1) / 1e6
    for bad in (2**63, -1, 1.5, True, "10"):
        assert _refused(schedule_timeout, None, bad).message == (
            "parameters.timeout must be a whole number of microseconds from 0 to 9223372036854775807 (0: the "
            f"server's queue timeout), got {bad!r}")


def test_a_header_length_past_the_body_is_refused_and_one_equal_to_it_means_no_binary_part() -> None:
    body = json.dumps({"inputs": [_x()]}).encode()
    assert _refused(_parse, body, (X,), (Y,), len(body) + 1).message == \
        f"Inference-Header-Content-Length is {len(body) + 1} but the body has only {len(body)} bytes"
    assert _parse(body, header_length=len(body)).inputs["x"].tolist() == [[1.0, 2.0]]


def test_every_input_of_the_model_is_needed_with_one_batch_size() -> None:
    assert _refused(batch_rows, {"x": np.zeros((1, 2))}, ["x", "i", "b"]).message == "missing input(s): 'i', 'b'"
    assert _refused(batch_rows, {"x": np.zeros((3, 2)), "i": np.zeros((1, 2)), "b": np.zeros((2, 2))},
                    ["x", "i", "b"]).message == \
        "all inputs must have the same batch dimension (shape[0]); got [1, 2, 3]"
    assert batch_rows({"x": np.zeros((3, 2)), "i": np.zeros((3, 2))}, ["x", "i"]) == 3


def test_a_bool_input_next_to_numbers_is_read_and_bools_in_numbers_are_found_anywhere() -> None:
    request = _parse({"inputs": [_x(), {"name": "b", "datatype": "BOOL", "shape": [1, 2], "data": [True, False]}]},
                     inputs=(X, B))
    assert request.inputs["b"].tolist() == [[True, False]] and request.rows == 1
    assert _refused(_parse, {"inputs": [_x(data=([1, [False]],), shape=(1, 2))]}).message.endswith(
        "FP32 needs numbers")


# --- outputs ---------------------------------------------------------------------------------------------------

def test_no_outputs_named_means_every_output_in_the_models_order() -> None:
    assert requested_outputs(None, (Y, Z), False) == (["y", "z"], frozenset())
    assert requested_outputs(None, (Y, Z), True) == (["y", "z"], frozenset({"y", "z"}))


def test_named_outputs_keep_the_requests_order_and_each_may_be_binary_or_not() -> None:
    wanted, binary = requested_outputs([{"name": "z", "parameters": {"binary_data": True}}, {"name": "y"}],
                                       (Y, Z), False)
    assert (wanted, binary) == (["z", "y"], frozenset({"z"}))
    wanted, binary = requested_outputs([{"name": "y", "parameters": {"binary_data": False}}, {"name": "z"}],
                                       (Y, Z), True)
    assert (wanted, binary) == (["y", "z"], frozenset({"z"}))
    assert requested_outputs([{"name": "y", "parameters": {"other": 1}}], (Y, Z), True) == (["y"], frozenset({"y"}))


@pytest.mark.parametrize(("requested", "message"), [
    ({"name": "y"}, "'outputs' must be an array of objects with a string 'name'"),
    ([], "'outputs' is empty: name at least one output, or leave 'outputs' out for all of them"),
    ([{"name": "y"}] * 3, "'outputs' lists 3 entries but the model has 2 output(s): 'y', 'z'; name each at most once"),
    (["y"], "'outputs' must be an array of objects with a string 'name'"),
    ([{"name": 1}], "'outputs' must be an array of objects with a string 'name'"),
    ([{"name": "w"}], "unknown output 'w'; the model's outputs are: 'y', 'z'"),
    ([{"name": "y"}, {"name": "y"}], "output 'y' is requested more than once"),
    ([{"name": "y", "parameters": {"binary_data": "yes"}}], "output 'y': parameter 'binary_data' must be true or false"),
    ([{"name": "y", "parameters": ["binary_data"]}], "output 'y': 'parameters' must be a JSON object when given"),
])
def test_a_malformed_outputs_list_is_refused_saying_what_is_expected(requested, message: str) -> None:
    assert _refused(requested_outputs, requested, (Y, Z), False).message == message


def test_a_mixed_response_puts_the_binary_outputs_after_the_json_in_the_order_asked() -> None:
    y = np.array([[1.5, 2.5]], dtype=np.float32)
    z = np.array([[7]], dtype=np.int8)
    raw, length = infer_response("m", "1", "r", (Y, Z), ["z", "y"], {"y": y, "z": z}, frozenset({"z"}))
    head = json.loads(raw[:length])
    assert head["outputs"] == [{"name": "z", "datatype": "INT8", "shape": [1, 1],
                                "parameters": {"binary_data_size": 1}},
                               {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.5]}]
    assert raw[length:] == b"\x07"
    raw, length = infer_response("m", "1", "r", (Y, Z), ["y", "z"], {"y": y, "z": z}, frozenset({"y", "z"}))
    assert raw[length:] == y.astype("<f4").tobytes() + b"\x07"
    assert [o["name"] for o in json.loads(raw[:length])["outputs"]] == ["y", "z"]


def test_a_non_finite_json_output_is_refused_with_422_but_null_elsewhere_is_not_mistaken_for_one() -> None:
    with pytest.raises(NonFiniteOutput) as caught:
        infer_response("m", "1", "r", (Y,), ["y"], {"y": np.array([[1.0, np.inf]], dtype=np.float32)})
    assert caught.value.status == 422 and caught.value.message.startswith("output 'y' holds non-finite values")
    raw, length = infer_response("m", "1", "null", (Y,), ["y"], {"y": np.array([[1.0, 2.0]], dtype=np.float32)})
    assert length is None and json.loads(raw)["id"] == "null"
    raw, length = infer_response("m", "1", "r", (Y,), ["y"], {"y": np.array([[np.nan, 1]], dtype=np.float32)},
                                 frozenset({"y"}))
    assert np.isnan(np.frombuffer(raw[length:], "<f4")[0])


def test_the_json_parts_of_all_binary_responses_stay_bounded() -> None:
    from model_server import protocol

    for i in range(MEMO_ENTRIES + 5):
        out = np.zeros((i + 1, 2), dtype=np.float32)
        raw, length = infer_response("m", "1", "r", (Y,), ["y"], {"y": out}, frozenset({"y"}))
        assert json.loads(raw[:length])["outputs"][0]["shape"] == [i + 1, 2]
    assert 0 < len(protocol._BINARY_HEADS) <= MEMO_ENTRIES


# --- the memo of binary layouts --------------------------------------------------------------------------------

def test_a_layout_is_remembered_up_to_memo_header_bytes_of_json_and_memo_entries_layouts() -> None:
    layouts = BinaryLayouts()
    layouts.remember((b"x" * MEMO_HEADER_BYTES, 8), "kept")
    layouts.remember((b"x" * (MEMO_HEADER_BYTES + 1), 8), "too long")
    assert list(layouts.layouts.values()) == ["kept"]
    for i in range(MEMO_ENTRIES - 1):
        layouts.remember((str(i).encode(), 8), i)
    assert len(layouts.layouts) == MEMO_ENTRIES
    layouts.remember((b"one more", 8), "last")
    assert layouts.layouts == {(b"one more", 8): "last"}


def test_a_request_with_json_data_is_not_remembered_and_a_remembered_one_keeps_its_outputs() -> None:
    layouts = BinaryLayouts()
    head = json.dumps({"inputs": [_x()]}).encode()
    _parse(head, header_length=len(head), layouts=layouts)
    assert layouts.layouts == {}
    body, length = _binary_body(8, np.array([1, 2], "<f4").tobytes())
    first = _parse(body, header_length=length, layouts=layouts)
    again = _parse(body[:length] + np.array([3, 4], "<f4").tobytes(), header_length=length, layouts=layouts)
    assert len(layouts.layouts) == 1
    assert (again.rows, again.outputs, again.id) == (first.rows, first.outputs, first.id) == (1, ["y"], None)
    timed = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                                    "parameters": {"binary_data_size": 8}}], "parameters": {"timeout": 2000}}).encode()
    for _ in range(2):  # remembered, then taken from the memo: the timeout is part of the layout
        assert _parse(timed + b"\0" * 8, header_length=len(timed), layouts=layouts).timeout_s == 0.002
    assert again.inputs["x"].tolist() == [[3.0, 4.0]]


def test_a_remembered_layout_of_non_native_tensors_still_checks_their_bytes() -> None:
    layouts = BinaryLayouts()
    head = json.dumps({"id": "q", "inputs": [
        {"name": "i", "datatype": "INT8", "shape": [1, 2], "parameters": {"binary_data_size": 2}},
        {"name": "b", "datatype": "BOOL", "shape": [1, 2], "parameters": {"binary_data_size": 2}}]}).encode()
    for data in (b"\x01\xff\x01\x00", b"\x02\x03\x00\x01"):
        request = _parse(head + data, inputs=(I8, B), header_length=len(head), layouts=layouts)
        assert request.inputs["i"].tolist() == [list(np.frombuffer(data[:2], np.int8))]
        assert request.inputs["b"].tolist() == [[bool(data[2]), bool(data[3])]] and request.id == "q"
    assert _refused(_parse, head + b"\x01\x01\x05\x00", (I8, B), (Y,), len(head), layouts).message == \
        "input 'b': BOOL binary data must be bytes 0 or 1"


@pytest.mark.parametrize("parameters", [3, "binary_data", ["binary_data"], True])
def test_an_output_s_parameters_that_are_not_an_object_are_a_400_naming_the_output(parameters) -> None:
    with pytest.raises(RequestError) as refused:
        requested_outputs([{"name": "x", "parameters": parameters}], [X], False)
    assert str(refused.value) == "output 'x': 'parameters' must be a JSON object when given"
