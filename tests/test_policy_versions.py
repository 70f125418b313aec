"""The EKS version policies at their edges: the last day of standard support, a cluster without a version, and
the full text that tells the deployer what to do."""

from __future__ import annotations

from datetime import date

import pytest
from pulumi_policy import EnforcementLevel

from policy.platform_policies.versions import eks_version_in_standard_support, eks_version_support_ended
from tests.test_platform_policies import _cluster, messages
from tests.test_policy import stack_violations


def _refused(version: str, today: date, created: bool = True) -> list[str]:
    policy = (eks_version_in_standard_support if created else eks_version_support_ended)(today=lambda: today)
    return messages(stack_violations(policy, [_cluster(version, created=created)]))


def test_a_new_cluster_is_accepted_up_to_the_day_before_its_minors_end_and_refused_on_that_day():
    assert _refused("1.34", date(2026, 12, 1)) == []
    assert _refused("1.34", date(2026, 12, 2)) == [
        "EKS cluster 'cluster-eks': Kubernetes 1.34 left EKS standard support on 2026-12-02; the cluster would pay the "
        "extended-support rate or be upgraded under the program; move to a newer minor and every version-bound pin "
        "with it"]


def test_an_existing_cluster_is_warned_about_from_the_same_day():
    assert _refused("1.32", date(2026, 3, 22), created=False) == []
    assert len(_refused("1.32", date(2026, 3, 23), created=False)) == 1


def test_an_unrecorded_minor_is_refused_naming_every_recorded_one_and_where_to_record_it():
    assert _refused("1.31", date(2026, 1, 1)) == [
        "EKS cluster 'cluster-eks': Kubernetes 1.31 has no recorded end of EKS standard support (recorded: 1.32, 1.33, "
        "1.34, 1.35, 1.36); record it, with its source, in components/cluster/eks_versions.py and in this pack"]


def test_a_cluster_without_a_version_takes_eks_default_and_is_left_alone():
    _, name, props = _cluster("1.35", created=True)
    del props["version"]
    policy = eks_version_in_standard_support(today=lambda: date(2030, 1, 1))
    assert stack_violations(policy, [("aws:eks/cluster:Cluster", name, props)]) == []


@pytest.mark.parametrize("factory, created", [(eks_version_in_standard_support, True),
                                               (eks_version_support_ended, False)])
def test_the_violation_is_reported_on_the_clusters_urn(factory, created):
    policy = factory(today=lambda: date(2030, 1, 1))
    [(_, urn)] = stack_violations(policy, [_cluster("1.36", created=created)])
    assert urn == "urn:pulumi:test::gpu-model-platform::aws:eks/cluster:Cluster::cluster-eks"


def test_a_new_cluster_is_refused_and_an_existing_one_only_warned_about_by_name():
    refuse = eks_version_in_standard_support(today=date.today)
    warn = eks_version_support_ended(today=date.today)
    assert (refuse.name, refuse.enforcement_level) == ("eks-version-in-standard-support", EnforcementLevel.MANDATORY)
    assert (warn.name, warn.enforcement_level) == ("eks-version-support-ended", EnforcementLevel.ADVISORY)


def test_the_remedies_name_the_config_key_that_pins_the_version():
    refuse = eks_version_in_standard_support(today=date.today).remediation_steps or ""
    warn = eks_version_support_ended(today=date.today).remediation_steps or ""
    assert "cluster.kubernetesVersion" in refuse and "AMI pins" in refuse
    assert "cluster.kubernetesVersion" in warn and "one minor at a time" in warn
