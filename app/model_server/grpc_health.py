"""The standard gRPC health service (`grpc.health.v1.Health/Check`) on the gRPC port, so Kubernetes gRPC
probes (and grpc_health_probe) can target it; open without an API key, like the HTTP health paths.

The messages are those of grpc/grpc `src/proto/grpc/health/v1/health.proto`: `HealthCheckRequest {string
service = 1;}` and `HealthCheckResponse {ServingStatus status = 1;}` (UNKNOWN 0, SERVING 1, NOT_SERVING 2).
Two one-field messages are read and written here by hand rather than through generated code and one more
dependency. Services: "" (the server) and the inference service; SERVING while ready, NOT_SERVING while
loading or draining; any other name is NOT_FOUND, as the proto says. Watch is not served (UNIMPLEMENTED,
which the proto tells clients not to retry).
"""
from __future__ import annotations

from collections.abc import Callable

import grpc

HEALTH_SERVICE = "grpc.health.v1.Health"
CHECK = f"/{HEALTH_SERVICE}/Check"
SERVING, NOT_SERVING = 1, 2
_WIRE_SKIP = {1: 8, 5: 4}
"""Fixed-size wire types (64-bit, 32-bit) and their byte counts, for skipping unknown fields."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def read_service(data: bytes) -> str:
    """The `service` field of a serialised HealthCheckRequest (unknown fields skipped)."""
    service, at = "", 0
    while at < len(data):
        key, at = _varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise ValueError("truncated field")
            if field == 1:
                service = data[at:at + length].decode()
            at += length
        elif wire in _WIRE_SKIP:
            at += _WIRE_SKIP[wire]
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return service


def write_status(status: int) -> bytes:
    """A serialised HealthCheckResponse (proto3 leaves the default, 0, out)."""
    return b"\x08" + bytes([status]) if status else b""


def health_handler(ready: Callable[[], bool], services: frozenset[str]) -> grpc.GenericRpcHandler:
    async def check(service: str, context: grpc.aio.ServicerContext) -> int:
        if service not in services:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {service[:64]!r}")
        return SERVING if ready() else NOT_SERVING

    return grpc.method_handlers_generic_handler(HEALTH_SERVICE, {"Check": grpc.unary_unary_rpc_method_handler(
        check, request_deserializer=read_service, response_serializer=write_status)})
