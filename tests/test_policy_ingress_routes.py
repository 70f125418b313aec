"""One model per route, rule by rule: two Ingresses claiming one host and path are refused naming both, at the second
one's URN; a rule without host or path claims every host or "/"; a route not known yet is left to the next preview;
other resources neither take part nor stop the check."""

from __future__ import annotations

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.ingress_routes import ingress_routes_are_unique
from tests.test_policy import stack_violations

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
URN = "urn:pulumi:test::gpu-model-platform::kubernetes:networking.k8s.io/v1:Ingress::"


def _ingress(name: str, host: object = "m.example.com", path: object = "/v2") -> tuple[str, str, dict]:
    rule: dict = {"http": {"paths": [{"pathType": "Prefix", "backend": {"service": {"name": name}}}]}}
    if host is not None:
        rule["host"] = host
    if path is not None:
        rule["http"]["paths"][0]["path"] = path
    return INGRESS, name, {"metadata": {"name": name, "namespace": "ns"}, "spec": {"rules": [rule]}}


def _claim(second: str, first: str, host: str, path: str) -> str:
    return (f"Ingress '{second}': claims host {host} path {path}, as Ingress '{first}' does; one route serves one "
            "model (give one of them another path or host)")


def test_a_second_claim_of_one_route_is_reported_at_the_second_ingress_naming_the_first():
    found = stack_violations(ingress_routes_are_unique, [_ingress("a"), _ingress("b")])
    assert found == [(_claim("b", "a", "m.example.com", "/v2"), URN + "b")]


def test_routes_differing_only_in_host_or_only_in_path_are_distinct():
    routes = [_ingress("a"), _ingress("b", path="/v2/models/b"), _ingress("c", host="other.example.com")]
    assert stack_violations(ingress_routes_are_unique, routes) == []


def test_a_rule_without_a_host_claims_every_host_and_one_without_a_path_claims_the_root():
    found = stack_violations(ingress_routes_are_unique, [_ingress("a", None, None), _ingress("b", None, None)])
    assert [m for m, _ in found] == [_claim("b", "a", "*", "/")]
    # "*" and "/" are the defaults only: a rule naming a host or a path claims that one.
    assert stack_violations(ingress_routes_are_unique, [_ingress("a", None, None), _ingress("b")]) == []


def test_a_route_whose_host_is_not_known_yet_is_left_to_the_next_preview():
    unknown = [_ingress("a", UNKNOWN_STRING_VALUE), _ingress("b", UNKNOWN_STRING_VALUE)]
    assert stack_violations(ingress_routes_are_unique, unknown) == []


def test_other_resources_before_the_ingresses_neither_claim_routes_nor_stop_the_check():
    service = (SERVICE, "a", {"metadata": {"name": "a"}, "spec": {"rules": [{"host": "m.example.com", "http": {
        "paths": [{"path": "/v2"}]}}]}})
    assert stack_violations(ingress_routes_are_unique, [service, _ingress("b")]) == []
    found = stack_violations(ingress_routes_are_unique, [service, _ingress("b"), _ingress("c")])
    assert [m for m, _ in found] == [_claim("c", "b", "m.example.com", "/v2")]
