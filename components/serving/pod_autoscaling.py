"""PrometheusAdapter: the model server's own gauges, served to HorizontalPodAutoscalers as pod metrics.

Why prometheus-adapter and not KEDA: the model's autoscaler stays a plain autoscaling/v2 HPA owned
by `ModelService` (one object, checked by the Kubernetes schema and the policy pack, `spec.replicas`
left to it), the adapter reads the Prometheus the monitoring stack already runs, and KEDA's main
gain, scaling to zero, cannot work from these signals: a model with no pods reports no queue. SIG
Autoscaling plans to deprecate prometheus-adapter in favour of KEDA
(kubernetes-sigs/prometheus-adapter#701); the move is a ScaledObject with a `prometheus` trigger
on the same query, replacing the HPA this feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, cast

import pulumi

from .. import _charts, _claims
from .._args import (
    ChartVersion,
    DnsLabel,
    MetricName,
    Port,
    PositiveInt,
    Problem,
    ShortDuration,
    checked_args,
    non_empty,
    problems_of,
)
from .._charts import PinnedChart, extra_values_problems
from ..capacity.cluster_autoscaler import off_gpu_node_affinity
from ..capacity.gpu_scheduling import GpuScheduling
from ..observability.monitoring_rules import ModelTarget, series_selector
from .model_service import PodsMetric
from .runtimes import Series, ServingRuntime
from .server_contract import BATCH_QUEUE_DEPTH, IN_FLIGHT_REQUESTS

# The official chart (prometheus-community/helm-charts charts/prometheus-adapter, tag
# prometheus-adapter-5.3.0, app v0.12.0); values keys from that tag's values.yaml.
CHART = "prometheus-adapter"
CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
CHART_VERSION = "5.3.0"
PINNED_CHART = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
# The aggregated API the adapter registers: one per cluster, whatever its release is called.
CUSTOM_METRICS_API_SERVICE = "v1beta1.custom.metrics.k8s.io"


def served_metric_name(metric: str) -> str:
    """The name the custom metrics API serves a gauge under (an HPA's `pods` metric): its own, with the `:` of a
    runtime's namespaced name (`vllm:num_requests_waiting`) as `_`, which a metric's path segment cannot carry."""
    return metric.replace(":", "_")


def scale_signals(runtime: ServingRuntime) -> list[str]:
    """The runtime's gauges that follow its load, to serve as pod metrics: queued, in flight and (an LLM server)
    KV-cache use. CPU and GPU utilisation do not follow an LLM's load: a batch of one keeps a GPU as busy."""
    s = runtime.signals
    return [g.metric for g in (s.queue_depth, s.in_flight, s.kv_cache_usage) if g is not None]


def keda_prometheus_trigger(target: ModelTarget, gauge: Series, threshold: float, server_address: str,
                            window: str = "1m") -> dict[str, Any]:
    """A KEDA ScaledObject `prometheus` trigger on one of the runtime's gauges (the move this module's docstring
    names): the model's total over its pods, averaged over `window`; KEDA divides it by `threshold` per replica
    (kedacore/keda pkg/scalers/prometheus_scaler.go, `prometheusMetadata`: serverAddress, query, threshold; the query
    must return one element, hence the sum)."""
    query = f"sum(avg_over_time({gauge.metric}{series_selector(target, gauge)}[{window}]))"
    return {"type": "prometheus",
            "metadata": {"serverAddress": server_address, "query": query, "threshold": f"{threshold:g}"}}


def adapter_rule(metric: str, window: str) -> dict[str, Any]:
    """A custom-metrics rule serving a gauge, averaged over `window`, per pod under its own name (`served_metric_name`)."""
    return {
        # Only series scraped from pods (the ServiceMonitor adds `namespace` and `pod`).
        "seriesQuery": f'{metric}{{namespace!="",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{metric}$", "as": served_metric_name(metric)},
        # A gauge read once would let one instant's burst add a GPU node; the window smooths it.
        "metricsQuery": f"sum by (<<.GroupBy>>) (avg_over_time(<<.Series>>{{<<.LabelMatchers>>}}[{window}]))",
    }


def pods_metric(metric: str, target_per_pod: float) -> PodsMetric:
    """The HPA metric for one of the served gauges at a per-pod target (`16`, `2.5` as `2500m`)."""
    value = f"{int(target_per_pod)}" if float(target_per_pod).is_integer() else f"{round(target_per_pod * 1000)}m"
    return PodsMetric(name=served_metric_name(metric), target_average_value=value)


@dataclass
class PrometheusAdapterArgs:
    """Inputs of `PrometheusAdapter`."""

    prometheus_url: pulumi.Input[str]
    """Prometheus's in-cluster URL without the port, e.g. `http://prometheus-operated.monitoring.svc`."""
    prometheus_port: Port = 9090
    """Prometheus's port."""
    metrics: Annotated[list[MetricName], non_empty()] = field(default_factory=lambda: [BATCH_QUEUE_DEPTH,
                                                                                      IN_FLIGHT_REQUESTS])
    """Gauges with `namespace` and `pod` labels to serve as pod metrics of the same name."""
    window: ShortDuration = "1m"
    """Each value is the gauge's average over this window."""
    namespace: DnsLabel = "monitoring"
    """Namespace of the adapter (next to Prometheus)."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The GPU node labels: the adapter never runs on a node carrying them."""
    replicas: PositiveInt = 2
    """Replicas behind a PodDisruptionBudget: without the adapter, the HPA freezes the model's size."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `prometheus-adapter` chart version."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What must exist first (the monitoring stack, whose namespace the adapter joins)."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the ones this component builds (checked against the pinned
    chart's keys). Anything set here is yours to keep secure and working across chart upgrades."""

    def _rules(self) -> list[Problem]:
        return extra_values_problems("extra_values", self.extra_values, PINNED_CHART.at(self.chart_version))


def validate_prometheus_adapter_args(args: PrometheusAdapterArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class PrometheusAdapter(pulumi.ComponentResource):
    """prometheus-adapter serving the model server's load gauges on the custom metrics API.

    Installs the official chart with only our rules (none of the chart's catch-all defaults, and no
    resource metrics, which stay with metrics-server), two replicas off GPU nodes behind a
    PodDisruptionBudget, in the monitoring namespace.
    """

    metric_names: list[str]
    """The pod metrics it serves (HPA `pods` metric names)."""
    release_name: pulumi.Output[str]
    """The Helm release."""

    def __init__(self, name: str, args: PrometheusAdapterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("PrometheusAdapter", name, args, PrometheusAdapterArgs)
        _claims.claim("PrometheusAdapter", name, opts, [
            _claims.kubernetes("apiregistration.k8s.io/APIService", CUSTOM_METRICS_API_SERVICE),
            _claims.helm_release(name, args.namespace)])
        super().__init__("gpu-model-platform:index:PrometheusAdapter", name, None, opts)
        self.metric_names = list(args.metrics)
        release = _charts.release(
            f"{name}-release", PINNED_CHART.at(args.chart_version), args.namespace, _values(name, args),
            args.extra_values, pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            name=name, max_history=5, cleanup_on_fail=True)
        # `name` is always set on the Release, so its output is never None (the SDK types it Optional).
        self.release_name = cast(pulumi.Output[str], release.name)
        self.register_outputs({"metric_names": self.metric_names, "release_name": self.release_name})


def _values(name: str, args: PrometheusAdapterArgs) -> dict[str, Any]:
    return {
        "fullnameOverride": name,
        "prometheus": {"url": args.prometheus_url, "port": args.prometheus_port},
        "rules": {"default": False, "custom": [adapter_rule(m, args.window) for m in args.metrics]},
        "replicas": args.replicas,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "affinity": off_gpu_node_affinity(args.gpu_scheduling),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }
