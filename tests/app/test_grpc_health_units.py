"""The gRPC health service's own wire reading and answers, in process: what a probe (grpc_health_probe, the kubelet's
gRPC probe) sends must be read as protobuf reads it (proto3 encoding: varint keys, unknown fields skipped, the
last value of a field wins), and the answer must be the status the server's readiness gives."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from model_server.grpc_health import CHECK, NOT_SERVING, SERVING, health_handler, read_service, write_status

from tests.app.http1_fakes import run


def _field(number: int, wire: int) -> bytes:
    """A field's key as a varint: (number << 3) | wire type."""
    key, out = (number << 3) | wire, bytearray()
    while key >= 0x80:
        out.append(key & 0x7F | 0x80)
        key >>= 7
    return bytes(out + bytes([key]))


def _service(name: str) -> bytes:
    encoded = name.encode()
    assert len(encoded) < 0x80
    return _field(1, 2) + bytes([len(encoded)]) + encoded


def test_an_empty_request_asks_for_the_server_itself() -> None:
    assert read_service(b"") == ""


def test_the_service_name_is_read_from_field_one() -> None:
    assert read_service(_service("inference.GRPCInferenceService")) == "inference.GRPCInferenceService"


def test_a_long_service_name_has_a_two_byte_length_and_is_read_whole() -> None:
    name = "s" * 150  # 150 = 0x96 0x01 as a varint
    assert read_service(_field(1, 2) + b"\x96\x01" + name.encode()) == name


def test_unknown_fields_of_every_wire_type_are_skipped_before_and_after_the_service() -> None:
    varint_300 = _field(2, 0) + b"\xac\x02"  # 300: a varint of two bytes
    fixed64 = _field(3, 1) + bytes(range(8))
    fixed32 = _field(4, 5) + b"\x0a\x0a\x0a\x0a"  # bytes that would read as field 1 if not skipped
    other_bytes = _field(5, 2) + b"\x02zz"
    high_field = _field(16, 0) + b"\x05"  # field numbers above 15 take a two-byte key
    data = varint_300 + fixed64 + fixed32 + other_bytes + _service("model") + high_field
    assert read_service(data) == "model"


def test_the_last_service_field_wins_as_in_protobuf() -> None:
    assert read_service(_service("first") + _service("second")) == "second"


@pytest.mark.parametrize(("data", "message"), [
    (_field(1, 2) + b"\x05ab", "truncated field"),  # the name is shorter than its length
    (_field(1, 2), "truncated or overlong varint"),  # the length is missing
    (b"\x80", "truncated or overlong varint"),  # a key whose varint never ends
    (_field(2, 0) + b"\xff" * 10 + b"\x01", "truncated or overlong varint"),  # a varint longer than 64 bits
])
def test_a_truncated_or_overlong_request_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        read_service(data)
    assert str(refused.value) == message


def test_a_varint_byte_of_exactly_0x80_continues_the_number() -> None:
    assert read_service(_field(2, 0) + b"\x80\x01" + _service("after-128")) == "after-128"


def test_a_varint_of_exactly_ten_bytes_is_read() -> None:
    assert read_service(_field(2, 0) + b"\xff" * 9 + b"\x01" + _service("x")) == "x"


@pytest.mark.parametrize("wire", [3, 4, 6, 7])
def test_a_wire_type_protobuf_does_not_use_here_is_refused_by_name(wire: int) -> None:
    with pytest.raises(ValueError, match=f"unsupported wire type {wire}$"):
        read_service(_field(2, wire) + b"\x00")


def test_the_answer_carries_the_status_and_leaves_the_default_out() -> None:
    assert (write_status(SERVING), write_status(NOT_SERVING), write_status(0)) == (b"\x08\x01", b"\x08\x02", b"")


class Aborted(Exception):
    def __init__(self, code, details) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class Context:
    async def abort(self, code, details):
        raise Aborted(code, details)


def _check(ready: list[bool], services=frozenset({"", "model"})):
    handler = health_handler(lambda: ready[0], services).service(SimpleNamespace(method=CHECK))
    assert handler is not None
    assert (handler.request_deserializer, handler.response_serializer) == (read_service, write_status)
    return handler.unary_unary


def test_a_known_service_is_serving_while_ready_and_not_serving_otherwise() -> None:
    ready = [True]
    check = _check(ready)
    assert [run(lambda s=s: check(s, Context())) for s in ("", "model")] == [SERVING, SERVING]
    ready[0] = False
    assert run(lambda: check("model", Context())) == NOT_SERVING


def test_an_unknown_service_is_not_found_and_named_cut_to_64_characters() -> None:
    check = _check([True])
    with pytest.raises(Aborted) as raised:
        run(lambda: check("x" * 100, Context()))
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.details == f"unknown service {'x' * 64!r}"


def test_only_the_check_method_of_the_health_service_is_served() -> None:
    handler = health_handler(lambda: True, frozenset({""}))
    assert handler.service(SimpleNamespace(method="/grpc.health.v1.Health/Watch")) is None
    assert handler.service(SimpleNamespace(method="/other.Health/Check")) is None
