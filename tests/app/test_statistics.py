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


def grpc_statistics(server: ServerProcess, name: str, version: str = "", key: str | None = None):
    """Triton's gRPC ModelStatistics call, made with the messages of oip/model_statistics.proto."""
    import grpc
    from model_server.oip import model_statistics_pb2 as stats_pb

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelStatistics",
                                   request_serializer=stats_pb.ModelStatisticsRequest.SerializeToString,
                                   response_deserializer=stats_pb.ModelStatisticsResponse.FromString)
        metadata = [("authorization", f"Bearer {key}")] if key else None
        return call(stats_pb.ModelStatisticsRequest(name=name, version=version), timeout=10, metadata=metadata)


def test_grpc_model_statistics_give_the_figures_rest_gives_after_n_requests(start_server, tiny_model: TinyModel,
                                                                            tmp_path) -> None:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from tests.app.conftest import api_keys_dir

    server: ServerProcess = start_server(tiny_model.dir, API_KEYS_DIR=str(api_keys_dir(tmp_path, "k-stats")))
    server.wait_ready()
    auth = {"Content-Type": "application/json", "Authorization": "Bearer k-stats"}
    for rows in (1, 3, 5, 2, 7):
        assert server.infer(infer_payload(digits_rows(rows)), headers=auth).status == 200
    assert server.infer({"inputs": []}, headers=auth).status == 400

    rest = server.get(f"/v2/models/{MODEL_NAME}/stats", headers=auth).json()
    by_grpc = MessageToDict(grpc_statistics(server, MODEL_NAME, key="k-stats"), preserving_proto_field_name=True,
                            always_print_fields_with_no_presence=True)
    # JSON renders protobuf's uint64 as strings: compare numbers with numbers.
    def numbers(value):
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers(v) for v in value]
        return int(value) if isinstance(value, str) and value.isdigit() else value
    assert numbers(by_grpc) == rest
    [stats] = rest["model_stats"]
    assert stats["inference_count"] == 18 and stats["inference_stats"]["success"]["count"] == 5
    assert stats["inference_stats"]["fail"]["count"] == 1 and stats["inference_stats"]["queue"]["count"] == 5
    assert stats["inference_stats"]["compute_infer"]["ns"] > 0

    assert grpc_statistics(server, "", key="k-stats").model_stats[0].inference_count == 18  # "" asks for all models
    for name, version, code in ((MODEL_NAME, "", grpc.StatusCode.UNAUTHENTICATED),
                                ("other", "", grpc.StatusCode.NOT_FOUND),
                                (MODEL_NAME, "999", grpc.StatusCode.NOT_FOUND)):
        with pytest.raises(grpc.RpcError) as refused:
            grpc_statistics(server, name, version, key=None if code == grpc.StatusCode.UNAUTHENTICATED else "k-stats")
        assert refused.value.code() == code, (name, version)
