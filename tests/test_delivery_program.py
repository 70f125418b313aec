"""What the program does for delivery: deploy a given image by digest (CI, rollbacks), let CI's runners
reach the API, and give CI's preview roles dry-run-only cluster access. Workflows: tests/test_workflows.py."""

from __future__ import annotations

import ipaddress

import pytest

from components.access.cluster_api_access import ClusterApiAccess, ClusterApiAccessArgs
from components.access.preview_access import (
    CORE_RESOURCES,
    PREVIEW_GROUP,
    REFRESH_GROUP,
    WRITABLE_API_GROUPS,
    PreviewAccess,
    PreviewAccessArgs,
    dry_run_only_policy_spec,
)
from stack_config import ConfigError
from tests.harness import AWS_STACKS, components, container, only, raw_sections, stack, stack_config, stack_with
from tests.serving.test_model_registry import config_with

DOCKER_IMAGE = "docker:index/image:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
DIGEST = "sha256:" + "b" * 64
PREVIOUS = "sha256:" + "c" * 64


def _model(stack_name: str, **changes) -> dict:
    return {**raw_sections(stack_name)["model"], **changes}


def _deployment(synthesis):
    return only([d for d in synthesis.of_type(DEPLOYMENT) if d.inputs["metadata"]["name"] == "my-ai-model"])


# --- model.image: deploy what CI built, or roll back to an earlier digest ------------------------------------

@pytest.mark.parametrize("name", AWS_STACKS)
def test_a_given_image_is_deployed_as_is_and_nothing_is_built(name):
    image = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model-{name}@{DIGEST}"
    synthesis = stack_with(name, model=_model(name, image=image, version="v7"))
    assert synthesis.of_type(DOCKER_IMAGE) == [], "pulumi up must not build when model.image is set"
    assert container(_deployment(synthesis))["image"] == image
    assert synthesis.stack_outputs["image"] == image
    assert _deployment(synthesis).inputs["metadata"]["labels"]["app.kubernetes.io/version"] == "v7"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_without_a_given_image_the_program_still_builds_one(name):
    assert len(stack(name).of_type(DOCKER_IMAGE)) == 1


def test_rolling_back_to_a_previous_digest_changes_only_the_deployments_image():
    repository = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model-prod"
    current = stack_with("prod", model=_model("prod", image=f"{repository}@{DIGEST}"))
    rolled_back = stack_with("prod", model=_model("prod", image=f"{repository}@{PREVIOUS}"))
    assert container(_deployment(rolled_back))["image"] == f"{repository}@{PREVIOUS}"
    before = {(r.type, r.name): r.inputs for r in current.resources}
    after = {(r.type, r.name): r.inputs for r in rolled_back.resources}
    assert before.keys() == after.keys(), "a rollback creates or deletes nothing"
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(DEPLOYMENT, "model-deployment")} or all(t == DEPLOYMENT for t, _ in changed), changed
    assert changed, "the digest must reach the Deployment"


@pytest.mark.parametrize("image", [
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model:v1",
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model:v1@" + DIGEST,
    "my-ai-model@" + DIGEST,
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "B" * 64,
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:abc",
])
def test_an_image_that_is_not_a_repository_by_digest_is_a_config_error_naming_the_key(image):
    with pytest.raises(ConfigError) as error:
        config_with("dev", "model", image=image)
    assert any(p.startswith("gpu-model-platform:model.image: got") and "@sha256:" in p for p in error.value.problems), \
        error.value.problems


# --- delivery: how CI reaches the API -------------------------------------------------------------------------

@pytest.mark.parametrize("name", AWS_STACKS)
def test_every_stack_ci_deploys_says_how_its_runners_reach_the_api(name):
    delivery = stack_config(name).delivery
    assert delivery is not None and delivery.runner_labels and delivery.runner_cidrs


@pytest.mark.parametrize("name", AWS_STACKS)
def test_vpc_runners_get_port_443_of_the_cluster_security_group_and_nothing_more(name):
    synthesis = stack(name)
    rules = synthesis.of_type(INGRESS_RULE)
    runner_rules = [r for r in rules if r.name.startswith("ci-api-access-")]
    assert {r.inputs["cidrIpv4"] for r in runner_rules} == set(stack_config(name).delivery.runner_cidrs)
    cluster = only([r for r in synthesis.of_type("aws:eks/cluster:Cluster")])
    for rule in runner_rules:
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443), rule.name
        assert rule.inputs["securityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"], rule.name


@pytest.mark.parametrize(("delivery", "expected"), [
    ({"runner": "public", "runnerCidrs": ["198.51.100.7/32"]}, "delivery.runnerCidrs: got ['198.51.100.7/32']; not admitted"),
    ({"runner": "public", "runnerCidrs": ["203.0.113.0/25"], "runnerLabels": ["ubuntu-24.04"]},
     "delivery.runnerLabels: got ['ubuntu-24.04']; GitHub-hosted runners cannot reach"),
    ({"runner": "vpc", "runnerCidrs": ["52.94.0.0/24"]}, "delivery.runnerCidrs: got ['52.94.0.0/24']; runner vpc"),
    ({"runner": "vpc", "runnerCidrs": []}, "delivery.runnerCidrs: got []; required"),
])
def test_a_stack_whose_api_ci_cannot_reach_is_a_config_error(delivery, expected):
    with pytest.raises(ConfigError) as error:
        config_with("prod", "delivery", **delivery)
    assert any(expected in p for p in error.value.problems), error.value.problems


def test_public_runners_inside_the_endpoint_allow_list_are_accepted():
    config = config_with("prod", "delivery", runner="public", runnerCidrs=["203.0.113.64/26"], runnerLabels=["gpu-prod"])
    allowed = [ipaddress.ip_network(c) for c in config.cluster.endpoint_public_access_cidrs]
    assert all(any(ipaddress.ip_network(c).subnet_of(a) for a in allowed) for c in config.delivery.runner_cidrs)


def test_public_runners_need_a_public_endpoint():
    raw = raw_sections("prod")
    with pytest.raises(ConfigError) as error:
        config_with_sections(raw, cluster={**raw["cluster"], "endpointPublicAccessCidrs": []},
                             delivery={"runner": "public", "runnerCidrs": ["203.0.113.0/26"], "runnerLabels": ["x"]})
    assert any("delivery.runner: got 'public'; the cluster has no public endpoint" in p for p in error.value.problems)


def config_with_sections(raw: dict, **sections):
    from stack_config import RawConfig, load
    return load(RawConfig(sections={**raw, **sections}))


def test_the_runner_rule_refuses_public_or_malformed_ranges():
    for cidrs, expected in ((["8.8.8.0/24"], "private IPv4"), (["nope"], "IPv4 CIDR"), ([], "name the runners")):
        with pytest.raises(ValueError, match=expected):
            components(lambda opts, c=cidrs: ClusterApiAccess("ci", ClusterApiAccessArgs(security_group_id="sg-1", cidrs=c)))


# --- preview access: read and dry-run, never apply --------------------------------------------------------

@pytest.mark.parametrize("name", AWS_STACKS)
def test_each_stacks_preview_role_gets_an_access_entry_in_the_preview_group_and_no_access_policy(name):
    synthesis = stack(name)
    cluster = stack_config(name).cluster
    assert len(cluster.preview_role_arns) == 2, "main's plans and pull request previews: two roles, one group"
    associations = synthesis.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    for role, group in [*((r, PREVIEW_GROUP) for r in cluster.preview_role_arns),
                        *((r, REFRESH_GROUP) for r in cluster.refresh_role_arns)]:
        entry = only([e for e in synthesis.of_type(ACCESS_ENTRY) if e.inputs["principalArn"] == role])
        assert entry.inputs["kubernetesGroups"] == [group] and entry.inputs["type"] == "STANDARD", entry.name
        assert not [a for a in associations if a.inputs["principalArn"] == role], "RBAC, not an access policy, decides"


def test_every_request_of_the_preview_group_that_is_not_a_dry_run_is_denied():
    synthesis = components(lambda opts: PreviewAccess("ci-preview", PreviewAccessArgs(
        cluster_name="gpu-dev", role_arns=["arn:aws:iam::123456789012:role/p"]), opts))
    policy = only(synthesis.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"))
    spec = policy.inputs["spec"]
    assert spec == dry_run_only_policy_spec(PREVIEW_GROUP)
    assert spec["failurePolicy"] == "Fail"
    [rule] = spec["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["*"] and set(rule["resources"]) == {"*", "*/*"}, "subresources (exec, token) too"
    [condition] = spec["matchConditions"]
    assert condition["expression"].startswith("has(request.userInfo.groups) && "), "an error must not deny everyone"
    assert PREVIEW_GROUP in condition["expression"]
    [validation] = spec["validations"]
    assert validation["expression"] == "has(request.dryRun) && request.dryRun == true"
    binding = only(synthesis.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"))
    assert binding.inputs["spec"] == {"policyName": policy.inputs["metadata"]["name"], "validationActions": ["Deny"]}
    role = only(synthesis.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"))
    assert policy.urn in role.options["dependencies"], "the write rights exist only once the policy that limits them does"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_preview_group_may_dry_run_every_api_group_the_program_declares(name):
    groups = {r.type.split(":")[1].rsplit("/", 1)[0] if "/" in r.type.split(":")[1] else ""
              for r in stack(name).resources if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm")
              and r.type != "pulumi:providers:kubernetes"}
    groups = {"" if g == "core" else g for g in groups}
    missing = groups - set(WRITABLE_API_GROUPS) - {"admissionregistration.k8s.io"}
    assert missing == set(), f"a preview could not dry-run objects of {missing}: add them to WRITABLE_API_GROUPS"


def test_preview_roles_are_refused_in_two_access_lists_at_once():
    role = "arn:aws:iam::123456789012:role/gpu-platform-dev-preview"
    with pytest.raises(ConfigError) as error:
        config_with("dev", "cluster", viewerRoleArns=[role])
    assert any("previewRoleArns: got" in p and "not two" in p for p in error.value.problems)
    with pytest.raises(ConfigError) as error:
        config_with("dev", "cluster", refreshRoleArns=[role])
    assert any("previewRoleArns: got" in p and "not two" in p for p in error.value.problems), \
        "a pull request's preview role must not read Secrets"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"role_arns": []}, "role_arns: got []"),
    ({"group": "system:masters"}, "group: got 'system:masters'"),
    ({"writable_api_groups": ["", "admissionregistration.k8s.io"]}, "writable_api_groups: got"),
    ({"refresh_role_arns": ["arn:aws:iam::123456789012:role/p"]}, "refresh_role_arns: got"),
    ({"refresh_group": PREVIEW_GROUP}, "refresh_group: got"),
])
def test_bad_preview_access_args_are_refused_naming_the_field(changes, expected):
    args = {"cluster_name": "c", "role_arns": ["arn:aws:iam::123456789012:role/p"], **changes}
    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        components(lambda opts: PreviewAccess("ci-preview", PreviewAccessArgs(**args), opts))


def test_the_preview_group_reads_no_secret_and_writes_only_where_a_dry_run_needs_it():
    synthesis = components(lambda opts: PreviewAccess("ci-preview", PreviewAccessArgs(
        cluster_name="gpu-dev", role_arns=["arn:aws:iam::123456789012:role/gpu-platform-dev-preview"]), opts))
    role = only(synthesis.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"))
    rules = role.inputs["rules"]
    for rule in rules:
        assert "*" not in rule["apiGroups"], f"a wildcard group includes the core group, and so Secrets: {rule}"
        if "" in rule["apiGroups"]:
            assert rule["apiGroups"] == [""] and "*" not in rule["resources"], rule
            assert not [r for r in rule["resources"] if r.startswith("secrets")], f"Secret data: {rule}"
    reads = [r for r in rules if "get" in r["verbs"]]
    assert {"apiGroups": [""], "resources": list(CORE_RESOURCES), "verbs": ["get", "list", "watch"]} in reads
    assert {g for r in reads for g in r["apiGroups"]} == set(WRITABLE_API_GROUPS), "it reads what it may dry-run"
    writes = [r for r in rules if "patch" in r["verbs"]]
    assert writes and all("admissionregistration.k8s.io" not in r["apiGroups"] for r in writes), \
        "the group could delete the policy that holds it to dry-runs"
    assert not [r for r in rules if {"impersonate", "*"} & set(r["verbs"])], rules
    skipped = sorted(v.split("=")[0] for v in role.inputs["metadata"]["annotations"].values())
    assert skipped == ["CKV_K8S_158", "CKV_K8S_49"], "only the two findings this role exists to have are waived"
    binding = only(synthesis.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"))
    assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": PREVIEW_GROUP}]
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"]


def test_the_drift_checks_refresh_group_reads_everything_and_writes_nothing():
    synthesis = components(lambda opts: PreviewAccess("ci-preview", PreviewAccessArgs(
        cluster_name="gpu-dev", role_arns=["arn:aws:iam::123456789012:role/p"],
        refresh_role_arns=["arn:aws:iam::123456789012:role/drift"]), opts))
    roles = {r.inputs["metadata"]["name"]: r for r in synthesis.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")}
    assert set(roles) == {"ci-preview-preview", "ci-preview-refresh"}
    assert roles["ci-preview-refresh"].inputs["rules"] == [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    bindings = {b.inputs["subjects"][0]["name"]: b.inputs["roleRef"]["name"]
                for b in synthesis.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")}
    assert bindings == {PREVIEW_GROUP: "ci-preview-preview", REFRESH_GROUP: "ci-preview-refresh"}
    [entry] = [e for e in synthesis.of_type(ACCESS_ENTRY) if e.inputs["principalArn"].endswith("/drift")]
    assert entry.inputs["kubernetesGroups"] == [REFRESH_GROUP]
