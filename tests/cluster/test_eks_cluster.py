"""Cluster: a private, encrypted, logged EKS cluster with pinned add-ons, or an existing or local one, and
the one Kubernetes provider every object goes through."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.cluster.eks_cluster import (
    ADDON_VERSIONS,
    CORE_ADDONS,
    Cluster,
    ClusterArgs,
    ClusterStackReference,
    validate_cluster_args,
)
from components.cluster.eks_versions import DEFAULT_KUBERNETES_VERSION
from stack_config import ConfigError
from tests.aws_platform import (
    ADDON,
    ATTACHMENT,
    EKS_CLUSTER,
    NODE_GROUP,
    ROLE,
    build_platform,
    components_of,
    config_of,
    descendants,
    platform,
)
from tools.synth import run

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
PROVIDER = "pulumi:providers:kubernetes"


def _cluster(stack: str):
    [cluster] = descendants(platform(stack).synthesis, "Cluster", EKS_CLUSTER)
    return cluster


def _by_name(registrations) -> dict:
    return {r.name: r for r in registrations}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_api_endpoint_is_private_and_public_only_to_the_configured_networks(stack):
    vpc = _cluster(stack).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    cidrs = config_of(stack).cluster.endpoint_public_access_cidrs
    assert vpc["endpointPublicAccess"] is bool(cidrs)
    assert vpc.get("publicAccessCidrs", []) == cidrs and "0.0.0.0/0" not in cidrs


def test_without_public_cidrs_the_endpoint_is_private_only():
    p = build_platform(config_of("dev", cluster={"endpointPublicAccessCidrs": []}), with_model=False)
    vpc = descendants(p.synthesis, "Cluster", EKS_CLUSTER)[0].inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and "publicAccessCidrs" not in vpc


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["203.0.113.0/24", "0.0.0.0/0"]])
def test_an_endpoint_open_to_the_world_is_refused_by_config_and_by_the_component(cidrs):
    with pytest.raises(ConfigError) as caught:
        config_of("prod", cluster={"endpointPublicAccessCidrs": cidrs})
    assert any("cluster.endpointPublicAccessCidrs: got '0.0.0.0/0'" in p for p in caught.value.problems)
    args = ClusterArgs(mode="create", name="c", subnet_ids=["a", "b"], admin_role_arns=[ADMIN],
                       endpoint_public_access_cidrs=cidrs)
    assert any("must not be open to the world" in p for p in validate_cluster_args(args))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_secrets_are_envelope_encrypted_with_a_rotating_key_the_control_plane_alone_may_use(stack):
    synthesis = platform(stack).synthesis
    key = synthesis.named("cluster-secrets-key")
    encryption = _cluster(stack).inputs["encryptionConfig"]
    assert encryption == {"resources": ["secrets"], "provider": {"keyArn": key.outputs["arn"]}}
    assert key.inputs["enableKeyRotation"] is True
    policy = synthesis.named("cluster-cluster-secrets-key")
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Resource"] == key.outputs["arn"], "the control plane's KMS rights cover only its own key"
    assert not any("*" in action for action in statement["Action"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_control_plane_logs_go_to_a_log_group_with_the_configured_retention(stack):
    cluster = _cluster(stack)
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    [group] = descendants(platform(stack).synthesis, "Cluster", "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
    assert group.inputs["retentionInDays"] == config_of(stack).cluster.log_retention_days
    assert group.urn in cluster.options["dependencies"], "EKS must find the group (with retention) already there"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_access_entries_grant_access_and_each_admin_role_gets_cluster_admin(stack):
    synthesis = platform(stack).synthesis
    access = _cluster(stack).inputs["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    entries = descendants(synthesis, "Cluster", "aws:eks/accessEntry:AccessEntry")
    associations = descendants(synthesis, "Cluster", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    admins = config_of(stack).cluster.admin_role_arns
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(admins)
    for a in associations:
        assert a.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert a.inputs["accessScope"] == {"type": "cluster"}


def test_viewer_roles_get_the_view_policy_only():
    viewer = "arn:aws:iam::123456789012:role/preview"
    p = build_platform(config_of("dev", cluster={"viewerRoleArns": [viewer]}), with_model=False)
    associations = descendants(p.synthesis, "Cluster", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    policies = {a.inputs["principalArn"]: a.inputs["policyArn"].rsplit("/", 1)[1] for a in associations}
    assert policies == {ADMIN: "AmazonEKSClusterAdminPolicy", viewer: "AmazonEKSViewPolicy"}


def test_the_oidc_provider_trusts_the_clusters_issuer_for_sts():
    synthesis = platform("dev").synthesis
    [oidc] = descendants(synthesis, "Cluster", "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = _cluster("dev").outputs["identities"][0]["oidcs"][0]["issuer"]
    assert oidc.inputs["url"] == issuer and oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_core_addons_are_eks_managed_at_the_versions_pinned_for_the_kubernetes_version(stack):
    addons = {a.inputs["addonName"]: a for a in descendants(platform(stack).synthesis, "Cluster", ADDON)}
    assert sorted(addons) == sorted(CORE_ADDONS)
    pinned = ADDON_VERSIONS[config_of(stack).cluster.kubernetes_version]
    for name, addon in addons.items():
        assert addon.inputs.get("addonVersion") == pinned[name], name
        assert addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE", name
    assert all(pinned[a] for a in ("vpc-cni", "kube-proxy", "coredns")), "the network and DNS add-ons are pinned"
    assert _cluster(stack).inputs["bootstrapSelfManagedAddons"] is False


def test_addon_versions_from_config_override_the_pinned_ones():
    p = build_platform(config_of("dev", cluster={"addonVersions": {"aws-ebs-csi-driver": "v1.57.1-eksbuild.1"}}),
                       with_model=False)
    addons = {a.inputs["addonName"]: a.inputs.get("addonVersion") for a in descendants(p.synthesis, "Cluster", ADDON)}
    assert addons["aws-ebs-csi-driver"] == "v1.57.1-eksbuild.1"
    assert addons["coredns"] == ADDON_VERSIONS[DEFAULT_KUBERNETES_VERSION]["coredns"]


def test_the_pod_identity_agent_is_not_installed_because_every_role_is_irsa():
    with pytest.raises(ConfigError) as caught:
        config_of("dev", cluster={"addonVersions": {"eks-pod-identity-agent": "v1.3.10-eksbuild.3"}})
    assert any("cluster.addonVersions" in p and "eks-pod-identity-agent" in p for p in caught.value.problems), \
        caught.value.problems
    assert "eks-pod-identity-agent" not in CORE_ADDONS


def test_a_kubernetes_version_without_pinned_addons_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        config_of("dev", cluster={"kubernetesVersion": "1.29"})
    assert any("cluster.kubernetesVersion: got '1.29'; no pinned add-on versions" in p for p in caught.value.problems)


def test_networking_addons_precede_the_nodes_and_dns_and_the_volume_driver_follow_them():
    synthesis = platform("dev").synthesis
    addons = {a.inputs["addonName"]: a for a in descendants(synthesis, "Cluster", ADDON)}
    [system] = [g for g in descendants(synthesis, "Cluster", NODE_GROUP)]
    for before in ("vpc-cni", "kube-proxy"):
        assert addons[before].urn in system.options["dependencies"], before
    for after in ("coredns", "aws-ebs-csi-driver"):
        assert system.urn in addons[after].options["dependencies"], after


def test_the_vpc_cni_enforces_network_policies():
    addons = {a.inputs["addonName"]: a for a in descendants(platform("prod").synthesis, "Cluster", ADDON)}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    others = [name for name, a in addons.items() if name != "vpc-cni" and a.inputs.get("configurationValues")]
    assert others == [], "only the VPC CNI is configured"
    [cluster] = components_of(platform("prod").synthesis, "Cluster")
    assert cluster.component_outputs["network_policy_enforcement"] == "vpc-cni"


def test_the_vpc_cni_gets_its_own_irsa_role_limited_to_its_service_account():
    synthesis = platform("dev").synthesis
    roles = _by_name(descendants(synthesis, "Cluster", ROLE))
    cni = roles["cluster-vpc-cni-role"]
    [statement] = json.loads(cni.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = statement["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == ["sts.amazonaws.com", "system:serviceaccount:kube-system:aws-node"]
    addons = {a.inputs["addonName"]: a for a in descendants(synthesis, "Cluster", ADDON)}
    assert addons["vpc-cni"].inputs["serviceAccountRoleArn"] == cni.outputs["arn"]
    attached = [a.inputs["policyArn"] for a in descendants(synthesis, "Cluster", ATTACHMENT)
                if a.inputs["role"] == cni.outputs["name"]]
    assert attached == ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_small_on_demand_cpu_group_runs_system_pods_without_gpus_or_taints(stack):
    [system] = descendants(platform(stack).synthesis, "Cluster", NODE_GROUP)
    expected = config_of(stack).cluster.system_node_group
    assert system.inputs["capacityType"] == "ON_DEMAND"
    assert system.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert system.inputs["instanceTypes"] == expected.instance_types
    assert not system.inputs.get("taints"), "system pods and monitoring must land here without tolerations"
    assert system.inputs["scalingConfig"]["minSize"] == expected.min_size >= 1
    assert system.options["ignoreChanges"] == ["scalingConfig.desiredSize"]
    assert "launchTemplate" in system.inputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_kubeconfig_is_a_secret_that_gets_short_lived_tokens_from_aws(stack):
    synthesis = platform(stack).synthesis
    [provider] = [r for r in synthesis.of_type(PROVIDER)]
    config = json.loads(provider.inputs["kubeconfig"])
    cluster = _cluster(stack)
    [user] = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == ["eks", "get-token", "--cluster-name", cluster.inputs["name"],
                                            "--region", "us-west-2", "--output", "json"]
    [entry] = config["clusters"]
    assert entry["cluster"]["server"] == cluster.outputs["endpoint"]
    assert entry["cluster"]["certificate-authority-data"] == cluster.outputs["certificateAuthority"]["data"]
    assert provider.masked_inputs["kubeconfig"] == "[secret]", "the kubeconfig is stored encrypted"


def test_the_provider_waits_for_the_deployers_access_and_for_dns():
    synthesis = platform("dev").synthesis
    [provider] = synthesis.of_type(PROVIDER)
    waits_for = set(provider.options["dependencies"])
    associations = descendants(synthesis, "Cluster", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    coredns = [a for a in descendants(synthesis, "Cluster", ADDON) if a.inputs["addonName"] == "coredns"]
    assert {r.urn for r in associations + coredns} <= waits_for


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_object_of_the_platform_uses_the_clusters_provider(stack):
    synthesis = platform(stack).synthesis
    [provider] = synthesis.of_type(PROVIDER)
    objects = [r for r in synthesis.resources if r.type.startswith("kubernetes:") and r.custom]
    assert len(objects) >= 5
    for r in objects:
        assert r.provider_urn == provider.urn, f"{r.type} {r.name} uses {r.provider!r}"


@pytest.mark.parametrize("stack, protected", [("dev", False), ("prod", True)])
def test_prod_protects_its_cluster_and_both_keys_from_destroy(stack, protected):
    synthesis = platform(stack).synthesis
    keys = descendants(synthesis, "Cluster", "aws:kms/key:Key")
    assert sorted(k.name for k in keys) == ["cluster-secrets-key", "cluster-volumes-key"]
    assert _cluster(stack).options["protect"] is protected
    assert all(key.options["protect"] is protected for key in keys), [k.name for k in keys]


def test_no_iam_policy_of_the_cluster_grants_wildcards():
    synthesis = platform("prod").synthesis
    for role in descendants(synthesis, "Cluster", ROLE):
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            assert "*" not in json.dumps(statement.get("Principal")), role.name
    for attachment in descendants(synthesis, "Cluster", ATTACHMENT):
        assert not any(w in attachment.inputs["policyArn"] for w in ("FullAccess", "AdministratorAccess", "*"))


def test_config_for_a_created_cluster_needs_an_admin_and_a_known_log_retention():
    with pytest.raises(ConfigError) as caught:
        config_of("dev", cluster={"adminRoleArns": [], "logRetentionDays": 10})
    problems = "\n".join(caught.value.problems)
    assert "cluster.adminRoleArns: got []; a created cluster needs at least one admin role" in problems
    assert "cluster.logRetentionDays: got 10; allowed: 1, 3, 5" in problems


# --- existing and local clusters --------------------------------------------------------------------


def test_an_existing_cluster_is_looked_up_by_name_and_nothing_is_created():
    def program():
        cluster = Cluster("cluster", ClusterArgs(mode="existing", name="shared", enforces_network_policies=True))
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("oidc", cluster.oidc_provider_arn)
        pulumi.export("issuer", cluster.oidc_issuer_url)
        pulumi.export("sg", cluster.node_security_group_id)

    synthesis = run(program)
    assert not [r for r in synthesis.resources if r.type.startswith("aws:")]
    [provider] = synthesis.of_type(PROVIDER)
    config = json.loads(provider.inputs["kubeconfig"])
    assert config["clusters"][0]["cluster"]["server"].endswith(".gr7.us-west-2.eks.amazonaws.com")
    assert config["users"][0]["user"]["exec"]["args"][3] == "shared"
    issuer = synthesis.stack_outputs["issuer"]
    assert synthesis.stack_outputs["oidc"] == \
        f"arn:aws:iam::123456789012:oidc-provider/{issuer.removeprefix('https://')}"
    assert synthesis.stack_outputs["kubeconfig"] == "[secret]"
    assert synthesis.stack_outputs["sg"].startswith("sg-")


def test_an_existing_cluster_can_come_from_another_stacks_outputs():
    def program():
        cluster = Cluster("cluster", ClusterArgs(mode="existing", stack_reference=ClusterStackReference(
            stack="acme/platform-infra/prod"), enforces_network_policies=True))
        pulumi.export("name", cluster.cluster_name)
        pulumi.export("issuer", cluster.oidc_issuer_url)
        pulumi.export("kubeconfig", cluster.kubeconfig)

    outputs = run(program).stack_outputs
    assert outputs["name"].startswith("shared-") and outputs["kubeconfig"] == "[secret]"
    assert outputs["issuer"].startswith("https://oidc.eks.us-west-2.amazonaws.com/id/")


def test_an_existing_clusters_gpu_nodes_also_get_the_cni_policy():
    config = config_of("dev", cluster={"mode": "existing", "name": "shared", "enforcesNetworkPolicies": True})
    synthesis = build_platform(config, with_model=False).synthesis
    assert not synthesis.of_type(EKS_CLUSTER)
    policies = {a.inputs["policyArn"].rsplit("/", 1)[1] for a in descendants(synthesis, "GpuNodeGroup", ATTACHMENT)}
    assert "AmazonEKS_CNI_Policy" in policies, "its VPC CNI may rely on the node role"
    [group] = synthesis.of_type(NODE_GROUP)
    assert group.inputs["clusterName"] == "shared"


def test_a_local_cluster_is_a_kube_context_and_no_aws_at_all():
    synthesis = platform("local").synthesis
    assert not [r for r in synthesis.resources if r.type.startswith("aws:")]
    [provider] = synthesis.of_type(PROVIDER)
    assert provider.inputs["context"] == config_of("local").cluster.kube_context
    assert "kubeconfig" not in provider.inputs


@pytest.mark.parametrize("args, message", [
    (ClusterArgs(mode="create", subnet_ids=["a", "b"], admin_role_arns=[ADMIN]), "name: required when mode is create"),
    (ClusterArgs(mode="create", name="c", subnet_ids=["a"], admin_role_arns=[ADMIN]), "subnets in at least two zones"),
    (ClusterArgs(mode="create", name="c", subnet_ids=["a", "b"]), "admin_role_arns: required"),
    (ClusterArgs(mode="create", name="c", subnet_ids=["a", "b"], admin_role_arns=[ADMIN], log_types=("all",)),
     "log_types[0]: got 'all'"),
    (ClusterArgs(mode="create", name="c", subnet_ids=["a", "b"], admin_role_arns=[ADMIN], kubernetes_version="1.20"),
     "no pinned versions"),
    (ClusterArgs(mode="existing", enforces_network_policies=True), "exactly one of them"),
    (ClusterArgs(mode="local", enforces_network_policies=True), "kube_context: required"),
    (ClusterArgs(mode="local", kube_context="kind-x"), "enforces_network_policies: got None"),
    (ClusterArgs(mode="existing", name="shared", enforces_network_policies=False), "enforces_network_policies: got False"),
    (ClusterArgs(mode="existing", name="shared", enforces_network_policies=True, storage_class="GP3!"),
     "storage_class: got 'GP3!'"),
])
def test_bad_args_are_refused_before_anything_is_registered(args, message):
    with pytest.raises(ValueError, match="Cluster 'cluster'") as caught:
        run(lambda: Cluster("cluster", args))
    assert message in str(caught.value)
    assert caught.value.registered_resources == []
