"""One replica owner, rule by rule: what each kind of owner targets, which workloads are judged, and which
`ignore_changes` paths leave the count to the owner."""

from __future__ import annotations

import pytest
from pulumi_policy import StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.replicas import SCALED_OBJECT, one_replica_owner
from tests.test_policy import DEPLOYMENT, deployment, policy_resource

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
NAMESPACE = "my-ai-model"


def _found(resources: list, ignored: list[str] | None = None) -> list[str]:
    found: list[str] = []
    args = StackValidationArgs([policy_resource(t, n, p, ignored if t in (DEPLOYMENT, STATEFUL_SET, ROLLOUT) else None)
                                for t, n, p in resources])
    one_replica_owner.validate(args, lambda message, urn=None: found.append(message))
    return found


def _owner(resource_type: str, name: str, ref: dict, namespace: str | None = NAMESPACE) -> tuple[str, str, dict]:
    key = "workloadRef" if resource_type == ROLLOUT else "scaleTargetRef"
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return resource_type, name, {"metadata": metadata, "spec": {key: ref}}


MODEL = (DEPLOYMENT, "model", deployment())
TO_MODEL = {"kind": "Deployment", "name": "my-ai-model"}


@pytest.mark.parametrize("path, resets", [("spec.replicas", False), ("spec", False), ("spec.*", False),
                                          ("spec.template", True), ("metadata", True)])
def test_only_ignoring_spec_replicas_or_a_path_above_it_leaves_the_count_to_the_owner(path, resets):
    found = _found([MODEL, _owner(HPA, "hpa", TO_MODEL)], [path])
    assert found == ([
        "Deployment 'model': its replicas belong to HorizontalPodAutoscaler 'hpa' but it does not ignore changes to "
        "spec.replicas; every update would reset the autoscaler's count"] if resets else [])


def test_a_workload_nothing_owns_may_set_its_replicas():
    assert _found([MODEL]) == []


def test_a_scaled_object_without_a_kind_scales_a_deployment_and_one_naming_another_kind_does_not():
    assert len(_found([MODEL, _owner(SCALED_OBJECT, "so", {"name": "my-ai-model"})])) == 1
    assert _found([MODEL, _owner(SCALED_OBJECT, "so", {"kind": "StatefulSet", "name": "my-ai-model"})]) == []
    assert _found([MODEL, _owner(HPA, "hpa", {"name": "my-ai-model"})]) == [], "an HPA has no default kind"


def test_a_rollout_owns_the_deployment_its_workload_ref_names_and_an_hpa_belongs_on_the_rollout():
    rollout = _owner(ROLLOUT, "model-rollout", TO_MODEL)
    rollout[2]["metadata"]["name"] = "model"
    [message] = _found([MODEL, rollout, _owner(HPA, "hpa", TO_MODEL)], ["spec.replicas"])
    assert message == (
        "Deployment 'model': 2 autoscalers own its replicas (Rollout 'model-rollout', HorizontalPodAutoscaler 'hpa'); "
        "keep exactly one (a ScaledObject brings its own HPA: remove the other HPA; with a Rollout, point the HPA at "
        "the Rollout)")
    on_rollout = _owner(HPA, "hpa", {"kind": "Rollout", "name": "model"})
    assert _found([MODEL, rollout, on_rollout], ["spec.replicas"]) == []
    deployment_message, rollout_message = _found([MODEL, rollout, on_rollout], [])
    assert deployment_message.startswith("Deployment 'model': its replicas belong to Rollout 'model-rollout'")
    assert rollout_message.startswith("Rollout 'model-rollout': its replicas belong to HorizontalPodAutoscaler 'hpa'")


def test_a_statefulset_is_judged_too():
    stateful = (STATEFUL_SET, "db", deployment())
    found = _found([stateful, _owner(HPA, "a", {"kind": "StatefulSet", "name": "my-ai-model"}),
                    _owner(HPA, "b", {"kind": "StatefulSet", "name": "my-ai-model"})], ["spec.replicas"])
    assert len(found) == 1 and found[0].startswith("StatefulSet 'db': 2 autoscalers own its replicas")


def test_owners_in_another_namespace_or_naming_another_workload_do_not_count():
    assert _found([MODEL, _owner(HPA, "a", TO_MODEL, namespace="other")]) == []
    assert _found([MODEL, _owner(HPA, "a", {"kind": "Deployment", "name": "other"})]) == []


def test_a_workload_and_its_owner_without_a_namespace_meet_in_the_same_one():
    bare = deployment()
    del bare["metadata"]["namespace"]
    assert len(_found([(DEPLOYMENT, "model", bare), _owner(HPA, "a", TO_MODEL, namespace=None)])) == 1


def test_an_owner_whose_target_is_still_unknown_is_left_to_the_update():
    unknown = _owner(HPA, "a", {"kind": "Deployment", "name": UNKNOWN_STRING_VALUE})
    assert _found([MODEL, unknown, _owner(HPA, "b", TO_MODEL)], ["spec.replicas"]) == []


def test_a_workload_whose_options_are_not_given_is_judged_as_ignoring_nothing_and_reported_on_its_urn():
    resources = [policy_resource(*MODEL), policy_resource(*_owner(HPA, "hpa", TO_MODEL))]
    resources[0].opts = None
    found: list[tuple[str, object]] = []
    one_replica_owner.validate(StackValidationArgs(resources), lambda message, urn=None: found.append((message, urn)))
    assert found == [("Deployment 'model': its replicas belong to HorizontalPodAutoscaler 'hpa' but it does not ignore "
                      "changes to spec.replicas; every update would reset the autoscaler's count",
                      "urn:pulumi:test::gpu-model-platform::kubernetes:apps/v1:Deployment::model")]
