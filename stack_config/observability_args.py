"""Args of the components that let on-call see why: container logs, request traces, AMP remote write, and the
Grafana data sources and server settings that follow from them (config `monitoring.logs`, `monitoring.traces`,
`monitoring.managedPrometheus`)."""

from __future__ import annotations

from typing import Any, Optional

from components.cluster.eks_cluster import Cluster
from components.observability.alert_links import data_sources
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


def grafana_data_sources(config: StackConfig, logs: Optional[LogCollection],
                         traces: Optional[TraceCollection]) -> list[dict[str, Any]]:
    """Loki and Tempo on the local stack, for Grafana beside Prometheus. On AWS none yet: Grafana would need a
    role of its own to query CloudWatch Logs (X-Ray's data source is a plugin)."""
    if _on_aws(config):
        return []
    wanted = ({"logs"} if logs else set()) | ({"traces"} if traces else set())
    sources = data_sources("loki", loki_url=logs.loki_url if logs else None,
                           tempo_url=traces.tempo_url if traces else None)
    return [s for s in sources if s["uid"] in wanted]


def server_tracing_env(config: StackConfig, traces: Optional[TraceCollection]) -> dict[str, str]:
    """The model server's tracing settings (app/README.md): the Collector's OTLP endpoint and the sample ratio."""
    if traces is None:
        return {}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": traces.otlp_endpoint,
            "OTEL_TRACES_SAMPLER_ARG": f"{config.monitoring.traces.sample_ratio:g}"}
