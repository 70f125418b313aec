"""PreviewAccess: cluster access for CI previews that can really preview, read no Secret, and change nothing.

Why not EKS's `AmazonEKSViewPolicy`: the Kubernetes provider previews with a server-side dry-run
patch, which the API server authorizes exactly like a real patch (pulumi/pulumi-kubernetes#2213;
Kubernetes API concepts, "Dry-run authorization").

So the preview group gets read access and the write verbs on the API groups the program manages, and a
ValidatingAdmissionPolicy denies every request of that group that is not a dry-run. RBAC cannot deny, so
write verbs on `admissionregistration.k8s.io` are never granted: otherwise the group could remove the
policy that holds it to dry-runs. Nor is any verb on Secrets: a pull request's code runs with this group,
and a dry-run patch answers with the merged object, data included. A Secret's preview is then the
provider's diff against its state (it falls back to a client-side diff when the dry-run is refused,
pulumi/pulumi-kubernetes#2419), and a Helm release's preview never reads the cluster (the provider's
helm_release.go `Diff` is a three-way merge of the old inputs, the new inputs and the state).

A refresh does read every resource, Secrets and Helm's release records included, so the drift check's
roles (`refresh_role_arns`, assumable from main's drift workflow only) get a second group that reads
everything and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .._args import Problem, checked_args, got, non_empty, problems_of
from ..labels import standard_labels

PREVIEW_GROUP = "gpu-model-platform:preview"
REFRESH_GROUP = "gpu-model-platform:refresh"
# Every core (v1) resource a preview may read or dry-run: all but Secrets (and the subresources, such as
# pods/exec and serviceaccounts/token, that no rule names). RBAC has no "all but", hence the list.
CORE_RESOURCES: tuple[str, ...] = (
    "configmaps", "endpoints", "events", "limitranges", "namespaces", "nodes", "persistentvolumeclaims",
    "persistentvolumes", "pods", "podtemplates", "replicationcontrollers", "resourcequotas", "serviceaccounts",
    "services",
)
# API groups whose objects the program (and the charts it installs) creates, so a dry-run of them must
# be authorized. tests/test_preview_access.py fails when the program declares an object of a group
# missing here. Never `admissionregistration.k8s.io` (see the module docstring).
WRITABLE_API_GROUPS: tuple[str, ...] = (
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "monitoring.coreos.com", "karpenter.sh", "karpenter.k8s.aws", "keda.sh", "http.keda.sh",
    "argoproj.io",  # the model's Rollout and AnalysisTemplate (progressive delivery)
    "policy.sigstore.dev",  # the image admission policy (ImageAdmission)
)
_WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"]
# The two checkov findings this role exists to have, each with the reason (checkov's per-object skip annotations).
CHECKOV_SKIPS = {
    "checkov.io/skip1": "CKV_K8S_49=a preview reads every kind the program and its charts manage; the "
                        "admission policy allows this group dry-runs only",
    "checkov.io/skip2": "CKV_K8S_158=a dry-run of a Role granting more than the requester needs escalate; the "
                        "admission policy allows this group dry-runs only",
}
# The refresh role reads Secrets by design (it is the drift check's, main only).
REFRESH_CHECKOV_SKIPS = {
    "checkov.io/skip1": "CKV_K8S_49=a refresh reads every resource the program manages; no write verb",
}
_READ_VERBS = ["get", "list", "watch"]
_NEVER_WRITABLE = "admissionregistration.k8s.io"


@dataclass
class PreviewAccessArgs:
    """Inputs of `PreviewAccess`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster the roles get access to (`Cluster.cluster_name`)."""
    role_arns: Annotated[Sequence[str], non_empty()]
    """IAM roles of the CI preview jobs (one per stack's preview environment)."""
    group: str = PREVIEW_GROUP
    """Kubernetes group the roles are mapped to; the RBAC binding and the admission policy name it."""
    writable_api_groups: Sequence[str] = field(default_factory=lambda: list(WRITABLE_API_GROUPS))
    """API groups a dry-run may create, update, patch or delete in (the core group: `CORE_RESOURCES` only)."""
    refresh_role_arns: Sequence[str] = ()
    """IAM roles of the drift check: read everything (Secrets included, a refresh reads them), write nothing."""
    refresh_group: str = REFRESH_GROUP
    """Kubernetes group the refresh roles are mapped to."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if len(set(self.role_arns)) != len(self.role_arns):
            problems.append(("role_arns", got(list(self.role_arns), "list each role once")))
        if set(self.refresh_role_arns) & set(self.role_arns) or len(set(self.refresh_role_arns)) != len(
                self.refresh_role_arns):
            problems.append(("refresh_role_arns", got(list(self.refresh_role_arns), "each role once, none of "
                             "role_arns (a pull request's preview must not read Secrets)")))
        if self.refresh_group in (self.group, "") or self.refresh_group.startswith("system:"):
            problems.append(("refresh_group", got(self.refresh_group, f"a group other than {self.group!r}, not a "
                             "system: group")))
        if not self.group or self.group.startswith("system:"):
            problems.append(("group", got(self.group, "must be non-empty and not a system: group (EKS refuses those)")))
        if _NEVER_WRITABLE in self.writable_api_groups or "*" in self.writable_api_groups:
            problems.append(("writable_api_groups", got(list(self.writable_api_groups), f"{_NEVER_WRITABLE} (or *) "
                             "would let the group remove the policy that holds it to dry-runs")))
        return problems


def validate_preview_access_args(args: PreviewAccessArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def preview_cluster_role_rules(writable_api_groups: Sequence[str]) -> list[dict[str, Any]]:
    """Read and (for dry-runs) write in the listed groups, the core group's `CORE_RESOURCES` only (no Secret);
    escalate/bind to dry-run RBAC objects."""
    groups = [g for g in writable_api_groups if g]
    core = {"apiGroups": [""], "resources": list(CORE_RESOURCES)}
    return [
        {**core, "verbs": list(_READ_VERBS)},
        {"apiGroups": groups, "resources": ["*"], "verbs": list(_READ_VERBS)},
        *([{**core, "verbs": list(_WRITE_VERBS)}] if "" in writable_api_groups else []),
        {"apiGroups": groups, "resources": ["*"], "verbs": list(_WRITE_VERBS)},
        # A dry-run of a Role granting more than the requester has is refused unless it may escalate/bind.
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "clusterroles"], "verbs": ["escalate", "bind"]},
    ]


def refresh_cluster_role_rules() -> list[dict[str, Any]]:
    """Read everything, Secrets included (a refresh reads every resource it manages); no write verb."""
    return [{"apiGroups": ["*"], "resources": ["*"], "verbs": list(_READ_VERBS)}]


def dry_run_only_policy_spec(group: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy spec: a request of `group` that is not a dry-run is denied.

    Every expression guards with has(): with failurePolicy Fail, an evaluation error would deny the
    request, and a match condition that errored on requests without groups would deny everyone's.
    """
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{
            "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*", "*/*"]}]},
        "matchConditions": [{
            "name": "preview-group",
            "expression": f"has(request.userInfo.groups) && '{group}' in request.userInfo.groups"}],
        "validations": [{
            "expression": "has(request.dryRun) && request.dryRun == true",
            "message": f"the {group} group may only dry-run (it previews; deploys use the deploy role)",
            "reason": "Forbidden"}],
    }


class PreviewAccess(pulumi.ComponentResource):
    """Maps CI preview roles to a Kubernetes group that can read everything and dry-run changes only.

    Creates per role an EKS access entry (no access policy: RBAC decides), one ClusterRole and its
    ClusterRoleBinding for the group, and a ValidatingAdmissionPolicy with its binding that denies
    the group every request that is not a dry-run. With `refresh_role_arns`, their access entries and a
    read-only ClusterRole (Secrets included) for the refresh group.
    """

    group: str
    """The Kubernetes group the preview roles act as."""
    cluster_role_name: pulumi.Output[str]
    """The ClusterRole bound to the group."""
    policy_name: pulumi.Output[str]
    """The ValidatingAdmissionPolicy that holds the group to dry-runs."""

    def __init__(self, name: str, args: PreviewAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("PreviewAccess", name, args, PreviewAccessArgs)
        super().__init__("gpu-model-platform:index:PreviewAccess", name, None, opts)
        self.group = args.group
        labels = standard_labels(name, "ci-preview-access")
        entries = [self._access_entry(name, args.cluster_name, arn, args.group) for arn in args.role_arns]
        policy = self._dry_run_only_policy(name, args, labels)
        self.cluster_role_name = self._rbac(name, "preview", args.group, preview_cluster_role_rules(
            args.writable_api_groups), labels, [policy, *entries])
        if args.refresh_role_arns:
            refresh = [self._access_entry(name, args.cluster_name, arn, args.refresh_group)
                       for arn in args.refresh_role_arns]
            self._rbac(name, "refresh", args.refresh_group, refresh_cluster_role_rules(), labels, [policy, *refresh])
        self.policy_name = policy.metadata.name
        self.register_outputs({"group": self.group, "cluster_role_name": self.cluster_role_name,
                               "policy_name": self.policy_name})

    def _access_entry(self, name: str, cluster_name: pulumi.Input[str], role_arn: str, group: str) -> aws.eks.AccessEntry:
        return aws.eks.AccessEntry(f"{name}-{role_arn.rsplit('/', 1)[-1]}", cluster_name=cluster_name,
                                   principal_arn=role_arn, type="STANDARD", kubernetes_groups=[group],
                                   opts=pulumi.ResourceOptions(parent=self))

    def _dry_run_only_policy(self, name: str, args: PreviewAccessArgs,
                             labels: dict[str, str]) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
        metadata = k8s.meta.v1.ObjectMetaArgs(name=f"{name}-dry-run-only", labels=labels)
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            # The spec is data (its CEL expressions are tested against the API's schema): not typed Args.
            f"{name}-dry-run-only", metadata=metadata, spec=cast(Any, dry_run_only_policy_spec(args.group)),
            opts=pulumi.ResourceOptions(parent=self))
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-dry-run-only", metadata=metadata,
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=policy.metadata.name, validation_actions=["Deny"]),
            opts=pulumi.ResourceOptions(parent=self))
        return policy

    def _rbac(self, name: str, role: str, group: str, rules: list[dict[str, Any]], labels: dict[str, str],
              after: list[pulumi.Resource]) -> pulumi.Output[str]:
        # The role only exists once the policy that limits it does. The preview role keeps its old logical names.
        suffix = "" if role == "preview" else f"-{role}"
        annotations = CHECKOV_SKIPS if role == "preview" else REFRESH_CHECKOV_SKIPS
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-role{suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-{role}", labels=labels, annotations=annotations),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"])
                   for r in rules],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding{suffix}", metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-{role}", labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                             name=cluster_role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(api_group="rbac.authorization.k8s.io", kind="Group", name=group)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        # `metadata.name` is always set above; the SDK types the lifted attribute as Any.
        return cast(pulumi.Output[str], cluster_role.metadata.name)
