"""Storage that binds: the EBS CSI driver add-on with its IRSA role and key rights, the default encrypted gp3
StorageClass it serves, the monitoring volumes that use it, and what an existing or local cluster states instead."""

from __future__ import annotations

import json

import pytest

from components.cluster.eks_cluster import Cluster, ClusterArgs
from components.cluster.eks_versions import ADDON_VERSIONS, DEFAULT_KUBERNETES_VERSION
from components.cluster.storage import (
    DEFAULT_CLASS_ANNOTATION,
    EBS_CSI_PROVISIONER,
    volumes_key_policy_document,
)
from stack_config import ConfigError
from stack_config import component_args as build
from tests.aws_platform import ADDON, ATTACHMENT, build_platform, components_of, config_of, descendants, platform
from tests.harness import stack
from tools.synth import run

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
AWS_STACKS = ["dev", "prod"]


def _addon(stack_name: str, addon: str):
    return next(a for a in descendants(platform(stack_name).synthesis, "Cluster", ADDON) if a.inputs["addonName"] == addon)


def _storage_class(stack_name: str):
    [storage_class] = platform(stack_name).of_type(STORAGE_CLASS)
    return storage_class


@pytest.mark.parametrize("stack_name", AWS_STACKS)
def test_the_ebs_csi_driver_is_an_eks_addon_pinned_for_the_clusters_version(stack_name):
    addon = _addon(stack_name, "aws-ebs-csi-driver")
    version = config_of(stack_name).cluster.kubernetes_version
    assert addon.inputs["addonVersion"] == ADDON_VERSIONS[version]["aws-ebs-csi-driver"]
    assert addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"


@pytest.mark.parametrize("stack_name", AWS_STACKS)
def test_the_driver_role_is_trusted_only_by_its_controller_service_account(stack_name):
    synthesis = platform(stack_name).synthesis
    role = synthesis.named("cluster-ebs-csi-role")
    assert _addon(stack_name, "aws-ebs-csi-driver").inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert sorted(statement["Condition"]["StringEquals"].values()) == [
        "sts.amazonaws.com", "system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    attached = [a.inputs["policyArn"] for a in descendants(synthesis, "Cluster", ATTACHMENT)
                if a.inputs["role"] == role.outputs["name"]]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]


@pytest.mark.parametrize("stack_name", AWS_STACKS)
def test_the_driver_may_use_the_volumes_key_and_only_that_key_with_grants_for_aws_resources_only(stack_name):
    synthesis = platform(stack_name).synthesis
    key = synthesis.named("cluster-volumes-key")
    policy = synthesis.named("cluster-ebs-csi-volumes-key")
    assert policy.inputs["role"] == synthesis.named("cluster-ebs-csi-role").id
    document = json.loads(policy.inputs["policy"])
    assert document == json.loads(volumes_key_policy_document(key.outputs["arn"]))
    grants, use = document["Statement"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert all(s["Resource"] == key.outputs["arn"] for s in (grants, use))
    assert key.inputs["enableKeyRotation"] is True


def test_the_driver_is_installed_after_the_nodes_it_runs_on_and_after_its_rights():
    synthesis = platform("dev").synthesis
    dependencies = _addon("dev", "aws-ebs-csi-driver").options["dependencies"]
    assert synthesis.named("cluster-system-nodes").urn in dependencies
    for policy in ("cluster-ebs-csi-AmazonEBSCSIDriverPolicy", "cluster-ebs-csi-volumes-key"):
        assert synthesis.named(policy).urn in dependencies, policy


@pytest.mark.parametrize("stack_name", AWS_STACKS)
def test_the_default_storage_class_is_encrypted_gp3_with_our_key_bound_where_the_pod_lands(stack_name):
    synthesis = platform(stack_name).synthesis
    storage_class = _storage_class(stack_name).inputs
    assert storage_class["metadata"]["name"] == "gp3"
    assert storage_class["metadata"]["annotations"] == {DEFAULT_CLASS_ANNOTATION: "true"}
    assert storage_class["provisioner"] == EBS_CSI_PROVISIONER
    assert storage_class["parameters"] == {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4",
                                           "kmsKeyId": synthesis.named("cluster-volumes-key").outputs["arn"]}
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["allowVolumeExpansion"] is True


@pytest.mark.parametrize("stack_name, reclaim", [("dev", "Delete"), ("prod", "Retain")])
def test_prod_keeps_released_volumes_and_dev_deletes_them(stack_name, reclaim):
    assert _storage_class(stack_name).inputs["reclaimPolicy"] == reclaim


def test_nothing_kubernetes_is_created_before_the_volume_driver_runs():
    synthesis = platform("prod").synthesis
    [provider] = synthesis.of_type("pulumi:providers:kubernetes")
    assert _addon("prod", "aws-ebs-csi-driver").urn in provider.options["dependencies"]
    assert _storage_class("prod").provider_urn == provider.urn


@pytest.mark.parametrize("stack_name", AWS_STACKS)
def test_prometheus_and_alertmanager_claim_the_storage_class_the_cluster_creates(stack_name):
    synthesis = stack(stack_name)
    [storage_class] = synthesis.of_type(STORAGE_CLASS)
    [release] = [r for r in synthesis.helm_releases() if r.inputs["chart"] == "kube-prometheus-stack"]
    values = release.inputs["values"]
    claims = [values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"],
              values["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]]
    assert {c["storageClassName"] for c in claims} == {storage_class.inputs["metadata"]["name"]}


def test_a_renamed_storage_class_is_the_one_monitoring_uses():
    config = config_of("dev", cluster={"storageClass": "encrypted-gp3"})
    assert build.monitoring_args(config).storage_class == "encrypted-gp3"
    p = build_platform(config, with_model=False)
    [storage_class] = p.of_type(STORAGE_CLASS)
    assert storage_class.inputs["metadata"]["name"] == "encrypted-gp3"


def test_a_monitoring_storage_class_the_created_cluster_does_not_have_is_refused():
    with pytest.raises(ConfigError) as caught:
        config_of("dev", monitoring={"storageClass": "gp2"})
    assert any(p.startswith("gpu-model-platform:monitoring.storageClass: got 'gp2'") and "'gp3'" in p
               for p in caught.value.problems), caught.value.problems


# --- clusters this program does not create ---------------------------------------------------------------


def test_an_existing_cluster_uses_the_configured_storage_class_and_records_the_statements():
    config = config_of("dev", cluster={"mode": "existing", "name": "shared", "storageClass": "team-gp3",
                                       "enforcesNetworkPolicies": True})
    assert build.monitoring_args(config).storage_class == "team-gp3"
    p = build_platform(config, with_model=False)
    assert not p.of_type(STORAGE_CLASS) and not p.of_type(ADDON)
    [cluster] = components_of(p.synthesis, "Cluster")
    assert cluster.component_outputs["storage_class_name"] == "team-gp3"
    assert cluster.component_outputs["network_policy_enforcement"] == "stated"
    assert cluster.component_outputs["mode"] == "existing"


@pytest.mark.parametrize("mode, extra", [("existing", {"name": "shared"}), ("local", {"kubeContext": "kind-x"})])
@pytest.mark.parametrize("statement", [None, False])
def test_a_cluster_not_created_here_must_state_that_it_enforces_network_policies(mode, extra, statement):
    cluster = {"mode": mode, **extra, "enforcesNetworkPolicies": statement}
    sections = {"cluster": cluster}
    if mode == "local":
        sections.update(gpuNodeGroup={"enabled": False}, registry={"mode": "local"}, model={"gpusPerPod": 0,
                                                                                          "imageVariant": "cpu"})
    with pytest.raises(ConfigError) as caught:
        config_of("local" if mode == "local" else "dev", **sections)
    assert any(f"cluster.enforcesNetworkPolicies: got {statement!r}; state true" in p for p in caught.value.problems), \
        caught.value.problems


def test_a_local_cluster_uses_its_default_storage_class():
    config = config_of("local")
    assert build.monitoring_args(config).storage_class is None
    release = next(r for r in stack("local").helm_releases() if r.inputs["chart"] == "kube-prometheus-stack")
    claim = release.inputs["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert "storageClassName" not in claim


def test_the_cluster_component_records_the_class_it_created():
    def program():
        Cluster("c", ClusterArgs(mode="local", kube_context="kind-x", enforces_network_policies=True,
                                 storage_class="standard"))

    [component] = [r for r in run(program).resources if r.type == "gpu-model-platform:index:Cluster"]
    assert component.component_outputs["storage_class_name"] == "standard"
    assert component.component_outputs["mode"] == "local"


def test_the_default_kubernetes_version_has_every_addon_pinned():
    assert set(ADDON_VERSIONS[DEFAULT_KUBERNETES_VERSION]) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}


def test_every_kms_action_of_the_driver_policy_is_a_kms_operation():
    import botocore.session
    operations = set(botocore.session.get_session().get_service_model("kms").operation_names)
    document = json.loads(volumes_key_policy_document("arn:aws:kms:us-west-2:123456789012:key/k"))
    for statement in document["Statement"]:
        for action in statement["Action"]:
            name = action.split(":", 1)[1]
            matches = [o for o in operations if o == name or (name.endswith("*") and o.startswith(name[:-1]))]
            assert matches, action
