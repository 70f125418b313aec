"""A field given as a Pulumi `Output` is checked once it resolves, and until then nothing of its component
registers: a value refused then fails the program naming the component, the instance and the field, and none of
the component's resources (nor the component) exists. Every component whose args hold such a field is here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components import (
    ModelEndpoint,
    ModelEndpointArgs,
    ModelService,
    ModelServiceArgs,
    ModelWeights,
    ModelWeightsArgs,
    MonitoringStack,
    MonitoringStackArgs,
)
from tests.harness import components

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/fraud@sha256:" + "ab" * 32
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]


def _endpoint(opts: pulumi.ResourceOptions, zone: pulumi.Input[str]) -> None:
    model = ModelService("fraud", ModelServiceArgs(image=IMAGE, api_keys={"primary": pulumi.Output.secret("k")}),
                         opts)
    ModelEndpoint("fraud-endpoint", ModelEndpointArgs(backend=model, host="fraud.models.example.com",
                                                      hosted_zone_id=zone, subnet_ids=SUBNETS), opts)


def _weights(opts: pulumi.ResourceOptions, namespace: pulumi.Input[str]) -> None:
    ModelWeights("ranker-weights", ModelWeightsArgs(model_name="ranker", namespace=namespace,
                                                    oidc_provider_arn=OIDC, digest="sha256-" + "0" * 64,
                                                    region="us-west-2"), opts)


def _stack(opts: pulumi.ResourceOptions, password: pulumi.Input[str]) -> None:
    MonitoringStack("monitoring", MonitoringStackArgs(grafana_admin_password=password), opts)


def _service(opts: pulumi.ResourceOptions, image: pulumi.Input[str]) -> None:
    ModelService("ranker", ModelServiceArgs(image=image), opts)


# (instance, field, program taking the field's value, a refused value, an accepted one); values are made inside
# each run (an Output belongs to the program run that made it).
CASES: list[tuple[str, str, Callable[[pulumi.ResourceOptions, Any], None], str, str]] = [
    ("fraud-endpoint", "hosted_zone_id", _endpoint, "example.com", "Z0123456789ABCDEFGHIJ"),
    ("ranker-weights", "namespace", _weights, "Ranker_NS", "ranker"),
    ("monitoring", "grafana_admin_password", _stack, "short", "long-enough-password"),
    ("ranker", "image", _service, "registry/ranker:v1", IMAGE),
]


def _own(registrations: list[Any], instance: str) -> list[str]:
    return sorted(r.name for r in registrations if r.name == instance or r.name.startswith(f"{instance}-"))


@pytest.mark.parametrize(("instance", "field", "build", "refused", "accepted"), CASES, ids=[c[1] for c in CASES])
def test_an_output_refused_once_resolved_registers_nothing_of_its_component(instance, field, build, refused,
                                                                            accepted):
    with pytest.raises(Exception, match=rf"'{instance}': {field}: ") as caught:
        components(lambda opts: build(opts, pulumi.Output.from_input(refused)))
    assert _own(caught.value.registered_resources, instance) == []
    accepted_run = components(lambda opts: build(opts, pulumi.Output.from_input(accepted)))
    assert instance in _own(accepted_run.resources, instance)
    assert len(_own(accepted_run.resources, instance)) > 1, "the component registered no child"
