"""API-key authentication (API_KEYS_DIR): 401 without a valid key, two keys valid at once, rotation
without restart, health open, metrics only on the admin port, constant-time comparison, gRPC too."""
from __future__ import annotations

import hmac
import os
import time
from pathlib import Path

import pytest
from model_server import auth
from model_server.auth import ApiKeys

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, counter_value, digits_rows, infer_payload

PRIMARY = "k1-" + "a" * 40
SECONDARY = "k2-" + "b" * 40


def _keys_dir(tmp_path: Path, **keys: str) -> Path:
    directory = tmp_path / "api-keys"
    directory.mkdir(exist_ok=True)
    for name, key in keys.items():
        (directory / name).write_text(key + "\n")
    return directory


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_non_empty_file_holds_one_accepted_key(tmp_path: Path) -> None:
    directory = _keys_dir(tmp_path, primary=PRIMARY, secondary=SECONDARY, empty="")
    (directory / "..data").mkdir()  # the Secret volume's bookkeeping is not a key
    keys = ApiKeys(directory)
    assert keys.count == 2
    assert keys.check(f"Bearer {PRIMARY}".encode()) and keys.check(f"bearer {SECONDARY}".encode())
    for wrong in (b"", b"Bearer ", f"Basic {PRIMARY}".encode(), PRIMARY.encode(), f"Bearer {PRIMARY}x".encode(),
                  f"Bearer {PRIMARY[:-1]}".encode()):
        assert not keys.check(wrong), wrong


def test_every_key_is_compared_with_compare_digest_even_after_a_match(tmp_path: Path, monkeypatch) -> None:
    keys = ApiKeys(_keys_dir(tmp_path, a=PRIMARY, b=SECONDARY, c="k3-" + "c" * 40))
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert keys.check(f"Bearer {PRIMARY}".encode())  # matches the first key...
    assert len(compared) == 3, "...and is still compared with every key: no early exit"
    assert {b for _, b in compared} == {PRIMARY.encode(), SECONDARY.encode(), b"k3-" + b"c" * 40}
    compared.clear()
    assert not keys.check(b"Bearer nope")
    assert len(compared) == 3


def test_a_changed_key_file_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    clock = _Clock()
    directory = _keys_dir(tmp_path, primary=PRIMARY)
    keys = ApiKeys(directory, clock=clock)
    assert keys.check(f"Bearer {PRIMARY}".encode())
    (directory / "primary").write_text(SECONDARY)
    os.utime(directory / "primary", (time.time() + 5, time.time() + 5))
    clock.now += auth.RELOAD_INTERVAL_S + 0.1
    assert keys.check(f"Bearer {SECONDARY}".encode()) and not keys.check(f"Bearer {PRIMARY}".encode())


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _keys_dir(tmp_path_factory.mktemp("keys"), primary=PRIMARY, secondary=SECONDARY)


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("auth-server"), API_KEYS_DIR=str(keys_dir))
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def _bearer(key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}


@pytest.mark.slow
def test_no_key_or_a_wrong_key_is_a_401_json_error_without_detail(server: ServerProcess) -> None:
    for headers in ({"Content-Type": "application/json"}, _bearer("wrong"), _bearer(PRIMARY + "x"),
                    {"Authorization": f"Basic {PRIMARY}"}):
        for response in (server.infer(infer_payload(digits_rows(1)), headers=headers),
                         server.get(f"/v2/models/{MODEL_NAME}", headers=headers),
                         server.get("/v2", headers=headers), server.get("/no/such/path", headers=headers)):
            assert response.status == 401, (headers, response.body)
            assert response.headers["www-authenticate"] == 'Bearer realm="model"'
            assert response.json() == {"error": "missing or invalid API key: send 'Authorization: Bearer <key>'"}
    assert counter_value(server.metrics_text(), "inference_auth_failures", protocol="http") >= 16


@pytest.mark.slow
def test_each_of_two_keys_is_accepted(server: ServerProcess) -> None:
    for key in (PRIMARY, SECONDARY):
        response = server.infer(infer_payload(digits_rows(1)), headers=_bearer(key))
        assert response.status == 200, response.body
        assert server.get(f"/v2/models/{MODEL_NAME}", headers=_bearer(key)).status == 200


@pytest.mark.slow
def test_health_is_open_and_metrics_are_on_the_admin_port_only(server: ServerProcess) -> None:
    assert server.get("/v2/health/live", headers={}).status == 200
    assert server.get("/v2/health/ready", headers={}).status == 200
    assert server.admin("/metrics", headers={}).status == 200
    assert server.get("/metrics", headers=_bearer(PRIMARY)).status == 404
    assert server.get("/metrics", headers={}).status == 401


@pytest.mark.slow
def test_a_key_rotated_by_rewriting_its_file_takes_effect_without_restart(tiny_model: TinyModel, tmp_path: Path,
                                                                         start_server) -> None:
    directory = _keys_dir(tmp_path, primary=PRIMARY, secondary=SECONDARY)
    server = start_server(tiny_model.dir, API_KEYS_DIR=str(directory))
    server.wait_ready()
    assert server.infer(infer_payload(digits_rows(1)), headers=_bearer(PRIMARY)).status == 200
    new_primary = "k4-" + "d" * 40
    # Kubernetes updates a mounted Secret by swapping a symlink; a rewrite with a new mtime is the same to us.
    (directory / "primary").write_text(new_primary)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.infer(infer_payload(digits_rows(1)), headers=_bearer(new_primary)).status == 200:
            break
        time.sleep(0.2)
    assert server.infer(infer_payload(digits_rows(1)), headers=_bearer(new_primary)).status == 200
    assert server.infer(infer_payload(digits_rows(1)), headers=_bearer(PRIMARY)).status == 401
    assert server.infer(infer_payload(digits_rows(1)), headers=_bearer(SECONDARY)).status == 200
    assert server.proc.poll() is None
    assert new_primary not in server.log() and PRIMARY not in server.log(), "keys must never be logged"


@pytest.mark.slow
def test_grpc_calls_need_the_key_in_the_authorization_metadata(server: ServerProcess) -> None:
    import grpc
    import numpy as np
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    x = digits_rows(1)
    request = pb.ModelInferRequest(model_name=MODEL_NAME, raw_input_contents=[x.tobytes()],
                                   inputs=[pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32",
                                                                                 shape=[1, 64])])
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
        assert stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(request, metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert refused.value.details() == "missing or invalid API key: send metadata 'authorization: Bearer <key>'"
        for key in (PRIMARY, SECONDARY):
            response = stub.ModelInfer(request, metadata=(("authorization", f"Bearer {key}"),), timeout=10)
            assert np.frombuffer(response.raw_output_contents[0], dtype="<f4").shape == (10,)
    assert counter_value(server.metrics_text(), "inference_auth_failures", protocol="grpc") == 2


@pytest.mark.slow
def test_without_api_keys_dir_the_server_warns_that_authentication_is_off(start_server, tiny_model: TinyModel) -> None:
    server = start_server(tiny_model.dir)
    server.wait_ready()
    assert server.infer(infer_payload(digits_rows(1))).status == 200
    assert "API_KEYS_DIR is unset: every client may call the model without a key" in server.log()
