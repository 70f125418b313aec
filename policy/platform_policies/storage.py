"""Every volume the stack asks for can be provisioned.

A claim that names a StorageClass nobody created, or one whose driver is missing or has no AWS rights,
stays Pending forever; a StatefulSet behind it never starts, and Helm still reports success. This policy
follows each claim (PersistentVolumeClaims, StatefulSet volumeClaimTemplates, and storage classes named in
Helm chart values) to a StorageClass the program creates or the cluster states it has, and each created
class to its CSI driver's EKS add-on, that add-on's IRSA role, the driver's managed policy and, for a class
that encrypts with a customer-managed key, the role's right to use that key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import HELM_RELEASE, STATEFUL_SET
from ._stack import (
    ADDON,
    PVC,
    STACK_CONFIG_SCHEMA,
    STORAGE_CLASS,
    Resource,
    StackView,
    as_list,
    walk_dicts,
)
from ._values import UNKNOWN, dotted, get, items

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# CSI provisioner -> (EKS add-on that installs the driver, AWS managed policy its role needs).
DRIVERS: dict[str, tuple[str, str]] = {
    "ebs.csi.aws.com": ("aws-ebs-csi-driver", "AmazonEBSCSIDriverPolicy"),
    "efs.csi.aws.com": ("aws-efs-csi-driver", "AmazonEFSCSIDriverPolicy"),
}
_CLASS_KEYS = ("storageClassName", "storageClass")


@dataclass
class Claim:
    """A request for a volume: who asks, where, and the class it names (None: the default class)."""

    owner: Resource
    where: str
    class_name: Any


def _claims(view: StackView) -> Iterator[Claim]:
    for pvc in view.of_type(PVC):
        yield Claim(pvc, "spec.storageClassName", get(pvc.props, "spec", "storageClassName"))
    for workload in view.of_type(STATEFUL_SET):
        for index, template in enumerate(items(get(workload.props, "spec", "volumeClaimTemplates"))):
            yield Claim(workload, f"spec.volumeClaimTemplates[{index}].spec.storageClassName",
                        get(template, "spec", "storageClassName"))
    for release in view.of_type(HELM_RELEASE):
        yield from _chart_claims(release)


def _chart_claims(release: Resource) -> Iterator[Claim]:
    """Storage classes named anywhere in a chart's values, and claim templates that name none."""
    for path, node in walk_dicts(get(release.props, "values"), ("values",)):
        for key in _CLASS_KEYS:
            if isinstance(node.get(key), str) and node[key]:
                yield Claim(release, dotted((*path, key)), node[key])
        template = node.get("volumeClaimTemplate")
        if isinstance(template, dict) and isinstance(get(template, "spec"), dict) \
                and "storageClassName" not in template["spec"]:
            yield Claim(release, dotted((*path, "volumeClaimTemplate", "spec", "storageClassName")), None)


def _stated_classes(view: StackView) -> tuple[set[str], bool]:
    """Classes the cluster is stated to have, and whether it is stated to have a default one."""
    names = {str(n) for n in as_list(view.config.get("existingStorageClasses"))}
    has_default = bool(view.config.get("clusterProvidesDefaultStorageClass"))
    for statement in view.cluster_statements():
        if get(statement, "mode") in ("existing", "local") and isinstance(get(statement, "storage_class_name"), str):
            names.add(get(statement, "storage_class_name"))
        # kind, minikube and k3d all ship a default class.
        has_default = has_default or get(statement, "mode") == "local"
    return names, has_default


def _driver_problems(view: StackView, storage_class: Resource) -> Iterator[str]:
    provisioner = get(storage_class.props, "provisioner")
    if provisioner is UNKNOWN:
        return
    if provisioner not in DRIVERS:
        yield f"provisioner {provisioner!r} is not a driver this pack knows to be installed ({', '.join(DRIVERS)})"
        return
    addon_name, managed_policy = DRIVERS[provisioner]
    addons = [a for a in view.of_type(ADDON) if get(a.props, "addonName") == addon_name]
    if not addons:
        yield f"provisioner {provisioner} has no {addon_name} EKS add-on in the stack to run it"
        return
    role_arn = get(addons[0].props, "serviceAccountRoleArn")
    if role_arn is UNKNOWN:
        return
    role = view.role_by_arn(role_arn)
    if role is None:
        yield (f"its driver, {addons[0].label}, has no IAM role of this stack (serviceAccountRoleArn "
               f"{role_arn!r}): it could not create a volume")
        return
    if not any(p.endswith(f"/{managed_policy}") for p in view.managed_policies_of(role)):
        yield f"its driver's role {role.label} lacks the AWS managed policy {managed_policy}"
    key = get(storage_class.props, "parameters", "kmsKeyId")
    if isinstance(key, str) and not _may_use_key(view.inline_statements_of(role), key):
        yield (f"its driver's role {role.label} may not use the volumes' KMS key {key} (kms:CreateGrant and "
               "kms:GenerateDataKey*): encrypted volumes would fail to create or attach")


def _may_use_key(statements: list[dict], key: str) -> bool:
    def allows(action: str) -> bool:
        return any(get(s, "Effect") == "Allow" and key in as_list(get(s, "Resource"))
                   and any(a == action or (a.endswith("*") and action.startswith(a[:-1]))
                           for a in as_list(get(s, "Action")) if isinstance(a, str))
                   for s in statements)
    return allows("kms:CreateGrant") and allows("kms:GenerateDataKeyWithoutPlaintext")


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args)
    classes = {get(c.props, "metadata", "name"): c for c in view.of_type(STORAGE_CLASS)}
    defaults = [c for c in classes.values() if get(c.props, "metadata", "annotations", DEFAULT_CLASS_ANNOTATION) == "true"]
    stated, stated_default = _stated_classes(view)
    for storage_class in classes.values():
        for problem in _driver_problems(view, storage_class):
            report_violation(f"{storage_class.label} ({get(storage_class.props, 'metadata', 'name')}): {problem}",
                             storage_class.urn)
    for claim in _claims(view):
        if claim.class_name is UNKNOWN or claim.class_name == "":
            continue  # not known before the update, or a claim bound to a pre-made volume
        if claim.class_name is None:
            if not defaults and not stated_default:
                report_violation(
                    f"{claim.owner.label}: {claim.where} is unset, so it asks for the cluster's default StorageClass, "
                    "and the stack neither creates one nor states the cluster has one; name the class the Cluster "
                    "creates (or cluster.storageClass of an existing cluster)", claim.owner.urn)
        elif claim.class_name not in classes and claim.class_name not in stated:
            report_violation(
                f"{claim.owner.label}: {claim.where} names StorageClass {claim.class_name!r}, which the stack does not "
                f"create (it creates {sorted(classes) or 'none'}) and the cluster is not stated to have "
                f"({sorted(stated) or 'none'}; cluster.storageClass of an existing cluster): its volumes would stay "
                "Pending", claim.owner.urn)


storage_classes_resolve_to_installed_drivers = StackValidationPolicy(
    name="storage-classes-resolve-to-installed-drivers",
    description="Every PVC, volumeClaimTemplate and chart value naming a storage class resolves to a StorageClass the "
                "stack creates (or the existing cluster's stated one), whose CSI driver add-on runs with an IAM role "
                "holding the driver's policy and the right to use the class's KMS key.",
    validate=_validate,
    config_schema=STACK_CONFIG_SCHEMA,
    remediation_steps="Use the StorageClass the Cluster component creates (Cluster.storage_class_name), and keep its "
                      "driver add-on with its IRSA role.",
)
