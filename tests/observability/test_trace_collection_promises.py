"""TraceCollection's promises that reading its mutants (issue 29) found unguarded: the health_check extension the
chart's probes call, the collector's resources, the namespace it creates, the role's description and tags, the
provider its children use, and the refusals naming the component."""

from __future__ import annotations

import pytest

from components import InvalidArgs
from components.observability.trace_collection import (
    COLLECTOR,
    TempoStore,
    TraceCollection,
    TraceCollectionArgs,
    collector_config,
    xray_exporter,
)
from tests.harness import components, only
from tests.observability.test_trace_collection import release, tempo, xray


def test_the_health_check_the_charts_probes_call_listens_on_the_pods_address():
    config = collector_config(xray_exporter("eu-west-1"))
    assert config["extensions"] == {"health_check": {"endpoint": "${env:MY_POD_IP}:13133"}}
    assert config["service"]["extensions"] == ["health_check"]


def test_the_collector_requests_a_tenth_of_a_cpu_and_128_mib_and_is_held_to_512_mib():
    values = release(tempo(), COLLECTOR.name).inputs["values"]
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def test_the_namespace_is_created_labelled_and_held_to_the_baseline_pod_security_standard():
    namespace = only(xray().of_type("kubernetes:core/v1:Namespace"))
    metadata = namespace.inputs["metadata"]
    assert metadata["name"] == "tracing"
    assert (metadata["labels"]["app.kubernetes.io/name"], metadata["labels"]["app.kubernetes.io/component"]) == (
        "traces", "tracing")
    assert metadata["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_the_xray_role_says_what_it_is_for_and_is_tagged():
    role = only(xray().of_type("aws:iam/role:Role"))
    assert role.inputs["description"] == "OpenTelemetry Collector (IRSA): X-Ray"
    assert {k: role.inputs["tags"][k] for k in ("component", "component-name")} == {
        "component": "trace-collection", "component-name": "traces"}


def test_every_kubernetes_object_goes_through_the_provider_given():
    synthesis = tempo()
    provider = only(synthesis.of_type("pulumi:providers:kubernetes"))
    created = [r for r in synthesis.resources if r.custom and r.type.startswith("kubernetes:")]
    assert created and all(r.provider_urn == provider.urn for r in created), [r.type for r in created]


def test_a_refusal_names_the_component_and_its_instance():
    with pytest.raises(InvalidArgs, match="^TraceCollection 'traces'"):
        components(lambda opts: TraceCollection("traces", TraceCollectionArgs(
            destination=TempoStore(), extra_values={"replicaCnt": 3}), opts))


def test_a_second_collection_on_the_same_namespace_is_refused_naming_both():
    def build(opts):
        for name in ("traces", "more-traces"):
            TraceCollection(name, TraceCollectionArgs(destination=TempoStore()), opts)

    with pytest.raises(InvalidArgs) as caught:
        components(build)
    assert str(caught.value).startswith("TraceCollection 'more-traces': namespace: Namespace 'tracing'")
    assert "already created by TraceCollection 'traces'" in str(caught.value)
