"""Cluster promises the mutation audit (issue 29) found unguarded: what a created cluster reports to the stack
policies, its access entries, its add-ons' ownership of their configuration, the system group's sizes at their
exact bounds, and the EKS settings that keep it on standard support with add-ons managed by EKS."""

from __future__ import annotations

import json

import pytest

from components.cluster.eks_cluster import (
    Cluster,
    ClusterArgs,
    SystemNodeGroup,
    eks_kubeconfig,
    issuer_url_for,
    oidc_provider_arn_for,
    validate_cluster_args,
)
from tools.synth import run

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
VIEWER = "arn:aws:iam::123456789012:role/path/viewer"


def _create(**changes) -> ClusterArgs:
    return ClusterArgs(**{"mode": "create", "name": "c", "subnet_ids": ["subnet-a", "subnet-b"],
                          "admin_role_arns": [ADMIN], **changes})


def _created(**changes):
    return run(lambda: Cluster("cluster", _create(**changes)))


def test_a_created_cluster_reports_what_the_stack_policies_read():
    synthesis = _created()
    [component] = synthesis.of_type("gpu-model-platform:index:Cluster")
    outputs = component.component_outputs
    eks = synthesis.named("cluster-eks")
    assert (outputs["mode"], outputs["storage_class_name"], outputs["network_policy_enforcement"]) == (
        "create", "gp3", "vpc-cni")
    assert (outputs["cluster_name"], outputs["cluster_arn"]) == ("c", eks.outputs["arn"])
    assert outputs["node_security_group_id"] == eks.outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert outputs["oidc_provider_arn"] == synthesis.named("cluster-oidc").outputs["arn"]
    assert outputs["oidc_issuer_url"] == synthesis.named("cluster-oidc").inputs["url"]
    assert outputs["system_node_role_arn"] == synthesis.named("cluster-system-node-role").outputs["arn"]
    assert all(r.parent == component.urn for r in synthesis.resources if r.type.startswith(("aws:", "kubernetes:")))


@pytest.mark.parametrize("args, mode", [
    (ClusterArgs(mode="local", kube_context="kind-x", enforces_network_policies=True), "local"),
    (ClusterArgs(mode="existing", name="shared", enforces_network_policies=True, storage_class="fast"), "existing"),
])
def test_a_cluster_not_created_here_reports_the_stated_enforcement_and_its_storage_class(args, mode):
    [component] = run(lambda: Cluster("cluster", args)).of_type("gpu-model-platform:index:Cluster")
    outputs = component.component_outputs
    assert (outputs["mode"], outputs["network_policy_enforcement"]) == (mode, "stated")
    assert outputs.get("storage_class_name") == args.storage_class
    assert "system_node_role_arn" not in outputs


def test_each_admin_and_viewer_role_gets_a_standard_entry_named_after_it_with_a_cluster_wide_policy():
    synthesis = _created(viewer_role_arns=[VIEWER])
    entries = {e.name: e.inputs for e in synthesis.of_type("aws:eks/accessEntry:AccessEntry")}
    assert {n: (e["principalArn"], e["type"], e["clusterName"]) for n, e in entries.items()} == {
        "cluster-access-platform-admin": (ADMIN, "STANDARD", "c"), "cluster-access-viewer": (VIEWER, "STANDARD", "c")}
    associations = {a.name: a.inputs for a in
                    synthesis.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert associations == {
        "cluster-access-platform-admin-AmazonEKSClusterAdminPolicy": {
            "clusterName": "c", "principalArn": ADMIN, "accessScope": {"type": "cluster"},
            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"},
        "cluster-access-viewer-AmazonEKSViewPolicy": {
            "clusterName": "c", "principalArn": VIEWER, "accessScope": {"type": "cluster"},
            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"}}


def test_the_control_plane_stays_on_standard_support_with_only_eks_managed_addons():
    eks = _created().named("cluster-eks").inputs
    assert eks["upgradePolicy"] == {"supportType": "STANDARD"}
    assert eks["bootstrapSelfManagedAddons"] is False
    assert eks["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert eks["encryptionConfig"]["resources"] == ["secrets"]


def test_every_addon_overwrites_hand_made_drift_and_carries_the_components_tags():
    synthesis = _created(tags={"team": "ml"})
    addons = synthesis.of_type("aws:eks/addon:Addon")
    assert sorted(a.inputs["addonName"] for a in addons) == ["aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni"]
    for addon in addons:
        assert (addon.inputs["resolveConflictsOnCreate"], addon.inputs["resolveConflictsOnUpdate"]) == (
            "OVERWRITE", "OVERWRITE"), addon.name
        assert addon.inputs["clusterName"] == "c" and addon.inputs["tags"]["team"] == "ml"
    roles = {a.inputs["addonName"]: a.inputs.get("serviceAccountRoleArn") for a in addons}
    assert roles["vpc-cni"] == synthesis.named("cluster-vpc-cni-role").outputs["arn"]
    assert roles["aws-ebs-csi-driver"] == synthesis.named("cluster-ebs-csi-role").outputs["arn"]
    assert roles["coredns"] is None and roles["kube-proxy"] is None
    assert "configurationValues" not in synthesis.named("cluster-coredns").inputs


def test_the_vpc_cni_role_trusts_its_service_account_and_holds_the_cni_policy():
    synthesis = _created()
    role = synthesis.named("cluster-vpc-cni-role")
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"]["Federated"] == synthesis.named("cluster-oidc").outputs["arn"]
    assert "system:serviceaccount:kube-system:aws-node" in json.dumps(statement["Condition"])
    attachment = synthesis.named("cluster-vpc-cni-AmazonEKS_CNI_Policy").inputs
    assert attachment == {"role": role.outputs["name"], "policyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"}


def test_the_system_group_is_labelled_for_system_pods_replaced_one_node_at_a_time_and_tagged_for_the_autoscaler():
    group = _created(system_node_group=SystemNodeGroup(min_size=1, desired_size=3, max_size=5)).named(
        "cluster-system-nodes").inputs
    assert group["labels"] == {"workload": "system"}
    assert group["updateConfig"] == {"maxUnavailable": 1}
    assert group["scalingConfig"] == {"minSize": 1, "desiredSize": 3, "maxSize": 5}
    assert group["subnetIds"] == ["subnet-a", "subnet-b"]
    assert {"node-group": "system", "k8s.io/cluster-autoscaler/enabled": "true"}.items() <= group["tags"].items()


@pytest.mark.parametrize("sizes", [(1, 1, 1), (2, 2, 4), (1, 4, 4)])
def test_system_group_sizes_at_their_exact_bounds_are_accepted(sizes):
    low, initial, high = sizes
    group = SystemNodeGroup(min_size=low, desired_size=initial, max_size=high)
    assert validate_cluster_args(_create(system_node_group=group)) == []


@pytest.mark.parametrize("sizes", [(0, 0, 1), (2, 1, 4), (1, 5, 4)])
def test_system_group_sizes_one_past_their_bounds_are_refused(sizes):
    low, initial, high = sizes
    group = SystemNodeGroup(min_size=low, desired_size=initial, max_size=high)
    assert validate_cluster_args(_create(system_node_group=group)) == [
        f"system_node_group.min_size/desired_size/max_size: got {low}/{initial}/{high}; need 1 <= min <= desired <= max"]


def test_an_unknown_addon_is_refused_naming_the_allowed_ones():
    [problem] = validate_cluster_args(_create(addon_versions={"metrics-server": "v1", "coredns": "v1.13.2-eksbuild.1"}))
    assert problem.startswith("addon_versions: got ['metrics-server']; allowed add-ons: ")
    assert "vpc-cni" in problem and "aws-ebs-csi-driver" in problem


def test_a_world_open_cidr_is_refused_each_by_name_and_a_narrow_one_is_accepted():
    assert validate_cluster_args(_create(endpoint_public_access_cidrs=["203.0.113.0/24"])) == []
    assert validate_cluster_args(_create(endpoint_public_access_cidrs=[" ::/0 "])) == [
        "endpoint_public_access_cidrs: got ' ::/0 '; the API endpoint must not be open to the world"]


def test_two_subnets_are_enough_for_a_created_cluster():
    assert validate_cluster_args(_create(subnet_ids=["subnet-a", "subnet-b"])) == []


def test_a_second_cluster_of_the_same_name_in_one_program_is_refused():
    def program():
        Cluster("first", _create())
        Cluster("second", _create())

    with pytest.raises(ValueError, match=r"Cluster 'second': name: .*'c'.*Cluster 'first'"):
        run(program)


def test_the_kubeconfig_names_one_cluster_user_and_context_and_never_prompts():
    config = json.loads(eks_kubeconfig("c", "https://api", "Q0E=", "eu-west-1"))
    assert config["current-context"] == "c" and config["kind"] == "Config"
    assert config["contexts"] == [{"name": "c", "context": {"cluster": "c", "user": "c"}}]
    assert config["users"][0]["name"] == "c"
    assert config["users"][0]["user"]["exec"]["interactiveMode"] == "Never"
    assert config["users"][0]["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert config["clusters"] == [{"name": "c", "cluster": {"server": "https://api", "certificate-authority-data": "Q0E="}}]


def test_the_oidc_provider_arn_and_the_issuer_url_convert_both_ways():
    issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    arn = oidc_provider_arn_for("arn:aws-cn:eks:eu-west-1:210987654321:cluster/c", issuer)
    assert arn == "arn:aws-cn:iam::210987654321:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    assert issuer_url_for(arn) == issuer


def test_a_version_without_pinned_addons_is_refused_under_addon_versions_listing_the_pinned_ones():
    from components.cluster.eks_versions import ADDON_VERSIONS

    problems = validate_cluster_args(_create(kubernetes_version="1.20"))
    [missing] = [p for p in problems if "no pinned versions" in p]
    assert missing.startswith("addon_versions: no pinned versions of [")
    assert missing.endswith(f"for Kubernetes 1.20 (pinned: {', '.join(ADDON_VERSIONS)}); set them")


def test_every_addon_is_named_after_the_component():
    names = {a.name for a in _created().of_type("aws:eks/addon:Addon")}
    assert names == {"cluster-vpc-cni", "cluster-kube-proxy", "cluster-coredns", "cluster-aws-ebs-csi-driver"}


def test_the_secrets_key_the_control_plane_role_and_its_log_group_carry_the_components_tags():
    synthesis = _created(tags={"team": "ml"})
    for name in ("cluster-secrets-key", "cluster-cluster-role", "cluster-control-plane-logs", "cluster-eks",
                 "cluster-oidc", "cluster-access-platform-admin"):
        tags = synthesis.named(name).inputs["tags"]
        assert {"team": "ml", "component": "cluster", "component-name": "cluster"}.items() <= tags.items(), name


def test_the_control_plane_role_is_assumed_by_the_eks_service_only():
    role = _created().named("cluster-cluster-role")
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "eks.amazonaws.com"} and "sts:AssumeRole" in statement["Action"]
