"""The binary tensor data extension and the gRPC endpoint: bit-exact against ONNX Runtime under
concurrency, sharing the batcher and the metrics with JSON; the gRPC stubs match the .proto."""
from __future__ import annotations

import filecmp
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.app.conftest import APP_DIR, MODEL_NAME, ServerProcess, TinyModel, counter_value, digits_rows

INFER = f"/v2/models/{MODEL_NAME}/infer"
CLIENTS = 16


def reference(model: TinyModel, rows: np.ndarray) -> np.ndarray:
    """ONNX Runtime alone, on the same file: what the server must return bit for bit."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model.dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": rows})[0]


def binary_request(rows: np.ndarray, *, binary_output: bool = True, request_id: str = "b") -> tuple[bytes, dict]:
    header = {"id": request_id, "inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                                            "parameters": {"binary_data_size": rows.nbytes}}],
              "outputs": [{"name": "output", "parameters": {"binary_data": binary_output}}]}
    head = json.dumps(header).encode()
    return head + rows.astype("<f4").tobytes(), {"Content-Type": "application/octet-stream",
                                                 "Inference-Header-Content-Length": str(len(head))}


def decode_binary_response(response) -> tuple[dict, np.ndarray]:
    assert response.status == 200, response.body[:300]
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.body[:length])
    [output] = header["outputs"]
    size = output["parameters"]["binary_data_size"]
    assert len(response.body) == length + size
    return header, np.frombuffer(response.body[length:], dtype="<f4").reshape(output["shape"])


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    # A little model time so that concurrent requests really share batches.
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("binary-grpc"), TEST_INFERENCE_DELAY_MS="5",
                         BATCH_WINDOW_MS="5")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.mark.slow
def test_binary_inputs_and_outputs_are_bit_exact_under_concurrency(server: ServerProcess, tiny_model: TinyModel) -> None:
    batches = [digits_rows(1 + i % 3, seed=200 + i) for i in range(CLIENTS * 2)]
    barrier = threading.Barrier(CLIENTS)

    def call(i: int):
        if i < CLIENTS:
            barrier.wait(timeout=10)
        body, headers = binary_request(batches[i], request_id=f"r{i}")
        return server.request("POST", INFER, body, headers=headers, timeout=30)

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(call, range(len(batches))))
    for i, response in enumerate(responses):
        assert response.headers["content-type"] == "application/octet-stream"
        header, values = decode_binary_response(response)
        assert header["id"] == f"r{i}"
        np.testing.assert_array_equal(values, reference(tiny_model, batches[i]))


@pytest.mark.slow
def test_repeated_binary_layouts_on_the_fast_lane_are_bit_exact_under_concurrency(start_server,
                                                                                   tiny_model: TinyModel) -> None:
    # No delay: the fast lane; no id: every request of a shape repeats the same JSON part, so all but
    # the first of each shape take the remembered layout. 32 rows fill a batch; 3 rows share one.
    fast = start_server(tiny_model.dir)
    fast.wait_ready()
    rng = np.random.default_rng(18)
    batches = [rng.standard_normal((32 if i % 2 else 3, 64)).astype(np.float32) * 8 for i in range(CLIENTS * 4)]

    def call(rows: np.ndarray):
        head = json.dumps({"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                                       "parameters": {"binary_data_size": rows.nbytes}}],
                           "parameters": {"binary_data_output": True}}).encode()
        return fast.request("POST", INFER, head + rows.astype("<f4").tobytes(), timeout=30,
                            headers={"Content-Type": "application/octet-stream",
                                     "Inference-Header-Content-Length": str(len(head))})

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(call, batches))
    ids = set()
    for rows, response in zip(batches, responses, strict=True):
        header, values = decode_binary_response(response)
        ids.add(header["id"])
        np.testing.assert_array_equal(values, reference(tiny_model, rows))
    assert len(ids) == len(batches)  # each answer carries its own id in the reused JSON part


@pytest.mark.slow
def test_binary_input_with_a_json_output_and_json_input_with_a_binary_output(server: ServerProcess,
                                                                            tiny_model: TinyModel) -> None:
    rows = digits_rows(2, seed=3)
    body, headers = binary_request(rows, binary_output=False)
    response = server.request("POST", INFER, body, headers=headers)
    assert response.status == 200 and "inference-header-content-length" not in response.headers
    got = np.array(response.json()["outputs"][0]["data"], dtype=np.float32).reshape(2, 10)
    np.testing.assert_array_equal(got, reference(tiny_model, rows))
    json_in = {"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": rows.ravel().tolist()}],
               "parameters": {"binary_data_output": True}}
    _, values = decode_binary_response(server.infer(json_in))
    np.testing.assert_array_equal(values, reference(tiny_model, rows))


BAD_BINARY = {
    "size does not match the shape": (lambda rows, head: (head.replace(b'"binary_data_size": 256', b'"binary_data_size": 252'),
                                                          rows[:-4]), "has 252 bytes but shape [1, 64] of FP32 needs 256"),
    "bytes left over": (lambda rows, head: (head, rows + b"\0\0\0\0"), "binary byte(s) that no input"),
    "size past the end": (lambda rows, head: (head, rows[:100]), "runs past the end of the body"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_BINARY, ids=list(BAD_BINARY))
def test_inconsistent_binary_requests_are_400(server: ServerProcess, case: str) -> None:
    rows = digits_rows(1).astype("<f4").tobytes()
    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 256}}]}).encode()
    make, message = BAD_BINARY[case]
    head, data = make(rows, head)
    response = server.request("POST", INFER, head + data, headers={"Inference-Header-Content-Length": str(len(head))})
    assert response.status == 400 and message in response.json()["error"], response.body
    no_header = server.request("POST", INFER, head + data, headers={"Content-Type": "application/json"})
    assert no_header.status == 400


def _grpc_request(rows: np.ndarray, *, raw: bool = True, request_id: str = ""):
    from model_server.oip import grpc_predict_v2_pb2 as pb

    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=list(rows.shape))
    if raw:
        return pb.ModelInferRequest(model_name=MODEL_NAME, id=request_id, inputs=[tensor],
                                    raw_input_contents=[rows.astype("<f4").tobytes()])
    tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    return pb.ModelInferRequest(model_name=MODEL_NAME, id=request_id, inputs=[tensor])


@pytest.mark.slow
def test_grpc_inference_is_bit_exact_under_concurrency_and_shares_the_metrics(server: ServerProcess,
                                                                              tiny_model: TinyModel) -> None:
    import grpc
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    batches = [digits_rows(1 + i % 3, seed=300 + i) for i in range(CLIENTS * 2)]
    before = counter_value(server.metrics_text(), "inference_requests", route="/inference.GRPCInferenceService/ModelInfer",
                           status="200")
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL_NAME), timeout=10)
        assert (metadata.platform, metadata.versions, list(metadata.inputs[0].shape)) == ("onnx_onnxv1",
                                                                                          [tiny_model.version], [-1, 64])
        assert "binary_tensor_data" in stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10).extensions

        def call(i: int):
            return stub.ModelInfer(_grpc_request(batches[i], raw=i % 2 == 0, request_id=f"g{i}"), timeout=30)

        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(call, range(len(batches))))
        for i, response in enumerate(responses):
            assert response.id == f"g{i}" and response.model_version == tiny_model.version
            [output] = response.outputs
            values = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(list(output.shape))
            np.testing.assert_array_equal(values, reference(tiny_model, batches[i]))

        for request, code, message in (
                (pb.ModelInferRequest(model_name="other"), grpc.StatusCode.NOT_FOUND, "unknown model 'other'"),
                (_grpc_request(np.zeros((1, 63), np.float32)), grpc.StatusCode.INVALID_ARGUMENT, "does not match"),
                (pb.ModelInferRequest(model_name=MODEL_NAME, inputs=[pb.ModelInferRequest.InferInputTensor(
                    name="input", datatype="FP32", shape=[1, 64])], raw_input_contents=[b"\0" * 255]),
                 grpc.StatusCode.INVALID_ARGUMENT, "has 255 bytes")):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(request, timeout=10)
            assert refused.value.code() == code and message in refused.value.details()
    text = server.metrics_text()
    route = "/inference.GRPCInferenceService/ModelInfer"
    assert counter_value(text, "inference_requests", route=route, status="200") - before == len(batches)
    assert counter_value(text, "inference_requests", route=route, status="400") == 2


@pytest.mark.slow
def test_grpc_and_http_requests_share_batches(start_server, tiny_model: TinyModel) -> None:
    import grpc
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc
    from prometheus_client.parser import text_string_to_metric_families

    server = start_server(tiny_model.dir, MAX_BATCH_SIZE="8", BATCH_WINDOW_MS="50", TEST_INFERENCE_DELAY_MS="300")
    server.wait_ready()
    rows = digits_rows(1, seed=5)
    body, headers = binary_request(rows)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel, ThreadPoolExecutor(8) as pool:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        first = pool.submit(server.infer, {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                                       "data": rows.ravel().tolist()}]}, timeout=30)
        threading.Event().wait(0.1)  # the first batch is now running for 300 ms; the next ones queue
        futures = [pool.submit(stub.ModelInfer, _grpc_request(rows), timeout=30) for _ in range(3)]
        futures += [pool.submit(server.request, "POST", INFER, body, headers=headers, timeout=30) for _ in range(3)]
        assert first.result().status == 200
        results = [f.result() for f in futures]
    expected = reference(tiny_model, rows)
    for result in results[:3]:
        np.testing.assert_array_equal(np.frombuffer(result.raw_output_contents[0], dtype="<f4").reshape(1, 10), expected)
    for result in results[3:]:
        np.testing.assert_array_equal(decode_binary_response(result)[1], expected)
    family = next(f for f in text_string_to_metric_families(server.metrics_text()) if f.name == "inference_batch_size")
    count = next(s.value for s in family.samples if s.name == "inference_batch_size_count")
    assert count <= 3, f"7 requests (1 + 3 gRPC + 3 binary HTTP) took {count} executions: gRPC and HTTP must share batches"


@pytest.mark.parametrize(("proto_name", "generated"), [
    ("grpc_predict_v2.proto", ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2_grpc.py")),
    ("model_statistics.proto", ("model_statistics_pb2.py",))])
def test_the_checked_in_grpc_stubs_are_what_grpcio_tools_generates(tmp_path: Path, proto_name: str,
                                                                   generated: tuple[str, ...]) -> None:
    proto = Path("model_server/oip") / proto_name
    (tmp_path / proto.parent).mkdir(parents=True)
    (tmp_path / proto).write_bytes((APP_DIR / proto).read_bytes())
    services = [f"--grpc_python_out={tmp_path}"] if len(generated) > 1 else []
    result = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(tmp_path), f"--python_out={tmp_path}",
                             *services, str(tmp_path / proto)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in generated:
        assert filecmp.cmp(tmp_path / proto.parent / name, APP_DIR / proto.parent / name, shallow=False), (
            f"app/{proto.parent / name} is stale; regenerate it with the command in app/model_server/oip/__init__.py")


def test_the_proto_is_the_protocols_published_file() -> None:
    text = (APP_DIR / "model_server" / "oip" / "grpc_predict_v2.proto").read_text()
    assert "package inference;" in text and "service GRPCInferenceService" in text
    for rpc in ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"):
        assert f"rpc {rpc}(" in text
    source = (APP_DIR / "model_server" / "oip" / "__init__.py").read_text()
    assert "kserve/kserve" in source and "v0.20.0" in source and "docs/predict-api/v2/grpc_predict_v2.proto" in source


def test_grpc_fp16_inputs_come_only_as_raw_contents_and_empty_outputs_mean_all() -> None:
    from types import SimpleNamespace

    from model_server.grpc_service import parse_request
    from model_server.model import TensorSpec
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.protocol import RequestError

    model = SimpleNamespace(inputs=(TensorSpec("x", "FP16", np.dtype(np.float16), (-1, 2)),),
                            outputs=(TensorSpec("a", "FP32", np.dtype(np.float32), (-1, 1)),
                                     TensorSpec("b", "FP32", np.dtype(np.float32), (-1, 1))))
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP16", shape=[1, 2])
    values = np.array([[1.5, -2.0]], dtype="<f2")
    arrays, rows, wanted, timeout = parse_request(
        pb.ModelInferRequest(inputs=[tensor], raw_input_contents=[values.tobytes()]), model)
    assert arrays["x"].tolist() == values.tolist() and (rows, wanted, timeout) == (1, ["a", "b"], None)
    typed = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP16", shape=[1, 2])
    typed.contents.fp32_contents.extend([1.5, -2.0])
    with pytest.raises(RequestError, match="FP16 data must be sent in raw_input_contents"):
        parse_request(pb.ModelInferRequest(inputs=[typed]), model)
