"""The program with `monitoring.logs`, `monitoring.traces` and `monitoring.managedPrometheus` on: Loki, Tempo and a
Collector on the local stack with Grafana reading them; CloudWatch Logs, X-Ray and AMP on an AWS stack; the model
server pointed at the Collector. Off (the stacks' default), none of it is created."""

from __future__ import annotations

import pytest

from components.observability.trace_collection import OTLP_GRPC_PORT
from tests.harness import container, raw_sections, stack, stack_with

RELEASE = "kubernetes:helm.sh/v3:Release"


def with_observability(name: str, **monitoring):
    sections = raw_sections(name)
    return stack_with(name, monitoring={**sections["monitoring"], "logs": {"enabled": True},
                                       "traces": {"enabled": True, "sampleRatio": 0.2}, **monitoring})


def charts(synthesis) -> set[str]:
    return {r.inputs["chart"] for r in synthesis.of_type(RELEASE)}


@pytest.mark.parametrize("name", ["dev", "local"])
def test_off_by_default_nothing_is_added(name):
    assert not {"fluent-bit", "loki", "tempo", "opentelemetry-collector"} & charts(stack(name))
    assert not stack(name).of_type("aws:amp/workspace:Workspace")


def test_locally_loki_tempo_and_a_collector_run_and_grafana_and_the_server_use_them():
    synthesis = with_observability("local")
    assert {"fluent-bit", "loki", "tempo", "opentelemetry-collector"} <= charts(synthesis)
    assert not synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")
    stack_values = next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack")
    sources = {s["uid"]: s for s in stack_values.inputs["values"]["grafana"]["additionalDataSources"]}
    assert sources["logs"]["type"] == "loki" and sources["traces"]["type"] == "tempo"
    deployment = synthesis.named("model-deployment")
    env = {e["name"]: e.get("value") for e in container(deployment).get("env", [])}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://traces-collector.tracing.svc:{OTLP_GRPC_PORT}"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.2"


def test_on_aws_logs_go_to_an_encrypted_group_traces_to_xray_and_samples_to_amp():
    synthesis = with_observability("dev", managedPrometheus=True)
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")[-1:]
    assert group.inputs["kmsKeyId"] and group.inputs["retentionInDays"] == 30
    assert synthesis.of_type("aws:amp/workspace:Workspace")
    stack_values = next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack")
    [remote_write] = stack_values.inputs["values"]["prometheus"]["prometheusSpec"]["remoteWrite"]
    assert remote_write["sigv4"]["region"]
    collector = next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == "opentelemetry-collector")
    assert "awsxray" in collector.inputs["values"]["alternateConfig"]["exporters"]


def test_the_local_stack_refuses_amp():
    with pytest.raises(Exception, match="monitoring.managedPrometheus"):
        with_observability("local", managedPrometheus=True)


@pytest.mark.parametrize("name", ["dev", "local"])
def test_the_policy_pack_passes_with_everything_on(name):
    from tests.test_policy import pack_violations

    extra = {"managedPrometheus": True} if name == "dev" else {}
    assert pack_violations(with_observability(name, **extra), name) == []
