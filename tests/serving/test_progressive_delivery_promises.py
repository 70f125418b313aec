"""ModelCanary promises the mutation audit (issue 29) found unguarded: what it creates is findable as the platform's
(its labels) and is its child (its parent), so it is previewed, protected and deleted with the canary."""

from __future__ import annotations

import pytest

from components import ArgoRollouts, ArgoRolloutsArgs, CanaryAnalysis, ModelCanary, ModelCanaryArgs
from components.labels import PART_OF
from tests.serving.wiring import canary_model
from tools.synth import run

CANARY_TYPE = "gpu-model-platform:index:ModelCanary"


def _canary_program(split_at_load_balancer: bool) -> None:
    model = canary_model(None, api_keys={"primary": "k"})
    ModelCanary("release", ModelCanaryArgs(
        model=model, rollouts=ArgoRollouts("argo-rollouts", ArgoRolloutsArgs()), prometheus="http://p:9090",
        analysis=CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5),
        split_at_load_balancer=split_at_load_balancer))


@pytest.mark.parametrize("split", [False, True])
def test_everything_the_canary_creates_is_its_child_and_carries_the_platforms_labels(split):
    synthesis = run(lambda: _canary_program(split))
    [canary] = synthesis.of_type(CANARY_TYPE)
    children = [r for r in synthesis.resources if r.name.startswith("release-")]
    expected = {"release-analysis", "release-rollout"} | ({"release-canary-service", "release-stable-service"}
                                                          if split else set())
    assert {r.name for r in children} == expected
    for child in children:
        assert child.parent == canary.urn, child.name
        labels = child.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == PART_OF, child.name
        assert labels["app.kubernetes.io/component"] == "progressive-delivery", child.name
        assert labels["app.kubernetes.io/managed-by"] == "pulumi", child.name


def _canary(instance: str, model, opts=None, split: bool = True, rollouts: ArgoRollouts | None = None) -> ModelCanary:
    rollouts = rollouts or ArgoRollouts(f"{instance}-rollouts", ArgoRolloutsArgs(), opts)
    return ModelCanary(instance, ModelCanaryArgs(
        model=model, rollouts=rollouts, prometheus="http://p:9090",
        analysis=CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5), split_at_load_balancer=split), opts)


def test_a_model_given_alone_to_its_endpoint_names_the_canary_that_drives_it():
    from components import ModelEndpoint, ModelEndpointArgs

    def program() -> None:
        model = canary_model(None, api_keys={"primary": "k"})
        _canary("release", model)
        ModelEndpoint("endpoint", ModelEndpointArgs(backend=model, host="m.example.com", hosted_zone_id="Z0123456789AB",
                                                    subnet_ids=["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]))

    with pytest.raises(ValueError) as caught:
        run(program)
    assert "backend: ModelService 'model' is driven by ModelCanary 'release': give that as the backend (a canary " \
           "split at the load balancer" in str(caught.value)


def test_a_second_canary_of_one_model_in_another_cluster_is_refused_by_the_canary_naming_the_first():
    import pulumi
    import pulumi_kubernetes as k8s

    from components._args import InvalidArgs

    def program() -> None:
        model = canary_model(None)
        _canary("first", model, split=False)
        other = pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider("other-cluster")})
        _canary("second", model, other, split=False)

    with pytest.raises(InvalidArgs) as caught:
        run(program)
    assert str(caught.value).startswith("ModelCanary 'second': model: ModelService 'model' is already driven by "
                                        "ModelCanary 'first'")


def test_every_object_two_canaries_of_one_model_would_share_is_named_under_the_model_field():
    from components._args import InvalidArgs

    def program() -> None:
        model, rollouts = canary_model(None), ArgoRollouts("argo-rollouts", ArgoRolloutsArgs())
        _canary("first", model, split=False, rollouts=rollouts)
        _canary("second", model, split=False, rollouts=rollouts)

    with pytest.raises(InvalidArgs) as caught:
        run(program)
    [problem] = caught.value.problems
    assert problem.startswith("model: argoproj.io/Rollout 'model' in namespace 'model', argoproj.io/AnalysisTemplate "
                              "'model-canary' in namespace 'model'"), problem


def test_a_model_name_too_long_for_its_canary_services_names_each_object_it_would_name():
    from components._args import InvalidArgs

    long = "m" * 60

    def program() -> None:
        _canary("c", canary_model(None, "long", name=long))

    with pytest.raises(InvalidArgs) as caught:
        run(program)
    message = str(caught.value)
    for role, name in (("analysis template", f"{long}-canary"), ("canary Service", f"{long}-canary"),
                       ("stable Service", f"{long}-stable")):
        assert f"derives the {role} name '{name}' (67 characters)" in message, role


# ------------------------------------------------------------------------------------- the controller

def _controller(opts=None, **fields) -> None:
    ArgoRollouts("argo-rollouts", ArgoRolloutsArgs(**fields), opts)


def test_the_controllers_namespace_enforces_the_restricted_pod_security_standard_at_its_latest_version():
    labels = run(_controller).named("argo-rollouts-namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_the_controllers_namespace_waits_for_the_depends_on_resource_option():
    import pulumi
    import pulumi_kubernetes as k8s

    def program() -> None:
        first = k8s.core.v1.ConfigMap("first")
        _controller(pulumi.ResourceOptions(depends_on=[first]))

    synthesis = run(program)
    assert synthesis.named("first").urn in synthesis.named("argo-rollouts-namespace").options["dependencies"]


def test_the_controller_may_manage_the_load_balancer_controllers_objects_and_no_meshs():
    rbac = run(_controller).named("argo-rollouts-release").inputs["values"]["providerRBAC"]
    assert rbac["enabled"] is True
    assert [p for p, on in rbac["providers"].items() if on] == ["awsLoadBalancerController"]


def test_a_misspelt_chart_value_is_refused_naming_its_key():
    from components.serving.progressive_delivery import validate_argo_rollouts_args

    problems = validate_argo_rollouts_args(ArgoRolloutsArgs(extra_values={"controller": {"replica": 3}}))
    assert [p.split(":")[0] for p in problems] == ["extra_values.controller.replica"], problems
    assert validate_argo_rollouts_args(ArgoRolloutsArgs(extra_values={"controller": {"replicas": 3}})) == []


def test_the_address_the_prometheus_refusal_offers_as_an_example_is_one_it_accepts():
    import re

    from components.serving.progressive_delivery import validate_model_canary_args
    from tests.harness import components
    from tests.serving import wiring

    found: dict[str, list[str]] = {}

    def program(opts) -> None:
        model, rollouts = wiring.canary_model(opts, "m"), wiring.rollouts(opts)
        analysis = CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5)
        found["bad"] = validate_model_canary_args(ModelCanaryArgs(model=model, rollouts=rollouts, analysis=analysis,
                                                                  prometheus="p"))
        [refusal] = [p for p in found["bad"] if p.startswith("prometheus:")]
        example = re.search(r"such as (\S+)$", refusal)
        assert example, refusal
        found["example"] = validate_model_canary_args(ModelCanaryArgs(model=model, rollouts=rollouts, analysis=analysis,
                                                                      prometheus=example.group(1)))

    components(program)
    assert found["example"] == []
