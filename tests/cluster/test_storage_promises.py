"""Storage promises the mutation audit (issue 29) found unguarded: the exact KMS rights the EBS CSI driver gets on
the volumes key, the key's deletion window and protection, and the StorageClass's labels and parent."""

from __future__ import annotations

import json

from components.cluster.eks_cluster import Cluster, ClusterArgs
from components.cluster.storage import storage_class_parameters, volumes_key_policy_document
from tools.synth import run

KEY = "arn:aws:kms:us-west-2:123456789012:key/k"


def _created(**changes):
    return run(lambda: Cluster("cluster", ClusterArgs(**{
        "mode": "create", "name": "c", "subnet_ids": ["subnet-a", "subnet-b"],
        "admin_role_arns": ["arn:aws:iam::123456789012:role/admin"], **changes})))


def test_the_driver_may_grant_only_for_aws_resources_and_encrypt_with_the_volumes_key():
    grants, use = json.loads(volumes_key_policy_document(KEY))["Statement"]
    assert grants == {"Sid": "GrantsForAttachedVolumes", "Effect": "Allow",
                      "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": KEY,
                      "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
    assert use == {"Sid": "EncryptVolumes", "Effect": "Allow", "Resource": KEY,
                   "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]}
    assert json.loads(volumes_key_policy_document(KEY))["Version"] == "2012-10-17"


def test_volumes_are_gp3_ext4_encrypted_with_the_given_key():
    assert storage_class_parameters(KEY) == {"type": "gp3", "encrypted": "true", "kmsKeyId": KEY,
                                             "csi.storage.k8s.io/fstype": "ext4"}


def test_the_volumes_key_rotates_waits_the_configured_window_and_is_protected_with_the_cluster():
    synthesis = _created(kms_key_deletion_window_days=7, protect=True, storage_class="fast-gp3")
    key = synthesis.named("cluster-volumes-key")
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 7
    assert key.options["protect"] is True
    assert "EKS cluster c" in key.inputs["description"]
    storage_class = synthesis.named("cluster-storage-class")
    assert storage_class.inputs["metadata"]["name"] == "fast-gp3"
    assert storage_class.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "storage"
    assert storage_class.inputs["reclaimPolicy"] == "Retain"
    [component] = synthesis.of_type("gpu-model-platform:index:Cluster")
    assert storage_class.parent == key.parent == component.urn
    assert synthesis.named("cluster-ebs-csi-role").parent == component.urn


def test_an_unprotected_cluster_can_delete_its_volumes_key_and_released_volumes():
    synthesis = _created()
    assert synthesis.named("cluster-volumes-key").options["protect"] is False
    assert synthesis.named("cluster-volumes-key").inputs["deletionWindowInDays"] == 30
    assert synthesis.named("cluster-storage-class").inputs["reclaimPolicy"] == "Delete"


def test_the_driver_role_and_the_volumes_key_carry_the_components_tags():
    synthesis = _created(tags={"team": "ml"})
    for name in ("cluster-ebs-csi-role", "cluster-volumes-key"):
        tags = synthesis.named(name).inputs["tags"]
        assert {"team": "ml", "component": "cluster", "component-name": "cluster"}.items() <= tags.items(), name
