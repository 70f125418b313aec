"""A new EKS cluster runs a Kubernetes minor still in EKS standard support; an existing one past it is warned about.

Past the end of standard support a cluster is billed at the extended-support rate, or (with
`upgradePolicy.supportType: STANDARD`) upgraded by AWS under the program, whose next run would then try to
downgrade it. Refusing every run of a cluster that already exists would also refuse the rollback and the
upgrade that fix it, so only a cluster the run creates (in a preview its `arn` is not known yet) is refused;
an existing one gets an advisory warning. The dates are AWS's release calendar, recorded with their source in
components/cluster/eks_versions.py; the pack keeps a copy (it runs from its own virtualenv) that a test keeps equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import EKS_CLUSTER
from ._stack import Resource, StackView
from ._values import UNKNOWN, get

# End of EKS standard support per minor (Amazon EKS User Guide, "Amazon EKS Kubernetes release calendar").
STANDARD_SUPPORT_ENDS: dict[str, date] = {
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
    "1.36": date(2027, 8, 2),
}


def _problems(args: StackValidationArgs, today: date, new: bool) -> Iterator[tuple[Resource, str]]:
    """(cluster, why) for each cluster out of standard support, among the new (`new`) or the existing ones."""
    for cluster in StackView(args).of_type(EKS_CLUSTER):
        version = get(cluster.props, "version")
        if not isinstance(version, str) or (get(cluster.props, "arn") is UNKNOWN) != new:
            continue  # EKS's own default (known only after the update), or not the kind of cluster judged here
        end = STANDARD_SUPPORT_ENDS.get(version)
        if end is None:
            yield cluster, (f"Kubernetes {version} has no recorded end of EKS standard support (recorded: "
                            f"{', '.join(STANDARD_SUPPORT_ENDS)}); record it, with its source, in "
                            "components/cluster/eks_versions.py and in this pack")
        elif today >= end:
            yield cluster, (f"Kubernetes {version} left EKS standard support on {end.isoformat()}; the cluster "
                            "would pay the extended-support rate or be upgraded under the program; move to a newer "
                            "minor and every version-bound pin with it")


def eks_version_in_standard_support(today: Callable[[], date] = date.today) -> StackValidationPolicy:
    """The mandatory policy for clusters the run creates, judging against `today()` (the run's day by default)."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for cluster, why in _problems(args, today(), new=True):
            report_violation(f"{cluster.label}: {why}", cluster.urn)

    return StackValidationPolicy(
        name="eks-version-in-standard-support",
        description="A new EKS cluster runs a Kubernetes minor whose recorded end of standard support has not passed.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps="Set cluster.kubernetesVersion to a minor in standard support and move the add-on, "
                          "autoscaler and AMI pins with it.",
    )


def eks_version_support_ended(today: Callable[[], date] = date.today) -> StackValidationPolicy:
    """The advisory policy for clusters that already exist: a warning on every run, never a refusal."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for cluster, why in _problems(args, today(), new=False):
            report_violation(f"{cluster.label}: {why}", cluster.urn)

    return StackValidationPolicy(
        name="eks-version-support-ended",
        description="An existing EKS cluster past its minor's end of standard support is reported (advisory: a "
                    "rollback or the upgrade itself must still run).",
        validate=validate,
        enforcement_level=EnforcementLevel.ADVISORY,
        remediation_steps="Upgrade the cluster one minor at a time (cluster.kubernetesVersion) with its pins.",
    )
