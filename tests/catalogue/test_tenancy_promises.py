"""Tenancy promises the mutation audit (issue 29) found unguarded: what it creates in a namespace waits for the
namespace, is its child, and what it reports is what it created."""

from __future__ import annotations

import pytest

from components import Tenancy, TenancyArgs, Tenant
from components._args import InvalidArgs
from components.tenancy.tenancy import PRIORITY_CLASSES
from tools.synth import run

ROLE = "arn:aws:iam::123456789012:role/nlp-read"


def _tenancy():
    return run(lambda: Tenancy("tenancy", TenancyArgs(
        tenants=[Tenant(team="nlp", namespace="nlp", read_role_arns=[ROLE])], cluster_name="cluster")))


def test_the_quota_limits_and_binding_wait_for_their_namespace_and_everything_is_tenancys_child():
    synthesis = _tenancy()
    [tenancy] = synthesis.of_type("gpu-model-platform:index:Tenancy")
    namespace = synthesis.named("tenancy-nlp")
    for name in ("tenancy-nlp-quota", "tenancy-nlp-limits", "tenancy-nlp-view"):
        assert namespace.urn in synthesis.named(name).options["dependencies"], name
    children = {r.name for r in synthesis.resources if r.parent == tenancy.urn}
    assert children == {"tenancy-production", "tenancy-development", "tenancy-batch", "tenancy-nlp",
                        "tenancy-nlp-quota", "tenancy-nlp-limits", "tenancy-nlp-view", "tenancy-nlp-nlp-read"}


def test_the_objects_in_a_teams_namespace_are_named_and_labelled_for_the_team():
    synthesis = _tenancy()
    for name in ("tenancy-nlp-quota", "tenancy-nlp-limits", "tenancy-nlp-view"):
        metadata = synthesis.named(name).inputs["metadata"]
        assert (metadata["name"], metadata["namespace"], metadata["labels"]["team"]) == ("team-nlp", "nlp", "nlp"), name
        assert metadata["labels"]["app.kubernetes.io/component"] == "tenancy", name
        assert metadata["labels"]["app.kubernetes.io/name"] == "nlp", name


def test_each_priority_class_says_what_it_is_for():
    synthesis = _tenancy()
    for priority, (class_name, _, _, description) in PRIORITY_CLASSES.items():
        created = synthesis.named(f"tenancy-{priority}").inputs
        assert (created["metadata"]["name"], created["description"]) == (class_name, description), priority
        assert description.strip(), priority
        assert created["metadata"]["labels"]["app.kubernetes.io/component"] == "tenancy", priority


def test_tenancy_reports_the_namespaces_and_priority_classes_it_created():
    [tenancy] = _tenancy().of_type("gpu-model-platform:index:Tenancy")
    assert tenancy.component_outputs == {
        "namespaces": {"nlp": "nlp"},
        "priority_class_names": {p: name for p, (name, *_) in PRIORITY_CLASSES.items()}}


def test_a_teams_view_binding_grants_the_kubernetes_group_its_access_entry_maps_the_role_to():
    synthesis = _tenancy()
    [subject] = synthesis.named("tenancy-nlp-view").inputs["subjects"]
    entry = synthesis.named("tenancy-nlp-nlp-read").inputs
    assert subject == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": entry["kubernetesGroups"][0]}


def test_a_role_read_by_two_teams_is_refused_by_tenancy_under_its_tenants_field():
    with pytest.raises(InvalidArgs) as caught:
        Tenancy("shared", TenancyArgs(cluster_name="cluster", tenants=[
            Tenant(team="a", namespace="x", read_role_arns=[ROLE]),
            Tenant(team="b", namespace="y", read_role_arns=[ROLE])]))
    assert (caught.value.component, caught.value.instance) == ("Tenancy", "shared")
    [problem] = caught.value.problems
    assert problem.startswith(f"tenants: got '{ROLE}'"), problem
