"""The registry of fakes and the deterministic identity they derive values from."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ResourceFake = Callable[["FakeCloud", str, dict[str, Any]], dict[str, Any]]
CallFake = Callable[["FakeCloud", dict[str, Any]], dict[str, Any]]

_RESOURCE_FAKES: dict[str, ResourceFake] = {}
_PREFIX_FAKES: dict[str, ResourceFake] = {}
_CALL_FAKES: dict[str, CallFake] = {}


@dataclass(frozen=True)
class FakeCloud:
    """The account the fakes pretend to be in."""

    account_id: str = "123456789012"
    region: str = "us-west-2"
    partition: str = "aws"
    service_linked_roles: tuple[str, ...] = ("AWSServiceRoleForEC2Spot",)
    """Service-linked roles the account already has (a fresh account has none)."""

    @staticmethod
    def digest(*parts: Any) -> str:
        """A stable hex digest of the given parts."""
        return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()

    def short_id(self, prefix: str, *parts: Any, length: int = 17) -> str:
        """An AWS-style id such as `vpc-0a1b2c...`."""
        return f"{prefix}-{self.digest(prefix, *parts)[:length]}"

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account_id if account else ''}:{resource}")


def fake_resource(*type_tokens: str, prefix: bool = False) -> Callable[[ResourceFake], ResourceFake]:
    """Register a function computing extra outputs for resources of these types (or type prefixes)."""

    def register(fn: ResourceFake) -> ResourceFake:
        for token in type_tokens:
            (_PREFIX_FAKES if prefix else _RESOURCE_FAKES)[token] = fn
        return fn

    return register


def fake_call(*tokens: str) -> Callable[[CallFake], CallFake]:
    """Register a function answering these invokes."""

    def register(fn: CallFake) -> CallFake:
        for token in tokens:
            _CALL_FAKES[token] = fn
        return fn

    return register


def resource_outputs(cloud: FakeCloud, type_token: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs echoed back, plus what the provider would compute."""
    fn = _RESOURCE_FAKES.get(type_token)
    if fn is None:
        matches = [p for p in _PREFIX_FAKES if type_token.startswith(p)]
        fn = _PREFIX_FAKES[max(matches, key=len)] if matches else None
    extra = fn(cloud, name, inputs) if fn else {}
    return {**inputs, **extra}


def call_result(cloud: FakeCloud, token: str, args: dict[str, Any]) -> dict[str, Any]:
    fn = _CALL_FAKES.get(token)
    if fn is None:
        raise KeyError(f"gpu_model_platform.testing has no fake for invoke {token!r}: the components never call it; "
                       "answer it in your own Mocks subclass (override `call`)")
    return fn(cloud, args)
