"""TraceCollection: an OpenTelemetry Collector receiving OTLP gRPC, exporting to X-Ray through a role that may only
put segments, or to an in-cluster Tempo; the pinned charts' keys; what the model server is pointed at."""

from __future__ import annotations

import json

import pytest

from components import InvalidArgs
from components._charts import unknown_keys
from components.observability.trace_collection import (
    COLLECTOR,
    INDEXED_ATTRIBUTES,
    OTLP_GRPC_PORT,
    SERVICE_ACCOUNT,
    TEMPO,
    TEMPO_HTTP_PORT,
    TempoStore,
    TraceCollection,
    TraceCollectionArgs,
    XRay,
)
from tests.harness import components

RELEASE = "kubernetes:helm.sh/v3:Release"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def xray():
    return components(lambda opts: TraceCollection("traces", TraceCollectionArgs(
        destination=XRay(region="eu-west-1", oidc_provider_arn=OIDC)), opts))


def tempo():
    return components(lambda opts: TraceCollection("traces", TraceCollectionArgs(destination=TempoStore()), opts))


def release(synthesis, chart: str):
    return next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == chart)


def pipeline(config: dict) -> dict:
    return config["service"]["pipelines"]["traces"]


@pytest.mark.parametrize("build", [xray, tempo])
def test_the_collector_receives_otlp_grpc_and_every_pipeline_component_is_declared(build):
    config = release(build(), COLLECTOR.name).inputs["values"]["alternateConfig"]
    traces = pipeline(config)
    assert traces["receivers"] == ["otlp"] and traces["processors"][0] == "memory_limiter"
    for kind in ("receivers", "processors", "exporters"):
        assert set(traces[kind]) <= set(config[kind]), kind
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(f":{OTLP_GRPC_PORT}")
    assert "health_check" in config["service"]["extensions"], "the chart's probes need it"


def test_on_aws_spans_go_to_xray_with_the_request_id_searchable_through_a_put_only_role():
    synthesis = xray()
    values = release(synthesis, COLLECTOR.name).inputs["values"]
    exporter = values["alternateConfig"]["exporters"]["awsxray"]
    assert exporter["region"] == "eu-west-1" and exporter["indexed_attributes"] == list(INDEXED_ATTRIBUTES)
    assert values["image"]["repository"].endswith("-contrib"), "the X-Ray exporter is in the contrib distribution"
    [policy] = synthesis.of_type("aws:iam/rolePolicy:RolePolicy")
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    [role] = synthesis.of_type("aws:iam/role:Role")
    assert values["serviceAccount"]["name"] == SERVICE_ACCOUNT
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]


def test_locally_spans_go_to_tempos_otlp_port_and_grafana_reads_its_query_port():
    synthesis = tempo()
    tempo_values = release(synthesis, TEMPO.name).inputs["values"]
    host = f"{tempo_values['fullnameOverride']}.tracing.svc"
    exporter = release(synthesis, COLLECTOR.name).inputs["values"]["alternateConfig"]["exporters"]["otlp_grpc"]
    assert exporter["endpoint"] == f"{host}:{OTLP_GRPC_PORT}"
    [component] = synthesis.of_type("gpu-model-platform:index:TraceCollection")
    assert component.component_outputs["tempo_url"] == f"http://{host}:{TEMPO_HTTP_PORT}"
    assert component.component_outputs["otlp_endpoint"] == f"http://traces-collector.tracing.svc:{OTLP_GRPC_PORT}"
    assert not synthesis.of_type("aws:iam/role:Role")


@pytest.mark.parametrize("build", [xray, tempo])
def test_every_values_key_exists_in_the_pinned_charts_and_nothing_runs_on_gpu_nodes(build):
    for r in build().of_type(RELEASE):
        chart = {COLLECTOR.name: COLLECTOR, TEMPO.name: TEMPO}[r.inputs["chart"]]
        assert r.inputs["version"] == chart.version
        assert unknown_keys(r.inputs["values"], chart.keys_file) == [], chart.name
        assert r.inputs["values"]["tolerations"] == []
        assert r.inputs["values"]["affinity"]["nodeAffinity"], chart.name


def test_a_misspelt_extra_value_is_refused_before_anything_registers():
    with pytest.raises(InvalidArgs) as caught:
        components(lambda opts: TraceCollection("t", TraceCollectionArgs(
            destination=TempoStore(), extra_values={"replicaCnt": 3}), opts))
    assert any("extra_values.replicaCnt" in p and "replicaCount" in p for p in caught.value.problems)
