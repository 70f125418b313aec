"""A Kubernetes version in EKS standard support, and every version-bound pin moving with it."""

from __future__ import annotations

from datetime import date

import pulumi
import pytest

from components.capacity.cluster_autoscaler import IMAGE_TAGS
from components.cluster.eks_cluster import ClusterArgs, validate_cluster_args
from components.cluster.eks_versions import (
    ADDON_VERSIONS,
    CORE_ADDONS,
    DEFAULT_KUBERNETES_VERSION,
    RECORDED_ON,
    STANDARD_SUPPORT_ENDS,
    standard_support_problem,
    support_ended_warning,
)
from stack_config import ConfigError
from tests.aws_platform import config_of
from tests.harness import AWS_STACKS, raw_sections, stack_with


def test_the_default_kubernetes_version_is_still_in_eks_standard_support_today():
    """Fails from the recorded end of standard support on: move to a newer minor and every pin with it."""
    end = STANDARD_SUPPORT_ENDS[DEFAULT_KUBERNETES_VERSION]
    assert date.today() < end, (f"Kubernetes {DEFAULT_KUBERNETES_VERSION} left EKS standard support on {end}: "
                                "update components/cluster/eks_versions.py, the add-ons, the autoscaler image and the stacks")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_stack_runs_a_version_in_standard_support_today(stack):
    version = config_of(stack).cluster.kubernetes_version
    assert standard_support_problem(version, date.today()) is None, version


def _minor(version: str) -> tuple[int, ...]:
    return tuple(map(int, version.split(".")))


def test_the_default_was_in_standard_support_when_recorded_and_is_the_newest_with_pinned_add_ons():
    assert standard_support_problem(DEFAULT_KUBERNETES_VERSION, RECORDED_ON) is None
    assert DEFAULT_KUBERNETES_VERSION == max(ADDON_VERSIONS, key=_minor)


def test_every_recorded_minor_ends_after_the_one_before():
    # EKS gives each minor 14 months of standard support from its release, about four months apart.
    ordered = sorted(STANDARD_SUPPORT_ENDS, key=_minor)
    assert [_minor(v)[1] for v in ordered] == list(range(_minor(ordered[0])[1], _minor(ordered[-1])[1] + 1))
    ends = [STANDARD_SUPPORT_ENDS[v] for v in ordered]
    assert all(60 < (b - a).days < 200 for a, b in zip(ends, ends[1:], strict=False)), ends
    assert "1.36" in STANDARD_SUPPORT_ENDS, "an existing cluster on 1.36 is judged by its recorded date"


@pytest.mark.parametrize("version", sorted(ADDON_VERSIONS))
def test_every_pinned_version_has_its_support_date_and_its_autoscaler_image(version):
    assert version in STANDARD_SUPPORT_ENDS and version in IMAGE_TAGS
    assert IMAGE_TAGS[version].startswith(f"v{version}."), "Cluster Autoscaler must match the cluster's minor"
    assert ADDON_VERSIONS[version]["kube-proxy"].startswith(f"v{version}."), "kube-proxy follows the minor"


def test_a_version_past_standard_support_is_accepted_so_an_existing_cluster_still_deploys_and_rolls_back():
    # 1.34's standard support ended on 2026-12-02: the stack still runs (a rollback must), and the cluster warns.
    assert support_ended_warning("1.34", date.today()) is not None
    config = config_of("prod", cluster={"kubernetesVersion": "1.34"})
    assert config.cluster.kubernetes_version == "1.34"


def test_the_cluster_warns_on_every_run_past_the_end_of_standard_support(monkeypatch):
    warned = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, resource=None, **_: warned.append(message))
    sections = raw_sections("prod")
    sections["cluster"]["kubernetesVersion"] = "1.34"
    stack_with("prod", cluster=sections["cluster"])
    assert [m for m in warned if "left EKS standard support on 2026-12-02" in m and m.startswith("Cluster 'cluster'")]
    warned.clear()
    stack_with("prod", cluster=raw_sections("prod")["cluster"])
    assert not [m for m in warned if "EKS standard support" in m], "1.35 is in standard support today"


def test_support_ended_warning_starts_on_the_end_date():
    assert support_ended_warning("1.35", date(2027, 3, 26)) is None
    assert "2027-03-27" in support_ended_warning("1.35", date(2027, 3, 27))
    assert support_ended_warning("1.29", date(2027, 3, 27)) is None, "an unrecorded minor is refused, not warned"


def test_an_unrecorded_version_is_refused_naming_where_to_record_it():
    problem = standard_support_problem("1.29", date(2026, 11, 30))
    assert problem and "components/cluster/eks_versions.py" in problem
    assert standard_support_problem("1.35", date(2027, 3, 26)) is None
    assert "2027-03-27" in standard_support_problem("1.35", date(2027, 3, 27))
    with pytest.raises(ConfigError) as caught:
        config_of("prod", cluster={"kubernetesVersion": "1.37", "addonVersions": {a: "v1.0.0-eksbuild.1" for a in CORE_ADDONS}})
    assert any(p.startswith("gpu-model-platform:cluster.kubernetesVersion: got '1.37'; no recorded end of EKS "
                            "standard support") for p in caught.value.problems), caught.value.problems
    args = ClusterArgs(mode="create", name="c", subnet_ids=["a", "b"], admin_role_arns=["arn:aws:iam::1:role/d"],
                       kubernetes_version="1.37", addon_versions={a: "v1.0.0-eksbuild.1" for a in CORE_ADDONS})
    assert [p for p in validate_cluster_args(args) if "kubernetes_version" in p and "1.37" in p]
