"""Per-model statistics (GET /v2/models/{name}/stats, the shape of Triton's statistics extension) and
the queue-wait histogram, read back from a real server after REST and gRPC inference."""
from __future__ import annotations

import pytest

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload

pytestmark = pytest.mark.slow


def histogram_count(text: str, family: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            return sum(s.value for s in fam.samples if s.name == family + "_count")
    raise AssertionError(f"{family} missing from /metrics")


def test_statistics_count_requests_rows_batches_queue_wait_and_compute_time(start_server,
                                                                            tiny_model: TinyModel) -> None:
    import grpc
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    server: ServerProcess = start_server(tiny_model.dir)
    server.wait_ready()
    empty = server.get(f"/v2/models/{MODEL_NAME}/stats").json()["model_stats"][0]
    assert empty["inference_count"] == 0 and empty["inference_stats"]["success"] == {"count": 0, "ns": 0}
    for rows in (1, 2, 3):
        assert server.infer(infer_payload(digits_rows(rows))).status == 200
    assert server.infer({"inputs": []}).status == 400
    rows = digits_rows(4)
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[4, 64])
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(pb.ModelInferRequest(
            model_name=MODEL_NAME, inputs=[tensor], raw_input_contents=[rows.astype("<f4").tobytes()]), timeout=10)

    response = server.get(f"/v2/models/{MODEL_NAME}/versions/{tiny_model.version}/stats")
    assert response.status == 200
    [stats] = response.json()["model_stats"]
    assert (stats["name"], stats["version"]) == (MODEL_NAME, tiny_model.version)
    assert stats["inference_count"] == 1 + 2 + 3 + 4
    inference = stats["inference_stats"]
    assert inference["success"]["count"] == 4 and inference["success"]["ns"] > 0
    assert inference["fail"]["count"] == 1
    assert inference["queue"]["count"] == 4
    assert inference["compute_infer"]["count"] == stats["execution_count"] >= 1
    assert 0 < inference["compute_infer"]["ns"] < inference["success"]["ns"]
    assert stats["last_inference"] > 0
    assert histogram_count(server.metrics_text(), "inference_queue_wait_seconds") == 4
    assert server.get("/v2/models/other/stats").status == 404
