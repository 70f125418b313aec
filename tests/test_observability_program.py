"""The program with `monitoring.logs`, `monitoring.traces` and `monitoring.managedPrometheus` on: Loki, Tempo and a
Collector on the local stack with Grafana reading them; CloudWatch Logs, X-Ray and AMP on an AWS stack; the model
server pointed at the Collector. Off (the stacks' default), none of it is created."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from components.observability.alert_links import LOGS_UID, PANEL_OF_ALERT, TRACES_UID, XRAY_PLUGIN, XRAY_PLUGIN_VERSION
from components.observability.trace_collection import OTLP_GRPC_PORT
from tests.harness import container, raw_sections, stack, stack_config, stack_with

RELEASE = "kubernetes:helm.sh/v3:Release"


GRAFANA = "https://grafana.dev.example.com"


def with_observability(name: str, **monitoring):
    sections = raw_sections(name)
    on_aws = {"grafanaUrl": GRAFANA} if name != "local" else {}
    return stack_with(name, monitoring={**sections["monitoring"], "logs": {"enabled": True},
                                       "traces": {"enabled": True, "sampleRatio": 0.2}, **on_aws, **monitoring})


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


# --- alerts that lead somewhere: the program's links point at what the same stack provisions ---------------------

def model_alerts(synthesis) -> list[dict]:
    """Every model alert of the stack (ModelMonitoring's, canary analysis included), not only the linked ones."""
    rules = [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "PrometheusRule"]
    return [r for m in rules for g in m["spec"]["groups"] for r in g["rules"] if r.get("alert", "").startswith("Model")]


def provisioned_dashboards(synthesis) -> dict[str, dict]:
    boards = [json.loads(v) for _, m in synthesis.kubernetes_objects(masked=False)
              if m["kind"] == "ConfigMap" and (m["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"
              for v in m["data"].values()]
    return {b["uid"]: b for b in boards}


def explore_query(url: str) -> dict:
    [panes] = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["panes"]
    [query] = json.loads(panes)["logs"]["queries"]
    return query


def model_containers(synthesis) -> set[tuple[str, str]]:
    """(namespace, container name) of every model Deployment's serving container."""
    deployment = synthesis.named("model-deployment")
    return {(deployment.inputs["metadata"]["namespace"], c["name"])
            for c in deployment.inputs["spec"]["template"]["spec"]["containers"]}


def assert_points_at_a_panel_of_a_provisioned_dashboard(alert: dict, dashboards: dict[str, dict], grafana: str):
    url = urllib.parse.urlsplit(alert["annotations"]["dashboard_url"])
    assert f"{url.scheme}://{url.netloc}" == grafana, alert["alert"]
    uid = url.path.removeprefix("/d/")
    assert uid in dashboards, f"{alert['alert']}: dashboard {uid} is not provisioned in this stack"
    panel = int(urllib.parse.parse_qs(url.query)["viewPanel"][0])
    titles = {p["id"]: p["title"] for p in dashboards[uid]["panels"]}
    assert titles.get(panel) == PANEL_OF_ALERT[alert["alert"]], alert["alert"]


@pytest.mark.parametrize("name", ["dev", "local"])
def test_without_logs_the_program_adds_no_links(name):
    assert model_alerts(stack(name)) and not any("logs_url" in a["annotations"] for a in model_alerts(stack(name)))


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_on_aws_every_model_alert_links_to_its_panel_and_a_logs_insights_query_on_the_stacks_group(name):
    synthesis = with_observability(name)
    alerts, dashboards = model_alerts(synthesis), provisioned_dashboards(synthesis)
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")[-1:]
    assert alerts
    for alert in alerts:
        assert_points_at_a_panel_of_a_provisioned_dashboard(alert, dashboards, GRAFANA)
        assert alert["annotations"]["logs_url"].startswith(GRAFANA + "/explore?")
        query = explore_query(alert["annotations"]["logs_url"])
        assert query["logGroups"] == [{"arn": group.outputs["arn"], "name": group.outputs["name"]}], alert["alert"]
        assert query["region"] == stack_config(name).aws.region and query["datasource"]["uid"] == LOGS_UID
        assert any(f"kubernetes.namespace_name = '{ns}' and kubernetes.container_name = '{c}'" in query["expression"]
                   for ns, c in model_containers(synthesis)), query["expression"]


def test_locally_every_model_alert_links_to_its_panel_and_the_loki_stream_fluent_bit_labels():
    synthesis = with_observability("local")
    alerts, dashboards = model_alerts(synthesis), provisioned_dashboards(synthesis)
    labels = fluent_bit_loki_labels(synthesis)
    assert alerts
    for alert in alerts:
        assert_points_at_a_panel_of_a_provisioned_dashboard(alert, dashboards, "http://localhost:3000")
        expr = explore_query(alert["annotations"]["logs_url"])["expr"]
        selector = dict(re.findall(r'(\w+)="([^"]*)"', expr.split("}")[0]))
        assert set(selector) <= labels, f"{alert['alert']}: {selector} uses labels Fluent Bit does not set"
        assert (selector["namespace"], selector["container"]) in model_containers(synthesis), expr


def fluent_bit_loki_labels(synthesis) -> set[str]:
    fluent_bit = next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == "fluent-bit")
    outputs = fluent_bit.inputs["values"]["config"]["outputs"]
    [labels] = re.findall(r"^\s*labels\s+(.*)$", outputs, flags=re.M)
    return {item.split("=")[0].strip() for item in labels.split(",")}


def test_on_aws_grafana_reads_the_group_and_xray_through_a_least_privilege_role_of_its_own():
    synthesis = with_observability("dev")
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")[-1:]
    values = next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack")
    grafana = values.inputs["values"]["grafana"]
    sources = {s["uid"]: s for s in grafana["additionalDataSources"]}
    assert sources[LOGS_UID]["type"] == "cloudwatch" and sources[TRACES_UID]["type"] == XRAY_PLUGIN
    assert sources[LOGS_UID]["jsonData"]["logGroups"] == [{"arn": group.outputs["arn"], "name": group.outputs["name"]}]
    assert grafana["plugins"] == [f"{XRAY_PLUGIN}@{XRAY_PLUGIN_VERSION}"]
    role = next(r for r in synthesis.of_type("aws:iam/role:Role") if "grafana-reader" in r.name)
    assert grafana["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert f"system:serviceaccount:monitoring:{grafana['serviceAccount']['name']}" in trust.values()
    policy = next(r for r in synthesis.of_type("aws:iam/rolePolicy:RolePolicy") if "grafana-reader" in r.name)
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert_actions_exist_in_botocore({a for s in statements for a in s["Action"]})
    scoped = next(s for s in statements if "logs:StartQuery" in s["Action"])
    assert scoped["Resource"] == [group.outputs["arn"], group.outputs["arn"] + ":*"]
    readers = ("Get", "Describe", "BatchGet", "StartQuery", "StopQuery")
    assert all(a.split(":")[1].startswith(readers) for s in statements for a in s["Action"]), statements


def assert_actions_exist_in_botocore(actions: set[str]) -> None:
    import botocore.session

    session = botocore.session.get_session()
    for action in actions:
        service, operation = action.split(":")
        assert operation in session.get_service_model(service).operation_names, action


def test_an_aws_stack_collecting_logs_without_a_grafana_url_is_refused_naming_the_key():
    with pytest.raises(Exception, match="monitoring.grafanaUrl"):
        stack_with("dev", monitoring={**raw_sections("dev")["monitoring"], "logs": {"enabled": True}})
