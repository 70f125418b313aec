"""What `workload` renders for ModelService that the mutation audit (issue 29) found unguarded: the spread's
skew and selector, the bounded scratch volume, the pull policy, and the fixed-name Secrets a clash must name."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components import ModelService, ModelServiceArgs
from components._args import InvalidArgs
from tests.harness import components, container, only, pod_spec

IMAGE = "registry.example/m@sha256:" + "0" * 64


def _deployment(**changes: Any):
    synthesis = components(lambda opts: ModelService("m", ModelServiceArgs(**{"image": IMAGE, **changes}), opts))
    return only(synthesis.of_type("kubernetes:apps/v1:Deployment"), "Deployment")


@pytest.mark.parametrize("zone_spread, zone_rule", [("required", "DoNotSchedule"), ("preferred", "ScheduleAnyway")])
def test_replicas_spread_one_apart_over_zones_and_nodes_counting_only_this_models_pods(zone_spread, zone_rule):
    deployment = _deployment(zone_spread=zone_spread)
    pod_labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
    constraints = {c["topologyKey"]: c for c in pod_spec(deployment)["topologySpreadConstraints"]}
    assert {k: c["whenUnsatisfiable"] for k, c in constraints.items()} == {
        "topology.kubernetes.io/zone": zone_rule, "kubernetes.io/hostname": "ScheduleAnyway"}
    for key, constraint in constraints.items():
        # Without maxSkew the API refuses the constraint; without the selector it counts no pod at all.
        assert constraint["maxSkew"] == 1, key
        selector = constraint["labelSelector"]["matchLabels"]
        assert selector and selector.items() <= pod_labels.items(), key


def test_the_writable_scratch_volume_is_bounded_so_a_runaway_file_evicts_the_pod_not_fills_the_node():
    spec = pod_spec(_deployment())
    [tmp] = [v for v in spec["volumes"] if "emptyDir" in v]
    assert tmp["emptyDir"] == {"sizeLimit": "1Gi"}
    assert {m["name"] for m in container(_deployment())["volumeMounts"]} == {tmp["name"]}


def test_the_image_is_pulled_only_when_the_node_lacks_it_since_a_digest_never_changes():
    assert container(_deployment())["imagePullPolicy"] == "IfNotPresent"


def test_a_second_model_of_one_name_is_refused_naming_its_secrets_in_their_namespace_too():
    def build(opts: pulumi.ResourceOptions) -> None:
        for instance in ("fraud", "churn"):
            ModelService(instance, ModelServiceArgs(image=IMAGE, name="model", namespace="ml",
                                                    secret_env={"TOKEN": "t"}, api_keys={"primary": "k"}), opts)

    with pytest.raises(InvalidArgs) as caught:
        components(build)
    message = str(caught.value)
    assert "Namespace 'ml'" in message
    assert "Secret 'model-env' in namespace 'ml'" in message
    assert "Secret 'model-api-keys' in namespace 'ml'" in message


def test_the_pod_itself_refuses_to_run_as_root_not_only_its_server_container():
    # The pod-level setting covers every container a mutating webhook or a sidecar injector adds later.
    security = pod_spec(_deployment())["securityContext"]
    assert security["runAsNonRoot"] is True and security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["fsGroup"] == security["runAsGroup"]


def test_the_network_policy_applies_to_exactly_this_models_pods():
    synthesis = components(lambda opts: ModelService("m", ModelServiceArgs(image=IMAGE), opts))
    pod_labels = only(synthesis.of_type("kubernetes:apps/v1:Deployment")).inputs["spec"]["template"]["metadata"]["labels"]
    policy = only(synthesis.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")).inputs["spec"]
    service = only(synthesis.of_type("kubernetes:core/v1:Service")).inputs["spec"]
    # An empty or missing selector would put every pod of the namespace under this model's rules.
    assert policy["podSelector"]["matchLabels"] == service["selector"]
    assert service["selector"] and service["selector"].items() <= pod_labels.items()
