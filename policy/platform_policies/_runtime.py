"""Let the policies see which properties are Pulumi secrets.

The engine sends an analyzer every secret marked as such (`KeepSecrets: true` in
pulumi/pulumi's `analyzer_plugin.go`), but pulumi-policy (1.21.0) unwraps the marks while
deserializing them for `ResourceValidationArgs.props` and `PolicyResource.props`, so a
policy cannot tell `Output.secret("x")` from `"x"`. `keep_secrets_visible()` swaps in a
deserializer that keeps each secret as a `pulumi_policy.Secret`, the type pulumi-policy
itself uses for secrets during remediation. `tests/test_policy.py` drives the real analyzer
servicer with and without it, so an upgrade that changes this fails a test, not a deploy.
"""

from __future__ import annotations

from typing import Any

import pulumi_policy.policy as _analyzer
from pulumi_policy import Secret
from pulumi_policy import deserialize as _deserialize

_ORIGINAL = _deserialize.deserialize_properties


def _keep(value: Any) -> Any:
    if isinstance(value, list):
        return [_keep(v) for v in value]
    if isinstance(value, dict):
        signature = value.get(_deserialize.SPECIAL_SIG_KEY)
        if signature == _deserialize.SPECIAL_SECRET_SIG:
            return Secret(_keep(value.get("value")))
        if signature is not None:
            return _ORIGINAL({"v": value})["v"]  # assets and archives, as pulumi-policy reads them
        return {k: _keep(v) for k, v in value.items()}
    return value


def deserialize_keeping_secrets(props: dict, proxy_secrets: bool = False) -> Any:
    """`pulumi_policy.deserialize.deserialize_properties`, with secrets kept as `Secret` values."""
    if proxy_secrets:  # the remediation path already keeps secrets (behind its own proxy)
        return _ORIGINAL(props, True)
    return _keep(props)


def keep_secrets_visible() -> None:
    """Make the analyzer hand secrets to the policies as `Secret` values (call before `PolicyPack`)."""
    _analyzer.deserialize_properties = deserialize_keeping_secrets
