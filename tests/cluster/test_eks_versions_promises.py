"""A minor's end of EKS standard support at its exact day, and the words its owner is told (issue 29)."""

from __future__ import annotations

from datetime import date

from components.cluster.eks_versions import (
    standard_support_end,
    standard_support_problem,
    support_ended_warning,
    unrecorded_version_problem,
)

UNRECORDED = ("no recorded end of EKS standard support (recorded: 1.32, 1.33, 1.34, 1.35, 1.36); "
              "record it with its source in components/cluster/eks_versions.py")
PAST_1_34 = ("Kubernetes 1.34 left EKS standard support on 2026-12-02: the cluster is billed at the extended-support "
             "rate (or upgraded by AWS under the program); move to a newer minor and every version-bound pin with it")


def test_the_recorded_end_of_a_minor_is_read_back_and_an_unrecorded_minor_has_none():
    assert standard_support_end("1.35") == date(2027, 3, 27)
    assert standard_support_end("1.31") is None


def test_a_minor_without_a_recorded_end_cannot_be_judged_and_says_where_to_record_it():
    assert unrecorded_version_problem("1.31") == UNRECORDED
    assert unrecorded_version_problem("1.35") is None
    assert standard_support_problem("1.31", date(2026, 1, 1)) == UNRECORDED
    assert support_ended_warning("1.31", date(2030, 1, 1)) is None


def test_standard_support_ends_on_the_recorded_day_not_the_day_after():
    assert standard_support_problem("1.34", date(2026, 12, 1)) is None
    assert standard_support_problem("1.34", date(2026, 12, 2)) == PAST_1_34
    assert support_ended_warning("1.34", date(2026, 12, 2)) == PAST_1_34
    assert support_ended_warning("1.35", date(2026, 12, 2)) is None
