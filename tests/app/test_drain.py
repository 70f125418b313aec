"""SIGTERM drain: readiness fails first, keep-alive clients get `Connection: close` instead of a
reset, in-flight work finishes, and no request that was sent goes without an answer."""
from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload

pytestmark = pytest.mark.slow

BODY = json.dumps(infer_payload(digits_rows(1))).encode()


async def _client(port: int, stop_at: float, tally: dict) -> None:
    """One keep-alive client: request after request; reconnects after `Connection: close`, stops when refused."""
    request = (f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            tally["refused"] += 1  # nothing was sent: a load balancer retries elsewhere
            return
        try:
            while time.monotonic() < stop_at:
                writer.write(request)
                tally["sent"] += 1
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                    lower = head.lower()
                    at = lower.index(b"\r\ncontent-length:")
                    await asyncio.wait_for(reader.readexactly(int(lower[at + 17:lower.index(b"\r\n", at + 2)])), 30)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    tally["dropped"] += 1  # sent, never answered: what the drain must never do
                    tally["errors"].append(repr(exc))
                    return
                tally[int(head[9:12])] = tally.get(int(head[9:12]), 0) + 1
                if b"connection: close" in lower:
                    tally["closed_by_server"] += 1
                    break
        finally:
            writer.close()


def _load(port: int, clients: int, seconds: float) -> dict:
    tally = {"sent": 0, "dropped": 0, "refused": 0, "closed_by_server": 0, "errors": []}

    async def run() -> None:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(_client(port, stop_at, tally) for _ in range(clients)))
    asyncio.run(run())
    return tally


@pytest.mark.parametrize("attempt,clients", [(1, 16), (2, 24), (3, 32)])
def test_sigterm_under_keep_alive_load_leaves_no_request_unanswered(start_server, tiny_model: TinyModel,
                                                                    attempt: int, clients: int) -> None:
    # A little model time and small batches keep requests in flight at the moment SIGTERM lands.
    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="4", TEST_INFERENCE_DELAY_MS="2",
                                         DRAIN_TIMEOUT_SECONDS="20")
    server.wait_ready()
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(_load, server.port, clients, 30.0)
        time.sleep(1.0 + 0.3 * attempt)
        server.terminate()
        tally = load.result(timeout=60)
    assert server.proc.wait(timeout=30) == 0
    assert tally["dropped"] == 0, f"{tally['dropped']} of {tally['sent']} sent requests got no answer: " \
                                  f"{tally['errors'][:3]}"
    answered = sum(v for k, v in tally.items() if isinstance(k, int))
    assert answered == tally["sent"] and tally.get(200, 0) > 100, tally
    assert tally["closed_by_server"] == clients, "every keep-alive connection must be told to close, not cut"
    assert set(k for k in tally if isinstance(k, int)) == {200}, tally


def test_readiness_fails_at_once_while_in_flight_work_finishes(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="2500",
                                         DRAIN_TIMEOUT_SECONDS="20")
    server.wait_ready(timeout=30)
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(server.infer, infer_payload(digits_rows(1)), timeout=20)
        time.sleep(0.5)
        server.terminate()
        time.sleep(0.3)
        ready = server.admin("/v2/health/ready", timeout=5)
        assert (ready.status, ready.json()) == (503, {"ready": False})
        assert server.admin("/v2/health/live", timeout=5).status == 200
        assert not in_flight.done()
        response = in_flight.result(timeout=20)
    assert response.status == 200 and response.headers.get("connection") == "close"
    assert server.proc.wait(timeout=10) == 0


def test_drain_delay_keeps_accepting_new_connections_while_not_ready(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, DRAIN_DELAY_SECONDS="2")
    server.wait_ready()
    server.terminate()
    time.sleep(0.5)
    assert server.get("/v2/health/ready", timeout=5).status == 503
    late = server.infer(infer_payload(digits_rows(1)), timeout=5)
    assert late.status == 200 and late.headers.get("connection") == "close"
    assert server.proc.wait(timeout=15) == 0


def test_a_stalled_client_does_not_hold_the_drain(start_server, tiny_model: TinyModel) -> None:
    # The finding: one stalled upload held the drain for its whole timeout.
    import socket

    server: ServerProcess = start_server(tiny_model.dir, DRAIN_TIMEOUT_SECONDS="30", BODY_TIMEOUT_SECONDS="60")
    server.wait_ready()
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    stalled.sendall(f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n"
                    .encode() + BODY[:20])
    time.sleep(0.3)
    started = time.monotonic()
    server.terminate()
    try:
        assert server.proc.wait(timeout=20) == 0
        took = time.monotonic() - started
        answer = stalled.recv(65536)
    finally:
        stalled.close()
    assert took < 5, f"the drain waited {took:.1f} s for a client that sent nothing more"
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


def test_connections_queued_when_the_listener_closes_are_answered_not_reset(start_server,
                                                                             tiny_model: TinyModel) -> None:
    # The finding: 30 of 60,292 connections were reset: the kernel had accepted them into the listen queue.
    import socket
    import threading

    server: ServerProcess = start_server(tiny_model.dir, DRAIN_DELAY_SECONDS="0", DRAIN_TIMEOUT_SECONDS="10")
    server.wait_ready()
    outcomes: dict[str, int] = {}
    socks = []

    def burst() -> None:
        for _ in range(600):
            try:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                socks.append(sock)
            except OSError as exc:
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1

    thread = threading.Thread(target=burst)
    thread.start()
    time.sleep(0.05)
    server.terminate()
    thread.join(timeout=30)
    for sock in socks:
        try:
            answer = sock.recv(65536)
            kind = "answered" if answer.startswith(b"HTTP/1.1 200") else "empty"
        except OSError as exc:
            kind = type(exc).__name__
        outcomes[kind] = outcomes.get(kind, 0) + 1
        sock.close()
    assert server.proc.wait(timeout=15) == 0
    assert set(outcomes) <= {"answered", "ConnectionRefusedError"}, outcomes
    assert outcomes.get("answered", 0) >= 1, outcomes


def test_grpc_takes_no_new_call_once_its_listener_closes_while_a_call_in_flight_finishes(
        start_server, tiny_model: TinyModel) -> None:
    import grpc
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    from tests.app.test_hostile_grpc import infer_request

    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="2500",
                                         DRAIN_TIMEOUT_SECONDS="20")
    server.wait_ready(timeout=30)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=5).live
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(stub.ModelInfer, infer_request(digits_rows(1)), timeout=20)
            time.sleep(0.5)
            server.terminate()
            time.sleep(0.5)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ServerLive(pb.ServerLiveRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert len(in_flight.result(timeout=20).raw_output_contents[0]) == 10 * 4
    assert server.proc.wait(timeout=10) == 0
