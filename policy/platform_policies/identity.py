"""IRSA both ways: every annotated service account's role trusts exactly it, and every trusted account exists.

A service account annotated with a role whose trust policy names another namespace or account gets
AccessDenied at its first AWS call (the autoscaler never scales, the volume driver never provisions); a
role that trusts an account nothing in the stack creates is a standing grant to whoever creates it later.
Service accounts come from Kubernetes objects, from EKS add-ons (`serviceAccountRoleArn`, the add-on's own
account), and from Helm values (`serviceAccount` / `rbac.serviceAccount` with a name and the annotation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import HELM_RELEASE
from ._stack import ADDON, ROLE, SERVICE_ACCOUNT, Resource, StackView, as_list, parse_json, statements
from ._values import UNKNOWN, get

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
TOKEN_AUDIENCE = "sts.amazonaws.com"
# The account each EKS add-on runs its AWS-calling pods as (Amazon EKS User Guide: cni-iam-role, ebs-csi, efs-csi).
ADDON_SERVICE_ACCOUNTS: dict[str, tuple[str, str]] = {
    "vpc-cni": ("kube-system", "aws-node"),
    "aws-ebs-csi-driver": ("kube-system", "ebs-csi-controller-sa"),
    "aws-efs-csi-driver": ("kube-system", "efs-csi-controller-sa"),
}
# Where charts take their service account's name and annotations from. kube-prometheus-stack names Prometheus's
# own account under `prometheus.serviceAccount` (AMP remote write) and Grafana's under `grafana.serviceAccount`
# (its CloudWatch Logs and X-Ray reader role); Sigstore's policy-controller its webhook's under
# `webhook.serviceAccount` (chart 0.10.6's values.yaml).
_CHART_SERVICE_ACCOUNT_PATHS = (("serviceAccount",), ("rbac", "serviceAccount"), ("prometheus", "serviceAccount"),
                                ("grafana", "serviceAccount"), ("webhook", "serviceAccount"))


@dataclass
class Account:
    """A Kubernetes service account that is to assume an IAM role."""

    owner: Resource
    namespace: Any
    name: Any
    role_arn: Any

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def _accounts(view: StackView) -> Iterator[Account]:
    for account in view.of_type(SERVICE_ACCOUNT):
        arn = get(account.props, "metadata", "annotations", ROLE_ARN_ANNOTATION)
        if arn is not None:
            yield Account(account, get(account.props, "metadata", "namespace") or "default",
                          get(account.props, "metadata", "name"), arn)
    for addon in view.of_type(ADDON):
        arn = get(addon.props, "serviceAccountRoleArn")
        known = ADDON_SERVICE_ACCOUNTS.get(get(addon.props, "addonName"))
        if arn is not None and known:
            yield Account(addon, *known, arn)
    for release in view.of_type(HELM_RELEASE):
        for path in _CHART_SERVICE_ACCOUNT_PATHS:
            values = get(release.props, "values", *path)
            arn = get(values, "annotations", ROLE_ARN_ANNOTATION)
            if arn is not None:
                yield Account(release, get(release.props, "namespace") or "default", get(values, "name"), arn)


def trusted_subjects(role: Resource) -> Any:
    """(subject, exact) for each service account the role's trust policy lets assume it; UNKNOWN if unknown."""
    document = get(role.props, "assumeRolePolicy")
    if document is UNKNOWN:
        return UNKNOWN
    found = []
    for statement in statements(parse_json(document)):
        if get(statement, "Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in as_list(get(statement, "Action")):
            continue
        for operator, conditions in (get(statement, "Condition") or {}).items():
            for key, values in (conditions or {}).items():
                if str(key).endswith(":sub"):
                    exact = operator == "StringEquals" and any(str(k).endswith(":aud") and TOKEN_AUDIENCE in as_list(v)
                                                               for k, v in conditions.items())
                    found += [(str(v), exact and len(as_list(values)) == 1) for v in as_list(values)]
        if not any(str(k).endswith(":sub") for c in (get(statement, "Condition") or {}).values() for k in (c or {})):
            found.append(("any service account (no sub condition)", False))
    return found


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args)
    accounts = [a for a in _accounts(view) if UNKNOWN not in (a.namespace, a.name, a.role_arn)]
    roles = {r.urn: trusted_subjects(r) for r in view.of_type(ROLE)}
    for account in accounts:
        role = view.role_by_arn(account.role_arn)
        if role is None or roles[role.urn] is UNKNOWN:
            continue  # a role made outside the stack: its trust is its owner's to check
        subjects = roles[role.urn]
        if (account.subject, True) not in subjects:
            report_violation(
                f"{account.owner.label}: service account {account.namespace}/{account.name} is to assume "
                f"{role.label}, whose trust policy names {[s for s, _ in subjects] or 'no service account'} instead of "
                f"exactly {account.subject} (StringEquals on sub, aud {TOKEN_AUDIENCE}): every AWS call it makes would "
                "be denied", account.owner.urn)
    for role in view.of_type(ROLE):
        subjects = roles[role.urn]
        if subjects is UNKNOWN or get(role.props, "arn") is UNKNOWN:
            continue
        claimed = {a.subject for a in accounts if a.role_arn == get(role.props, "arn")}
        for subject, exact in subjects:
            if not exact or subject not in claimed:
                why = ("is not an exact StringEquals match with the sts.amazonaws.com audience" if not exact
                       else "but no service account in the stack is annotated with this role under that name")
                report_violation(f"{role.label}: its trust policy lets {subject} assume it, {why}; a role should "
                                 "trust exactly the one service account the stack gives it", role.urn)


irsa_trust_matches_service_accounts = StackValidationPolicy(
    name="irsa-trust-matches-service-accounts",
    description="Every IRSA-annotated service account (Kubernetes object, EKS add-on or chart value) maps to a role of "
                "the stack trusting exactly that namespace and name, and every role trusting a service account is "
                "claimed by one.",
    validate=_validate,
    remediation_steps="Build each trust policy from the service account it serves (irsa_trust_policy) and annotate "
                      "that account, and only that one, with the role.",
)
