"""The endpoint policies, both ways: production Ingresses serve HTTPS only in front of a model that checks API
keys; ALB targets sit in a readiness-gated namespace, pause in preStop and are drained long enough."""

from __future__ import annotations

import copy
import json

import pytest

from policy.platform_policies.endpoints import load_balancer_targets_drain_cleanly, production_endpoints
from tests.harness import raw_sections, stack, stack_with
from tests.test_policy import DIGEST_IMAGE, pack_violations, stack_violations

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
ALB = "alb.ingress.kubernetes.io/"
LABELS = {"app": "fraud"}
CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def _ingress(**annotations) -> dict:
    base = {f"{ALB}listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', f"{ALB}ssl-redirect": "443",
            f"{ALB}certificate-arn": CERTIFICATE, f"{ALB}target-type": "ip",
            f"{ALB}target-group-attributes": "deregistration_delay.timeout_seconds=30"}
    merged = {k: v for k, v in {**base, **{ALB + k.replace("_", "-"): v for k, v in annotations.items()}}.items()
              if v is not None}
    return {"metadata": {"name": "fraud", "namespace": "fraud", "annotations": merged},
            "spec": {"ingressClassName": "alb", "rules": [{"host": "fraud.example.com", "http": {"paths": [
                {"path": "/v2", "pathType": "Prefix", "backend": {"service": {"name": "fraud", "port": {"name": "http"}}}}]}}]}}


def _deployment(keys: bool = True, grace: int = 30, pre_stop: dict | None = None) -> dict:
    container = {"name": "server", "image": DIGEST_IMAGE,
                 "lifecycle": {"preStop": pre_stop if pre_stop is not None else {"sleep": {"seconds": 5}}},
                 "env": [{"name": "API_KEYS_DIR", "value": "/etc/keys"}] if keys else [],
                 "volumeMounts": [{"name": "api-keys", "mountPath": "/etc/keys", "readOnly": True}] if keys else []}
    if pre_stop == {}:
        del container["lifecycle"]
    return {"metadata": {"name": "fraud", "namespace": "fraud"}, "spec": {"replicas": 2, "template": {
        "metadata": {"labels": LABELS},
        "spec": {"terminationGracePeriodSeconds": grace, "containers": [container],
                 "volumes": [{"name": "api-keys", "secret": {"secretName": "fraud-api-keys"}}] if keys else []}}}}


def _resources(ingress: dict | None = None, deployment: dict | None = None, namespace_labels: dict | None = None):
    return [
        (NAMESPACE, "fraud-namespace", {"metadata": {"name": "fraud", "labels": namespace_labels if namespace_labels
                                                     is not None else {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}}}),
        (INGRESS, "fraud-ingress", ingress or _ingress()),
        (SERVICE, "fraud-service", {"metadata": {"name": "fraud", "namespace": "fraud"},
                                    "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80}]}}),
        (DEPLOYMENT, "fraud-deployment", deployment or _deployment()),
    ]


def _endpoint_messages(resources, stack_name: str = "prod") -> list[str]:
    return [m for m, _ in stack_violations(production_endpoints(lambda: stack_name), resources)]


def _drain_messages(resources) -> list[str]:
    return [m for m, _ in stack_violations(load_balancer_targets_drain_cleanly(), resources)]


# ------------------------------------------------------------------------------ HTTPS and authentication

def test_an_https_only_ingress_in_front_of_a_model_checking_keys_passes_in_production():
    assert _endpoint_messages(_resources()) == []


@pytest.mark.parametrize("annotations, expected", [
    ({"listen_ports": '[{"HTTP": 80}]', "certificate_arn": None, "ssl_redirect": None}, "has no HTTPS listener"),
    ({"listen_ports": None, "certificate_arn": None, "ssl_redirect": None}, "has no HTTPS listener"),
    ({"ssl_redirect": None}, "listens on plain HTTP port 80 without alb.ingress.kubernetes.io/ssl-redirect"),
])
def test_a_production_ingress_that_answers_plain_http_is_refused(annotations, expected):
    [message] = _endpoint_messages(_resources(ingress=_ingress(**annotations)))
    assert message.startswith("Ingress 'fraud-ingress' in production stack 'prod': ") and expected in message


def test_an_https_only_listener_needs_no_redirect():
    assert _endpoint_messages(_resources(ingress=_ingress(listen_ports='[{"HTTPS": 443}]', ssl_redirect=None))) == []


@pytest.mark.parametrize("deployment", [
    _deployment(keys=False),
    # The variable alone is not enough: the keys must be a mounted Secret.
    {**_deployment(), "spec": {**_deployment()["spec"], "template": {**_deployment()["spec"]["template"], "spec": {
        **_deployment()["spec"]["template"]["spec"], "volumes": []}}}},
])
def test_a_production_ingress_in_front_of_a_model_checking_no_key_is_refused(deployment):
    [message] = _endpoint_messages(_resources(deployment=deployment))
    assert "exposes Deployment 'fraud-deployment', whose server checks no API key" in message


def test_users_authenticated_by_the_load_balancer_count_as_authentication():
    ingress = _ingress(auth_type="oidc", auth_idp_oidc='{"issuer": "https://idp.example.com"}')
    assert _endpoint_messages(_resources(ingress=ingress, deployment=_deployment(keys=False))) == []
    allow = _ingress(auth_type="oidc", auth_on_unauthenticated_request="allow")
    assert len(_endpoint_messages(_resources(ingress=allow, deployment=_deployment(keys=False)))) == 1


def test_other_ingress_classes_need_tls_and_must_keep_the_redirect():
    nginx = {"metadata": {"name": "fraud", "namespace": "fraud", "annotations": {}},
             "spec": {"ingressClassName": "nginx", "rules": _ingress()["spec"]["rules"]}}
    [message] = _endpoint_messages(_resources(ingress=nginx))
    assert "has no spec.tls, so it serves plain HTTP" in message
    with_tls = copy.deepcopy(nginx)
    with_tls["spec"]["tls"] = [{"hosts": ["fraud.example.com"], "secretName": "fraud-tls"}]
    assert _endpoint_messages(_resources(ingress=with_tls)) == []
    with_tls["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] = "false"
    assert "turns the HTTPS redirect off" in _endpoint_messages(_resources(ingress=with_tls))[0]


def test_outside_production_plain_http_and_open_models_are_left_alone_and_prod_is_configurable():
    bad = _resources(ingress=_ingress(listen_ports='[{"HTTP": 80}]', certificate_arn=None, ssl_redirect=None),
                     deployment=_deployment(keys=False))
    assert _endpoint_messages(bad, "dev") == []
    found = stack_violations(production_endpoints(lambda: "staging"), bad, {"productionStacks": ["staging"]})
    assert len(found) == 2


def test_the_synthesized_production_endpoint_passes_and_turning_authentication_off_is_refused():
    assert [m for m in pack_violations(stack("prod"), "prod") if "endpoints" in m] == []
    model = raw_sections("prod")["model"]
    del model["apiKeys"]
    model["authentication"] = "none"
    found = pack_violations(stack_with("prod", model=model), "prod")
    assert found == [
        "[production-endpoints-https-and-authenticated] Ingress 'model-endpoint-ingress' in production stack 'prod': "
        "exposes Deployment 'model-deployment', whose server checks no API key (API_KEYS_DIR is not a mounted "
        "Secret): authentication is off; set model.apiKeys (and drop model.authentication: none)"], found


def test_behind_the_interceptor_of_a_sleeping_model_the_check_follows_the_route_to_the_model():
    """dev sends to the KEDA interceptor (its chart's Service): the policy goes on through the InterceptorRoute
    that claims the host to the model's Service and Deployment."""
    assert [m for m in pack_violations(stack("dev"), "prod") if "endpoints" in m] == []
    model = raw_sections("dev")["model"]
    del model["apiKeys"]
    model["authentication"] = "none"
    found = [m for m in pack_violations(stack_with("dev", model=model), "prod") if "endpoints" in m]
    assert len(found) == 1 and "exposes Deployment 'model-deployment', whose server checks no API key" in found[0], found


def test_a_route_for_another_host_does_not_count():
    interceptor = _ingress()
    interceptor["metadata"]["namespace"] = "keda"
    interceptor["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {"service": {"name": "proxy", "port": {"number": 8080}}}
    route = ("kubernetes:http.keda.sh/v1beta1:InterceptorRoute", "fraud-route", {
        "metadata": {"name": "fraud", "namespace": "fraud"},
        "spec": {"target": {"service": "fraud", "portName": "http"}, "rules": [{"hosts": ["fraud.example.com"]}]}})
    resources = [*_resources(deployment=_deployment(keys=False))[:1], *_resources(deployment=_deployment(keys=False))[2:]]
    assert len(_endpoint_messages([*resources, (INGRESS, "fraud-ingress", interceptor), route])) == 1
    route[2]["spec"]["rules"] = [{"hosts": ["other.example.com"]}]
    assert _endpoint_messages([*resources, (INGRESS, "fraud-ingress", interceptor), route]) == []


def test_the_same_open_model_passes_in_dev_where_it_was_said_explicitly():
    model = raw_sections("dev")["model"]
    del model["apiKeys"]
    model["authentication"] = "none"
    assert pack_violations(stack_with("dev", model=model), "dev") == []


# ----------------------------------------------------------------------------------------- draining

def test_a_gated_namespace_a_pre_stop_pause_and_a_long_enough_delay_pass():
    assert _drain_messages(_resources()) == []


def test_a_namespace_without_readiness_gates_is_reported():
    [message] = _drain_messages(_resources(namespace_labels={}))
    assert "namespace 'fraud' lacks the label elbv2.k8s.aws/pod-readiness-gate-inject: enabled" in message


def test_a_delay_shorter_than_the_drain_window_is_reported_with_the_value_to_set():
    [message] = _drain_messages(_resources(deployment=_deployment(grace=60)))
    assert "deregistration delay (30s) is shorter than Deployment 'fraud-deployment' containers[0] 'server''s " \
           "drain window (grace period 60s less the 5s preStop pause)" in message
    assert message.endswith("at least 55")
    # AWS's default delay (300 s) covers it when the Ingress sets none.
    assert _drain_messages(_resources(ingress=_ingress(target_group_attributes=None), deployment=_deployment(
        grace=60))) == []


def test_a_container_without_a_pre_stop_hook_is_reported():
    [message] = _drain_messages(_resources(deployment=_deployment(pre_stop={})))
    assert "containers[0] 'server' has no preStop hook" in message


def test_instance_targets_and_other_classes_are_not_this_policys_concern():
    assert _drain_messages(_resources(ingress=_ingress(target_type="instance"), namespace_labels={})) == []
    nginx = {"metadata": {"name": "fraud", "namespace": "fraud"}, "spec": {"ingressClassName": "nginx",
                                                                          "rules": _ingress()["spec"]["rules"]}}
    assert _drain_messages(_resources(ingress=nginx, namespace_labels={})) == []


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_synthesized_programs_drain_cleanly_whatever_the_grace_period(name):
    assert [m for m in pack_violations(stack(name), name) if "drain" in m] == []
    model = raw_sections(name)["model"]
    model["terminationGracePeriodSeconds"] = 120
    model.get("scaleToZero", {})["enabled"] = False  # the pods themselves as targets
    longer = stack_with(name, model=model)
    # The endpoint's delay follows the pods' grace period, so a longer drain stays covered.
    assert [m for m in pack_violations(longer, name) if "drain" in m] == []
    assert "deregistration_delay.timeout_seconds=120" in json.dumps(longer.named("model-endpoint-ingress").inputs)


def test_a_weighted_split_is_checked_on_the_services_its_action_forwards_to():
    from policy.platform_policies.endpoints import load_balancer_targets_drain_cleanly as drain

    action = json.dumps({"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"ServiceName": "fraud-canary", "ServicePort": "80", "Weight": 0},
        {"ServiceName": "fraud-stable", "ServicePort": "80", "Weight": 100}]}})
    ingress = _ingress(**{"actions.fraud": action})
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"name": "use-annotation"}
    resources = [r for r in _resources(ingress=ingress, deployment=_deployment(pre_stop={}))
                 if r[1] != "fraud-service"]  # the root Service is only the action's name: no target group of its own
    resources += [(SERVICE, f"fraud-{role}", {"metadata": {"name": f"fraud-{role}", "namespace": "fraud"},
                                              "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80}]}})
                  for role in ("canary", "stable")]
    found = [m for m, _ in stack_violations(drain(), resources)]
    assert len(found) == 1 and "Deployment 'fraud-deployment' containers[0] 'server' has no preStop hook" in found[0], found
