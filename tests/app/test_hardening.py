"""Answers to hostile or sloppy requests: no amplification, bounded error messages, only the
encodings and content types the server reads, HTTP/1.1 rules (Host, Allow), parser errors as JSON
(counted, logged rate-limited), non-finite outputs as a clear 422, metrics only on the admin port."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.app.conftest import (
    MODEL_NAME,
    ServerProcess,
    TinyModel,
    counter_value,
    digits_rows,
    infer_payload,
    parse_raw_response,
    raw_exchange,
    write_model_dir,
)

pytestmark = pytest.mark.slow

INFER = f"/v2/models/{MODEL_NAME}/infer"


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("hardening-server"), MAX_REQUEST_BYTES=str(2 << 20))
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def test_an_output_listed_many_times_is_refused_with_a_small_answer(server: ServerProcess) -> None:
    # The finding: 50,000 copies of one output in a 0.9 MB request made a 107 MB response.
    payload = infer_payload(digits_rows(1), outputs=[{"name": "output"}] * 50_000)
    response = server.infer(payload)
    assert response.status == 400
    assert len(response.body) < 1024, f"{len(response.body)} bytes of error for one request"
    assert "lists 50000 entries but the model has 1 output" in response.json()["error"]


def test_an_output_requested_twice_is_refused(server: ServerProcess) -> None:
    response = server.infer(infer_payload(digits_rows(1), outputs=[{"name": "output"}, {"name": "output"}]))
    # One output model: two entries are already more than the model has.
    assert response.status == 400 and "name each at most once" in response.json()["error"]


def test_error_messages_do_not_echo_large_client_input(server: ServerProcess) -> None:
    huge = "x" * 900_000
    for payload in ({"inputs": [{"name": huge, "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}]},
                    {"inputs": [{"name": "input", "shape": [1, 64], "datatype": huge, "data": [0] * 64}]},
                    {"inputs": [{"name": "input", "shape": list(range(1, 50_000)), "datatype": "FP32", "data": [0]}]},
                    {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}],
                     "outputs": [{"name": huge}]}):
        response = server.infer(payload)
        assert response.status == 400, response.body[:200]
        assert len(response.body) <= 1100, f"{len(response.body)} bytes: {response.body[:200]!r}"
    long_path = server.get("/v2/" + "p" * 6000)
    assert long_path.status == 404 and len(long_path.body) < 512


@pytest.mark.parametrize("headers,message", [
    ({"Content-Type": "text/plain"}, "Content-Type 'text/plain' is not supported"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, "is not supported"),
    ({"Content-Type": "application/json; charset=latin-1"}, "is not supported"),
    ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, "Content-Encoding 'gzip' is not supported"),
])
def test_unsupported_content_type_or_encoding_is_a_415_json_error(server: ServerProcess, headers, message) -> None:
    response = server.infer(infer_payload(digits_rows(1)), headers=headers)
    assert response.status == 415
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]


@pytest.mark.parametrize("headers", [{"Content-Type": "application/json"}, {"Content-Type": "application/json; charset=utf-8"},
                                     {"Content-Type": "application/octet-stream"}, {"Content-Encoding": "identity"}, {}])
def test_json_octet_stream_or_no_content_type_is_read(server: ServerProcess, headers) -> None:
    assert server.infer(infer_payload(digits_rows(1)), headers=headers).status == 200


def test_405_names_the_allowed_methods(server: ServerProcess) -> None:
    wrong_get = server.get(INFER)
    assert wrong_get.status == 405 and wrong_get.headers["allow"] == "POST"
    wrong_post = server.request("POST", "/v2/health/ready", b"{}")
    assert wrong_post.status == 405 and wrong_post.headers["allow"] == "GET, HEAD"
    assert wrong_post.headers["content-type"] == "application/json"


def test_an_http11_request_without_host_is_a_400_and_http10_needs_none(server: ServerProcess) -> None:
    no_host = parse_raw_response(raw_exchange(server.port, b"GET /v2/health/live HTTP/1.1\r\n\r\n"))
    assert no_host.status == 400 and "Host" in json.loads(no_host.body)["error"]
    two_hosts = parse_raw_response(raw_exchange(
        server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))
    assert two_hosts.status == 400
    old = parse_raw_response(raw_exchange(server.port, b"GET /v2/health/live HTTP/1.0\r\n\r\n"))
    assert old.status == 200


def test_parser_rejections_are_json_counted_and_logged_once_per_interval(server: ServerProcess) -> None:
    before = counter_value(server.metrics_text(), "inference_rejections", reason="bad_http")
    answers = [parse_raw_response(raw_exchange(server.port, b"NOT HTTP AT ALL\x00\r\n\r\n")) for _ in range(5)]
    for answer in answers:
        assert answer.status == 400
        assert answer.headers["content-type"] == "application/json"
        assert json.loads(answer.body)["error"].startswith("malformed HTTP request")
    after = counter_value(server.metrics_text(), "inference_rejections", reason="bad_http")
    assert after - before == 5
    logged = [line for line in server.log().splitlines() if "(bad_http)" in line]
    assert len(logged) == 1, logged  # the other four fall in the same minute


def test_metrics_are_served_on_the_admin_port_only(server: ServerProcess) -> None:
    assert server.get("/metrics").status == 404
    assert server.admin("/metrics").status == 200
    assert server.admin("/v2/health/ready").status == 200 and server.admin("/v2/health/live").status == 200
    for path in ("/v2", f"/v2/models/{MODEL_NAME}"):
        assert server.admin(path).status == 404, path
    inference_on_admin = server.request("POST", INFER, json.dumps(infer_payload(digits_rows(1))).encode(),
                                        port=server.admin_port)
    assert inference_on_admin.status == 404


def test_outputs_that_overflow_to_non_finite_values_are_a_422_in_json(start_server, tmp_path) -> None:
    model = write_model_dir(tmp_path / "logits-model", logits=True)
    server = start_server(model.dir)
    server.wait_ready()
    rows = np.full((1, 64), 3e38, dtype=np.float32)  # finite FP32 inputs; the logits overflow to inf
    assert server.infer(infer_payload(digits_rows(1))).status == 200
    response = server.infer(infer_payload(rows))
    assert response.status == 422
    assert "non-finite values" in response.json()["error"] and "binary_data_output" in response.json()["error"]
    # The binary extension carries IEEE 754 values as they are.
    binary = server.infer(infer_payload(rows, parameters={"binary_data_output": True}))
    assert binary.status == 200
    length = int(binary.headers["inference-header-content-length"])
    values = np.frombuffer(binary.body[length:], dtype="<f4")
    assert values.size == 10 and not np.isfinite(values).all()
    # So does gRPC (raw_output_contents).
    import grpc
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    from tests.app.test_hostile_grpc import infer_request

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(infer_request(rows), timeout=10)
    raw = np.frombuffer(answer.raw_output_contents[0], dtype="<f4")
    assert raw.size == 10 and not np.isfinite(raw).all()


def test_head_and_expect_100_continue_are_answered(server: ServerProcess) -> None:
    # Both take the unusual paths of the response writer: a head without a body, a write before the head.
    head = parse_raw_response(raw_exchange(server.port, b"HEAD /v2/health/live HTTP/1.1\r\nHost: x\r\n"
                                                        b"Connection: close\r\n\r\n"))
    assert head.status == 200 and head.body == b"" and head.headers["content-length"] == "13"
    body = json.dumps(infer_payload(digits_rows(1))).encode()
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    answer = parse_raw_response(rest)
    assert answer.status == 200 and json.loads(answer.body)["outputs"][0]["shape"] == [1, 10]
