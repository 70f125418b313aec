"""Storage, rule by rule: every kind of claim and where it names its class, the default class, the drivers the pack
knows, and the role rights an encrypted class's driver needs (KMS actions matched as IAM matches them)."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.storage import storage_classes_resolve_to_installed_drivers as storage
from tests.test_platform_policies import (
    ADDON,
    CLUSTER_COMPONENT,
    HELM,
    KEY,
    ROLE_POLICY,
    STORAGE_CLASS,
    claim,
    driver,
    messages,
    storage_class,
)
from tests.test_policy import stack_violations

STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
CLASS = "StorageClass 'cluster-storage-class' (gp3): "


def _found(resources: list, config: dict | None = None) -> list[str]:
    return messages(stack_violations(storage, resources, config))


def test_a_claim_on_the_default_class_is_refused_without_one_naming_the_fix():
    assert _found([claim(None)]) == [
        "PersistentVolumeClaim 'data': spec.storageClassName is unset, so it asks for the cluster's default "
        "StorageClass, and the stack neither creates one nor states the cluster has one; name the class the Cluster "
        "creates (or cluster.storageClass of an existing cluster)"]
    assert _found([*driver(), storage_class(default=False), claim(None)]) != []
    assert _found([claim(None)], {"clusterProvidesDefaultStorageClass": True}) == []
    assert _found([(CLUSTER_COMPONENT, "cluster", {"mode": "local"}), claim(None)]) == []
    assert _found([(CLUSTER_COMPONENT, "cluster", {"mode": "existing"}), claim(None)]) != []


def test_a_default_class_needs_the_annotation_set_to_true_exactly():
    _, name, props = storage_class()
    props["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] = "false"
    assert len(_found([*driver(), (STORAGE_CLASS, name, props), claim(None)])) == 1


def test_the_refusal_of_an_unknown_class_lists_what_is_created_and_stated():
    assert _found([claim("fast")], {"existingStorageClasses": ["team-gp3", "slow"]}) == [
        "PersistentVolumeClaim 'data': spec.storageClassName names StorageClass 'fast', which the stack does not "
        "create (it creates none) and the cluster is not stated to have (['slow', 'team-gp3']; cluster.storageClass "
        "of an existing cluster): its volumes would stay Pending"]
    [message] = _found([claim("fast")])
    assert "(none; cluster.storageClass" in message


def test_a_local_clusters_stated_class_counts_and_a_created_clusters_does_not():
    local = (CLUSTER_COMPONENT, "cluster", {"mode": "local", "storage_class_name": "standard"})
    assert _found([local, claim("standard")]) == []
    created = (CLUSTER_COMPONENT, "cluster", {"mode": "created", "storage_class_name": "standard"})
    assert len(_found([created, claim("standard")])) == 1


def test_a_class_still_unknown_or_empty_is_not_judged():
    assert _found([claim(UNKNOWN_STRING_VALUE), claim("")]) == []


def test_statefulset_claim_templates_are_claims_naming_their_index():
    templates = [{"spec": {"storageClassName": "gp3"}}, {"spec": {"storageClassName": "fast"}}, {"spec": {}}]
    workload = (STATEFUL_SET, "db", {"spec": {"volumeClaimTemplates": templates}})
    assert _found([*driver(), storage_class(default=False), workload]) == [
        "StatefulSet 'db': spec.volumeClaimTemplates[1].spec.storageClassName names StorageClass 'fast', which the "
        "stack does not create (it creates ['gp3']) and the cluster is not stated to have (none; cluster.storageClass "
        "of an existing cluster): its volumes would stay Pending",
        "StatefulSet 'db': spec.volumeClaimTemplates[2].spec.storageClassName is unset, so it asks for the cluster's "
        "default StorageClass, and the stack neither creates one nor states the cluster has one; name the class the "
        "Cluster creates (or cluster.storageClass of an existing cluster)"]


def test_chart_values_name_a_class_under_either_key_and_an_empty_one_is_no_claim():
    values = {"a": {"storageClass": "fast"}, "b": {"storageClassName": "slow"}, "c": {"storageClass": ""},
              "d": {"volumeClaimTemplate": {"spec": {"storageClassName": "gp3"}}}}
    found = _found([*driver(), storage_class(), (HELM, "chart", {"values": values})])
    assert [m.split(" names ")[0] for m in found] == ["Helm release 'chart': values.a.storageClass",
                                                      "Helm release 'chart': values.b.storageClassName"], found


def test_a_provisioner_the_pack_does_not_know_is_refused_naming_the_known_ones():
    _, name, props = storage_class()
    props["provisioner"] = "kubernetes.io/aws-ebs"
    assert _found([(STORAGE_CLASS, name, props)]) == [
        CLASS + "provisioner 'kubernetes.io/aws-ebs' is not a driver this pack knows to be installed (ebs.csi.aws.com, "
                "efs.csi.aws.com)"]
    props["provisioner"] = UNKNOWN_STRING_VALUE
    assert _found([(STORAGE_CLASS, name, props)]) == []


def test_an_efs_class_needs_the_efs_add_on_and_its_policy():
    _, name, props = storage_class()
    props["provisioner"] = "efs.csi.aws.com"
    del props["parameters"]["kmsKeyId"]
    assert _found([*driver(), (STORAGE_CLASS, name, props)]) == [
        CLASS + "provisioner efs.csi.aws.com has no aws-efs-csi-driver EKS add-on in the stack to run it"]


def test_a_driver_whose_role_is_not_the_stacks_is_named_and_one_still_unknown_is_left_alone():
    resources = [r for r in driver() if r[0] != ADDON]
    other = (ADDON, "ebs", {"addonName": "aws-ebs-csi-driver", "serviceAccountRoleArn": "arn:aws:iam::1:role/x"})
    assert _found([*resources, other, storage_class()]) == [
        CLASS + "its driver, EKS add-on 'ebs', has no IAM role of this stack (serviceAccountRoleArn "
                "'arn:aws:iam::1:role/x'): it could not create a volume"]
    pending = (ADDON, "ebs", {"addonName": "aws-ebs-csi-driver", "serviceAccountRoleArn": UNKNOWN_STRING_VALUE})
    assert _found([*resources, pending, storage_class()]) == []


def _key_policy(*statements: dict) -> tuple[str, str, dict]:
    return ROLE_POLICY, "ebs-csi-key", {"role": "ebs-csi", "policy": json.dumps({"Statement": list(statements)})}


def _without_key_rights() -> list:
    return [r for r in driver() if r[0] != ROLE_POLICY]


@pytest.mark.parametrize("statements, allowed", [
    ([{"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:GenerateDataKey*"], "Resource": KEY}], True),
    ([{"Effect": "Allow", "Action": ["kms:*"], "Resource": [KEY]}], True),
    ([{"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"], "Resource": KEY}], True),
    ([{"Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": KEY}], False),
    ([{"Effect": "Allow", "Action": ["kms:GenerateDataKey*"], "Resource": KEY}], False),
    ([{"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:GenerateDataKey"], "Resource": KEY}], False),
    ([{"Effect": "Deny", "Action": ["kms:*"], "Resource": KEY}], False),
    ([{"Effect": "Allow", "Action": ["kms:*"], "Resource": "arn:aws:kms:us-west-2:123456789012:key/other"}], False),
])
def test_the_driver_role_must_allow_create_grant_and_generate_data_key_on_the_key(statements, allowed):
    found = _found([*_without_key_rights(), _key_policy(*statements), storage_class()])
    assert found == ([] if allowed else [
        CLASS + f"its driver's role IAM role 'ebs-csi' may not use the volumes' KMS key {KEY} (kms:CreateGrant and "
                "kms:GenerateDataKey*): encrypted volumes would fail to create or attach"])


def test_a_class_without_a_customer_key_needs_no_key_rights():
    _, name, props = storage_class()
    del props["parameters"]["kmsKeyId"]
    assert _found([*_without_key_rights(), (STORAGE_CLASS, name, props)]) == []


def test_the_managed_policy_is_matched_by_its_name_at_the_end_of_the_arn():
    resources = [r for r in driver() if r[0] != "aws:iam/rolePolicyAttachment:RolePolicyAttachment"]
    attached = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-managed", {
        "role": "ebs-csi", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicyV2"})
    assert _found([*resources, attached, storage_class()]) == [
        CLASS + "its driver's role IAM role 'ebs-csi' lacks the AWS managed policy AmazonEBSCSIDriverPolicy"]



def test_a_class_annotated_as_the_default_serves_claims_that_name_none():
    assert _found([*driver(), storage_class(default=True), claim(None)]) == []
    _, name, props = storage_class()
    props["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] = "True"
    assert len(_found([*driver(), (STORAGE_CLASS, name, props), claim(None)])) == 1


def test_a_chart_claim_template_without_a_class_asks_for_the_default_one_by_its_full_path():
    values = {"server": {"persistence": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}}
    assert _found([(HELM, "chart", {"values": values})]) == [
        "Helm release 'chart': values.server.persistence.volumeClaimTemplate.spec.storageClassName is unset, so it "
        "asks for the cluster's default StorageClass, and the stack neither creates one nor states the cluster has "
        "one; name the class the Cluster creates (or cluster.storageClass of an existing cluster)"]
    assert _found([*driver(), storage_class(), (HELM, "chart", {"values": values})]) == []


def test_an_existing_clusters_stated_class_resolves_claims_but_gives_no_default():
    existing = (CLUSTER_COMPONENT, "cluster", {"mode": "existing", "storage_class_name": "team-gp3"})
    assert _found([existing, claim("team-gp3")]) == []
    assert len(_found([existing, claim(None)])) == 1
    assert _found([claim("team-gp3")], {"existingStorageClasses": ["team-gp3"]}) == []
