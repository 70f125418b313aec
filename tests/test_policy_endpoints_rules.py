"""The endpoint policies' finer rules: how listeners, authentication, API keys and the drain window are read from
an Ingress, its Services and the pods behind them, each at the value that flips the verdict."""

from __future__ import annotations

import copy

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.test_policy_endpoints import (
    SERVICE,
    _deployment,
    _drain_messages,
    _endpoint_messages,
    _ingress,
    _resources,
)

WHERE = "Ingress 'fraud-ingress' in production stack 'prod': "
FIX = "; listen on HTTPS with a certificate and redirect HTTP to it"
NO_KEY = (WHERE + "exposes Deployment 'fraud-deployment', whose server checks no API key (API_KEYS_DIR is not a "
          "mounted Secret): authentication is off; set model.apiKeys (and drop model.authentication: none)")


# ---- HTTPS ---------------------------------------------------------------------------------------------------

def test_without_listen_ports_an_alb_listens_on_https_when_it_has_a_certificate_and_on_http_otherwise():
    assert _endpoint_messages(_resources(ingress=_ingress(listen_ports=None, ssl_redirect=None))) == []
    no_certificate = _ingress(listen_ports=None, ssl_redirect=None, certificate_arn=None)
    assert _endpoint_messages(_resources(ingress=no_certificate)) == [
        WHERE + "has no HTTPS listener (listen-ports [('HTTP', 80)]): it serves plain HTTP" + FIX]


def test_listen_ports_still_unknown_are_left_to_the_update():
    assert _endpoint_messages(_resources(ingress=_ingress(listen_ports=UNKNOWN_STRING_VALUE, ssl_redirect=None))) == []


@pytest.mark.parametrize("raw", ["not json", "[80]", "42"])
def test_unreadable_listen_ports_are_refused_showing_what_was_written(raw):
    [message] = _endpoint_messages(_resources(ingress=_ingress(listen_ports=raw)))
    assert message == WHERE + f"has no HTTPS listener (listen-ports [('unreadable', {raw!r})]): it serves plain HTTP" + FIX


def test_each_plain_http_port_without_a_redirect_is_named_and_an_empty_redirect_counts_as_none():
    ingress = _ingress(listen_ports='[{"HTTP": 80}, {"HTTP": 8080}, {"HTTPS": 443}]', ssl_redirect="")
    assert _endpoint_messages(_resources(ingress=ingress)) == [
        WHERE + f"listens on plain HTTP port {port} without alb.ingress.kubernetes.io/ssl-redirect, so it answers in "
                "clear text" + FIX for port in (80, 8080)]


def test_an_ingress_of_class_alb_by_the_legacy_annotation_is_held_to_the_alb_listener_rules():
    ingress = _ingress(listen_ports='[{"HTTP": 80}]', certificate_arn=None, ssl_redirect=None)
    del ingress["spec"]["ingressClassName"]
    ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "alb"
    [message] = _endpoint_messages(_resources(ingress=ingress))
    assert message.startswith(WHERE + "has no HTTPS listener"), message


def test_an_nginx_ingress_keeping_the_redirect_on_in_any_spelling_passes_and_false_in_any_case_is_refused():
    nginx = {"metadata": {"name": "fraud", "namespace": "fraud", "annotations": {}},
             "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["fraud.example.com"], "secretName": "tls"}],
                      "rules": _ingress()["spec"]["rules"]}}
    for value, found in (("true", 0), ("False", 1), ("FALSE", 1)):
        ingress = copy.deepcopy(nginx)
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] = value
        assert len(_endpoint_messages(_resources(ingress=ingress))) == found, value
    ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] = "false"
    assert _endpoint_messages(_resources(ingress=ingress)) == [
        WHERE + "turns the HTTPS redirect off (nginx.ingress.kubernetes.io/ssl-redirect: false)" + FIX]


# ---- authentication ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth_type, on_unauthenticated, authenticated", [
    ("oidc", None, True), ("cognito", None, True), ("oidc", "authenticate", True), ("cognito", "deny", True),
    ("oidc", "allow", False), ("none", None, False), (None, None, False),
])
def test_only_oidc_or_cognito_that_authenticate_or_deny_unauthenticated_requests_stand_for_api_keys(
        auth_type, on_unauthenticated, authenticated):
    ingress = _ingress(auth_type=auth_type, auth_on_unauthenticated_request=on_unauthenticated)
    found = _endpoint_messages(_resources(ingress=ingress, deployment=_deployment(keys=False)))
    assert found == ([] if authenticated else [NO_KEY])


def test_a_load_balancer_that_authenticates_does_not_excuse_plain_http():
    ingress = _ingress(auth_type="oidc", ssl_redirect=None)
    [message] = _endpoint_messages(_resources(ingress=ingress, deployment=_deployment(keys=False)))
    assert "listens on plain HTTP port 80" in message


def _vllm(secret: bool) -> dict:
    deployment = _deployment(keys=False)
    value = {"valueFrom": {"secretKeyRef": {"name": "fraud-api-keys", "key": "key"}}} if secret else {"value": "k"}
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "VLLM_API_KEY", **value}]
    return deployment


def test_a_server_reading_its_own_key_variable_from_a_secret_checks_keys_and_a_literal_key_does_not():
    assert _endpoint_messages(_resources(deployment=_vllm(secret=True))) == []
    assert _endpoint_messages(_resources(deployment=_vllm(secret=False))) == [NO_KEY]


def test_api_keys_dir_must_be_the_mount_path_of_a_secret_volume():
    elsewhere = _deployment()
    elsewhere["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "/etc/other"
    assert _endpoint_messages(_resources(deployment=elsewhere)) == [NO_KEY]
    config_map = _deployment()
    config_map["spec"]["template"]["spec"]["volumes"] = [{"name": "api-keys", "configMap": {"name": "keys"}}]
    assert _endpoint_messages(_resources(deployment=config_map)) == [NO_KEY]


def test_a_pod_spec_still_unknown_is_left_to_the_update():
    deployment = _deployment(keys=False)
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    assert _endpoint_messages(_resources(deployment=deployment)) == []


def test_a_service_in_another_namespace_or_selecting_other_pods_is_not_behind_the_ingress():
    for change in ({"metadata": {"name": "fraud", "namespace": "other"}},
                   {"spec": {"selector": {"app": "other"}, "ports": [{"name": "http", "port": 80}]}}):
        resources = _resources(deployment=_deployment(keys=False))
        service = resources[2][2]
        service.update(change)
        assert _endpoint_messages(resources) == [], change


# ---- draining ------------------------------------------------------------------------------------------------

def _with_service_annotations(resources: list, annotations: dict) -> list:
    resources = copy.deepcopy(resources)
    [service] = [r for r in resources if r[0] == SERVICE]
    service[2]["metadata"]["annotations"] = annotations
    return resources


def test_the_services_deregistration_delay_wins_over_the_ingresses():
    long_grace = _resources(deployment=_deployment(grace=60))
    assert len(_drain_messages(long_grace)) == 1
    covered = _with_service_annotations(
        long_grace, {"alb.ingress.kubernetes.io/target-group-attributes": "deregistration_delay.timeout_seconds=55"})
    assert _drain_messages(covered) == []
    short = _with_service_annotations(
        _resources(), {"alb.ingress.kubernetes.io/target-group-attributes":
                       "stickiness.enabled=false, deregistration_delay.timeout_seconds=10"})
    [message] = _drain_messages(short)
    assert "deregistration delay (10s) is shorter than" in message and message.endswith("at least 25")


def test_the_drain_window_is_the_grace_period_less_the_pause_exactly():
    assert _drain_messages(_resources(deployment=_deployment(grace=35))) == []  # 30 s delay == 35 - 5
    [message] = _drain_messages(_resources(deployment=_deployment(grace=36)))
    assert message.endswith("at least 31")


def test_without_a_grace_period_kubernetes_default_of_30_seconds_is_the_one_drained():
    deployment = _deployment()
    del deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    short = _ingress(target_group_attributes="deregistration_delay.timeout_seconds=20")
    [message] = _drain_messages(_resources(ingress=short, deployment=deployment))
    assert "(grace period 30s less the 5s preStop pause)" in message and message.endswith("at least 25")


def test_target_group_attributes_still_unknown_are_left_to_the_update():
    ingress = _ingress(target_group_attributes=UNKNOWN_STRING_VALUE)
    assert _drain_messages(_resources(ingress=ingress, deployment=_deployment(grace=600))) == []


def test_a_pre_stop_hook_other_than_a_sleep_pauses_nothing():
    hook = {"exec": {"command": ["/bin/sh", "-c", "kill -TERM 1"]}}
    [message] = _drain_messages(_resources(deployment=_deployment(grace=60, pre_stop=hook)))
    assert "(grace period 60s less the 0s preStop pause)" in message and message.endswith("at least 60")


def test_a_service_asking_for_ip_targets_is_checked_even_when_the_ingress_says_instance():
    resources = _with_service_annotations(_resources(ingress=_ingress(target_type="instance"), namespace_labels={}),
                                          {"alb.ingress.kubernetes.io/target-type": "ip"})
    [message] = _drain_messages(resources)
    assert "namespace 'fraud' lacks the label" in message


def test_a_namespace_whose_labels_are_still_unknown_or_gated_with_another_value_is_judged_accordingly():
    assert _drain_messages(_resources(namespace_labels={"elbv2.k8s.aws/pod-readiness-gate-inject":
                                                        UNKNOWN_STRING_VALUE})) == []
    [message] = _drain_messages(_resources(namespace_labels={"elbv2.k8s.aws/pod-readiness-gate-inject": "disabled"}))
    assert message.startswith("Ingress 'fraud-ingress': its namespace 'fraud' lacks the label")


# ---- where a violation is reported, and the remedy shown with it -------------------------------------------

def test_each_violation_is_reported_on_the_ingress_that_causes_it():
    from policy.platform_policies.endpoints import load_balancer_targets_drain_cleanly, production_endpoints
    from tests.test_policy import stack_violations

    ingress_urn = "urn:pulumi:test::gpu-model-platform::kubernetes:networking.k8s.io/v1:Ingress::fraud-ingress"
    open_model = stack_violations(production_endpoints(lambda: "prod"), _resources(deployment=_deployment(keys=False)))
    assert [urn for _, urn in open_model] == [ingress_urn]
    undrained = stack_violations(load_balancer_targets_drain_cleanly(), _resources(namespace_labels={}))
    assert [urn for _, urn in undrained] == [ingress_urn]


def test_the_remedies_name_the_settings_that_fix_each_policy():
    from policy.platform_policies.endpoints import load_balancer_targets_drain_cleanly, production_endpoints

    drain = load_balancer_targets_drain_cleanly().remediation_steps or ""
    assert "elbv2.k8s.aws/pod-readiness-gate-inject=enabled" in drain and "preStop sleep" in drain
    assert "deregistration_delay.timeout_seconds >= terminationGracePeriodSeconds" in drain
    endpoints = production_endpoints(lambda: "prod").remediation_steps or ""
    assert "certificate-arn" in endpoints and "model.apiKeys" in endpoints
