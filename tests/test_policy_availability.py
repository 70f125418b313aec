"""Production availability, rule by rule: label-selector semantics, which replica count is the floor (the
workload's, its HorizontalPodAutoscaler's or its Rollout's), the configured minimum at its edge, and the budget."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.availability import production_availability, selector_matches
from tests.test_policy import APP_LABELS, DEPLOYMENT, deployment, disruption_budget, stack_violations

PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
BUDGET = (PDB, "model-pdb", disruption_budget())


def _found(resources: list, config: dict | None = None) -> list[str]:
    # The policy is built in the test, not at import: a policy built while the tests are collected would keep the
    # validator of that moment (and mutation testing could not reach it).
    return [m for m, _ in stack_violations(production_availability(current_stack=lambda: "prod"), resources, config)]


@pytest.mark.parametrize("selector, matches", [
    ({}, False),
    ({"matchLabels": {}}, False),
    ({"matchLabels": {"app": "a"}}, True),
    ({"matchLabels": {"app": "b"}}, False),
    ({"matchLabels": {"app": "a", "tier": "x"}}, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "c"]}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["c"]}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}, False),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, False),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["c"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
])
def test_label_selectors_match_as_kubernetes_matches_them(selector, matches):
    assert selector_matches(selector, {"app": "a"}) is matches


def test_the_refusals_name_the_workload_the_count_the_stack_and_the_fix():
    assert _found([(DEPLOYMENT, "model-deployment", deployment(replicas=1))]) == [
        "Deployment 'model-deployment': runs 1 replica(s) in production stack 'prod'; run at least 2 (spec.replicas, "
        "or the HorizontalPodAutoscaler's minReplicas) so a node drain never takes the service down",
        "Deployment 'model-deployment': has no PodDisruptionBudget in production stack 'prod'; add one in its "
        "namespace whose selector matches its pod labels (e.g. maxUnavailable: 1)"]


def test_a_workload_without_replicas_runs_one_and_two_are_enough():
    assert len(_found([(DEPLOYMENT, "model", deployment(replicas=None)), BUDGET])) == 1
    assert _found([(DEPLOYMENT, "model", deployment(replicas=2)), BUDGET]) == []


def test_a_statefulset_is_held_to_the_same_rules_and_other_kinds_are_not():
    [message] = _found([(STATEFUL_SET, "db", deployment(replicas=1)), BUDGET])
    assert message.startswith("StatefulSet 'db': runs 1 replica(s)")
    assert _found([("kubernetes:batch/v1:Job", "job", deployment(replicas=1))]) == []


@pytest.mark.parametrize("minimum, replicas, refused", [(3, 2, True), (3, 3, False), (1, 1, False)])
def test_the_configured_minimum_is_the_floor_at_its_edge(minimum, replicas, refused):
    found = _found([(DEPLOYMENT, "model", deployment(replicas=replicas)), BUDGET], {"minReplicas": minimum})
    assert found == ([f"Deployment 'model': runs {replicas} replica(s) in production stack 'prod'; run at least "
                      f"{minimum} (spec.replicas, or the HorizontalPodAutoscaler's minReplicas) so a node drain "
                      "never takes the service down"] if refused else [])


def _hpa(kind: str, name: str, minimum: int | None, namespace: str = "my-ai-model") -> tuple[str, str, dict]:
    spec: dict = {"scaleTargetRef": {"kind": kind, "name": name}}
    if minimum is not None:
        spec["minReplicas"] = minimum
    return HPA, f"{name}-hpa", {"metadata": {"namespace": namespace}, "spec": spec}


def test_only_an_autoscaler_targeting_this_kind_name_and_namespace_sets_the_floor():
    one = deployment(replicas=1)
    assert _found([(DEPLOYMENT, "model", one), _hpa("Deployment", "my-ai-model", 2), BUDGET]) == []
    for hpa in (_hpa("StatefulSet", "my-ai-model", 2), _hpa("Deployment", "other", 2),
                _hpa("Deployment", "my-ai-model", 2, namespace="other")):
        assert len(_found([(DEPLOYMENT, "model", one), hpa, BUDGET])) == 1, hpa


def test_an_autoscaler_without_min_replicas_lets_the_workload_run_one():
    [message] = _found([(DEPLOYMENT, "model", deployment(replicas=3)), _hpa("Deployment", "my-ai-model", None), BUDGET])
    assert "runs 1 replica(s)" in message


def _rollout(replicas: int, kind: str = "Deployment", name: str = "my-ai-model") -> tuple[str, str, dict]:
    return ROLLOUT, "model-rollout", {"metadata": {"name": "model", "namespace": "my-ai-model"}, "spec": {
        "replicas": replicas, "workloadRef": {"apiVersion": "apps/v1", "kind": kind, "name": name}}}


def test_a_deployment_whose_pods_a_rollout_runs_is_held_to_the_rollouts_count_and_its_autoscaler():
    zero = deployment(replicas=0)
    assert _found([(DEPLOYMENT, "model", zero), _rollout(2), BUDGET]) == []
    assert "runs 1 replica(s)" in _found([(DEPLOYMENT, "model", zero), _rollout(1), BUDGET])[0]
    assert _found([(DEPLOYMENT, "model", zero), _rollout(1), _hpa("Rollout", "model", 3), BUDGET]) == []
    assert "runs 0 replica(s)" in _found([(DEPLOYMENT, "model", zero), _rollout(2, kind="StatefulSet"), BUDGET])[0]
    assert "runs 0 replica(s)" in _found([(DEPLOYMENT, "model", zero), _rollout(2, name="other"), BUDGET])[0]


def test_replicas_or_labels_still_unknown_are_left_to_the_update():
    unknown = deployment()
    unknown["spec"]["replicas"] = UNKNOWN_STRING_VALUE
    unknown["spec"]["template"]["metadata"]["labels"] = UNKNOWN_STRING_VALUE
    assert _found([(DEPLOYMENT, "model", unknown)]) == []
    budget = disruption_budget()
    budget["spec"]["selector"] = UNKNOWN_STRING_VALUE
    assert _found([(DEPLOYMENT, "model", deployment()), (PDB, "pdb", budget)]) == []


def test_a_budget_selecting_by_expression_covers_the_pods():
    budget = disruption_budget()
    budget["spec"]["selector"] = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                                        "values": [APP_LABELS["app.kubernetes.io/name"]]}]}
    assert _found([(DEPLOYMENT, "model", deployment()), (PDB, "pdb", budget)]) == []


def test_the_default_production_stack_is_prod_only():
    policy = production_availability(current_stack=lambda: "staging")
    assert stack_violations(policy, [(DEPLOYMENT, "model", deployment(replicas=1))]) == []
    assert stack_violations(policy, [(DEPLOYMENT, "model", deployment(replicas=1))], {"productionStacks": []}) == []


def test_a_stack_named_in_production_stacks_is_held_to_the_rules_and_the_violation_is_on_the_workload():
    policy = production_availability(current_stack=lambda: "staging")
    [(message, urn)] = stack_violations(policy, [(DEPLOYMENT, "model", deployment(replicas=1)), BUDGET],
                                        {"productionStacks": ["staging"]})
    assert message.startswith("Deployment 'model': runs 1 replica(s) in production stack 'staging'")
    assert urn == "urn:pulumi:test::gpu-model-platform::kubernetes:apps/v1:Deployment::model"


def test_the_pack_config_schema_takes_the_production_stacks_and_a_minimum_of_at_least_one_defaulting_to_two():
    import jsonschema

    policy = production_availability(current_stack=lambda: "prod")
    schema = {"type": "object", "properties": policy.config_schema.properties}
    jsonschema.validate({"productionStacks": ["prod", "staging"], "minReplicas": 1}, schema)
    for bad in ({"minReplicas": 0}, {"minReplicas": "two"}, {"productionStacks": "prod"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert schema["properties"]["minReplicas"]["default"] == 2
    assert schema["properties"]["productionStacks"]["default"] == ["prod"]
    assert "at least 2" in policy.remediation_steps and "PodDisruptionBudget" in policy.remediation_steps


def test_only_a_deployment_is_held_to_the_rollout_that_runs_its_pods():
    stateful = (STATEFUL_SET, "db", deployment(replicas=1))
    [message] = _found([stateful, _rollout(2), BUDGET])
    assert message.startswith("StatefulSet 'db': runs 1 replica(s)")
