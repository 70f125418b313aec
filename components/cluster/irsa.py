"""IAM roles for service accounts (IRSA): the one way the platform's pods get AWS credentials.

Every AWS-calling pod the platform installs (the VPC CNI, the EBS CSI driver, Cluster Autoscaler,
Karpenter, and the model when it is given a role) gets a role whose trust policy names exactly its
namespace and service account. The decision, and why not EKS Pod Identity, is in docs/aws-platform.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

TOKEN_AUDIENCE = "sts.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
"""The service account annotation the EKS pod identity webhook reads to give pods the role."""


def service_account_subject(namespace: str, service_account: str) -> str:
    """`system:serviceaccount:<namespace>:<name>`, the `sub` claim of the account's projected token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def irsa_trust_policy(oidc_provider_arn: str, namespace: str, service_account: str) -> str:
    """A trust policy letting exactly one Kubernetes service account assume the role (IRSA)."""
    issuer = oidc_provider_arn.split(":oidc-provider/", 1)[1]
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": service_account_subject(namespace, service_account),
                                       f"{issuer}:aud": TOKEN_AUDIENCE}},
    }]}, sort_keys=True)


def controller_role(role_name: str, policy_name: str, *, description: str, oidc_provider_arn: pulumi.Input[str],
                    namespace: str, service_account: str, policy: pulumi.Input[str],
                    tags: Mapping[str, pulumi.Input[str]], parent: pulumi.Resource) -> aws.iam.Role:
    """A controller's IRSA role, trusted only by its service account, with its policy inline.

    Inline rather than a managed policy so the permissions live and die with the role; compact
    JSON keeps even the largest published controller policy far below IAM's size limit.
    """
    role = aws.iam.Role(
        role_name,
        description=description,
        assume_role_policy=pulumi.Output.from_input(oidc_provider_arn).apply(
            lambda arn: irsa_trust_policy(arn, namespace, service_account)),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.iam.RolePolicy(policy_name, role=role.id, policy=policy, opts=pulumi.ResourceOptions(parent=parent))
    return role
