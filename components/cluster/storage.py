"""What gives a created cluster storage that binds: the EBS CSI driver's identity and the default StorageClass.

`Cluster` calls these for `mode: create`; the driver itself is the `aws-ebs-csi-driver` EKS add-on
(installed with the other add-ons, after the nodes it runs on). Sources: Amazon EKS User Guide
"Use Kubernetes volume storage with Amazon EBS" (awsdocs/amazon-eks-user-guide
latest/ug/storage/ebs-csi.adoc: the managed policy, the `ebs-csi-controller-sa` service account and the
KMS statements a customer-managed key needs); kubernetes-sigs/aws-ebs-csi-driver `docs/parameters.md`
at tag v1.56.0 (the StorageClass parameters).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .eks_nodes import managed_policy_arn

EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
EBS_CSI_NAMESPACE = "kube-system"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
"""The controller's service account the add-on creates: the only subject the driver's role trusts."""
EBS_CSI_MANAGED_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
DEFAULT_STORAGE_CLASS = "gp3"
# EKS stopped marking its gp2 class as default with 1.30 (User Guide, kubernetes-versions-standard.adoc):
# without a default class a claim that names none stays Pending, so ours is the default.


def volumes_key_policy_document(key_arn: str) -> str:
    """What the driver needs to create and attach volumes encrypted with our key (grants for EC2 only)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "GrantsForAttachedVolumes", "Effect": "Allow",
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": key_arn,
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Sid": "EncryptVolumes", "Effect": "Allow",
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": key_arn},
    ]}, sort_keys=True)


def create_volumes_key(name: str, *, cluster_name: str, deletion_window_days: int, protect: bool,
                       tags: dict[str, str], parent: pulumi.Resource) -> aws.kms.Key:
    """The customer-managed key every volume of the default StorageClass is encrypted with (yearly rotation)."""
    return aws.kms.Key(
        f"{name}-volumes-key",
        description=f"Encryption of the EBS volumes Kubernetes provisions in EKS cluster {cluster_name}",
        enable_key_rotation=True,
        deletion_window_in_days=deletion_window_days,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )


def create_ebs_csi_role(name: str, *, trust_policy: pulumi.Input[str], partition: pulumi.Input[str],
                        key: aws.kms.Key, tags: dict[str, str], parent: pulumi.Resource
                        ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    """The driver's IRSA role: the AWS managed policy, and the use of our volumes key; returns it and its policies."""
    role = aws.iam.Role(f"{name}-ebs-csi-role", description="EBS CSI driver controller (IRSA): provision volumes",
                        assume_role_policy=trust_policy, tags=tags, opts=pulumi.ResourceOptions(parent=parent))
    managed = aws.iam.RolePolicyAttachment(
        f"{name}-ebs-csi-AmazonEBSCSIDriverPolicy", role=role.name,
        policy_arn=managed_policy_arn(partition, EBS_CSI_MANAGED_POLICY), opts=pulumi.ResourceOptions(parent=parent))
    key_use = aws.iam.RolePolicy(f"{name}-ebs-csi-volumes-key", role=role.id,
                                 policy=key.arn.apply(volumes_key_policy_document),
                                 opts=pulumi.ResourceOptions(parent=parent))
    return role, [managed, key_use]


def storage_class_parameters(key_arn: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """gp3, encrypted with our key, formatted ext4 (driver parameters, docs/parameters.md)."""
    return {"type": "gp3", "encrypted": "true", "kmsKeyId": key_arn, "csi.storage.k8s.io/fstype": "ext4"}


def create_default_storage_class(name: str, *, class_name: str, key: aws.kms.Key, retain: bool,
                                 labels: dict[str, str], provider: k8s.Provider, parent: pulumi.Resource
                                 ) -> k8s.storage.v1.StorageClass:
    """The cluster's default StorageClass: encrypted gp3 from the EBS CSI driver, bound where the pod lands."""
    return k8s.storage.v1.StorageClass(
        f"{name}-storage-class",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name, labels=labels,
                                            annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
        provisioner=EBS_CSI_PROVISIONER,
        parameters=storage_class_parameters(key.arn),
        # An EBS volume lives in one zone: binding waits for the pod's node, so the volume is created in
        # the zone the scheduler (and zone spread) chose instead of pinning the pod to a random zone.
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        # Protected (prod) stacks keep a released volume: metrics and silences survive a deleted claim.
        reclaim_policy="Retain" if retain else "Delete",
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
