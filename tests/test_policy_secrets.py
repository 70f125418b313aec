"""The no-plaintext-secrets policy at its edges (issue 29's mutation audit): every place a credential can hide, and
the values that are not one (empty, unknown until apply, already a Pulumi secret)."""

from __future__ import annotations

import pytest
from pulumi_policy import Secret
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.secrets import no_plaintext_secrets
from tests.test_policy import DEPLOYMENT, deployment, pod_spec, violations

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
HELM = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"


@pytest.mark.parametrize("field", ["data", "binaryData"])
def test_a_credential_named_key_in_either_config_map_field_is_reported(field):
    [message] = violations(no_plaintext_secrets, CONFIG_MAP, {field: {"db-password": "x", "port": "80"}}, name="c")
    assert message.startswith(f"ConfigMap 'c': {field}.db-password looks like a credential"), message


@pytest.mark.parametrize("value, reported", [("hunter2", True), ("", False), (UNKNOWN_STRING_VALUE, False),
                                             (Secret("hunter2"), False)])
def test_a_helm_credential_is_reported_only_when_it_is_plain_text(value, reported):
    found = violations(no_plaintext_secrets, HELM, {"values": {"db": {"password": value}}}, name="r")
    assert [m.split(" holds")[0] for m in found] == (["Helm release 'r': values.db.password"] if reported else [])


def test_a_credential_in_a_list_is_named_by_the_key_that_holds_the_list():
    [message] = violations(no_plaintext_secrets, HELM, {"values": {"auth": {"token": ["a", Secret("b")]}}}, name="r")
    assert message.startswith("Helm release 'r': values.auth.token[0] holds a credential"), message


@pytest.mark.parametrize("env, reported", [
    ({"name": "API_TOKEN", "value": "t"}, True),
    ({"name": "API_TOKEN", "value": ""}, False),
    ({"name": "API_TOKEN", "value": Secret("t")}, False),
    ({"name": "LOG_LEVEL", "value": "debug"}, False),
])
def test_an_init_containers_env_is_checked_like_any_containers(env, reported):
    spec = pod_spec(initContainers=[{"name": "fetch", "image": "x", "env": [env]}])
    found = violations(no_plaintext_secrets, DEPLOYMENT, deployment(spec), name="d")
    assert [m.split(" to a")[0] for m in found] == (
        ["Deployment 'd': initContainers[0] 'fetch' sets env API_TOKEN"] if reported else [])


def test_a_secret_key_with_no_value_is_not_plain_text():
    assert violations(no_plaintext_secrets, SECRET, {"stringData": {"empty": None}, "data": Secret({"a": "YQ=="})}) == []


def test_plain_secret_data_is_told_the_two_calls_that_make_it_a_pulumi_secret():
    [message] = violations(no_plaintext_secrets, SECRET, {"stringData": {"token": "t"}}, name="s")
    assert message.startswith("Secret 's': stringData.token is not a Pulumi secret"), message
    # Names to look up in the Pulumi SDK: they must stay its real spelling.
    assert "pulumi.Output.secret(...)" in message and "require_secret()" in message
