"""PreviewAccess promises (issue 29): each role's access entry is named after the role and maps it to its group,
every object is the component's child, labelled as the platform's, and named after the component; the RBAC of
each group exists only after the policy that limits it; every bad input is refused at its field."""

from __future__ import annotations

import pytest

from components.access.preview_access import (
    CHECKOV_SKIPS,
    PREVIEW_GROUP,
    REFRESH_CHECKOV_SKIPS,
    REFRESH_GROUP,
    PreviewAccess,
    PreviewAccessArgs,
    preview_cluster_role_rules,
    validate_preview_access_args,
)
from components.labels import standard_labels
from tests.harness import components, only

ENTRY = "aws:eks/accessEntry:AccessEntry"
POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
POLICY_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
COMPONENT = "gpu-model-platform:index:PreviewAccess"
PREVIEW_ROLE = "arn:aws:iam::123456789012:role/ci/gpu-dev-preview"
DRIFT_ROLE = "arn:aws:iam::123456789012:role/gpu-dev-drift"


def _access(**changes):
    args = {"cluster_name": "gpu-dev", "role_arns": [PREVIEW_ROLE], "refresh_role_arns": [DRIFT_ROLE], **changes}
    return components(lambda opts: PreviewAccess("ci", PreviewAccessArgs(**args), opts))


def test_each_role_gets_a_standard_access_entry_named_after_its_last_path_segment_in_its_group():
    entries = {e.name: e.inputs for e in _access().of_type(ENTRY)}
    assert entries == {
        "ci-gpu-dev-preview": {"clusterName": "gpu-dev", "principalArn": PREVIEW_ROLE, "type": "STANDARD",
                               "kubernetesGroups": [PREVIEW_GROUP]},
        "ci-gpu-dev-drift": {"clusterName": "gpu-dev", "principalArn": DRIFT_ROLE, "type": "STANDARD",
                             "kubernetesGroups": [REFRESH_GROUP]},
    }


def test_every_object_is_the_components_child_and_carries_the_platforms_labels():
    synthesis = _access()
    component = only(synthesis.of_type(COMPONENT))
    children = [r for r in synthesis.resources if r.type not in (COMPONENT, "pulumi:providers:kubernetes")]
    assert len(children) == 8 and all(r.parent == component.urn for r in children)
    for kubernetes_object in (r for r in children if r.type != ENTRY):
        assert kubernetes_object.inputs["metadata"]["labels"] == standard_labels("ci", "ci-preview-access")


def test_the_objects_are_named_after_the_component_and_the_preview_role_keeps_its_old_logical_names():
    synthesis = _access()
    assert sorted((r.type, r.name, r.inputs["metadata"]["name"]) for r in synthesis.resources
                  if r.type in (POLICY, POLICY_BINDING, ROLE, ROLE_BINDING)) == sorted([
        (POLICY, "ci-dry-run-only", "ci-dry-run-only"), (POLICY_BINDING, "ci-dry-run-only", "ci-dry-run-only"),
        (ROLE, "ci-role", "ci-preview"), (ROLE, "ci-role-refresh", "ci-refresh"),
        (ROLE_BINDING, "ci-binding", "ci-preview"), (ROLE_BINDING, "ci-binding-refresh", "ci-refresh")])


def test_each_role_waives_only_its_own_checkov_findings():
    roles = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["annotations"] for r in _access().of_type(ROLE)}
    assert roles == {"ci-preview": CHECKOV_SKIPS, "ci-refresh": REFRESH_CHECKOV_SKIPS}
    assert [v.split("=")[0] for v in REFRESH_CHECKOV_SKIPS.values()] == ["CKV_K8S_49"]


def test_each_groups_rbac_exists_only_after_the_dry_run_policy_and_the_groups_access_entries():
    synthesis = _access()
    policy = only(synthesis.of_type(POLICY))
    entry = {e.inputs["principalArn"]: e.urn for e in synthesis.of_type(ENTRY)}
    for rbac in (*synthesis.of_type(ROLE), *synthesis.of_type(ROLE_BINDING)):
        role = PREVIEW_ROLE if rbac.inputs["metadata"]["name"] == "ci-preview" else DRIFT_ROLE
        assert {policy.urn, entry[role]} <= set(rbac.options["dependencies"]), rbac.name
    binding = only(synthesis.of_type(POLICY_BINDING))
    assert binding.inputs["spec"] == {"policyName": "ci-dry-run-only", "validationActions": ["Deny"]}


def test_the_outputs_name_the_group_the_cluster_role_and_the_policy():
    synthesis = _access(group="ci:preview", refresh_group="ci:refresh")
    component = only(synthesis.of_type(COMPONENT))
    assert component.component_outputs == {"group": "ci:preview", "cluster_role_name": "ci-preview",
                                           "policy_name": "ci-dry-run-only"}
    subjects = sorted(b.inputs["subjects"][0]["name"] for b in synthesis.of_type(ROLE_BINDING))
    assert subjects == ["ci:preview", "ci:refresh"]
    assert "'ci:preview' in request.userInfo.groups" in \
        only(synthesis.of_type(POLICY)).inputs["spec"]["matchConditions"][0]["expression"]


def test_without_refresh_roles_there_is_no_refresh_group():
    synthesis = _access(refresh_role_arns=())
    assert [r.inputs["metadata"]["name"] for r in synthesis.of_type(ROLE)] == ["ci-preview"]
    assert [e.inputs["kubernetesGroups"] for e in synthesis.of_type(ENTRY)] == [[PREVIEW_GROUP]]


def test_without_the_core_group_the_preview_writes_no_core_resource():
    rules = preview_cluster_role_rules(["apps"])
    assert [r["apiGroups"] for r in rules] == [[""], ["apps"], ["apps"], ["rbac.authorization.k8s.io"]]
    assert rules[0]["verbs"] == ["get", "list", "watch"]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"role_arns": [PREVIEW_ROLE, PREVIEW_ROLE]}, "role_arns: got ['" + PREVIEW_ROLE + "', '" + PREVIEW_ROLE
     + "']; list each role once"),
    ({"refresh_role_arns": [DRIFT_ROLE, DRIFT_ROLE]}, "refresh_role_arns: got ['" + DRIFT_ROLE + "', '"
     + DRIFT_ROLE + "']; each role once, none of role_arns"),
    ({"refresh_role_arns": [PREVIEW_ROLE]}, "refresh_role_arns: got ['" + PREVIEW_ROLE + "']; each role once"),
    ({"refresh_group": ""}, "refresh_group: got ''; a group other than 'gpu-model-platform:preview'"),
    ({"refresh_group": "system:nodes"}, "refresh_group: got 'system:nodes'; a group other than"),
    ({"group": ""}, "group: got ''; must be non-empty and not a system: group"),
    ({"group": "system:masters"}, "group: got 'system:masters'; must be non-empty and not a system: group"),
    ({"writable_api_groups": ["", "*"]}, "writable_api_groups: got ['', '*']; admissionregistration.k8s.io (or *)"),
    ({"writable_api_groups": ["admissionregistration.k8s.io"]}, "writable_api_groups: got"),
])
def test_bad_args_are_refused_naming_the_component_the_field_the_value_and_the_rule(changes, expected):
    args = PreviewAccessArgs(**{"cluster_name": "gpu-dev", "role_arns": [PREVIEW_ROLE], **changes})
    problems = validate_preview_access_args(args)
    assert any(expected in p for p in problems), problems
    with pytest.raises(ValueError) as caught:
        components(lambda opts: PreviewAccess("ci", args, opts))
    assert str(caught.value).startswith("PreviewAccess 'ci': ") and expected in str(caught.value)


def test_valid_args_with_distinct_preview_and_refresh_roles_and_groups_have_no_problem():
    assert validate_preview_access_args(PreviewAccessArgs(
        cluster_name="gpu-dev", role_arns=[PREVIEW_ROLE, "arn:aws:iam::1:role/other"],
        refresh_role_arns=[DRIFT_ROLE], group="ci:preview", refresh_group="ci:refresh")) == []


def test_the_policy_denies_every_non_dry_run_request_of_the_group_as_forbidden_and_says_why():
    spec = only(_access(group="ci:preview").of_type(POLICY)).inputs["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"] == {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                                           "operations": ["*"], "resources": ["*", "*/*"]}]}
    # `reason` is one of the API's StatusReasons (Unauthorized, Forbidden, Invalid, RequestEntityTooLarge)
    assert spec["validations"] == [{
        "expression": "has(request.dryRun) && request.dryRun == true",
        "message": "the ci:preview group may only dry-run (it previews; deploys use the deploy role)",
        "reason": "Forbidden"}]


def test_each_group_s_binding_refers_to_its_cluster_role_in_the_rbac_api_group():
    synthesis = _access()
    roles = {r.inputs["metadata"]["name"] for r in synthesis.of_type(ROLE)}
    for binding in synthesis.of_type(ROLE_BINDING):
        ref = binding.inputs["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io" and ref["kind"] == "ClusterRole", binding.name
        assert ref["name"] in roles
