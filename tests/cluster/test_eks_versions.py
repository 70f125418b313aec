"""A Kubernetes version in EKS standard support, and every version-bound pin moving with it."""

from __future__ import annotations

from datetime import date

import pytest

from components.capacity.cluster_autoscaler import IMAGE_TAGS
from components.cluster.eks_versions import (
    ADDON_VERSIONS,
    DEFAULT_KUBERNETES_VERSION,
    RECORDED_ON,
    STANDARD_SUPPORT_ENDS,
    standard_support_problem,
)
from stack_config import ConfigError
from tests.aws_platform import config_of
from tests.harness import AWS_STACKS


def test_the_default_kubernetes_version_is_still_in_eks_standard_support_today():
    """Fails from the recorded end of standard support on: move to a newer minor and every pin with it."""
    end = STANDARD_SUPPORT_ENDS[DEFAULT_KUBERNETES_VERSION]
    assert date.today() < end, (f"Kubernetes {DEFAULT_KUBERNETES_VERSION} left EKS standard support on {end}: "
                                "update components/cluster/eks_versions.py, the add-ons, the autoscaler image and the stacks")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_stack_runs_a_version_in_standard_support_today(stack):
    version = config_of(stack).cluster.kubernetes_version
    assert standard_support_problem(version, date.today()) is None, version


def test_the_default_was_in_standard_support_when_recorded_and_is_the_newest_recorded():
    assert standard_support_problem(DEFAULT_KUBERNETES_VERSION, RECORDED_ON) is None
    assert DEFAULT_KUBERNETES_VERSION == max(STANDARD_SUPPORT_ENDS, key=lambda v: tuple(map(int, v.split("."))))


@pytest.mark.parametrize("version", sorted(ADDON_VERSIONS))
def test_every_pinned_version_has_its_support_date_and_its_autoscaler_image(version):
    assert version in STANDARD_SUPPORT_ENDS and version in IMAGE_TAGS
    assert IMAGE_TAGS[version].startswith(f"v{version}."), "Cluster Autoscaler must match the cluster's minor"
    assert ADDON_VERSIONS[version]["kube-proxy"].startswith(f"v{version}."), "kube-proxy follows the minor"


def test_a_version_past_standard_support_is_refused_with_its_date():
    with pytest.raises(ConfigError) as caught:
        config_of("prod", cluster={"kubernetesVersion": "1.33"})
    assert any(p.startswith("gpu-model-platform:cluster.kubernetesVersion: got '1.33'; left EKS standard support on "
                            "2026-07-29") for p in caught.value.problems), caught.value.problems


def test_an_unrecorded_version_is_refused_naming_where_to_record_it():
    problem = standard_support_problem("1.29", date(2026, 11, 30))
    assert problem and "components/cluster/eks_versions.py" in problem
    assert standard_support_problem("1.35", date(2027, 3, 26)) is None
    assert "2027-03-27" in standard_support_problem("1.35", date(2027, 3, 27))
