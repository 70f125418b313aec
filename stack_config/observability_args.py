"""Args of the components that let on-call see why: container logs, request traces, AMP remote write, and the
Grafana data sources and server settings that follow from them (config `monitoring.logs`, `monitoring.traces`,
`monitoring.managedPrometheus`)."""

from __future__ import annotations

from typing import Any, Optional

from components.cluster.eks_cluster import Cluster
from components.observability.alert_links import AlertLinks, data_sources
from components.observability.grafana_aws import GrafanaAwsAccess
from components.observability.log_collection import CloudWatchLogs, LogCollection, LogCollectionArgs, LokiStore
from components.observability.managed_prometheus import ManagedPrometheusArgs
from components.observability.trace_collection import TempoStore, TraceCollection, TraceCollectionArgs, XRay
from stack_config.schema import StackConfig
from stack_config.shared_args import gpu_scheduling, storage_class


def _on_aws(config: StackConfig) -> bool:
    return config.cluster.mode != "local" and config.aws is not None


def collects_logs(config: StackConfig) -> bool:
    return config.monitoring.enabled and config.monitoring.logs.enabled


def collects_traces(config: StackConfig) -> bool:
    return config.monitoring.enabled and config.monitoring.traces.enabled


def uses_managed_prometheus(config: StackConfig) -> bool:
    return config.monitoring.enabled and config.monitoring.managed_prometheus


def _oidc(cluster: Cluster) -> Any:
    assert cluster.oidc_provider_arn is not None, "an AWS cluster has an IAM OIDC provider (IRSA)"
    return cluster.oidc_provider_arn


def log_collection_args(config: StackConfig, cluster: Cluster) -> LogCollectionArgs:
    """CloudWatch Logs on AWS (retention from config), Loki on the local stack."""
    logs = config.monitoring.logs
    if _on_aws(config):
        assert config.aws is not None
        destination: CloudWatchLogs | LokiStore = CloudWatchLogs(
            region=config.aws.region, oidc_provider_arn=_oidc(cluster), retention_days=logs.retention_days)
    else:
        destination = LokiStore(retention=logs.loki_retention, storage_class=storage_class(config))
    return LogCollectionArgs(destination=destination, namespace=logs.namespace,
                             gpu_scheduling=gpu_scheduling(config.gpu_node_group))


def trace_collection_args(config: StackConfig, cluster: Cluster) -> TraceCollectionArgs:
    """X-Ray on AWS, Tempo on the local stack."""
    if _on_aws(config):
        assert config.aws is not None
        destination: XRay | TempoStore = XRay(region=config.aws.region, oidc_provider_arn=_oidc(cluster))
    else:
        destination = TempoStore()
    return TraceCollectionArgs(destination=destination, namespace=config.monitoring.traces.namespace,
                               gpu_scheduling=gpu_scheduling(config.gpu_node_group))


def managed_prometheus_args(config: StackConfig, cluster: Cluster) -> ManagedPrometheusArgs:
    assert config.aws is not None, "the schema refuses managedPrometheus on the local stack"
    return ManagedPrometheusArgs(region=config.aws.region, oidc_provider_arn=_oidc(cluster),
                                 monitoring_namespace=config.monitoring.namespace)


LOCAL_GRAFANA_URL = "http://localhost:3000"
"""The local stack's Grafana when `monitoring.grafanaUrl` is unset: a port-forward to its Service."""


def grafana_data_sources(config: StackConfig, logs: Optional[LogCollection],
                         traces: Optional[TraceCollection]) -> list[dict[str, Any]]:
    """The logs and traces data sources: Loki and Tempo on the local stack, CloudWatch Logs (opening on the
    containers' group) and X-Ray on AWS, read with Grafana's own role (`grafana_aws_access`)."""
    wanted = ({"logs"} if logs else set()) | ({"traces"} if traces else set())
    if _on_aws(config):
        assert config.aws is not None
        group = ({"arn": logs.log_group_arn, "name": logs.log_group_name}
                 if logs and logs.log_group_arn and logs.log_group_name else None)
        sources = data_sources("cloudwatch", region=config.aws.region, log_group=group, xray=traces is not None)
    else:
        sources = data_sources("loki", loki_url=logs.loki_url if logs else None,
                               tempo_url=traces.tempo_url if traces else None)
    return [s for s in sources if s["uid"] in wanted]


def grafana_aws_access(config: StackConfig, cluster: Cluster, logs: Optional[LogCollection],
                       traces: Optional[TraceCollection]) -> Optional[GrafanaAwsAccess]:
    """On AWS with logs or traces collected: Grafana's read role for them; else None."""
    if not _on_aws(config) or not (logs or traces):
        return None
    return GrafanaAwsAccess(oidc_provider_arn=_oidc(cluster), log_group_arn=logs.log_group_arn if logs else None,
                            reads_traces=traces is not None)


def alert_links(config: StackConfig, logs: Optional[LogCollection]) -> Optional[AlertLinks]:
    """Where each model alert links (its dashboard panel, its logs) when the stack collects logs; else None."""
    if logs is None:
        return None
    grafana = config.monitoring.grafana_url or LOCAL_GRAFANA_URL  # the schema requires it on AWS
    if logs.log_group_name is None:
        return AlertLinks(grafana, "loki")
    assert config.aws is not None
    return AlertLinks(grafana, "cloudwatch", log_group=logs.log_group_name, log_group_arn=logs.log_group_arn,
                      region=config.aws.region)


def server_tracing_env(config: StackConfig, traces: Optional[TraceCollection]) -> dict[str, str]:
    """The model server's tracing settings (app/README.md): the Collector's OTLP endpoint and the sample ratio."""
    if traces is None:
        return {}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": traces.otlp_endpoint,
            "OTEL_TRACES_SAMPLER_ARG": f"{config.monitoring.traces.sample_ratio:g}"}
