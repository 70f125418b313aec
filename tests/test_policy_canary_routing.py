"""The canary-at-the-ALB policy on hand-built objects, link by link: the Rollout's ALB routing, the Ingress rule and
its action, both Services, and the pods they must select (from the Rollout's template or its workloadRef)."""

from __future__ import annotations

import copy
import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.canary_routing import canary_alb_routing_is_wired
from tests.test_policy import stack_violations

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NS = "fraud"
LABELS = {"app": "fraud"}
ACTION_KEY = "alb.ingress.kubernetes.io/actions.fraud"


def _action(*targets: tuple[str, object], action_type: str = "forward") -> str:
    return json.dumps({"Type": action_type, "ForwardConfig": {"TargetGroups": [
        {"ServiceName": name, "ServicePort": port, "Weight": 50} for name, port in targets]}})


def _rollout(alb: dict | None = None, workload_ref: dict | None = None, **canary) -> tuple[str, str, dict]:
    routing = {"ingress": "fraud", "servicePort": 80, "rootService": "fraud", **(alb or {})}
    spec: dict = {"strategy": {"canary": {"canaryService": "fraud-canary", "stableService": "fraud-stable",
                                          "trafficRouting": {"alb": routing}, **canary}}}
    if workload_ref is not None:
        spec["workloadRef"] = workload_ref
    else:
        spec["template"] = {"metadata": {"labels": dict(LABELS)}}
    return ROLLOUT, "fraud-rollout", {"metadata": {"name": "fraud", "namespace": NS}, "spec": spec}


def _ingress(action: str | None = None, port_name: str = "use-annotation", name: str = "fraud",
             key: str = ACTION_KEY) -> tuple[str, str, dict]:
    annotations = {key: action if action is not None else _action(("fraud-canary", "80"), ("fraud-stable", 80))}
    return INGRESS, "fraud-ingress", {"metadata": {"name": name, "namespace": NS, "annotations": annotations},
                                      "spec": {"rules": [{"http": {"paths": [{"backend": {"service": {
                                          "name": "fraud", "port": {"name": port_name}}}}]}}]}}


def _service(role: str, port: object = 80, selector: object = None) -> tuple[str, str, dict]:
    return SERVICE, f"fraud-{role}-service", {"metadata": {"name": f"fraud-{role}", "namespace": NS}, "spec": {
        "selector": dict(LABELS) if selector is None else selector, "ports": [{"name": "http", "port": port}]}}


def _wired(**changes) -> list:
    parts = {"rollout": _rollout(), "ingress": _ingress(), "canary": _service("canary"), "stable": _service("stable")}
    parts.update(changes)
    return [p for p in parts.values() if p is not None]


def _found(resources: list) -> list[str]:
    return [m for m, _ in stack_violations(canary_alb_routing_is_wired(), resources)]


WHO = "Rollout 'fraud-rollout': "


def test_a_fully_wired_split_passes():
    assert _found(_wired()) == []


def test_a_rollout_without_alb_routing_or_of_unknown_namespace_is_not_judged():
    _, name, props = _rollout()
    del props["spec"]["strategy"]["canary"]["trafficRouting"]
    assert _found([(ROLLOUT, name, props)]) == []
    _, name, props = _rollout()
    props["metadata"]["namespace"] = UNKNOWN_STRING_VALUE
    assert _found([(ROLLOUT, name, props)]) == []


def test_alb_routing_without_both_services_is_refused_once():
    _, name, props = _rollout()
    del props["spec"]["strategy"]["canary"]["canaryService"]
    assert _found([(ROLLOUT, name, props)]) == [WHO + "ALB traffic routing needs both canaryService and stableService"]


def test_a_service_port_or_root_still_unknown_is_left_to_the_update():
    assert _found([_rollout({"servicePort": UNKNOWN_STRING_VALUE})]) == []
    assert _found([_rollout({"rootService": UNKNOWN_STRING_VALUE})]) == []


def test_the_root_service_defaults_to_the_stable_one():
    rollout = _rollout()
    del rollout[2]["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["rootService"]
    ingress = _ingress(key="alb.ingress.kubernetes.io/actions.fraud-stable")
    ingress[2]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "fraud-stable"
    assert _found(_wired(rollout=rollout, ingress=ingress)) == []


def test_an_undeclared_ingress_is_named_with_its_namespace():
    assert _found(_wired(ingress=_ingress(name="other"))) == [
        WHO + "its Ingress 'fraud' is not declared in namespace 'fraud'"]


def test_every_listed_ingress_is_checked_and_unknown_names_are_skipped():
    rollout = _rollout({"ingresses": ["fraud", "second", UNKNOWN_STRING_VALUE]})
    assert _found(_wired(rollout=rollout)) == [WHO + "its Ingress 'second' is not declared in namespace 'fraud'"]


def test_a_rule_sending_to_the_root_service_without_use_annotation_is_refused():
    assert _found(_wired(ingress=_ingress(port_name="http"))) == [
        WHO + "Ingress 'fraud' has no rule whose backend is Service 'fraud' with port name 'use-annotation': the "
              "controller cannot set the weights (and the load balancer would ignore them)"]


def test_backends_still_unknown_are_left_to_the_update():
    ingress = _ingress(port_name="http")
    ingress[2]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = UNKNOWN_STRING_VALUE
    assert _found(_wired(ingress=ingress)) == []


@pytest.mark.parametrize("action", ["not json", _action(("fraud-canary", 80), ("fraud-stable", 80),
                                                        action_type="fixed-response")])
def test_a_missing_unreadable_or_non_forward_action_is_refused_once(action):
    expected = [WHO + f"Ingress 'fraud' has no forward action annotation {ACTION_KEY} (the load balancer has nowhere "
                      "to send the rule's requests until the controller writes one)"]
    assert _found(_wired(ingress=_ingress(action=action))) == expected
    assert _found(_wired(ingress=_ingress(key="alb.ingress.kubernetes.io/actions.other"))) == expected


def test_an_action_still_unknown_is_left_to_the_update():
    assert _found(_wired(ingress=_ingress(action=UNKNOWN_STRING_VALUE))) == []


def test_each_service_needs_a_target_group_on_the_service_port():
    action = _action(("fraud-canary", "8080"), ("fraud-stable", 80))
    assert _found(_wired(ingress=_ingress(action=action))) == [
        WHO + f"Ingress 'fraud''s action {ACTION_KEY} has no target group for the canary Service 'fraud-canary' on "
              "port 80"]
    only_canary = _action(("fraud-canary", 80))
    assert _found(_wired(ingress=_ingress(action=only_canary))) == [
        WHO + f"Ingress 'fraud''s action {ACTION_KEY} has no target group for the stable Service 'fraud-stable' on "
              "port 80"]


def test_a_custom_annotation_prefix_names_the_action():
    rollout = _rollout({"annotationPrefix": "custom.example.com"})
    ingress = _ingress(key="custom.example.com/actions.fraud")
    assert _found(_wired(rollout=rollout, ingress=ingress)) == []
    assert "has no forward action annotation custom.example.com/actions.fraud" in _found(_wired(rollout=rollout))[0]


def test_an_undeclared_service_or_one_without_the_port_is_named():
    assert _found(_wired(canary=None)) == [WHO + "its canary Service 'fraud-canary' is not declared in namespace 'fraud'"]
    assert _found(_wired(stable=_service("stable", port=8080))) == [
        WHO + "its stable Service 'fraud-stable' has no port 80 (servicePort), only [8080]"]
    assert _found(_wired(stable=_service("stable", port=UNKNOWN_STRING_VALUE))) == []


@pytest.mark.parametrize("selector", [{"app": "other"}, {}, {"app": "fraud", "tier": "x"}])
def test_a_service_selecting_other_pods_or_nothing_is_refused(selector):
    assert _found(_wired(canary=_service("canary", selector=selector))) == [
        WHO + f"its canary Service 'fraud-canary' selects {selector}, not the Rollout's pods (labels {LABELS})"]


def test_a_selector_still_unknown_is_left_to_the_update():
    assert _found(_wired(canary=_service("canary", selector=UNKNOWN_STRING_VALUE))) == []


def _deployment(name: str = "fraud-app", labels: object = None) -> tuple[str, str, dict]:
    return DEPLOYMENT, "fraud-deployment", {"metadata": {"name": name, "namespace": NS}, "spec": {
        "template": {"metadata": {"labels": dict(LABELS) if labels is None else labels}}}}


def test_with_a_workload_ref_the_pods_are_the_referenced_deployments():
    rollout = _rollout(workload_ref={"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-app"})
    assert _found([*_wired(rollout=rollout), _deployment()]) == []
    [canary, stable] = _found([*_wired(rollout=rollout), _deployment(labels={"app": "other"})])
    assert canary == WHO + ("its canary Service 'fraud-canary' selects {'app': 'fraud'}, not the Rollout's pods "
                            "(labels {'app': 'other'})") and stable.startswith(WHO + "its stable Service")
    assert _found([*_wired(rollout=rollout), _deployment(labels=UNKNOWN_STRING_VALUE)]) == []


def test_a_workload_ref_to_an_undeclared_deployment_is_refused_and_to_another_kind_is_not_judged():
    rollout = _rollout(workload_ref={"kind": "Deployment", "name": "fraud-app"})
    found = _found([*_wired(rollout=rollout), _deployment(name="renamed")])
    assert found == [WHO + "the Deployment its workloadRef names is not declared: nothing shows which pods its "
                           "Services must select"] * 2
    other_kind = _rollout(workload_ref={"kind": "StatefulSet", "name": "fraud-app"})
    assert _found(_wired(rollout=other_kind)) == []


def test_objects_in_another_namespace_do_not_count():
    elsewhere = copy.deepcopy(_service("canary"))
    elsewhere[2]["metadata"]["namespace"] = "other"
    assert _found(_wired(canary=elsewhere)) == [WHO + "its canary Service 'fraud-canary' is not declared in namespace "
                                                      "'fraud'"]


def test_each_violation_is_reported_on_the_rollout():
    found = stack_violations(canary_alb_routing_is_wired(), _wired(canary=None))
    assert [urn for _, urn in found] == ["urn:pulumi:test::gpu-model-platform::kubernetes:argoproj.io/v1alpha1:Rollout::"
                                         "fraud-rollout"]
