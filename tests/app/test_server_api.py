"""The Open Inference Protocol v2 routes of a real server process, and its answers to bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload

pytestmark = pytest.mark.slow

MAX_REQUEST_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("api-server"),
                         MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES))
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def test_live_and_ready_answer_200_with_json_bodies(server: ServerProcess) -> None:
    live = server.get("/v2/health/live")
    ready = server.get("/v2/health/ready")
    assert (live.status, live.json()) == (200, {"live": True})
    assert (ready.status, ready.json()) == (200, {"ready": True})


def test_server_metadata_names_the_server_and_its_version(server: ServerProcess) -> None:
    response = server.get("/v2")
    assert response.status == 200
    body = response.json()
    assert body["name"] == "gpu-model-platform-model-server"
    assert isinstance(body["version"], str) and body["version"]
    assert body["extensions"] == ["binary_tensor_data"]


def test_model_metadata_describes_the_onnx_signature(server: ServerProcess, tiny_model: TinyModel) -> None:
    response = server.get(f"/v2/models/{MODEL_NAME}")
    assert response.status == 200
    assert response.json() == {
        "name": MODEL_NAME, "versions": [tiny_model.version], "platform": "onnx_onnxv1",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]}


def test_versioned_routes_accept_the_served_version_only(server: ServerProcess, tiny_model: TinyModel) -> None:
    base = f"/v2/models/{MODEL_NAME}/versions/{tiny_model.version}"
    assert server.get(base).json()["versions"] == [tiny_model.version]
    assert server.get(f"{base}/ready").json() == {"name": MODEL_NAME, "ready": True}
    rows = digits_rows(1)
    ok = server.request("POST", f"{base}/infer", json.dumps(infer_payload(rows)).encode())
    assert ok.status == 200 and ok.json()["model_version"] == tiny_model.version
    wrong = server.get(f"/v2/models/{MODEL_NAME}/versions/not-a-version")
    assert wrong.status == 404
    assert "unknown version 'not-a-version'" in wrong.json()["error"]


def test_model_ready_route(server: ServerProcess) -> None:
    response = server.get(f"/v2/models/{MODEL_NAME}/ready")
    assert (response.status, response.json()) == (200, {"name": MODEL_NAME, "ready": True})


def test_infer_returns_the_models_outputs_in_v2_form(server: ServerProcess, tiny_model: TinyModel) -> None:
    rows = digits_rows(3, seed=1)
    response = server.infer(infer_payload(rows, id="req-42"))
    assert response.status == 200, response.body
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model_name"] == MODEL_NAME
    assert body["model_version"] == tiny_model.version
    assert body["id"] == "req-42"
    [output] = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("output", "FP32", [3, 10])
    got = np.array(output["data"], dtype=np.float64).reshape(3, 10)
    np.testing.assert_allclose(got, tiny_model.expected(rows), rtol=1e-5, atol=1e-6)


def test_nested_and_flat_data_give_the_same_answer(server: ServerProcess) -> None:
    rows = digits_rows(2, seed=2)
    flat = server.infer(infer_payload(rows, flat=True)).json()["outputs"]
    nested = server.infer(infer_payload(rows, flat=False)).json()["outputs"]
    assert flat == nested


def test_a_missing_id_is_replaced_by_a_fresh_one(server: ServerProcess) -> None:
    first = server.infer(infer_payload(digits_rows(1))).json()["id"]
    second = server.infer(infer_payload(digits_rows(1))).json()["id"]
    assert first and second and first != second


def test_requested_outputs_are_honoured(server: ServerProcess) -> None:
    response = server.infer(infer_payload(digits_rows(1), outputs=[{"name": "output"}]))
    assert [o["name"] for o in response.json()["outputs"]] == ["output"]


def test_integer_data_is_accepted_for_fp32(server: ServerProcess, tiny_model: TinyModel) -> None:
    rows = digits_rows(1, seed=3)
    payload = infer_payload(rows)
    payload["inputs"][0]["data"] = [int(v) for v in payload["inputs"][0]["data"]]
    response = server.infer(payload)
    assert response.status == 200
    got = np.array(response.json()["outputs"][0]["data"]).reshape(1, 10)
    np.testing.assert_allclose(got, tiny_model.expected(rows), rtol=1e-5, atol=1e-6)


def _tensor(**overrides):
    tensor = {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1.0] * 64}
    tensor.update(overrides)
    return tensor


BAD_REQUESTS = {
    "wrong shape": ({"inputs": [_tensor(shape=[1, 63], data=[1.0] * 63)]}, 400,
                    "shape [1, 63] does not match the model's [-1, 64]"),
    "wrong rank": ({"inputs": [_tensor(shape=[64])]}, 400, "shape [64] does not match"),
    "zero batch": ({"inputs": [_tensor(shape=[0, 64], data=[])]}, 400, "batch dimension"),
    "negative dimension": ({"inputs": [_tensor(shape=[-1, 64])]}, 400, "non-negative integers"),
    "wrong datatype": ({"inputs": [_tensor(datatype="INT64")]}, 400,
                       "datatype INT64 does not match the model's FP32"),
    "unknown datatype": ({"inputs": [_tensor(datatype="FLOAT")]}, 400,
                         "'FLOAT' is not an Open Inference Protocol datatype"),
    "non-numeric data": ({"inputs": [_tensor(data=["a"] * 64)]}, 400, "non-numeric"),
    "null in data": ({"inputs": [_tensor(data=[None] + [1.0] * 63)]}, 400, "non-numeric"),
    "booleans for FP32": ({"inputs": [_tensor(data=[True] * 64)]}, 400, "non-numeric"),
    "ragged nested data": ({"inputs": [_tensor(shape=[2, 64], data=[[1.0] * 64, [1.0] * 63])]}, 400,
                           "rectangular"),
    "data shorter than shape": ({"inputs": [_tensor(shape=[2, 64])]}, 400,
                                "'data' has 64 values but shape [2, 64] needs 128"),
    "data not an array": ({"inputs": [_tensor(data="1,2,3")]}, 400, "'data' must be a JSON array"),
    "value beyond FP32": ({"inputs": [_tensor(data=[1e39] * 64)]}, 400, "outside the FP32 range"),
    "unknown input name": ({"inputs": [_tensor(name="pixels")]}, 400,
                           "unknown input 'pixels'; the model's inputs are: 'input'"),
    "input given twice": ({"inputs": [_tensor(), _tensor()]}, 400, "given more than once"),
    "no inputs": ({"inputs": []}, 400, "'inputs' must be a non-empty array"),
    "body not an object": ([1, 2, 3], 400, "must be a JSON object"),
    "id not a string": ({"id": 5, "inputs": [_tensor()]}, 400, "'id' must be a string"),
    "unknown output": ({"inputs": [_tensor()], "outputs": [{"name": "logits"}]}, 400, "unknown output 'logits'"),
}


@pytest.mark.parametrize("payload,status,message", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_inference_requests_get_a_4xx_with_a_clear_error(server: ServerProcess, payload, status, message) -> None:
    response = server.infer(payload)
    assert response.status == status, response.body
    assert message in response.json()["error"]


def test_malformed_json_is_a_400(server: ServerProcess) -> None:
    response = server.infer(b'{"inputs": [')
    assert response.status == 400
    assert response.json()["error"].startswith("malformed JSON in request body")


def test_empty_body_is_a_400(server: ServerProcess) -> None:
    response = server.infer(b"")
    assert response.status == 400
    assert "empty request body" in response.json()["error"]


def test_oversized_body_is_a_413_before_it_is_read(server: ServerProcess) -> None:
    rows = digits_rows(MAX_REQUEST_BYTES // 64, seed=4)  # far more than MAX_REQUEST_BYTES once in JSON
    body = json.dumps(infer_payload(rows)).encode()
    assert len(body) > MAX_REQUEST_BYTES
    response = server.infer(body)
    assert response.status == 413
    assert f"exceeds the limit of {MAX_REQUEST_BYTES} bytes" in response.json()["error"]


def test_oversized_chunked_body_is_a_413(server: ServerProcess) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        chunk = b"x" * 16384
        conn.request("POST", f"/v2/models/{MODEL_NAME}/infer", body=iter([chunk] * 8),
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        assert "exceeds the limit" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_unknown_model_is_a_404(server: ServerProcess) -> None:
    for response in (server.infer(infer_payload(digits_rows(1)), model="other-model"),
                     server.get("/v2/models/other-model")):
        assert response.status == 404
        assert response.json()["error"] == "unknown model 'other-model'; this server serves 'my-ai-model'"


def test_unknown_path_and_wrong_method(server: ServerProcess) -> None:
    missing = server.get("/v1/models/my-ai-model:predict")
    assert missing.status == 404 and "no route" in missing.json()["error"]
    wrong = server.get(f"/v2/models/{MODEL_NAME}/infer")
    assert wrong.status == 405 and "use POST" in wrong.json()["error"]


def _count(metrics_text: str, route: str, status: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        if family.name == "inference_requests":
            return sum(s.value for s in family.samples if s.name == "inference_requests_total"
                       and s.labels["route"] == route and s.labels["status"] == status)
    return 0.0


def test_bad_requests_are_counted_as_4xx_and_never_as_5xx(server: ServerProcess) -> None:
    route = "/v2/models/{name}/infer"
    before = server.metrics_text()
    for payload, _, _ in BAD_REQUESTS.values():
        server.infer(payload)
    server.infer(b"not json")
    after = server.metrics_text()
    assert _count(after, route, "400") - _count(before, route, "400") == len(BAD_REQUESTS) + 1
    assert _count(after, route, "500") == 0
    assert server.proc.poll() is None
    assert server.infer(infer_payload(digits_rows(1))).status == 200
