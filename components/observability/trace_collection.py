"""TraceCollection: an OpenTelemetry Collector that receives the model server's spans and sends them on.

The Collector (official chart, contrib image: it has the X-Ray exporter) listens for OTLP gRPC on its Service,
port 4317 -- the model server's `OTEL_EXPORTER_OTLP_ENDPOINT` -- limits its own memory, batches, and exports to
AWS X-Ray through an IRSA role that may only put trace segments (AWS stacks), or to Tempo in the cluster
(official chart, local stack), which Grafana reads as its traces data source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import pulumi
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, Duration, Problem, checked_args, problems_of
from .._charts import PinnedChart, extra_values_problems
from ..aws_tags import component_tags
from ..capacity.gpu_scheduling import GpuScheduling
from ..cluster.irsa import controller_role
from ..labels import standard_labels
from .monitoring_stack import off_gpu_nodes

# open-telemetry/opentelemetry-helm-charts tag opentelemetry-collector-0.170.0 (collector 0.158.0).
COLLECTOR = PinnedChart("opentelemetry-collector", "https://open-telemetry.github.io/opentelemetry-helm-charts",
                        "0.170.0", "opentelemetry-collector-0.170.0.keys.tsv")
# grafana-community/helm-charts tag tempo-2.2.4 (Tempo 2.10.8).
TEMPO = PinnedChart("tempo", "https://grafana-community.github.io/helm-charts", "2.2.4", "tempo-2.2.4.keys.tsv")
OTLP_GRPC_PORT = 4317
TEMPO_HTTP_PORT = 3200
"""Tempo's query API (`tempo-prom-metrics` port of its Service, templates/_ports.tpl)."""
SERVICE_ACCOUNT = "otel-collector"
INDEXED_ATTRIBUTES = ("inference.model", "inference.request_id")
"""Span attributes X-Ray keeps as searchable annotations: find a trace by the id a client quotes."""


@dataclass(frozen=True)
class XRay:
    """Export to AWS X-Ray (AWS stacks)."""

    region: str
    oidc_provider_arn: pulumi.Input[str]
    kind: Literal["xray"] = "xray"


@dataclass(frozen=True)
class TempoStore:
    """Run Tempo in the cluster and export there (local stack)."""

    retention: Duration = "72h"
    kind: Literal["tempo"] = "tempo"


@dataclass
class TraceCollectionArgs:
    """Inputs of `TraceCollection`."""

    destination: Union[XRay, TempoStore]
    namespace: DnsLabel = "tracing"
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The Collector and Tempo stay off GPU nodes."""
    tags: dict[str, str] = field(default_factory=dict)
    collector_version: ChartVersion = COLLECTOR.version
    tempo_version: ChartVersion = TEMPO.version
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the Collector's (checked against the pinned chart's keys)."""

    def _rules(self) -> list[Problem]:
        return extra_values_problems("extra_values", self.extra_values, COLLECTOR.at(self.collector_version))


def validate_trace_collection_args(args: TraceCollectionArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def collector_config(exporter: dict[str, Any]) -> dict[str, Any]:
    """The whole Collector configuration: OTLP gRPC in, memory limit and batches, one traces exporter out.

    Keys read at open-telemetry/opentelemetry-collector v0.158.0 (the core modules of contrib 0.158.0):
    receiver/otlpreceiver (type `otlp`, `protocols.grpc`), config/configgrpc and config/confignet (`endpoint`),
    internal/memorylimiter/config.go (`check_interval`, `limit_percentage`, `spike_limit_percentage`),
    processor/batchprocessor (type `batch`). `health_check` is contrib's healthcheckextension (`endpoint`)."""
    [name] = exporter
    return {
        # The chart's probes need health_check (values.yaml: "should never be removed").
        "extensions": {"health_check": {"endpoint": "${env:MY_POD_IP}:13133"}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_GRPC_PORT}"}}}},
        "processors": {"memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
                       "batch": {}},
        "exporters": exporter,
        "service": {"extensions": ["health_check"], "pipelines": {"traces": {
            "receivers": ["otlp"], "processors": ["memory_limiter", "batch"], "exporters": [name]}}},
    }


def xray_exporter(region: str) -> dict[str, Any]:
    """contrib's awsxrayexporter (`region` of its AWS session settings, `indexed_attributes`). The server's W3C trace
    ids are random, not X-Ray's time-prefixed ones: the exporter keeps them under its feature gate
    `exporter.awsxray.skiptimestampvalidation` (registered from v0.84.0, Beta -- on by default -- in the versions
    read through the code search; not read at v0.158.0 itself, the contrib repository being too large to fetch)."""
    return {"awsxray": {"region": region, "indexed_attributes": list(INDEXED_ATTRIBUTES)}}


def tempo_exporter(host: str) -> dict[str, Any]:
    # Plain gRPC inside the cluster, as Prometheus scrapes; Tempo's receiver has no TLS here. The exporter's type is
    # `otlp_grpc` at v0.158.0 (exporter/otlpexporter/metadata.yaml; `otlp` is its deprecated alias), `tls.insecure`
    # from config/configtls.
    return {"otlp_grpc": {"endpoint": f"{host}:{OTLP_GRPC_PORT}", "tls": {"insecure": True}}}


XRAY_WRITE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    # X-Ray's put actions take no resource ARN (service authorization reference: resource types "*").
    "Resource": "*"}]}, sort_keys=True)


class TraceCollection(pulumi.ComponentResource):
    """An OpenTelemetry Collector for the cluster's traces, exporting to AWS X-Ray or to an in-cluster Tempo.

    Creates the namespace and the Collector release (a Deployment of two replicas off GPU nodes); with `XRay` an
    IRSA role that may only put trace segments; with `TempoStore` the Tempo release.
    """

    namespace: pulumi.Output[str]
    otlp_endpoint: str
    """What the model server's `OTEL_EXPORTER_OTLP_ENDPOINT` is set to."""
    tempo_url: Optional[str]
    """Tempo's query URL (Grafana's traces data source); None with X-Ray."""

    def __init__(self, name: str, args: TraceCollectionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("TraceCollection", name, args, TraceCollectionArgs)
        _claims.claim("TraceCollection", name, opts, [_claims.kubernetes("Namespace", args.namespace, field="namespace")])
        super().__init__("gpu-model-platform:index:TraceCollection", name, None, opts)
        self._args = args
        ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
            name=args.namespace, labels={**standard_labels(name, "tracing"),
                                         "pod-security.kubernetes.io/enforce": "baseline"}),
            opts=pulumi.ResourceOptions(parent=self))
        self.namespace = ns.metadata.name
        collector = f"{name}-collector"
        self.otlp_endpoint = f"http://{collector}.{args.namespace}.svc:{OTLP_GRPC_PORT}"
        self.tempo_url = None
        account: dict[str, Any] = {"create": True, "name": SERVICE_ACCOUNT}
        if isinstance(args.destination, XRay):
            role = controller_role(f"{name}-role", f"{name}-policy", description="OpenTelemetry Collector (IRSA): X-Ray",
                                   oidc_provider_arn=args.destination.oidc_provider_arn, namespace=args.namespace,
                                   service_account=SERVICE_ACCOUNT, policy=XRAY_WRITE_POLICY,
                                   tags=component_tags("trace-collection", name, args.tags), parent=self)
            account["annotations"] = {"eks.amazonaws.com/role-arn": role.arn}
            exporter = xray_exporter(args.destination.region)
        else:
            host = self._create_tempo(name, args.destination)
            self.tempo_url = f"http://{host}:{TEMPO_HTTP_PORT}"
            exporter = tempo_exporter(host)
        self._create_collector(collector, exporter, account)
        self.register_outputs({"namespace": self.namespace, "otlp_endpoint": self.otlp_endpoint,
                               "tempo_url": self.tempo_url})

    def _create_tempo(self, name: str, tempo: TempoStore) -> str:
        a = self._args
        release = f"{name}-tempo"
        values = {"fullnameOverride": release, "tempo": {"retention": tempo.retention},
                  "persistence": {"enabled": True}, "tolerations": [], "affinity": off_gpu_nodes(a.gpu_scheduling)}
        _charts.release(release, TEMPO.at(a.tempo_version), a.namespace, values, {},
                        pulumi.ResourceOptions(parent=self), name=release)
        return f"{release}.{a.namespace}.svc"

    def _create_collector(self, release: str, exporter: dict[str, Any], account: dict[str, Any]) -> None:
        a = self._args
        values = {
            "fullnameOverride": release, "mode": "deployment", "replicaCount": 2,
            # The contrib distribution carries the awsxray exporter; its executable is otelcol-contrib.
            "image": {"repository": "otel/opentelemetry-collector-contrib"}, "command": {"name": "otelcol-contrib"},
            "alternateConfig": collector_config(exporter),
            "ports": {p: {"enabled": False} for p in ("otlp-http", "jaeger-compact", "jaeger-thrift", "jaeger-grpc",
                                                      "zipkin")},
            "serviceAccount": account,
            "tolerations": [], "affinity": off_gpu_nodes(a.gpu_scheduling),
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        }
        _charts.release(release, COLLECTOR.at(a.collector_version), a.namespace, values, a.extra_values,
                        pulumi.ResourceOptions(parent=self), name=release)
