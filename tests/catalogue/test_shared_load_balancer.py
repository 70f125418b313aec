"""One load balancer for many models, link by link on the example catalogue: both endpoints in one IngressGroup
on one host, each on its own path with its own health check and keys, one certificate and alias record, the WAF
on the group -- and the stack policy refusing two models on one route, both ways."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from policy.platform_policies.ingress_routes import ingress_routes_are_unique
from stack_config import ConfigError
from tests.catalogue import fixture
from tests.test_policy import pack_violations, stack_violations

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
ALB = "alb.ingress.kubernetes.io/"
ANNOTATIONS = Path(__file__).parents[1] / "endpoint" / "aws-load-balancer-controller-v3.5.0.annotations.txt"


def _ingresses(synthesis) -> dict[str, dict]:
    return {r.raw_inputs["metadata"]["name"]: r.raw_inputs for r in synthesis.resources if r.type == INGRESS}


def test_both_endpoints_join_one_ingress_group_with_one_load_balancers_settings():
    ingresses = _ingresses(fixture.example())
    assert sorted(ingresses) == ["image-classifier", "llm-chat"]
    annotations = [i["metadata"]["annotations"] for i in ingresses.values()]
    assert {a[f"{ALB}group.name"] for a in annotations} == {"models"}
    waf = fixture.sections()["models"][0]["endpoint"]["wafAclArn"]
    for key in ("scheme", "ssl-policy", "wafv2-acl-arn", "load-balancer-attributes", "subnets"):
        assert len({str(a[f"{ALB}{key}"]) for a in annotations}) == 1, key
    assert annotations[0][f"{ALB}wafv2-acl-arn"] == waf


def test_the_group_annotation_is_one_the_pinned_controller_documents():
    documented = set(ANNOTATIONS.read_text().split())
    assert f"{ALB}group.name" in documented


def test_each_model_keeps_its_own_path_health_check_and_backend():
    ingresses = _ingresses(fixture.example())
    rules = {name: i["spec"]["rules"][0] for name, i in ingresses.items()}
    assert {r["host"] for r in rules.values()} == {"models.example.com"}
    assert rules["llm-chat"]["http"]["paths"][0]["path"] == "/v2/models/llm-chat"
    assert rules["image-classifier"]["http"]["paths"][0]["path"] == "/v2/models/image-classifier"
    llm, classifier = ingresses["llm-chat"]["metadata"]["annotations"], ingresses["image-classifier"]["metadata"][
        "annotations"]
    # The asleep model is checked at its interceptor's readiness; the LLM on its own server's.
    assert llm[f"{ALB}healthcheck-path"] == "/v2/health/ready"
    assert classifier[f"{ALB}healthcheck-path"] != llm[f"{ALB}healthcheck-path"]
    # The group's idle timeout is the asleep model's: requests it holds while waking are not cut.
    assert "idle_timeout.timeout_seconds=" in llm[f"{ALB}load-balancer-attributes"]


def test_one_host_gets_one_certificate_and_one_alias_record():
    synthesis = fixture.example()
    certificates = [r for r in synthesis.resources if r.type == "aws:acm/certificate:Certificate"]
    aliases = [r for r in synthesis.resources if r.type == "aws:route53/record:Record" and r.name.endswith("-dns")]
    assert [c.raw_inputs["domainName"] for c in certificates] == ["models.example.com"]
    assert [a.raw_inputs["name"] for a in aliases] == ["models.example.com"]
    ingresses = _ingresses(synthesis)
    assert len({i["metadata"]["annotations"][f"{ALB}certificate-arn"] for i in ingresses.values()}) == 1


def test_every_model_keeps_its_own_api_keys():
    synthesis = fixture.example()
    secrets = [r for r in synthesis.resources if r.type == "kubernetes:core/v1:Secret" and "api-keys" in r.name]
    assert sorted(s.raw_inputs["metadata"]["namespace"] for s in secrets) == ["nlp", "vision", "vision"]


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def test_group_members_that_disagree_on_the_load_balancer_are_refused_naming_both():
    models = copy.deepcopy(fixture.sections()["models"])
    models[1]["endpoint"]["wafAclArn"] = None
    models[1]["endpoint"]["scheme"] = "internal"
    problems = _problems(models=models)
    both = "models[0] (llm-chat) and models[1] (image-classifier) share load balancer group 'models'"
    assert any(p.startswith("gpu-model-platform:models[1].endpoint.wafAclArn: got None; " + both) for p in problems)
    assert any(p.startswith("gpu-model-platform:models[1].endpoint.scheme: got 'internal'; " + both) for p in problems)


def test_one_host_on_two_load_balancers_is_refused():
    models = copy.deepcopy(fixture.sections()["models"])
    models[1]["endpoint"]["group"] = None
    assert any(p.startswith("gpu-model-platform:models[1].endpoint.host: got 'models.example.com'; models[0] "
                            "(llm-chat) and models[1] (image-classifier) serve one host from two load balancers")
               for p in _problems(models=models))


def _ingress(name: str, host: str, path: str, group: str | None = "models") -> tuple[str, str, dict]:
    annotations = {f"{ALB}group.name": group} if group else {}
    return (INGRESS, name, {"metadata": {"name": name, "namespace": "ns", "annotations": annotations},
                            "spec": {"rules": [{"host": host, "http": {"paths": [{"path": path, "pathType": "Prefix"}]}}]}})


def test_the_route_policy_passes_distinct_routes_and_refuses_a_second_claim_of_one_naming_both():
    distinct = [_ingress("a", "m.example.com", "/v2/models/a"), _ingress("b", "m.example.com", "/v2/models/b"),
                _ingress("c", "other.example.com", "/v2/models/a", group=None)]
    assert stack_violations(ingress_routes_are_unique, distinct) == []
    clash = [_ingress("a", "m.example.com", "/v2"), _ingress("b", "m.example.com", "/v2", group=None)]
    found = stack_violations(ingress_routes_are_unique, clash)
    assert [m for m, _ in found] == ["Ingress 'b': claims host m.example.com path /v2, as Ingress 'a' does; one route "
                                     "serves one model (give one of them another path or host)"]


def test_the_pack_refuses_the_example_with_two_models_on_one_route():
    def same_path(name, type_, state):
        if type_ == INGRESS:
            state["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/v2"
    found = pack_violations(fixture.example(), fixture.STACK, mutate=same_path)
    assert any(m.startswith("[ingress-routes-are-unique]") and "claims host models.example.com path /v2" in m
               for m in found), found
