"""The Triton model repository generator (bench/server/triton_repo.py) writes a config Triton accepts.

The config is parsed strictly (unknown fields fail) against Triton's own model configuration schema:
`inference.ModelConfig` from triton-inference-server/common branch r24.10 (commit 578491fc, the
release of the tritonserver 2.51.0 the benchmark runs), file protobuf/model_config.proto, kept here
as its compiled descriptor set in JSON. Regenerate with:
    python -m grpc_tools.protoc -I <common>/protobuf --descriptor_set_out=mc.pb model_config.proto
then json_format.MessageToJson(FileDescriptorSet.FromString(mc.pb)).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, text_format

from tests.app.conftest import build_model

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR = Path(__file__).with_name("triton-model_config-r24.10.descriptor.json")
BENCH_SERVER = str(REPO / "bench" / "server")
if BENCH_SERVER not in sys.path:  # the benchmark scripts import their neighbours by module name
    sys.path.insert(0, BENCH_SERVER)

import triton_clients  # noqa: E402 (needs the path above)
import triton_peer  # noqa: E402
import triton_repo  # noqa: E402


@pytest.fixture(scope="module")
def model_config_class():
    files = json_format.Parse(DESCRIPTOR.read_text(), descriptor_pb2.FileDescriptorSet())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    build_model(path)
    return path


def _parse(model_config_class, text: str):
    return text_format.Parse(text, model_config_class())  # raises on any field the schema lacks


def test_config_parses_against_tritons_schema_and_names_the_models_real_tensors(model, model_config_class, tmp_path):
    config_file = triton_repo.write_model_repository(model, tmp_path, "my-ai-model")
    config = _parse(model_config_class, config_file.read_text())
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def signature(nodes):
        return [(n.name, "TYPE_FP32", list(n.shape[1:])) for n in nodes]

    data_type = model_config_class.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type
    assert [(t.name, data_type.values_by_number[t.data_type].name, list(t.dims)) for t in config.input] == \
        signature(session.get_inputs())
    assert [(t.name, data_type.values_by_number[t.data_type].name, list(t.dims)) for t in config.output] == \
        signature(session.get_outputs())
    assert config.name == "my-ai-model" and config.backend == "onnxruntime"
    assert (tmp_path / "my-ai-model" / "1" / "model.onnx").read_bytes() == model.read_bytes()


def test_config_batches_like_our_server_defaults_on_one_cpu_instance(model, model_config_class):
    inputs, outputs = triton_repo.onnx_signature(model)
    config = _parse(model_config_class, triton_repo.config_pbtxt("m", inputs, outputs, max_queue_delay_us=250))
    assert config.max_batch_size == 32  # MAX_BATCH_SIZE default in app/model_server/config.py
    assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds == 250
    [group] = config.instance_group
    assert group.count == 1 and group.kind == group.KIND_CPU
    assert {k: v.string_value for k, v in config.parameters.items()} == \
        {"intra_op_thread_count": "1", "inter_op_thread_count": "1"}


def test_a_model_without_a_variable_batch_dimension_is_refused_naming_the_tensor(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["pixels"], ["y"])], "fixed",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [4, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])])
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ValueError, match="'pixels'.*variable first"):
        triton_repo.onnx_signature(path)


def test_batch_and_delay_settings_out_of_range_are_refused():
    tensor = triton_repo.Tensor("input", "TYPE_FP32", (64,))
    with pytest.raises(ValueError, match="max_batch_size"):
        triton_repo.config_pbtxt("m", [tensor], [tensor], max_batch_size=0)
    with pytest.raises(ValueError, match="max_queue_delay_us"):
        triton_repo.config_pbtxt("m", [tensor], [tensor], max_queue_delay_us=-1)


def test_the_peer_summary_takes_the_median_of_the_rounds_per_scenario_and_load_client():
    wrk = _run(1000.0, 0.1, 5.0, "independent")
    rounds = [{"round": 1, "key": "ours", "runs": [_run(100.0, 1.0, 40.0), wrk]},
              {"round": 2, "key": "ours", "runs": [_run(300.0, 3.0, 20.0)]},
              {"round": 3, "key": "ours", "runs": [_run(200.0, 9.0, None)]},
              {"round": 1, "key": "triton", "runs": [_run(150.0, 0.5, 10.0), _run(500.0, 0.2, 8.0, "independent")]},
              {"round": 2, "key": "triton", "runs": [_run(150.0, 0.5, 10.0)]}]
    assert triton_peer.medians(rounds, "ours") == {
        ("json", 1, 16, "own"): {"throughput_rps": 200.0, "p99_ms": 3.0, "cpu_us_per_request": 30.0, "rounds": 3},
        ("json", 1, 16, "independent"): {"throughput_rps": 1000.0, "p99_ms": 0.1, "cpu_us_per_request": 5.0,
                                         "rounds": 1}}
    # Round 3 has no Triton run: only rounds 1 (1.5x) and 2 (0.5x) pair up; each client pairs with its own.
    assert triton_peer.paired_ratios(rounds) == {("json", 1, 16, "own"): 1.0, ("json", 1, 16, "independent"): 0.5}


def _run(rps: float, p99: float, cpu: float | None, client: str = "own") -> dict:
    return {"protocol": "json", "rows": 1, "concurrency": 16, "throughput_rps": rps, "latency_ms": {"p99": p99},
            "server_cpu_us_per_request": cpu, "client": client}


def test_binary_requests_carry_the_json_header_length_and_the_raw_fp32_rows():
    clients = triton_clients
    x = np.arange(128, dtype=np.float32).reshape(2, 64)
    body, header_length = clients.binary_request(x)
    header = json.loads(body[:header_length])
    assert header["inputs"][0]["shape"] == [2, 64]
    assert header["inputs"][0]["parameters"]["binary_data_size"] == len(body) - header_length == 512
    assert np.array_equal(np.frombuffer(body[header_length:], dtype="<f4").reshape(2, 64), x)
