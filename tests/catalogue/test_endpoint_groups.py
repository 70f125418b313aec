"""One load balancer for many models, on the config alone (stack_config/endpoint_groups.py): each setting a group's
members must share refused when one differs, naming it as the config spells it; a host on two load balancers
refused; the group's idle timeout the longest wait of its asleep members; and what each endpoint's args take."""

from __future__ import annotations

import copy
import types

import pytest

from stack_config import ConfigError
from stack_config.endpoint_groups import endpoint_changes, group_problems, idle_timeout
from tests.catalogue import fixture

BOTH = "models[0] (llm-chat) and models[1] (image-classifier)"


def _models() -> list[dict]:
    return copy.deepcopy(fixture.sections()["models"])


def _problems(models: list[dict]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(models=models)
    return caught.value.problems


def test_the_example_group_agrees_so_its_config_has_no_group_problem():
    assert group_problems(fixture.config()) == []


@pytest.mark.parametrize(("key", "field", "value"), [
    ("scheme", "scheme", "internal"),
    ("allowedCidrs", "allowed_cidrs", ["10.0.0.0/8"]),
    ("sslPolicy", "ssl_policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
])
def test_a_group_member_differing_on_a_load_balancer_setting_is_refused_naming_it_and_both_values(key, field, value):
    models = _models()
    models[1]["endpoint"][key] = value
    first = getattr(fixture.config().catalogue()[0].model.endpoint, field)
    assert [p for p in _problems(models) if "share load balancer group" in p] == [
        f"gpu-model-platform:models[1].endpoint.{key}: got {value!r}; {BOTH} share load balancer group 'models', "
        f"which has one {key} ({first!r})"]


def test_one_host_on_two_load_balancers_is_refused_at_the_second_endpoint():
    models = _models()
    models[1]["endpoint"]["group"] = None
    assert [p for p in _problems(models) if ".endpoint.host:" in p] == [
        "gpu-model-platform:models[1].endpoint.host: got 'models.example.com'; " + BOTH + " serve one host from two "
        "load balancers (one alias record can point at one): give both the same endpoint.group"]


def test_the_group_idle_timeout_is_the_longest_wait_of_its_asleep_members_plus_the_response_margin():
    from components.serving.scale_to_zero import RESPONSE_MARGIN_SECONDS
    models = _models()
    # An awake member's wait, however long, does not count; nor does a model outside the group.
    models[0]["scaleToZero"] = {"enabled": False, "maxWait": "20m"}
    config = fixture.config(models=models)
    assert idle_timeout(config, "models") == 600 + RESPONSE_MARGIN_SECONDS
    assert idle_timeout(config, "other") is None
    assert idle_timeout(config, None) is None
    models[1]["scaleToZero"]["maxWait"] = "15m"
    assert idle_timeout(fixture.config(models=models), "models") == 900 + RESPONSE_MARGIN_SECONDS


def test_an_endpoint_takes_its_path_its_group_and_the_groups_timeout_and_reuses_its_hosts_certificate_and_record():
    config = fixture.config()
    llm, _, embedder = config.catalogue()
    first = types.SimpleNamespace(certificate_arn="arn:aws:acm:us-west-2:123456789012:certificate/x")
    assert endpoint_changes(config, llm, None) == {
        "path_prefix": "/v2/models/llm-chat", "group": "models", "idle_timeout_seconds": idle_timeout(config, "models")}
    assert endpoint_changes(config, llm, first) == {
        "path_prefix": "/v2/models/llm-chat", "group": "models", "idle_timeout_seconds": idle_timeout(config, "models"),
        "certificate_arn": first.certificate_arn, "dns_record": False}
    assert idle_timeout(config, "models") is not None
    assert embedder.model.endpoint is None
