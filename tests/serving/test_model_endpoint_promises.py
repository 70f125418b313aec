"""ModelEndpoint promises the mutation audit (issue 29) found unguarded: the endpoint's own idle timeout reaching
the load balancer, and the load balancer's NetworkPolicy standing beside the model's own rather than replacing it."""

from __future__ import annotations

import pytest

from components import ModelEndpoint
from tests.serving.test_model_endpoint import _asleep_program, _endpoint_args, _model
from tools.synth import run


def _load_balancer_attributes(synthesis, ingress: str = "fraud-ingress") -> dict[str, str]:
    annotations = synthesis.named(ingress).inputs["metadata"]["annotations"]
    value = annotations["alb.ingress.kubernetes.io/load-balancer-attributes"]
    return dict(pair.split("=", 1) for pair in value.split(","))


@pytest.mark.parametrize("idle, expected", [(None, None), (120, "120"), (4000, "4000")])
def test_the_endpoints_idle_timeout_reaches_the_load_balancer_and_none_leaves_aws_default(idle, expected):
    def program() -> None:
        ModelEndpoint("fraud", _endpoint_args(_model(api_keys={"primary": "k"}), idle_timeout_seconds=idle))

    attributes = _load_balancer_attributes(run(program))
    assert attributes.get("idle_timeout.timeout_seconds") == expected
    # The invalid-header protection is there whatever the timeout.
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_an_idle_timeout_given_to_the_endpoint_overrides_the_interceptors_hold():
    synthesis = run(lambda: _asleep_program({"idle_timeout_seconds": 900}))
    assert _load_balancer_attributes(synthesis)["idle_timeout.timeout_seconds"] == "900"


def test_the_load_balancers_network_policy_is_named_apart_from_the_models_own():
    def program() -> None:
        ModelEndpoint("fraud", _endpoint_args(_model(api_keys={"primary": "k"})))

    synthesis = run(program)
    service = synthesis.named("model-service").inputs["metadata"]["name"]
    policies = {r.name: r.inputs["metadata"] for r in synthesis.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    # Same namespace, same name would make the second policy replace the first: the model would lose its own rules.
    assert policies["fraud-network-policy"]["name"] == f"{service}-load-balancer"
    assert policies["fraud-network-policy"]["namespace"] == policies["model-network-policy"]["namespace"]
    assert policies["fraud-network-policy"]["name"] != policies["model-network-policy"]["name"]


def test_the_alias_records_zone_is_looked_up_with_the_endpoints_own_aws_provider(monkeypatch):
    """An endpoint given another region's provider must point its alias at that region's ALB zone."""
    import pulumi
    import pulumi_aws as aws

    from components.testing import PlatformMocks

    providers: list[str] = []
    answer = PlatformMocks.call

    def recording_call(self, args):
        if args.token == "aws:lb/getHostedZoneId:getHostedZoneId":
            providers.append(args.provider)
        return answer(self, args)

    monkeypatch.setattr(PlatformMocks, "call", recording_call)

    def program() -> None:
        regional = aws.Provider("eu", region="eu-west-1")
        ModelEndpoint("fraud", _endpoint_args(_model(api_keys={"primary": "k"})),
                      pulumi.ResourceOptions(providers={"aws": regional}))

    run(program)
    assert len(providers) == 1 and "::eu::" in providers[0], providers


def _endpoint_synthesis():
    def program() -> None:
        ModelEndpoint("fraud", _endpoint_args(_model(api_keys={"primary": "k"})))

    return run(program)


def test_the_certificate_its_validation_record_and_its_issuance_belong_to_the_endpoint():
    """Outside the component they would survive its removal and escape its provider and options."""
    synthesis = _endpoint_synthesis()
    [endpoint] = synthesis.of_type("gpu-model-platform:index:ModelEndpoint")
    for name in ("fraud-certificate", "fraud-certificate-validation", "fraud-certificate-issued"):
        assert synthesis.named(name).parent == endpoint.urn, name


def test_the_certificates_validation_record_has_the_ttl_route53_requires_of_a_plain_record():
    # Route 53 refuses a non-alias record without a TTL (ChangeResourceRecordSets: TTL is required unless AliasTarget).
    record = _endpoint_synthesis().named("fraud-certificate-validation").inputs
    assert record["ttl"] == 300 and "aliases" not in record


def test_the_alias_record_asks_for_the_application_load_balancers_zone_not_a_provider_default(monkeypatch):
    """ALBs and NLBs answer from different zones (pulumi-aws 7.51.1, `aws.lb.get_hosted_zone_id`: the type selects
    the zone): the endpoint names the type of the load balancer its Ingress makes instead of leaning on a default."""
    from components.testing import PlatformMocks

    asked: list[dict] = []
    answer = PlatformMocks.call

    def recording_call(self, args):
        if args.token == "aws:lb/getHostedZoneId:getHostedZoneId":
            asked.append(dict(args.args))
        return answer(self, args)

    monkeypatch.setattr(PlatformMocks, "call", recording_call)
    _endpoint_synthesis()
    assert [a.get("loadBalancerType") for a in asked] == ["application"]
