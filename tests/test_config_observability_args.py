"""What the config gives the components that let on-call see why (stack_config/observability_args.py), on AWS and
on the local stack: where logs and traces go and with which settings, Grafana's data sources and read role, where
alerts link, and the model server's tracing settings. Components stand in by the attributes these read."""

from __future__ import annotations

import copy
import types

from components.observability.alert_links import data_sources
from components.observability.log_collection import CloudWatchLogs, LokiStore
from components.observability.trace_collection import TempoStore, XRay
from stack_config import RawConfig, load, read_stack_file
from stack_config import observability_args as obs
from stack_config.shared_args import gpu_scheduling, storage_class
from tests.harness import TEST_SECRETS, stack_file

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/X"
CLUSTER = types.SimpleNamespace(oidc_provider_arn=OIDC)
GROUP_ARN = "arn:aws:logs:us-west-2:123456789012:log-group:/aws/containerinsights/x/application"
GROUP = "/aws/containerinsights/x/application"
AWS_LOGS = types.SimpleNamespace(log_group_arn=GROUP_ARN, log_group_name=GROUP, loki_url=None)
LOCAL_LOGS = types.SimpleNamespace(log_group_arn=None, log_group_name=None, loki_url="http://loki.logs:3100")
TRACES = types.SimpleNamespace(tempo_url="http://tempo.traces:3100", otlp_endpoint="http://collector.traces:4317")
MONITORING = {"logs": {"enabled": True, "namespace": "logs", "retentionDays": 90, "lokiRetention": "336h"},
              "traces": {"enabled": True, "namespace": "traces", "sampleRatio": 0.25},
              "grafanaUrl": "https://grafana.example.com", "namespace": "mon"}


def _config(stack: str, aws: dict | None = None, **monitoring):
    raw = read_stack_file(stack_file(stack), TEST_SECRETS)
    sections = copy.deepcopy(raw.sections)
    if aws is not None:
        sections["aws"] = aws
    sections["monitoring"] = {**sections["monitoring"], **copy.deepcopy(MONITORING), **monitoring}
    return load(RawConfig(sections=sections, secret_paths=raw.secret_paths))


def test_logs_go_to_cloudwatch_on_aws_with_the_configured_retention_and_to_loki_locally_with_its_own():
    aws = obs.log_collection_args(_config("prod"), CLUSTER)
    assert aws.destination == CloudWatchLogs(region="us-west-2", oidc_provider_arn=OIDC, retention_days=90)
    assert aws.namespace == "logs" and aws.gpu_scheduling == gpu_scheduling(_config("prod").gpu_node_group)
    local_config = _config("local")
    local = obs.log_collection_args(local_config, CLUSTER)
    assert local.destination == LokiStore(retention="336h", storage_class=storage_class(local_config))
    assert local.namespace == "logs"


def test_traces_go_to_xray_on_aws_and_to_tempo_locally_in_the_configured_namespace():
    aws = obs.trace_collection_args(_config("prod"), CLUSTER)
    assert aws.destination == XRay(region="us-west-2", oidc_provider_arn=OIDC) and aws.namespace == "traces"
    local = obs.trace_collection_args(_config("local"), CLUSTER)
    assert local.destination == TempoStore() and local.namespace == "traces"
    assert local.gpu_scheduling == gpu_scheduling(_config("local").gpu_node_group)


def test_managed_prometheus_writes_from_the_monitoring_namespace_with_the_clusters_identity():
    args = obs.managed_prometheus_args(_config("prod", managedPrometheus=True), CLUSTER)
    assert (args.region, args.oidc_provider_arn, args.monitoring_namespace) == ("us-west-2", OIDC, "mon")


def test_grafana_reads_cloudwatch_opening_on_the_containers_group_and_xray_on_aws():
    config = _config("prod")
    sources = obs.grafana_data_sources(config, AWS_LOGS, TRACES)
    assert sources == data_sources("cloudwatch", region="us-west-2", log_group={"arn": GROUP_ARN, "name": GROUP},
                                   xray=True)
    assert [s["uid"] for s in sources] == ["logs", "traces"] and sources[0]["jsonData"]["logGroups"] == [
        {"arn": GROUP_ARN, "name": GROUP}]
    assert [s["uid"] for s in obs.grafana_data_sources(config, AWS_LOGS, None)] == ["logs"]
    assert [s["uid"] for s in obs.grafana_data_sources(config, None, TRACES)] == ["traces"]


def test_grafana_reads_loki_and_tempo_on_the_local_stack():
    config = _config("local")
    sources = obs.grafana_data_sources(config, LOCAL_LOGS, TRACES)
    assert sources == data_sources("loki", loki_url=LOCAL_LOGS.loki_url, tempo_url=TRACES.tempo_url)
    assert [(s["uid"], s["type"], s["url"]) for s in sources] == [
        ("logs", "loki", LOCAL_LOGS.loki_url), ("traces", "tempo", TRACES.tempo_url)]
    assert [s["uid"] for s in obs.grafana_data_sources(config, LOCAL_LOGS, None)] == ["logs"]
    assert obs.grafana_data_sources(config, None, None) == []


def test_grafana_gets_an_aws_read_role_only_on_aws_with_logs_or_traces_collected():
    config = _config("prod")
    access = obs.grafana_aws_access(config, CLUSTER, AWS_LOGS, None)
    assert (access.oidc_provider_arn, access.log_group_arn, access.reads_traces) == (OIDC, GROUP_ARN, False)
    access = obs.grafana_aws_access(config, CLUSTER, None, TRACES)
    assert (access.log_group_arn, access.reads_traces) == (None, True)
    assert obs.grafana_aws_access(config, CLUSTER, None, None) is None
    assert obs.grafana_aws_access(_config("local"), CLUSTER, LOCAL_LOGS, TRACES) is None


def test_alerts_link_to_cloudwatch_logs_on_aws_to_loki_locally_and_nowhere_without_logs():
    links = obs.alert_links(_config("prod"), AWS_LOGS)
    assert (links.grafana_url, links.logs, links.log_group, links.log_group_arn, links.region) == (
        "https://grafana.example.com", "cloudwatch", GROUP, GROUP_ARN, "us-west-2")
    local = obs.alert_links(_config("local", grafanaUrl=None), LOCAL_LOGS)
    assert (local.grafana_url, local.logs, local.log_group) == (obs.LOCAL_GRAFANA_URL, "loki", None)
    assert obs.alert_links(_config("prod"), None) is None


def test_the_server_sends_traces_to_the_collector_at_the_configured_ratio():
    assert obs.server_tracing_env(_config("prod"), TRACES) == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": TRACES.otlp_endpoint, "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    assert obs.server_tracing_env(_config("prod"), None) == {}


def test_only_a_cluster_outside_the_local_mode_with_an_aws_section_is_on_aws():
    assert obs.grafana_aws_access(_config("dev"), CLUSTER, AWS_LOGS, None) is not None
    local = _config("local")
    assert local.aws is None and obs.trace_collection_args(local, CLUSTER).destination == TempoStore()
    # A local cluster stays local with an aws section (a region for its tags): Loki and Tempo, no AWS role.
    local_with_aws = _config("local", aws={"region": "us-west-2"})
    assert local_with_aws.aws is not None
    assert obs.trace_collection_args(local_with_aws, CLUSTER).destination == TempoStore()
    assert obs.grafana_aws_access(local_with_aws, CLUSTER, LOCAL_LOGS, TRACES) is None


def test_the_log_and_trace_agents_tolerate_the_gpu_nodes_own_labels_and_taints():
    raw = read_stack_file(stack_file("prod"), TEST_SECRETS)
    sections = copy.deepcopy(raw.sections)
    sections["monitoring"] = {**sections["monitoring"], **copy.deepcopy(MONITORING)}
    sections["gpuNodeGroup"] = {**sections["gpuNodeGroup"], "labels": {"workload": "llm"},
                                "taints": [{"key": "team", "value": "nlp", "effect": "NoSchedule"}]}
    config = load(RawConfig(sections=sections, secret_paths=raw.secret_paths))
    own = gpu_scheduling(config.gpu_node_group)
    assert own != gpu_scheduling(_config("prod").gpu_node_group)
    assert obs.log_collection_args(config, CLUSTER).gpu_scheduling == own
    assert obs.trace_collection_args(config, CLUSTER).gpu_scheduling == own
