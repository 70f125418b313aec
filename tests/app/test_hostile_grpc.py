"""Hostile gRPC clients (issue 27): streams that send headers and no message, unauthenticated streams,
calls whose answers are never read, and more connections than the process has descriptors. Bounded in
seconds, on 127.0.0.1."""
from __future__ import annotations

import asyncio
import re
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from tests.app.conftest import (
    MODEL_NAME,
    ServerProcess,
    TinyModel,
    api_keys_dir,
    counter_value,
    digits_rows,
    infer_payload,
    limit_descriptors,
)

pytestmark = pytest.mark.slow

METHOD = "/inference.GRPCInferenceService/"
KEY = "grpc-hostile-key-" + "d" * 32
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""Channels of one process share connections to one target unless told not to: each client here is its own."""


def infer_request(rows: np.ndarray):
    from model_server.oip import grpc_predict_v2_pb2 as pb

    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=list(rows.shape))
    return pb.ModelInferRequest(model_name=MODEL_NAME, inputs=[tensor], raw_input_contents=[rows.astype("<f4").tobytes()])


async def header_only_streams(port: int, count: int, metadata: tuple = ()) -> tuple[list, object]:
    """`count` ModelInfer calls on one connection that send their headers and never their message."""
    import grpc

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION)
    never = asyncio.Event()

    async def no_message():
        await never.wait()
        yield b""

    call = channel.stream_unary(METHOD + "ModelInfer", request_serializer=bytes, response_deserializer=bytes)
    calls = [call(no_message(), metadata=metadata) for _ in range(count)]
    return calls, channel


async def probes(port: int, metadata: tuple = ()) -> list[str]:
    """ServerLive, ServerReady and ModelInfer on a connection of their own: the status of each."""
    import grpc
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        results = []
        for call in (lambda: stub.ServerLive(pb.ServerLiveRequest(), timeout=3),
                     lambda: stub.ServerReady(pb.ServerReadyRequest(), timeout=3),
                     lambda: stub.ModelInfer(infer_request(digits_rows(1)), timeout=3, metadata=metadata)):
            try:
                await call()
                results.append("OK")
            except grpc.aio.AioRpcError as exc:
                results.append(exc.code().name)
        return results



@pytest.mark.parametrize("with_keys", [False, True], ids=["keys-off", "keys-on"])
def test_streams_that_send_only_headers_do_not_block_other_calls_and_are_ended(
        with_keys: bool, start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    # The finding: 320 such ModelInfer streams made ServerLive/Ready and ModelInfer fail for 80 s.
    env = {"API_KEYS_DIR": str(api_keys_dir(tmp_path, KEY))} if with_keys else {}
    server: ServerProcess = start_server(tiny_model.dir, BODY_TIMEOUT_SECONDS="2", **env)
    server.wait_ready()
    metadata = (("authorization", f"Bearer {KEY}"),) if with_keys else ()

    async def scenario():
        import grpc

        calls, channel = await header_only_streams(server.grpc_port, 320)
        await asyncio.sleep(1.0)
        during = [await probes(server.grpc_port, metadata) for _ in range(3)]
        async def outcome(call) -> str:
            try:
                await call
                return "OK"
            except grpc.aio.AioRpcError as exc:
                return exc.code().name

        waiting = [asyncio.ensure_future(outcome(call)) for call in calls[:20]]
        done, still_open = await asyncio.wait(waiting, timeout=12)
        ended = [task.result() for task in done] + ["still open"] * len(still_open)
        for call in calls:
            call.cancel()
        await channel.close()
        return during, ended

    started = time.monotonic()
    during, ended = asyncio.run(scenario())
    assert during == [["OK", "OK", "OK"]] * 3
    expected = "UNAUTHENTICATED" if with_keys else "DEADLINE_EXCEEDED"
    assert "still open" not in ended and expected in ended, ended
    assert time.monotonic() - started < 30
    # Counted with their HTTP equivalents: UNAUTHENTICATED 401, DEADLINE_EXCEEDED (no message in time) 408.
    counted = counter_value(server.metrics_text(), "inference_requests", route=METHOD + "ModelInfer",
                            status="401" if with_keys else "408")
    assert counted >= ended.count(expected), counted


def test_a_call_that_ends_without_its_message_is_refused_and_counted_as_a_400(start_server, tiny_model) -> None:
    server: ServerProcess = start_server(tiny_model.dir)
    server.wait_ready()

    async def scenario() -> list[str]:
        import grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=OWN_CONNECTION) as channel:
            empty = channel.stream_unary(METHOD + "ModelInfer")  # headers, then the end of the stream: no message
            outcomes = []
            for _ in range(2):
                try:
                    await empty(iter(()), timeout=5)
                    outcomes.append("OK")
                except grpc.aio.AioRpcError as exc:
                    outcomes.append(f"{exc.code().name}: {exc.details()}")
            return outcomes

    assert asyncio.run(scenario()) == ["INVALID_ARGUMENT: the call ended without a request message"] * 2
    assert counter_value(server.metrics_text(), "inference_requests", route=METHOD + "ModelInfer", status="400") == 2


def test_an_unauthenticated_stream_is_refused_before_its_message_arrives(
        start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    server: ServerProcess = start_server(tiny_model.dir, API_KEYS_DIR=str(api_keys_dir(tmp_path, KEY)))
    server.wait_ready()

    async def scenario():
        import grpc

        calls, channel = await header_only_streams(server.grpc_port, 1)
        try:
            await asyncio.wait_for(calls[0], timeout=2)  # well before any first-message deadline
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        finally:
            await channel.close()
        return "OK"

    assert asyncio.run(scenario()) == "UNAUTHENTICATED"


def test_grpc_connections_beyond_the_descriptor_budget_leave_http_working(tmp_path, tiny_model: TinyModel) -> None:
    server = ServerProcess(tiny_model.dir, tmp_path, preexec_fn=limit_descriptors(256), HEADER_TIMEOUT_SECONDS="1")
    socks = []
    try:
        server.wait_ready()
        for _ in range(400):
            socks.append(socket.create_connection(("127.0.0.1", server.grpc_port), timeout=5))
        time.sleep(0.5)
        for _ in range(3):
            assert server.admin("/v2/health/ready", timeout=5).status == 200
            assert server.infer(infer_payload(digits_rows(1)), timeout=5).status == 200
        time.sleep(1.5)  # connections that never began HTTP/2 are closed after HEADER_TIMEOUT_SECONDS
        assert asyncio.run(probes(server.grpc_port)) == ["OK", "OK", "OK"]
        assert int(re.search(r"MAX_CONNECTIONS=1000 lowered to (\d+)", server.log()).group(1)) < (256 - 64) // 2
    finally:
        for sock in socks:
            sock.close()
        server.stop()


def test_grpc_schedule_policy_parameters_are_honoured_or_refused_whichever_field_carries_them(
        start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir)
    server.wait_ready()

    async def scenario() -> list[str]:
        import grpc
        from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=OWN_CONNECTION) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            outcomes = []
            # Triton's own fields, unknown to our proto: uint64_param = 5 (varint), double_param = 4 (fixed64)
            triton_uint64 = lambda v: bytes([5 << 3 | 0]) + _varint(v)  # noqa: E731
            triton_double = lambda v: bytes([4 << 3 | 1]) + struct.pack("<d", v)  # noqa: E731
            for name, field, value in (("timeout", "int64_param", 1_000_000), ("priority", "int64_param", 2),
                                       ("priority", "string_param", "1"), ("timeout", "bool_param", True),
                                       ("timeout", "int64_param", -1), ("priority", "int64_param", 0),
                                       ("priority", None, triton_uint64(1)), ("timeout", None, triton_uint64(500_000)),
                                       ("timeout", None, triton_double(1.5)), ("priority", None, triton_uint64(0))):
                request = infer_request(digits_rows(1))
                if field is None:
                    request.parameters[name].MergeFromString(value)
                else:
                    setattr(request.parameters[name], field, value)
                try:
                    await stub.ModelInfer(request, timeout=5)
                    outcomes.append("OK")
                except grpc.aio.AioRpcError as exc:
                    outcomes.append(f"{exc.code().name}: {exc.details().split(':')[0]}")
            return outcomes

    refused_timeout = "INVALID_ARGUMENT: parameters.timeout must be a whole number of microseconds from 0 to " \
        "9223372036854775807 (0"
    assert asyncio.run(scenario()) == ["OK", "INVALID_ARGUMENT: parameters.priority is not supported",
                                       "INVALID_ARGUMENT: parameters.priority is not supported",
                                       refused_timeout, refused_timeout, "OK",
                                       "INVALID_ARGUMENT: parameters.priority is not supported", "OK",
                                       refused_timeout, "OK"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_a_grpc_call_waits_in_the_queue_no_longer_than_its_parameters_timeout(start_server, tiny_model) -> None:
    server: ServerProcess = start_server(tiny_model.dir, MAX_BATCH_SIZE="1", TEST_INFERENCE_DELAY_MS="1200",
                                         QUEUE_TIMEOUT_MS="60000")
    server.wait_ready(timeout=30)

    async def scenario() -> list[str]:
        import grpc
        from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=OWN_CONNECTION) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)

            async def call(timeout_us: int | None, after: float) -> str:
                await asyncio.sleep(after)
                request = infer_request(digits_rows(1))
                if timeout_us is not None:
                    request.parameters["timeout"].int64_param = timeout_us
                try:
                    await stub.ModelInfer(request, timeout=30)
                    return "OK"
                except grpc.aio.AioRpcError as exc:
                    return f"{exc.code().name}: {exc.details()}"
            return await asyncio.gather(call(None, 0), call(300_000, 0.1), call(30_000_000, 0.2))

    first, short, long = asyncio.run(scenario())
    assert (first, long) == ("OK", "OK")
    assert short.startswith("UNAVAILABLE") and "300 ms allowed by the request's parameters.timeout" in short


def health_check(port: int, service: bytes) -> tuple[str, bytes]:
    """grpc.health.v1.Health/Check with a hand-encoded HealthCheckRequest: (status code, response bytes)."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")  # raw bytes in and out
        request = b"\x0a" + bytes([len(service)]) + service if service else b""
        try:
            return "OK", check(request, timeout=5)
        except grpc.RpcError as exc:
            return exc.code().name, b""


def test_the_grpc_health_service_answers_probes_without_a_key_and_fails_while_draining(
        start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    server: ServerProcess = start_server(tiny_model.dir, API_KEYS_DIR=str(api_keys_dir(tmp_path, KEY)), DRAIN_DELAY_SECONDS="3")
    server.wait_ready()
    serving, not_serving = b"\x08\x01", b"\x08\x02"  # HealthCheckResponse{status: SERVING / NOT_SERVING}
    assert health_check(server.grpc_port, b"") == ("OK", serving)
    assert health_check(server.grpc_port, b"inference.GRPCInferenceService") == ("OK", serving)
    assert health_check(server.grpc_port, b"nope") == ("NOT_FOUND", b"")
    assert health_watch(server.grpc_port) == "UNIMPLEMENTED"
    server.terminate()
    time.sleep(0.5)
    assert health_check(server.grpc_port, b"") == ("OK", not_serving)
    assert server_ready(server.grpc_port) is False, "ServerReady answers false once draining"
    assert re.search(r"^inference_model_ready\{model=\"my-ai-model\"\} 0\.0$", server.metrics_text(), re.MULTILINE)


def health_watch(port: int) -> str:
    """grpc.health.v1.Health/Watch on the whole server: the status code of its first answer."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as channel:
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")
        try:
            next(iter(watch(b"", timeout=5)))
            return "OK"
        except grpc.RpcError as exc:
            return exc.code().name


def server_ready(port: int) -> bool:
    import grpc
    from model_server.oip import grpc_predict_v2_pb2 as pb
    from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as channel:
        return pb_grpc.GRPCInferenceServiceStub(channel).ServerReady(pb.ServerReadyRequest(), timeout=5).ready


def test_the_health_request_reader_skips_unknown_fields_and_refuses_truncated_input() -> None:
    from model_server.grpc_health import read_service, write_status

    assert read_service(b"\x10\x96\x01\x0a\x03abc\x1d\x00\x00\x00\x00") == "abc"  # varint, string, fixed32
    assert read_service(b"") == "" and write_status(0) == b"" and write_status(2) == b"\x08\x02"
    for truncated in (b"\x0a\x05ab", b"\x10\x96", b"\x0b"):
        with pytest.raises(ValueError):
            read_service(truncated)


def test_calls_in_progress_are_capped_server_wide_above_one_connections_streams(
        start_server, tiny_model: TinyModel) -> None:
    # MAX_CONCURRENT_REQUESTS=4: the cap is 2 x max(4, 100) + 64 = 264 calls, more than one connection's 100.
    server: ServerProcess = start_server(tiny_model.dir, MAX_CONCURRENT_REQUESTS="4", BODY_TIMEOUT_SECONDS="20")
    server.wait_ready()

    async def scenario() -> tuple[list[str], list[str]]:
        held = [await header_only_streams(server.grpc_port, 100) for _ in range(2)]
        await asyncio.sleep(1.0)
        two_connections = await probes(server.grpc_port)  # 200 calls held: still under the cap
        held.append(await header_only_streams(server.grpc_port, 100))
        await asyncio.sleep(1.0)
        three_connections = await probes(server.grpc_port)  # 300 held: over it
        for calls, channel in held:
            for call in calls:
                call.cancel()
            await channel.close()
        return two_connections, three_connections

    two_connections, three_connections = asyncio.run(scenario())
    assert two_connections == ["OK", "OK", "OK"]
    assert three_connections == ["RESOURCE_EXHAUSTED"] * 3


def h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    """One HTTP/2 frame (RFC 9113 4.1): length, type, flags, stream id, payload."""
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def hpack_literal(name: str, value: str) -> bytes:
    """A header field as an HPACK literal without indexing, new name, no Huffman (RFC 7541 6.2.2); short strings."""
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def grpc_call_frames(stream: int, method: str, message: bytes, key: str | None) -> bytes:
    """HEADERS + DATA (END_STREAM) of one unary gRPC call on `stream`."""
    fields = [(":method", "POST"), (":scheme", "http"), (":path", METHOD + method), (":authority", "127.0.0.1"),
              ("content-type", "application/grpc"), ("te", "trailers")]
    if key:
        fields.append(("authorization", f"Bearer {key}"))
    headers = b"".join(hpack_literal(name, value) for name, value in fields)
    data = b"\x00" + len(message).to_bytes(4, "big") + message  # gRPC length-prefixed message, uncompressed
    return h2_frame(1, 0x4, stream, headers) + h2_frame(0, 0x1, stream, data)


def grpc_calls_without_reading(port: int, method: str, message: bytes, key: str | None, seconds: float,
                               pid: int) -> tuple[int, float]:
    """Open stream after stream on one HTTP/2 connection for `seconds`, each a whole call, never reading the
    answers (nor granting flow-control window); (calls sent, the server's largest RSS in MiB meanwhile and
    SETTLE_SECONDS after)."""
    from tests.app.test_hostile_clients import SETTLE_SECONDS, rss_mib

    calls, stream, peak = 0, 1, rss_mib(pid)
    deadline = time.monotonic() + seconds
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # The preface, empty SETTINGS, and the ACK of the server's SETTINGS (sent unread: it always comes first).
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0, b"") + h2_frame(4, 0x1, 0, b""))
        sock.settimeout(0.2)
        while time.monotonic() < deadline and stream < 2 ** 31 - 64:
            batch = b"".join(grpc_call_frames(stream + 2 * i, method, message, key) for i in range(32))
            try:
                sock.sendall(batch)
            except TimeoutError:  # the server stopped reading: backpressure
                peak = max(peak, rss_mib(pid))
                continue
            except OSError:  # the server closed the connection: also a bound
                break
            stream += 64
            calls += 32
            peak = max(peak, rss_mib(pid))
        settled = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < settled:
            time.sleep(0.1)
            peak = max(peak, rss_mib(pid))
    return calls, peak


# (API keys on, the key sent, method): answers the client never takes, on the gRPC port.
GRPC_FLOODS = {
    "infer-keys-off": (False, False, "ModelInfer"),
    "infer-keys-on": (True, True, "ModelInfer"),
    "unauthenticated-keys-on": (True, False, "ModelInfer"),
    "server-live-keys-on": (True, False, "ServerLive"),
}


@pytest.mark.parametrize("flood", list(GRPC_FLOODS))
def test_a_grpc_client_that_opens_calls_and_never_reads_keeps_server_memory_bounded(
        flood: str, start_server, tiny_model: TinyModel, tmp_path: Path) -> None:
    from tests.app.test_hostile_clients import FLOOD_SECONDS, RSS_GROWTH_BOUND_MIB

    with_keys, send_key, method = GRPC_FLOODS[flood]
    env = {"API_KEYS_DIR": str(api_keys_dir(tmp_path, KEY))} if with_keys else {}
    server: ServerProcess = start_server(tiny_model.dir, **env)
    server.wait_ready()
    message = infer_request(digits_rows(1)).SerializeToString() if method == "ModelInfer" else b""
    metadata = (("authorization", f"Bearer {KEY}"),) if with_keys else ()
    assert asyncio.run(probes(server.grpc_port, metadata)) == ["OK", "OK", "OK"]  # gRPC's own memory, before
    before = rss_mib_of(server)
    calls, peak = grpc_calls_without_reading(server.grpc_port, method, message, KEY if send_key else None,
                                             FLOOD_SECONDS, server.proc.pid)
    grown = peak - before
    assert calls >= 32, f"{flood}: not even one batch of calls was sent"
    assert grown < RSS_GROWTH_BOUND_MIB, f"{flood}: RSS grew {grown:.0f} MiB after {calls} unread calls"
    assert asyncio.run(probes(server.grpc_port, metadata)) == ["OK", "OK", "OK"]


def rss_mib_of(server: ServerProcess) -> float:
    from tests.app.test_hostile_clients import rss_mib

    return rss_mib(server.proc.pid)


def test_grpc_messages_and_metadata_are_bounded_by_the_http_limits(start_server, tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir, MAX_REQUEST_BYTES="2048", MAX_HEADER_BYTES="1024")
    server.wait_ready()

    async def outcomes() -> list[str]:
        import grpc
        from model_server.oip import grpc_predict_v2_pb2_grpc as pb_grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=OWN_CONNECTION) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            results = []
            padded = (("x-padding", "p" * 2000),)
            for rows, metadata in ((4, ()), (16, ()), *[(1, padded)] * 5):
                try:
                    await stub.ModelInfer(infer_request(digits_rows(rows)), metadata=metadata, timeout=5)
                    results.append("OK")
                except grpc.aio.AioRpcError as exc:
                    results.append(exc.code().name)
            return results

    # 4 rows are 1 KiB of FP32 (under MAX_REQUEST_BYTES), 16 rows 4 KiB (over it); 2 KB of metadata is over 1 KiB,
    # refused every time (gRPC's soft limit alone refuses between it and 16 KiB only at random).
    within, message_over, *metadata_over = asyncio.run(outcomes())
    assert within == "OK"
    assert message_over == "RESOURCE_EXHAUSTED"
    assert metadata_over == ["RESOURCE_EXHAUSTED"] * 5, metadata_over


def test_the_grpc_port_announces_at_most_100_concurrent_calls_per_connection(start_server,
                                                                            tiny_model: TinyModel) -> None:
    server: ServerProcess = start_server(tiny_model.dir)
    server.wait_ready()
    with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0, b""))
        received = b""
        while len(received) < 9 or len(received) < 9 + int.from_bytes(received[:3], "big"):
            chunk = sock.recv(4096)
            assert chunk, "the server closed before its SETTINGS"
            received += chunk
    length, kind = int.from_bytes(received[:3], "big"), received[3]
    assert kind == 4, "an HTTP/2 server's first frame is its SETTINGS"
    settings = dict(struct.unpack(">HI", received[9 + i:15 + i]) for i in range(0, length, 6))
    assert settings[0x3] == 100  # SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 6.5.2)
