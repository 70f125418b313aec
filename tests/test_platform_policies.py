"""The stack policies that follow the chains between resources, each both ways, and the shipped stacks with each
defect of issue 12 reintroduced: a volume driver, NetworkPolicy enforcement, GPU capacity that fits, zone spread
the autoscaler can meet, IRSA trust in both directions, and a Kubernetes version in EKS standard support.

Hand-made stacks go through pulumi_policy's own argument types (tests/test_policy.py builders); the shipped
stacks through `pack_violations`, which hands stack policies each resource's final state as the engine does.
"""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.capacity.gpu_instances import GPU_COUNT_BY_INSTANCE_TYPE
from components.cluster.eks_versions import STANDARD_SUPPORT_ENDS
from policy.platform_policies._gpu_counts import GPU_COUNT_BY_INSTANCE_TYPE as POLICY_GPU_COUNTS
from policy.platform_policies.identity import irsa_trust_matches_service_accounts
from policy.platform_policies.network import network_policies_are_enforced
from policy.platform_policies.scheduling import gpu_workloads_fit_a_node_pool, required_zone_spread_is_satisfiable
from policy.platform_policies.storage import storage_classes_resolve_to_installed_drivers
from policy.platform_policies.versions import STANDARD_SUPPORT_ENDS as POLICY_SUPPORT_ENDS
from policy.platform_policies.versions import eks_version_in_standard_support, eks_version_support_ended
from tests.harness import stack, stack_with
from tests.test_policy import deployment, gpu_node_group, gpu_pod_spec, pack_violations, stack_violations

ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
HELM = "kubernetes:helm.sh/v3:Release"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
CLUSTER_COMPONENT = "gpu-model-platform:index:Cluster"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/ABC"
OIDC = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
KEY = "arn:aws:kms:us-west-2:123456789012:key/volumes"
DRIVER_ROLE = "arn:aws:iam::123456789012:role/ebs-csi"


def trust(namespace: str, name: str, operator: str = "StringEquals") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {operator: {f"{ISSUER}:sub": f"system:serviceaccount:{namespace}:{name}",
                                 f"{ISSUER}:aud": "sts.amazonaws.com"}}}]})


def role(name: str, namespace: str, account: str, operator: str = "StringEquals") -> tuple[str, str, dict]:
    return ROLE, name, {"name": name, "id": name, "arn": f"arn:aws:iam::123456789012:role/{name}",
                        "assumeRolePolicy": trust(namespace, account, operator)}


def driver(key_rights: bool = True, managed: bool = True) -> list[tuple[str, str, dict]]:
    """The EBS CSI add-on, its IRSA role, the managed policy and the volumes key's rights."""
    resources = [role("ebs-csi", "kube-system", "ebs-csi-controller-sa"),
                 (ADDON, "cluster-aws-ebs-csi-driver", {"addonName": "aws-ebs-csi-driver",
                                                         "serviceAccountRoleArn": DRIVER_ROLE})]
    if managed:
        resources.append((ATTACHMENT, "ebs-csi-managed", {
            "role": "ebs-csi", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}))
    if key_rights:
        resources.append((ROLE_POLICY, "ebs-csi-key", {"role": "ebs-csi", "policy": json.dumps({"Statement": [
            {"Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": KEY},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": KEY}]})}))
    return resources


def storage_class(name: str = "gp3", default: bool = True) -> tuple[str, str, dict]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return STORAGE_CLASS, "cluster-storage-class", {
        "metadata": {"name": name, "annotations": annotations}, "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true", "kmsKeyId": KEY}, "volumeBindingMode": "WaitForFirstConsumer"}


def claim(class_name: str | None) -> tuple[str, str, dict]:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if class_name is not None:
        spec["storageClassName"] = class_name
    return PVC, "data", {"metadata": {"name": "data", "namespace": "monitoring"}, "spec": spec}


def messages(found: list[tuple[str, str | None]]) -> list[str]:
    return [m for m, _ in found]


# ---- storage ---------------------------------------------------------------------------------------------------

def test_a_claim_on_a_created_class_whose_driver_runs_with_its_rights_passes():
    assert stack_violations(storage_classes_resolve_to_installed_drivers,
                            [*driver(), storage_class(), claim("gp3"), claim(None)]) == []


def test_a_claim_naming_a_class_nobody_creates_is_refused_naming_the_claim_and_the_class():
    [(message, urn)] = stack_violations(storage_classes_resolve_to_installed_drivers,
                                        [*driver(), storage_class(), claim("gp2")])
    assert message.startswith("PersistentVolumeClaim 'data': spec.storageClassName names StorageClass 'gp2'")
    assert "it creates ['gp3']" in message and urn.endswith("::data")


def test_chart_values_and_claim_templates_are_claims_too():
    values = {"prometheus": {"prometheusSpec": {"storageSpec": {"volumeClaimTemplate": {"spec": {
        "storageClassName": "fast"}}}}}, "alertmanager": {"storage": {"volumeClaimTemplate": {"spec": {}}}}}
    found = messages(stack_violations(storage_classes_resolve_to_installed_drivers,
                                      [(HELM, "monitoring-kube-prometheus-stack", {"namespace": "monitoring",
                                                                                    "values": values})]))
    assert len(found) == 2
    assert any("values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName names "
               "StorageClass 'fast'" in m for m in found)
    assert any("values.alertmanager.storage.volumeClaimTemplate.spec.storageClassName is unset" in m for m in found)
    assert all(m.startswith("Helm release 'monitoring-kube-prometheus-stack'") for m in found)


@pytest.mark.parametrize("resources, problem", [
    ([storage_class()], "has no aws-ebs-csi-driver EKS add-on in the stack"),
    ([*driver(managed=False), storage_class()], "lacks the AWS managed policy AmazonEBSCSIDriverPolicy"),
    ([*driver(key_rights=False), storage_class()], f"may not use the volumes' KMS key {KEY}"),
])
def test_a_class_whose_driver_is_missing_or_lacks_rights_is_refused(resources, problem):
    [message] = messages(stack_violations(storage_classes_resolve_to_installed_drivers, resources))
    assert message.startswith("StorageClass 'cluster-storage-class' (gp3): ") and problem in message, message


def test_an_existing_clusters_stated_class_resolves_claims():
    stated = (CLUSTER_COMPONENT, "cluster", {"mode": "existing", "storage_class_name": "team-gp3"})
    assert stack_violations(storage_classes_resolve_to_installed_drivers, [stated, claim("team-gp3")]) == []
    assert stack_violations(storage_classes_resolve_to_installed_drivers, [claim("team-gp3")],
                            config={"existingStorageClasses": ["team-gp3"]}) == []
    assert messages(stack_violations(storage_classes_resolve_to_installed_drivers, [stated, claim(None)]))


# ---- network policies --------------------------------------------------------------------------------------------

NETPOL = (NETWORK_POLICY, "model-network-policy", {"metadata": {"name": "model", "namespace": "model"}, "spec": {}})


def cni(configuration: str | None) -> tuple[str, str, dict]:
    props = {"addonName": "vpc-cni"}
    if configuration is not None:
        props["configurationValues"] = configuration
    return ADDON, "cluster-vpc-cni", props


def test_a_network_policy_with_the_vpc_cni_enforcing_or_a_stated_cluster_passes():
    assert stack_violations(network_policies_are_enforced, [cni('{"enableNetworkPolicy": "true"}'), NETPOL]) == []
    stated = (CLUSTER_COMPONENT, "cluster", {"mode": "existing", "network_policy_enforcement": "stated"})
    assert stack_violations(network_policies_are_enforced, [stated, NETPOL]) == []


@pytest.mark.parametrize("configuration", [None, '{"enableNetworkPolicy": "false"}', '{"env": {}}'])
def test_a_vpc_cni_without_enable_network_policy_is_refused_naming_the_addon_and_the_policies(configuration):
    [message] = messages(stack_violations(network_policies_are_enforced, [cni(configuration), NETPOL]))
    assert message.startswith("EKS add-on 'cluster-vpc-cni': the VPC CNI add-on is installed without enableNetworkPolicy")
    assert "NetworkPolicy 'model-network-policy'" in message and "enableNetworkPolicy" in message


def test_a_network_policy_nothing_enforces_is_refused():
    [message] = messages(stack_violations(network_policies_are_enforced, [NETPOL]))
    assert message.startswith("NetworkPolicy 'model-network-policy': no CNI in the stack enforces it")


# ---- GPU capacity ----------------------------------------------------------------------------------------------

GPU_LABELS = {"nvidia.com/gpu.present": "true", "workload": "gpu-inference"}


def model(gpus: int = 1, selector: dict | None = None, spread: bool = False) -> tuple[str, str, dict]:
    spec = gpu_pod_spec(nodeSelector=selector if selector is not None else GPU_LABELS)
    for section in ("requests", "limits"):
        spec["containers"][0]["resources"][section]["nvidia.com/gpu"] = str(gpus)
    if spread:
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                             "whenUnsatisfiable": "DoNotSchedule"}]
    return DEPLOYMENT, "model-deployment", deployment(spec)


def group(name: str = "gpu-nodes-group", subnets: list[str] | None = None, **changes) -> tuple[str, str, dict]:
    return NODE_GROUP, name, gpu_node_group(labels=dict(GPU_LABELS), subnetIds=subnets or ["subnet-a"], **changes)


def test_a_gpu_workload_matching_a_pool_with_enough_gpus_per_node_passes():
    assert stack_violations(gpu_workloads_fit_a_node_pool, [group(), model()]) == []
    assert stack_violations(gpu_workloads_fit_a_node_pool,
                            [group(instanceTypes=["g5.12xlarge"]), model(gpus=4)]) == []


@pytest.mark.parametrize("resources, reason", [
    ([group(), model(gpus=2)], "EKS node group 'gpu-nodes-group' has 1 nvidia.com/gpu per node"),
    ([group(), model(selector={"workload": "training"})], "lacks the label(s) {'workload': 'training'}"),
    ([group(taints=[{"key": "dedicated", "value": "ml", "effect": "NO_SCHEDULE"}]), model()],
     "untolerated taint(s) ['dedicated=ml:NoSchedule']"),
    ([model()], "the stack has no GPU node group or NodePool"),
])
def test_a_gpu_workload_no_pool_can_take_is_refused_with_each_pools_reason(resources, reason):
    [message] = messages(stack_violations(gpu_workloads_fit_a_node_pool, resources))
    assert message.startswith("Deployment 'model-deployment': its pods ask for") and reason in message, message


def test_a_karpenter_pool_counts_its_gpu_limit_per_node():
    pool = (NODE_POOL, "karpenter-node-pool", {"metadata": {"name": "gpu"}, "spec": {"template": {
        "metadata": {"labels": GPU_LABELS}, "spec": {
            "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
            "requirements": [{"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Lt", "values": ["2"]}]}}}})
    assert stack_violations(gpu_workloads_fit_a_node_pool, [pool, model()]) == []
    [message] = messages(stack_violations(gpu_workloads_fit_a_node_pool, [pool, model(gpus=2)]))
    assert "NodePool 'karpenter-node-pool' has 1 nvidia.com/gpu per node" in message



def stated_pool(gpus_per_node: int = 1, labels: dict | None = None) -> dict:
    return {"existingGpuNodePools": [{"name": "team-gpus", "labels": labels if labels is not None else GPU_LABELS,
                                      "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                                      "gpusPerNode": gpus_per_node}]}


def test_gpu_nodes_of_an_existing_cluster_stated_in_the_pack_config_take_the_workload():
    assert stack_violations(gpu_workloads_fit_a_node_pool, [model()], stated_pool()) == []
    assert stack_violations(gpu_workloads_fit_a_node_pool, [model(gpus=4)], stated_pool(gpus_per_node=4)) == []


@pytest.mark.parametrize("config, reason", [
    (stated_pool(gpus_per_node=1), "the cluster's node pool 'team-gpus' (pack config) has 1 nvidia.com/gpu per node"),
    (stated_pool(gpus_per_node=2, labels={"workload": "gpu-inference"}),
     "the cluster's node pool 'team-gpus' (pack config) lacks the label(s) {'nvidia.com/gpu.present': 'true'}"),
])
def test_a_stated_pool_that_cannot_take_the_workload_is_named_with_its_reason(config, reason):
    [message] = messages(stack_violations(gpu_workloads_fit_a_node_pool, [model(gpus=2)], config))
    assert reason in message, message


# ---- zone spread --------------------------------------------------------------------------------------------------

AUTOSCALER = (HELM, "cluster-autoscaler-release", {"chart": "cluster-autoscaler", "namespace": "kube-system",
                                                   "values": {}})
SUBNETS = [("aws:ec2/subnet:Subnet", f"private-{z}", {"id": f"subnet-{z}", "availabilityZone": f"us-west-2{z}"})
           for z in "abc"]


def test_required_spread_over_one_group_per_zone_passes():
    groups = [group(f"gpu-nodes-group-us-west-2{z}", [f"subnet-{z}"]) for z in "abc"]
    assert stack_violations(required_zone_spread_is_satisfiable,
                            [AUTOSCALER, *SUBNETS, *groups, model(spread=True)]) == []


def test_required_spread_over_a_multi_zone_group_scaled_by_cluster_autoscaler_is_refused():
    resources = [AUTOSCALER, *SUBNETS, group(subnets=["subnet-a", "subnet-b", "subnet-c"]), model(spread=True)]
    [message] = messages(stack_violations(required_zone_spread_is_satisfiable, resources))
    assert message.startswith("Deployment 'model-deployment': requires its replicas spread over zones")
    assert "EKS node group 'gpu-nodes-group'" in message and "['us-west-2a', 'us-west-2b', 'us-west-2c']" in message
    assert stack_violations(required_zone_spread_is_satisfiable, resources[1:]) == [], "no autoscaler: not its concern"
    preferred = [*resources[:-1], model(spread=False)]
    assert stack_violations(required_zone_spread_is_satisfiable, preferred) == []


# ---- IRSA --------------------------------------------------------------------------------------------------------

def autoscaler_release(role_name: str) -> tuple[str, str, dict]:
    return HELM, "cluster-autoscaler-release", {"chart": "cluster-autoscaler", "namespace": "kube-system", "values": {
        "rbac": {"serviceAccount": {"name": "cluster-autoscaler", "annotations": {
            "eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role_name}"}}}}}


def test_service_accounts_and_roles_that_name_each_other_exactly_pass():
    resources = [role("ca", "kube-system", "cluster-autoscaler"), autoscaler_release("ca"),
                 role("ebs-csi", "kube-system", "ebs-csi-controller-sa"),
                 (ADDON, "ebs", {"addonName": "aws-ebs-csi-driver", "serviceAccountRoleArn": DRIVER_ROLE}),
                 role("model", "my-ai-model", "my-ai-model"),
                 (SERVICE_ACCOUNT, "model-service-account", {"metadata": {
                     "name": "my-ai-model", "namespace": "my-ai-model",
                     "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/model"}}})]
    assert stack_violations(irsa_trust_matches_service_accounts, resources) == []


def test_a_service_account_annotated_with_another_accounts_role_is_refused_both_ways():
    resources = [role("ca", "kube-system", "cluster-autoscaler"), role("karpenter", "kube-system", "karpenter"),
                 autoscaler_release("karpenter")]
    found = messages(stack_violations(irsa_trust_matches_service_accounts, resources))
    assert any(m.startswith("Helm release 'cluster-autoscaler-release': service account "
                            "kube-system/cluster-autoscaler is to assume IAM role 'karpenter'") for m in found), found
    assert any(m.startswith("IAM role 'ca': its trust policy lets system:serviceaccount:kube-system:cluster-autoscaler "
                            "assume it") for m in found), found
    assert any(m.startswith("IAM role 'karpenter'") for m in found), "nothing claims the karpenter role either"


def test_a_role_trusting_by_pattern_is_refused():
    resources = [role("ca", "kube-system", "cluster-*", operator="StringLike")]
    [message] = messages(stack_violations(irsa_trust_matches_service_accounts, resources))
    assert "not an exact StringEquals match" in message


# ---- Kubernetes version -----------------------------------------------------------------------------------------

def _cluster(version: str, created: bool) -> tuple[str, str, dict]:
    # A cluster the run creates has no ARN yet in the preview that judges it.
    return EKS_CLUSTER, "cluster-eks", {"name": "gpu-prod", "version": version,
                                        "arn": UNKNOWN_STRING_VALUE if created else "arn:aws:eks:us-west-2:1:cluster/x"}


def test_a_new_cluster_in_standard_support_passes_and_one_past_it_or_unrecorded_is_refused():
    policy = eks_version_in_standard_support(today=lambda: date(2026, 11, 30))
    assert policy.enforcement_level is EnforcementLevel.MANDATORY
    assert stack_violations(policy, [_cluster("1.35", created=True)]) == []
    [message] = messages(stack_violations(policy, [_cluster("1.33", created=True)]))
    assert message.startswith("EKS cluster 'cluster-eks': Kubernetes 1.33 left EKS standard support on 2026-07-29")
    [message] = messages(stack_violations(policy, [_cluster("1.29", created=True)]))
    assert "no recorded end of EKS standard support" in message
    later = eks_version_in_standard_support(today=lambda: date(2027, 3, 27))
    assert messages(stack_violations(later, [_cluster("1.35", created=True)])), "no new cluster on 1.35 from its end"


def test_an_existing_cluster_past_its_end_is_only_warned_about_so_rollbacks_and_upgrades_still_run():
    refuse = eks_version_in_standard_support(today=lambda: date(2027, 3, 27))
    warn = eks_version_support_ended(today=lambda: date(2027, 3, 27))
    assert warn.enforcement_level is EnforcementLevel.ADVISORY
    assert stack_violations(refuse, [_cluster("1.35", created=False)]) == []
    [message] = messages(stack_violations(warn, [_cluster("1.35", created=False)]))
    assert message.startswith("EKS cluster 'cluster-eks': Kubernetes 1.35 left EKS standard support on 2027-03-27")
    assert stack_violations(warn, [_cluster("1.35", created=True)]) == [], "a new one is the mandatory policy's"
    assert stack_violations(warn, [_cluster("1.36", created=False)]) == [], "1.36 is in standard support then"


def test_the_pack_serves_the_two_version_policies_at_their_own_levels():
    from policy.platform_policies import all_policies
    levels = {p.name: p.enforcement_level for p in all_policies()}
    assert levels["eks-version-in-standard-support"] is EnforcementLevel.MANDATORY
    assert levels["eks-version-support-ended"] is EnforcementLevel.ADVISORY


def test_the_packs_copies_of_the_recorded_facts_match_the_components():
    assert POLICY_SUPPORT_ENDS == STANDARD_SUPPORT_ENDS
    assert POLICY_GPU_COUNTS == GPU_COUNT_BY_INSTANCE_TYPE


# ---- the shipped stacks, and each defect of issue 12 reintroduced ---------------------------------------------------

def karpenter_variant():
    sections = {"provisioner": "karpenter", "spotFirst": False, "scaleDownUnneededTime": "5m",
                "scaleDownDelayAfterAdd": "5m", "karpenter": {"maxGpus": 4}}
    return stack_with("dev", autoscaling=sections)


@pytest.mark.parametrize("name", ["dev", "prod", "local", "dev-karpenter"])
def test_every_shipped_stack_and_the_karpenter_variant_pass_the_chain_policies(name):
    synthesis = karpenter_variant() if name == "dev-karpenter" else stack(name)
    assert pack_violations(synthesis, name.split("-")[0]) == []


def _chain_violations(stack_name: str, mutate) -> list[str]:
    return pack_violations(stack(stack_name), stack_name, mutate=mutate)


def test_removing_the_csi_addon_is_caught():
    def remove(name, type_, state):
        if type_ == ADDON and state.get("addonName") == "aws-ebs-csi-driver":
            state["addonName"] = "removed"
    found = _chain_violations("dev", remove)
    assert any(m.startswith("[storage-classes-resolve-to-installed-drivers] StorageClass 'cluster-storage-class' (gp3): "
                            "provisioner ebs.csi.aws.com has no aws-ebs-csi-driver EKS add-on") for m in found), found


def test_dropping_enable_network_policy_is_caught():
    def drop(name, type_, state):
        if type_ == ADDON and state.get("addonName") == "vpc-cni":
            state.pop("configurationValues", None)
    found = _chain_violations("prod", drop)
    assert any(m.startswith("[network-policies-are-enforced]") and "'cluster-vpc-cni'" in m
               and "NetworkPolicy 'model-network-policy'" in m for m in found), found


@pytest.mark.parametrize("created, policy", [(True, "eks-version-in-standard-support"),
                                             (False, "eks-version-support-ended")])
def test_pinning_1_33_is_caught(created, policy):
    def pin(name, type_, state):
        if type_ == EKS_CLUSTER:
            state["version"] = "1.33"
            if created:
                state["arn"] = UNKNOWN_STRING_VALUE
    found = [m for m in _chain_violations("prod", pin) if "1.33" in m]
    assert [m.split("]")[0] for m in found] == [f"[{policy}"], found
    assert found[0].startswith(f"[{policy}] EKS cluster 'cluster-eks': Kubernetes 1.33 left EKS standard support on "
                               "2026-07-29"), found


def test_one_multi_zone_gpu_group_with_required_spread_is_caught():
    synthesis = stack("prod")
    private = [r.id for r in synthesis.of_type("aws:ec2/subnet:Subnet") if r.name.startswith("network-private-")]

    def span(name, type_, state):
        if name == "gpu-nodes-group-us-west-2a":
            state["subnetIds"] = list(private)
    found = pack_violations(synthesis, "prod", mutate=span)
    assert any(m.startswith("[required-zone-spread-is-satisfiable] Deployment 'model-deployment'")
               and "EKS node group 'gpu-nodes-group-us-west-2a'" in m for m in found), found


def test_a_service_account_annotated_with_another_role_is_caught():
    synthesis = stack("prod")
    other = synthesis.named("cluster-ebs-csi-role").outputs["arn"]

    def swap(name, type_, state):
        if name == "cluster-autoscaler-release":
            values = copy.deepcopy(state["values"])
            values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] = other
            state["values"] = values
    found = pack_violations(synthesis, "prod", mutate=swap)
    irsa = [m for m in found if m.startswith("[irsa-trust-matches-service-accounts]")]
    assert any("service account kube-system/cluster-autoscaler is to assume IAM role 'cluster-ebs-csi-role'" in m
               for m in irsa), found
    assert any(m.startswith("[irsa-trust-matches-service-accounts] IAM role 'cluster-autoscaler-role'") for m in irsa), found


def test_a_policy_controller_webhook_account_renamed_away_from_its_ecr_role_is_caught():
    synthesis = stack("prod")

    def rename(name, type_, state):
        if name == "image-admission-release":
            values = copy.deepcopy(state["values"])
            values["webhook"]["serviceAccount"]["name"] = "renamed-webhook"
            state["values"] = values
    found = pack_violations(synthesis, "prod", mutate=rename)
    irsa = [m for m in found if m.startswith("[irsa-trust-matches-service-accounts]")]
    assert any("cosign-system/renamed-webhook" in m for m in irsa), found
    assert any(m.startswith("[irsa-trust-matches-service-accounts] IAM role 'image-admission-ecr-reader'")
               for m in irsa), found


def test_a_gpu_request_larger_than_a_node_is_caught():
    def double(name, type_, state):
        if type_ == DEPLOYMENT:
            container = state["spec"]["template"]["spec"]["containers"][0]
            for section in ("requests", "limits"):
                container["resources"][section]["nvidia.com/gpu"] = "2"
    found = _chain_violations("dev", double)
    assert any(m.startswith("[gpu-workloads-fit-a-node-pool] Deployment 'model-deployment'") for m in found), found
