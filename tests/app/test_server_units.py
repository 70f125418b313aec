"""In-process checks of the server's pure parts: configuration, routing and request validation."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from model_server.app import _ROUTES_SEEN, ROUTES_SEEN_MAX, match_route
from model_server.config import ConfigError, Settings, load_settings
from model_server.model import TensorSpec
from model_server.protocol import MEMO_ENTRIES, BinaryLayouts, RequestError, infer_response, parse_infer_request


def test_defaults_match_the_documented_ones(tiny_model) -> None:
    settings = load_settings({"MODEL_DIR": str(tiny_model.dir)})
    assert settings == Settings(model_dir=Path(tiny_model.dir))
    assert (settings.port, settings.host, settings.model_name, settings.model_version) == (
        8080, "0.0.0.0", "my-ai-model", None)
    assert (settings.max_batch_size, settings.batch_window_ms, settings.max_request_bytes) == (32, 2.0, 1024 * 1024)
    assert (settings.drain_timeout_seconds, settings.log_level) == (25.0, "info")
    assert (settings.grpc_port, settings.admin_port, settings.api_keys_dir) == (8081, 8082, None)
    assert (settings.max_connections, settings.max_concurrent_requests, settings.max_queue_size,
            settings.queue_timeout_ms) == (1000, 256, 128, 2000.0)
    assert (settings.max_header_bytes, settings.header_timeout_seconds, settings.body_timeout_seconds,
            settings.keep_alive_timeout_seconds, settings.drain_delay_seconds, settings.retry_after_seconds) == (
        16384, 10.0, 30.0, 75.0, 0.0, 1)


def test_every_variable_is_read(tiny_model, tmp_path) -> None:
    settings = load_settings({
        "PORT": "9000", "GRPC_PORT": "0", "ADMIN_PORT": "9002", "HOST": "127.0.0.1", "API_KEYS_DIR": str(tmp_path),
        "MODEL_NAME": "digits", "MODEL_VERSION": "v3",
        "MODEL_DIR": str(tiny_model.dir), "MAX_BATCH_SIZE": "64", "BATCH_WINDOW_MS": "0.5",
        "MAX_REQUEST_BYTES": "2048", "DRAIN_TIMEOUT_SECONDS": "10", "DRAIN_DELAY_SECONDS": "3",
        "MAX_CONNECTIONS": "50", "MAX_CONCURRENT_REQUESTS": "40", "MAX_QUEUE_SIZE": "30", "QUEUE_TIMEOUT_MS": "500",
        "MAX_HEADER_BYTES": "4096", "HEADER_TIMEOUT_SECONDS": "2", "BODY_TIMEOUT_SECONDS": "4",
        "KEEP_ALIVE_TIMEOUT_SECONDS": "61", "RETRY_AFTER_SECONDS": "5", "LOG_LEVEL": "DEBUG",
        "INTRA_OP_THREADS": "2", "TEST_INFERENCE_DELAY_MS": "5"})
    assert settings == Settings(port=9000, grpc_port=0, admin_port=9002, host="127.0.0.1", api_keys_dir=tmp_path,
                                model_name="digits", model_version="v3",
                                model_dir=Path(tiny_model.dir), max_batch_size=64, batch_window_ms=0.5,
                                max_request_bytes=2048, drain_timeout_seconds=10.0, drain_delay_seconds=3.0,
                                max_connections=50, max_concurrent_requests=40, max_queue_size=30,
                                queue_timeout_ms=500.0, max_header_bytes=4096, header_timeout_seconds=2.0,
                                body_timeout_seconds=4.0, keep_alive_timeout_seconds=61.0, retry_after_seconds=5,
                                log_level="debug", intra_op_threads=2, test_inference_delay_ms=5.0)


def test_the_three_ports_must_differ(tiny_model) -> None:
    with pytest.raises(ConfigError, match=r"ADMIN_PORT=8080, PORT=8080: each port must be different"):
        load_settings({"MODEL_DIR": str(tiny_model.dir), "ADMIN_PORT": "8080"})
    assert load_settings({"MODEL_DIR": str(tiny_model.dir), "GRPC_PORT": "0", "ADMIN_PORT": "9000"}).grpc_port == 0


@pytest.mark.parametrize("var,value,message", [
    ("PORT", "0", "PORT='0': must be an integer from 1 to 65535"),
    ("PORT", "80.5", "PORT='80.5': must be an integer from 1 to 65535"),
    ("MAX_BATCH_SIZE", "many", "MAX_BATCH_SIZE='many': must be an integer from 1 to 4096"),
    ("BATCH_WINDOW_MS", "nan", "BATCH_WINDOW_MS='nan': must be a number from 0 to 1000"),
    ("MAX_REQUEST_BYTES", "10", "MAX_REQUEST_BYTES='10': must be an integer from 1024"),
    ("DRAIN_TIMEOUT_SECONDS", "-5", "DRAIN_TIMEOUT_SECONDS='-5': must be a number from 0 to 3600"),
    ("HOST", " ", "HOST=' ': must not be empty"),
    ("MODEL_NAME", "../etc", "MODEL_NAME='../etc': must be 1-128 characters"),
    ("MODEL_VERSION", "", "MODEL_VERSION='': must not be empty"),
    ("LOG_LEVEL", "verbose", "LOG_LEVEL='verbose': must be one of"),
    ("GRPC_PORT", "-1", "GRPC_PORT='-1': must be an integer from 0 to 65535"),
    ("ADMIN_PORT", "0", "ADMIN_PORT='0': must be an integer from 1 to 65535"),
    ("API_KEYS_DIR", "/no/such/dir", "API_KEYS_DIR='/no/such/dir': must be a directory"),
    ("MAX_HEADER_BYTES", "100", "MAX_HEADER_BYTES='100': must be an integer from 1024"),
    ("HEADER_TIMEOUT_SECONDS", "0", "HEADER_TIMEOUT_SECONDS='0': must be a number from 0.1 to 3600"),
    ("QUEUE_TIMEOUT_MS", "0", "QUEUE_TIMEOUT_MS='0': must be a number from 1"),
    ("MAX_CONNECTIONS", "0", "MAX_CONNECTIONS='0': must be an integer from 1"),
])
def test_an_invalid_value_is_reported_with_its_variable(tiny_model, var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MODEL_DIR": str(tiny_model.dir), var: value})
    assert message in str(caught.value)


_UNITS = {"": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def _readme_variables() -> dict[str, tuple[str, str]]:
    """app/README.md's table of environment variables: name -> (default column, meaning column)."""
    from tests.app.conftest import APP_DIR

    rows = re.findall(r"^\| `([A-Z_]+)` \| (.*?) \| (.*) \|$", (APP_DIR / "README.md").read_text(), re.MULTILINE)
    return {name: (default, meaning) for name, default, meaning in rows}


def _readme_number(text: str) -> float:
    number, _, unit = text.partition(" ")
    return float(number) * _UNITS[unit]


def test_the_readme_states_each_variable_s_default_as_the_server_has_it() -> None:
    from model_server.config import _PARSERS

    table = _readme_variables()
    for var, (field_name, parse) in _PARSERS.items():
        default_column = table[var][0]
        quoted = re.match(r"`([^`]*)`", default_column)
        expected = getattr(Settings, field_name)
        if quoted is None:  # "unset (...)", "version in metadata.json ...": nothing configured
            assert expected is None, f"{var}: README says {default_column!r}, the server defaults to {expected!r}"
        elif var == "MODEL_DIR":  # its parser needs the directory to exist; the default is a relative path
            assert Path(quoted.group(1)) == expected
        else:
            assert parse(quoted.group(1)) == expected, f"{var}: README default {quoted.group(1)!r}, server {expected!r}"


def test_the_readme_states_each_numeric_variable_s_range_as_the_server_checks_it() -> None:
    from model_server.config import _PARSERS

    table = _readme_variables()
    for var, (_, parse) in _PARSERS.items():
        expects = getattr(parse, "expects", None)
        if expects is None:  # not a number: names, paths, levels, switches
            continue
        found = re.search(r"\((-?[0-9.]+)\.\.([0-9.]+(?: [KMG]iB)?)[;)]", table[var][1])
        assert found, f"app/README.md gives no range for {var} (the server expects {expects})"
        low, high = _readme_number(found.group(1)), _readme_number(found.group(2))
        step = 1 if expects.startswith("an integer") else 1e-6
        as_text = (lambda v: str(int(v))) if step == 1 else repr
        assert parse(as_text(low)) == low and parse(as_text(high)) == high, var
        for outside in (low - step, high + step):
            with pytest.raises(ValueError):
                parse(as_text(outside))


def test_the_readme_lists_the_log_levels_the_server_takes() -> None:
    from model_server.config import _PARSERS, LOG_LEVELS

    meaning = _readme_variables()["LOG_LEVEL"][1]
    assert re.findall(r"`([a-z]+)`", meaning) == list(LOG_LEVELS)
    assert "any case" in meaning and _PARSERS["LOG_LEVEL"][1]("WaRnInG") == "warning"


def test_an_unset_model_dir_without_artifacts_is_explained(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="MODEL_DIR is unset and the default 'artifacts' has no model.onnx"):
        load_settings({})


@pytest.mark.parametrize("path,expected", [
    ("/v2", ("/v2", None, None)),
    ("/v2/health/live", ("/v2/health/live", None, None)),
    ("/v2/health/ready", ("/v2/health/ready", None, None)),
    ("/metrics", ("other", None, None)),  # the public port never serves metrics
    ("/v2/models/m", ("/v2/models/{name}", "m", None)),
    ("/v2/models/m/ready", ("/v2/models/{name}/ready", "m", None)),
    ("/v2/models/m/infer", ("/v2/models/{name}/infer", "m", None)),
    ("/v2/models/m/versions/3", ("/v2/models/{name}/versions/{version}", "m", "3")),
    ("/v2/models/m/versions/3/ready", ("/v2/models/{name}/versions/{version}/ready", "m", "3")),
    ("/v2/models/m/versions/3/infer", ("/v2/models/{name}/versions/{version}/infer", "m", "3")),
    ("/v2/models//infer", ("other", None, None)),
    ("/v2/models/m/versions//infer", ("other", None, None)),
    ("/v2/models/m/predict", ("other", None, None)),
    ("/", ("other", None, None)),
])
def test_paths_map_to_route_templates(path: str, expected: tuple) -> None:
    assert match_route(path) == expected


def test_remembered_routes_stay_bounded_and_scanners_paths_are_not_remembered() -> None:
    for i in range(ROUTES_SEEN_MAX * 3):
        assert match_route(f"/v2/models/m{i}/infer") == ("/v2/models/{name}/infer", f"m{i}", None)
        assert match_route(f"/scan/{i}") == ("other", None, None)
    assert 0 < len(_ROUTES_SEEN) <= ROUTES_SEEN_MAX
    assert not any(path.startswith("/scan/") for path in _ROUTES_SEEN)


SPEC_IN = (TensorSpec("input", "FP32", np.dtype(np.float32), (-1, 64)),)
SPEC_OUT = (TensorSpec("output", "FP32", np.dtype(np.float32), (-1, 10)),)


def _parse(payload) -> object:
    return parse_infer_request(json.dumps(payload).encode(), SPEC_IN, SPEC_OUT)


def test_a_valid_request_becomes_fp32_arrays_with_the_batch_size() -> None:
    request = _parse({"id": "a", "inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32",
                                             "data": list(range(128))}]})
    array = request.inputs["input"]
    assert (array.dtype, array.shape, request.rows, request.id, request.outputs) == (
        np.float32, (2, 64), 2, "a", ["output"])
    assert array[1, 0] == 64.0


def test_a_request_id_of_256_characters_is_echoed_and_a_longer_one_refused() -> None:
    tensor = {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}
    assert _parse({"id": "i" * 256, "inputs": [tensor]}).id == "i" * 256
    with pytest.raises(RequestError, match="'id' must be at most 256 characters"):
        _parse({"id": "i" * 257, "inputs": [tensor]})


def test_an_error_quotes_client_input_cut_to_64_characters_and_is_at_most_1_kib() -> None:
    from model_server.protocol import error_body

    with pytest.raises(RequestError) as refused:
        _parse({"inputs": [{"name": "x" * 1000, "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}]})
    message = str(refused.value)
    assert "'" + "x" * 60 + "..." in message and "x" * 61 not in message  # repr, quotes included: 64 characters
    assert len(json.loads(error_body("e" * 5000))["error"]) == 1024
    assert json.loads(error_body("e" * 1024))["error"] == "e" * 1024


def test_integer_datatypes_reject_values_out_of_range() -> None:
    spec = (TensorSpec("x", "INT8", np.dtype(np.int8), (-1, 2)),)
    ok = parse_infer_request(b'{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT8","data":[1,-3]}]}', spec, SPEC_OUT)
    assert ok.inputs["x"].tolist() == [[1, -3]]
    for body in (b'{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT8","data":[1,300]}]}',
                 b'{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT8","data":[1,2.5]}]}'):
        with pytest.raises(RequestError):
            parse_infer_request(body, spec, SPEC_OUT)


def test_the_response_is_the_v2_form_with_flat_row_major_data() -> None:
    out = np.arange(20, dtype=np.float32).reshape(2, 10) / 4
    raw, json_length = infer_response("m", "v1", "id-1", SPEC_OUT, ["output"], {"output": out})
    assert json_length is None  # no binary outputs asked for: the whole body is JSON
    body = json.loads(raw)
    assert body == {"model_name": "m", "model_version": "v1", "id": "id-1",
                    "outputs": [{"name": "output", "datatype": "FP32", "shape": [2, 10],
                                 "data": (np.arange(20) / 4).tolist()}]}


def _binary(rows: np.ndarray, spec: str = "FP32", request_id: str | None = None) -> tuple[bytes, int]:
    head = json.dumps({**({"id": request_id} if request_id else {}),
                       "inputs": [{"name": SPEC_IN[0].name if spec == "FP32" else "x", "shape": list(rows.shape),
                                   "datatype": spec, "parameters": {"binary_data_size": rows.nbytes}}],
                       "parameters": {"binary_data_output": True}}).encode()
    return head + rows.tobytes(), len(head)


def test_a_remembered_binary_layout_gives_each_request_its_own_bytes() -> None:
    layouts = BinaryLayouts()
    rng = np.random.default_rng(7)
    for _ in range(3):  # the first parse remembers the layout; the others take it from the memo
        rows = rng.random((3, 64), dtype=np.float32)
        body, length = _binary(rows)
        request = parse_infer_request(body, SPEC_IN, SPEC_OUT, length, layouts)
        assert request.inputs["input"].tobytes() == rows.tobytes()
        assert (request.rows, request.outputs, request.binary_outputs) == (3, ["output"], frozenset({"output"}))
    assert len(layouts.layouts) == 1


def test_a_remembered_binary_layout_still_refuses_what_its_bytes_get_wrong() -> None:
    layouts = BinaryLayouts()
    body, length = _binary(np.zeros((1, 64), dtype=np.float32))
    parse_infer_request(body, SPEC_IN, SPEC_OUT, length, layouts)
    for bad, message in ((body + b"\0\0\0\0", "that no input"), (body[:-4], "runs past the end")):
        with pytest.raises(RequestError, match=message):
            parse_infer_request(bad, SPEC_IN, SPEC_OUT, length, layouts)
    flags = (TensorSpec("x", "BOOL", np.dtype(np.bool_), (-1, 2)),)
    good, length = _binary(np.array([[0, 1]], dtype=np.uint8), "BOOL")
    assert parse_infer_request(good, flags, SPEC_OUT, length, layouts).inputs["x"].tolist() == [[False, True]]
    with pytest.raises(RequestError, match="BOOL binary data must be bytes 0 or 1"):
        parse_infer_request(good[:-1] + b"\x02", flags, SPEC_OUT, length, layouts)


def test_the_binary_layout_memo_stays_bounded() -> None:
    layouts = BinaryLayouts()
    rows = np.zeros((1, 64), dtype=np.float32)
    for i in range(MEMO_ENTRIES * 3):
        body, length = _binary(rows, request_id=f"client-{i}")
        assert parse_infer_request(body, SPEC_IN, SPEC_OUT, length, layouts).id == f"client-{i}"
    assert 0 < len(layouts.layouts) <= MEMO_ENTRIES


def _padded_binary(rows: np.ndarray, head_bytes: int, tag: str = "") -> tuple[bytes, int]:
    """A binary request whose JSON part is exactly `head_bytes` long (padded in a request parameter)."""
    def head(pad: str) -> bytes:
        return json.dumps({"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                                       "parameters": {"binary_data_size": rows.nbytes}}],
                           "parameters": {"binary_data_output": True, "pad": tag + pad}}).encode()
    part = head("x" * (head_bytes - len(head(""))))
    assert len(part) == head_bytes
    return part + rows.tobytes(), len(part)


def test_json_parts_of_up_to_4_kib_are_remembered_64_at_most() -> None:
    rows = np.zeros((1, 64), dtype=np.float32)
    layouts = BinaryLayouts()
    for size in (4096, 4097):
        body, length = _padded_binary(rows, size)
        parse_infer_request(body, SPEC_IN, SPEC_OUT, length, layouts)
    assert [len(key[0]) for key in layouts.layouts] == [4096]
    for i in range(63):
        body, length = _padded_binary(rows, 200, tag=f"{i:03d}")
        parse_infer_request(body, SPEC_IN, SPEC_OUT, length, layouts)
    assert len(layouts.layouts) == 64
    body, length = _padded_binary(rows, 200, tag="new")
    parse_infer_request(body, SPEC_IN, SPEC_OUT, length, layouts)
    assert len(layouts.layouts) == 1, "a 65th part starts the memo afresh"


def test_an_all_binary_response_carries_each_answers_own_id_and_bytes() -> None:
    for i in range(3):  # the JSON part is written once per shape, then reused with the id put in
        out = np.arange(20, dtype=np.float32).reshape(2, 10) * (i + 1)
        raw, length = infer_response("m", "v1", f"id-{i}", SPEC_OUT, ["output"], {"output": out},
                                     frozenset({"output"}))
        assert json.loads(raw[:length]) == {"model_name": "m", "model_version": "v1", "id": f"id-{i}",
                                            "outputs": [{"name": "output", "datatype": "FP32", "shape": [2, 10],
                                                         "parameters": {"binary_data_size": 80}}]}
        assert raw[length:] == out.astype("<f4").tobytes()
    raw, length = infer_response("m", "v1", "x", SPEC_OUT, [], {"output": out}, frozenset())
    assert length is None and json.loads(raw)["outputs"] == []


def test_binary_outputs_are_little_endian_row_major_whatever_the_arrays_layout() -> None:
    out = np.arange(40, dtype=np.float32).reshape(4, 10)
    for array in (out.astype(">f4"), np.asfortranarray(out), out[::2]):
        raw, length = infer_response("m", "v1", "x", SPEC_OUT, ["output"], {"output": array}, frozenset({"output"}))
        assert raw[length:] == np.ascontiguousarray(array).astype("<f4").tobytes()
        assert json.loads(raw[:length])["outputs"][0]["shape"] == list(array.shape)


def test_the_connection_cap_is_lowered_to_fit_the_descriptor_limit() -> None:
    from model_server.http_limits import effective_max_connections

    assert effective_max_connections(1000, 1_048_576, 40) == 1000
    lowered = effective_max_connections(1000, 1024, 40)
    assert 800 < lowered < 1024 - 40
    assert effective_max_connections(1000, 10, 40) == 1


def test_a_rate_limited_log_says_how_many_it_held_back(caplog) -> None:
    import logging

    from model_server.http_limits import RateLimitedLog

    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test-rate"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test-rate"):
        assert limited.warning("bad_http", "first")
        assert not limited.warning("bad_http", "second")
        assert limited.warning("header_timeout", "other kind")
        now[0] = 61
        assert limited.warning("bad_http", "third")
    assert [r.getMessage() for r in caplog.records] == ["first", "other kind", "third (1 more like it in the last 61 s)"]


def _run(coroutine):
    """Run on a private loop: asyncio.run would leave the main thread without an event loop, which
    the Pulumi mock tests sharing this worker process expect to find."""
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _batcher(others: int):
    from model_server.batcher import DynamicBatcher
    from model_server.metrics import Metrics

    calls: list[int] = []

    def run(inputs: dict) -> dict:
        calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}
    return DynamicBatcher(run, Metrics("m"), max_batch_size=8, window_s=0.05, others_in_flight=lambda: others), calls


def test_a_lone_request_runs_at_once_without_the_batch_queue() -> None:
    import asyncio

    async def scenario() -> dict:
        batcher, calls = _batcher(others=0)
        batcher._typical_s = 0.0  # known fast, as after the first batches
        # The batcher task is never started: only the direct path can answer.
        result = await asyncio.wait_for(batcher.submit({"x": np.ones((1, 2))}, 1), 1)
        assert calls == [1]
        return result
    assert _run(scenario())["y"].tolist() == [[2.0, 2.0]]


def test_requests_with_company_still_share_a_batch() -> None:
    import asyncio

    async def scenario() -> list:
        batcher, calls = _batcher(others=1)
        batcher._typical_s = 0.0
        batcher.start()
        results = await asyncio.gather(*(batcher.submit({"x": np.full((1, 2), i)}, 1) for i in range(3)))
        await batcher.stop()
        assert calls == [3], calls  # one execution for the three
        return results
    assert [r["y"][0, 0] for r in _run(scenario())] == [0.0, 2.0, 4.0]


def test_fast_lane_requests_of_one_event_loop_pass_share_a_batch_and_get_their_own_rows() -> None:
    import asyncio

    async def scenario() -> tuple[list, list]:
        batcher, calls = _batcher(others=0)
        batcher._typical_s = 0.0  # a fast model: the fast lane is open
        answers: list = []
        for i in range(3):  # as if three connections' requests were read in one pass
            assert batcher.collect({"x": np.full((i + 1, 2), float(i))}, i + 1, answers.append)
        assert calls == [] and answers == []  # nothing runs before the pass ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return calls, answers
    calls, answers = _run(scenario())
    assert calls == [6], calls  # 1 + 2 + 3 rows in one execution
    assert [a["y"].tolist() for a in answers] == [[[0.0, 0.0]], [[2.0, 2.0]] * 2, [[4.0, 4.0]] * 3]


def test_the_fast_lane_splits_at_max_batch_size_and_is_closed_to_slow_models() -> None:
    import asyncio

    async def scenario() -> tuple[list, bool]:
        batcher, calls = _batcher(others=0)
        batcher._typical_s = 0.0
        answers: list = []
        for _ in range(3):
            batcher.collect({"x": np.ones((5, 2))}, 5, answers.append)  # max_batch_size is 8
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        batcher._typical_s = 1.0  # slow: it must go through the queue (and its inference thread)
        return calls, batcher.collect({"x": np.ones((1, 2))}, 1, answers.append)
    calls, accepted = _run(scenario())
    assert calls == [5, 5, 5] and not accepted


def test_the_fast_lane_runs_every_batch_of_a_pass_before_answering_and_a_failed_batch_fails_only_its_own() -> None:
    import asyncio

    from model_server.batcher import DynamicBatcher, InferenceError
    from model_server.metrics import Metrics

    events: list[str] = []

    def run(inputs: dict) -> dict:
        events.append(f"run {len(inputs['x'])}")
        if len(inputs["x"]) == 6:
            raise RuntimeError("model broke")
        return {"y": inputs["x"] * 2}

    async def scenario() -> None:
        batcher = DynamicBatcher(run, Metrics("m"), max_batch_size=8, window_s=0.05, others_in_flight=lambda: 0)
        batcher._typical_s = 0.0
        for i, rows in enumerate((5, 6, 3, 1)):  # batches of 5, 6 and 3 + 1 rows (max_batch_size 8)
            batcher.collect({"x": np.full((rows, 2), float(i))}, rows,
                            lambda out, i=i: events.append((i, out if isinstance(out, Exception) else out["y"].tolist())))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    _run(scenario())
    assert events[:3] == ["run 5", "run 6", "run 4"], events  # all runs first, then the answers
    answers = dict(events[3:])
    assert answers[0] == [[0.0, 0.0]] * 5 and answers[2] == [[4.0, 4.0]] * 3 and answers[3] == [[6.0, 6.0]]
    assert isinstance(answers[1], InferenceError) and "model broke" in str(answers[1])


def test_the_lock_free_request_metrics_expose_exactly_what_prometheus_client_would() -> None:
    from model_server.metrics import LATENCY_BUCKETS, Metrics
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    ours = Metrics("m")
    reference = CollectorRegistry()
    requests = Counter("inference_requests", "HTTP requests answered, by route template and status code",
                       ["model", "route", "status"], registry=reference)
    duration = Histogram("inference_request_duration_seconds", "Time from request start to response sent, by route "
                         "template", ["model", "route"], buckets=LATENCY_BUCKETS, registry=reference)
    for route, status, seconds in (("a", 200, 0.0003), ("a", 200, 0.0005), ("b", 404, 7.0), ("b", 404, 100.0)):
        ours.observe_request(route, status, seconds)
        requests.labels("m", route, str(status)).inc()
        duration.labels("m", route).observe(seconds)

    def lines(text: bytes) -> list[str]:
        return [line for line in text.decode().splitlines() if "inference_request" in line
                and "in_flight" not in line and "_created" not in line]
    expected = lines(generate_latest(reference))
    assert expected and lines(generate_latest(ours.registry)) == expected


@pytest.mark.parametrize("timeout,seconds", [(None, None), (0, None), (1, 1e-6), (250_000, 0.25),
                                             (2**63 - 1, (2**63 - 1) / 1e6)])
def test_parameters_timeout_is_microseconds_and_0_means_the_server_s_limit(timeout, seconds) -> None:
    from model_server.protocol import schedule_timeout

    assert schedule_timeout(0, timeout) == seconds
    assert schedule_timeout(None, timeout) == seconds


@pytest.mark.parametrize("priority,timeout,message", [
    (1, None, "parameters.priority is not supported"), (True, None, "parameters.priority is not supported"),
    (False, None, "parameters.priority is not supported"), ("0", None, "parameters.priority is not supported"),
    (0, -1, "parameters.timeout must be a whole number of microseconds from 0 to 9223372036854775807"),
    (0, 2**63, "got 9223372036854775808"), (0, True, "got True"), (0, 1.5, "got 1.5"), (0, "100", "got '100'")])
def test_schedule_policy_values_out_of_their_domain_are_refused_naming_the_parameter(priority, timeout, message):
    from model_server.protocol import RequestError, schedule_timeout

    with pytest.raises(RequestError) as refused:
        schedule_timeout(priority, timeout)
    assert message in str(refused.value)


def test_the_model_runs_on_intra_op_threads_and_its_version_comes_from_metadata_else_its_hash(
        tiny_model, tmp_path) -> None:
    import shutil

    from model_server.artifacts import METADATA_FILE, MODEL_FILE, model_version
    from model_server.model import CPU_PROVIDER, CUDA_PROVIDER, OnnxModel, choose_providers

    model = OnnxModel(tiny_model.dir / MODEL_FILE, intra_op_threads=3)
    assert model._session.get_session_options().intra_op_num_threads == 3
    assert model.version == tiny_model.version and model.device == "cpu"
    assert OnnxModel(tiny_model.dir / MODEL_FILE, version="v9").version == "v9"
    shutil.copy(tiny_model.dir / MODEL_FILE, tmp_path / MODEL_FILE)  # no metadata.json beside it
    assert OnnxModel(tmp_path / MODEL_FILE).version == model_version((tmp_path / MODEL_FILE).read_bytes())
    (tmp_path / METADATA_FILE).write_text(json.dumps({"model_name": "my-ai-model", "version": "from-metadata"}))
    assert OnnxModel(tmp_path / MODEL_FILE).version == "from-metadata"
    assert choose_providers([CPU_PROVIDER, CUDA_PROVIDER]) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert choose_providers([CPU_PROVIDER]) == [CPU_PROVIDER]
