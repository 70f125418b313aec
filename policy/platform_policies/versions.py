"""The EKS cluster runs a Kubernetes minor that is still in EKS standard support.

Past the end of standard support a cluster is billed at the extended-support rate, or (with
`upgradePolicy.supportType: STANDARD`) upgraded by AWS under the program, whose next run would then try to
downgrade it. The dates are AWS's release calendar, recorded with their source in
components/cluster/eks_versions.py; the pack keeps a copy (it runs from its own virtualenv) that a test keeps equal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import EKS_CLUSTER
from ._stack import StackView
from ._values import get

# End of EKS standard support per minor (Amazon EKS User Guide, "Amazon EKS Kubernetes release calendar").
STANDARD_SUPPORT_ENDS: dict[str, date] = {
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
}


def eks_version_in_standard_support(today: Callable[[], date] = date.today) -> StackValidationPolicy:
    """The policy, judging against `today()` (the day of the preview or update by default)."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for cluster in StackView(args).of_type(EKS_CLUSTER):
            version = get(cluster.props, "version")
            if not isinstance(version, str):
                continue  # EKS's own default, known only after the update
            end = STANDARD_SUPPORT_ENDS.get(version)
            if end is None:
                report_violation(
                    f"{cluster.label}: Kubernetes {version} has no recorded end of EKS standard support (recorded: "
                    f"{', '.join(STANDARD_SUPPORT_ENDS)}); record it, with its source, in components/cluster/eks_versions.py "
                    "and in this pack", cluster.urn)
            elif today() >= end:
                report_violation(
                    f"{cluster.label}: Kubernetes {version} left EKS standard support on {end.isoformat()}; the cluster "
                    "would pay the extended-support rate or be upgraded under the program; move to a newer minor and "
                    "every version-bound pin with it", cluster.urn)

    return StackValidationPolicy(
        name="eks-version-in-standard-support",
        description="EKS clusters run a Kubernetes minor whose recorded end of standard support has not passed.",
        validate=validate,
        remediation_steps="Set cluster.kubernetesVersion to a minor in standard support and move the add-on, "
                          "autoscaler and AMI pins with it.",
    )
