"""The analyzer's deserializer with secrets kept visible (policy/platform_policies/_runtime.py), piece by piece:
each secret, wherever it sits, arrives as a `Secret` around its value; assets read as pulumi-policy reads them;
the remediation path keeps pulumi-policy's own proxy; and the swap reaches the analyzer."""

from __future__ import annotations

import pulumi
import pulumi_policy.policy as analyzer
from pulumi_policy import Secret
from pulumi_policy import deserialize as engine

from policy.platform_policies._runtime import deserialize_keeping_secrets, keep_secrets_visible

SIG = engine.SPECIAL_SIG_KEY


def _secret(value: object) -> dict:
    return {SIG: engine.SPECIAL_SECRET_SIG, "value": value}


def _revealed(value: object) -> object:
    """The value with every Secret replaced by ("secret", its value), so equality sees where the marks are."""
    if isinstance(value, Secret):
        return ("secret", _revealed(value.value))
    if isinstance(value, list):
        return [_revealed(v) for v in value]
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    return value


def test_every_secret_arrives_as_a_secret_around_its_value_wherever_it_sits():
    props = {"token": _secret("s3cr3t"), "env": [{"name": "K", "value": _secret("v")}, "plain"],
             "nested": {"deep": _secret({"inner": _secret(7)})}, "port": 80}
    assert _revealed(deserialize_keeping_secrets(props)) == {
        "token": ("secret", "s3cr3t"), "env": [{"name": "K", "value": ("secret", "v")}, "plain"],
        "nested": {"deep": ("secret", {"inner": ("secret", 7)})}, "port": 80}


def test_an_asset_reads_as_pulumi_policy_reads_it():
    kept = deserialize_keeping_secrets({"file": {SIG: engine.SPECIAL_ASSET_SIG, "text": "hello"}})
    assert isinstance(kept["file"], pulumi.StringAsset) and kept["file"].text == "hello"


def test_the_remediation_path_keeps_pulumi_policys_own_secret_proxy():
    props = {"token": _secret("s3cr3t")}
    kept = deserialize_keeping_secrets(props, True)
    assert type(kept) is type(engine.deserialize_properties(props, True)) and not isinstance(kept, dict)
    assert kept["token"] == "s3cr3t"


def test_keep_secrets_visible_makes_the_analyzer_use_the_secret_keeping_deserializer(monkeypatch):
    monkeypatch.setattr(analyzer, "deserialize_properties", analyzer.deserialize_properties)
    keep_secrets_visible()
    assert analyzer.deserialize_properties({"token": _secret("x")})["token"].value == "x"
