"""LoadBalancerController promises the mutation audit (issue 29) found unguarded: the release is the one its values
name, the controller's pods are locked down and sized, one IngressClass `alb` has one owner, and its outputs."""

from __future__ import annotations

import pytest

from components._args import InvalidArgs
from components.serving.load_balancer_controller import LoadBalancerController
from tests.harness import components, only
from tests.serving.test_load_balancer_controller import _args
from tools.synth import run

COMPONENT = "gpu-model-platform:index:LoadBalancerController"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _synthesis(**changes):
    return run(lambda: LoadBalancerController("lbc", _args(**changes)))


def _values(**changes) -> dict:
    return only(_synthesis(**changes).of_type(RELEASE)).inputs["values"]


def test_the_release_is_named_as_its_values_and_its_anti_affinity_say_and_cleans_up_a_failed_upgrade():
    release = only(_synthesis().of_type(RELEASE)).inputs
    values = release["values"]
    # The chart names its objects and labels its pods after the release: the anti-affinity must select those pods.
    assert release["name"] == values["fullnameOverride"]
    [term] = values["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"weight": 100, "podAffinityTerm": {
        "topologyKey": "kubernetes.io/hostname",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": release["name"]}}}}
    assert (release["atomic"], release["cleanupOnFail"], release["maxHistory"]) == (True, True, 5)


def test_the_controllers_pods_run_locked_down_with_requests_and_a_memory_limit():
    values = _values()
    assert values["podSecurityContext"] == {"fsGroup": 65534, "runAsNonRoot": True,
                                            "seccompProfile": {"type": "RuntimeDefault"}}
    assert values["securityContext"] == {"readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                         "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def test_the_tls_policy_and_the_tags_given_reach_every_load_balancer_the_controller_makes():
    values = _values(ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06", resource_tags={"team": "ml"})
    assert values["defaultSSLPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert values["defaultTags"] == {"team": "ml"}


def test_a_second_controller_in_one_cluster_is_refused_naming_the_ingress_class_and_the_first():
    with pytest.raises(InvalidArgs) as caught:
        components(lambda opts: [LoadBalancerController(n, _args(), opts) for n in ("lbc", "other")])
    message = str(caught.value)
    assert message.startswith("LoadBalancerController 'other': ")
    assert "networking.k8s.io/IngressClass 'alb'" in message
    assert "already created by LoadBalancerController 'lbc'" in message


def test_the_component_registers_the_outputs_an_endpoint_is_wired_with():
    synthesis = _synthesis()
    outputs = only(synthesis.of_type(COMPONENT)).component_outputs
    release = only(synthesis.of_type(RELEASE)).inputs
    assert outputs["ingress_class"] == "alb"
    assert outputs["release_name"] == release["name"]
    assert outputs["namespace"] == release["namespace"]
    assert outputs["service_account"] == release["values"]["serviceAccount"]["name"]
