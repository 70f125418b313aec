"""The Kubernetes labels every object of the platform carries (components/labels.py)."""

from __future__ import annotations

from components.labels import PART_OF, restricted_namespace_labels, selector_labels, standard_labels


def test_the_standard_labels_are_the_recommended_ones_plus_app():
    assert standard_labels("fraud", "model-server") == {
        "app": "fraud", "app.kubernetes.io/name": "fraud", "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "gpu-model-platform", "app.kubernetes.io/managed-by": "pulumi"}
    assert PART_OF == "gpu-model-platform"


def test_a_version_adds_the_version_label_and_an_empty_one_does_not():
    assert standard_labels("fraud", "model-server", "v7")["app.kubernetes.io/version"] == "v7"
    assert "app.kubernetes.io/version" not in standard_labels("fraud", "model-server", "")


def test_the_selector_labels_are_the_stable_subset_of_the_standard_ones():
    selector = selector_labels("fraud")
    assert selector == {"app": "fraud", "app.kubernetes.io/name": "fraud"}
    assert selector.items() <= standard_labels("fraud", "x", "v7").items()


def test_a_restricted_namespace_enforces_audits_and_warns_at_restricted_on_the_latest_version():
    assert restricted_namespace_labels() == {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
