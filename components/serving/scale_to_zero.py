"""Scale to zero: an idle model runs no pod (so no GPU node), and the first request wakes it.

KEDA with its HTTP add-on (comparison with Knative Serving in docs/autoscaling.md). `KedaHttpAddOn`
installs both official charts once per cluster; `ModelScaleToZero` gives one model an
InterceptorRoute (how the interceptor routes and holds its requests), a ScaledObject (KEDA owns
the Deployment's replicas, 0 to max, through the one HPA it creates) and a small "cold-start answer"
server the interceptor falls back to when the wake-up outlasts the wait.

Facts read from the pinned sources:
- charts: kedacore/charts `keda/` at commit cbb9bb8c (chart 2.20.2, "prepare v2.20.2 release") and
  `http-add-on/` at commit c4b92e9e (chart 0.15.0, "feat(http-add-on): release v0.15.0");
- interceptor: kedacore/http-add-on tag v0.15.0. `interceptor/middleware/endpoint_resolver.go`
  holds a request until the target Service has a ready endpoint or `timeouts.readiness` passes;
  then, without `coldStart.fallback`, it answers 504 Gateway Timeout with no Retry-After
  (`handler.NewStatic`), and with one it forwards the request, Host header kept, to the fallback
  Service. The fallback here answers 503 with `Retry-After`: that is how a timed-out wake-up gets a
  clear answer instead of a 504 or a reset.
- shutdown: on SIGTERM the interceptor answers 503 on `/readyz` for `interceptor.shutdownDelay` while still
  serving, then closes its listener and waits up to `interceptor.drainTimeout` for in-flight requests, held ones
  included (interceptor/main.go, pkg/http/server.go at v0.15.0; chart values `shutdownDelay` 5s, `drainTimeout`
  30s, `terminationGracePeriodSeconds` 45, "must be at least shutdownDelay + drainTimeout").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import (
    ChartVersion,
    DnsLabel,
    InvalidArgs,
    NonNegativeInt,
    PositiveInt,
    Problem,
    at_least,
    checked_args,
    got,
    name_problems,
    problems_of,
)
from .._charts import PinnedChart, extra_values_problems
from ..capacity.cluster_autoscaler import MetricsEndpoint, off_gpu_node_affinity
from ..capacity.gpu_scheduling import GpuScheduling
from ..labels import selector_labels, standard_labels
from ..observability.monitoring_stack import MonitoringStack
from ._subnets import subnet_cidrs
from .backends import RequestProxy
from .model_service import ImageDigest, ModelService
from .server_contract import HTTP_PORT_NAME

CHART_REPOSITORY = "https://kedacore.github.io/charts"
KEDA_CHART, KEDA_CHART_VERSION = "keda", "2.20.2"
HTTP_CHART, HTTP_CHART_VERSION = "keda-add-ons-http", "0.15.0"
KEDA_PINNED = PinnedChart(KEDA_CHART, CHART_REPOSITORY, KEDA_CHART_VERSION, f"{KEDA_CHART}-{KEDA_CHART_VERSION}.keys.tsv")
HTTP_PINNED = PinnedChart(HTTP_CHART, CHART_REPOSITORY, HTTP_CHART_VERSION, f"{HTTP_CHART}-{HTTP_CHART_VERSION}.keys.tsv")
# CRDs the charts install (keda/templates/crds/crd-scaledobjects.yaml, http-add-on/templates/crds/
# crd-interceptorroutes.yaml at the commits above): cluster-wide, so one KEDA and one add-on per cluster.
KEDA_CRDS = ("scaledobjects.keda.sh", "interceptorroutes.http.keda.sh")
KEDA_API = "keda.sh/v1alpha1"
HTTP_API = "http.keda.sh/v1beta1"
# The chart names its Services `<chart name>-<values key>` (http-add-on/templates/interceptor/service-proxy.yaml,
# scaler/service.yaml), whatever the release is called.
PROXY_SERVICE = f"{HTTP_CHART}-interceptor-proxy"
PROXY_PORT = 8080  # interceptor.proxy.port
# The interceptor's admin server (interceptor.admin.port) answers `/readyz`, 503 once it drains on SIGTERM "for
# external load balancers" (kedacore/http-add-on v0.15.0, interceptor/admin.go and main.go): a load balancer in
# front checks that, never a path the interceptor would route to (and hold, and wake) the model.
INTERCEPTOR_HEALTH_PORT, INTERCEPTOR_HEALTH_PATH = 9090, "/readyz"
ADMIN_PORT, READINESS_PATH = INTERCEPTOR_HEALTH_PORT, INTERCEPTOR_HEALTH_PATH  # the names before 0.x (kept)
SCALER_SERVICE, SCALER_PORT = f"{HTTP_CHART}-external-scaler", 9090  # scaler.service, scaler.grpcPort
# The interceptor serves Prometheus metrics on 2223 (pkg/observability/config.go, OTEL_PROM_EXPORTER_PORT default),
# but the chart declares neither the port nor a Service for it: `KedaHttpAddOn` adds the Service.
INTERCEPTOR_METRICS_PORT = 2223
INTERCEPTOR_POD_LABELS = {"app.kubernetes.io/component": "interceptor", "app.kubernetes.io/name": "http-add-on"}
# KEDA names the HPA it creates for a ScaledObject `keda-hpa-<ScaledObject name>`.
HPA_PREFIX = "keda-hpa-"
# The cold-start answer: nginx, unprivileged image (uid 101, listens on 8080), pinned by digest. Digest of
# `nginxinc/nginx-unprivileged:1.31-alpine` as Dependabot recorded it on 18 May 2026 (ingef/conquery#3892).
COLD_START_IMAGE = ("docker.io/nginxinc/nginx-unprivileged:1.31-alpine"
                    "@sha256:f10950a9f4e6f4dd28634c51bdb74ed4b0a76d50f4424516bc715e7b9188dd37")
COLD_START_PORT = 8080
# Any high UID works: nginx reads only our ConfigMap and writes only to the /tmp emptyDir (pid, temp paths), so it
# need not be the image's own nginx user (101), and > 10000 keeps clear of host UIDs.
_COLD_START_UID = 10101
# ALB idle timeout needed in front of the interceptor: the wait plus the slowest inference answer.
RESPONSE_MARGIN_SECONDS = 60
# How long a stopping interceptor keeps serving while `/readyz` answers 503: long enough for the load balancer's
# health check to take it out (ModelEndpoint checks every 10 s, unhealthy after 2 failures, 5 s timeout).
INTERCEPTOR_SHUTDOWN_DELAY_SECONDS = 25
# Between the end of the drain and SIGKILL: the interceptor's own shutdown after its proxy drained.
_KILL_MARGIN_SECONDS = 15


@dataclass(frozen=True)
class RequestHolder:
    """Where requests for a sleeping model must enter, and where KEDA asks whether one is waiting."""

    namespace: str
    """Namespace of the interceptor (an ALB Ingress for a model that scales to zero lives here)."""
    proxy_service: str
    """The interceptor's proxy Service: every request for the model goes through it."""
    proxy_port: int
    """Port of the proxy Service."""
    scaler_address: str
    """`host:port` of the add-on's external scaler (the ScaledObject's `scalerAddress`)."""
    longest_hold_seconds: int = 600
    """The longest hold a stopping interceptor still answers (`KedaHttpAddOnArgs.longest_hold_seconds`)."""


@dataclass
class KedaHttpAddOnArgs:
    """Inputs of `KedaHttpAddOn`."""

    namespace: DnsLabel = "keda"
    """Namespace of both releases."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The GPU node labels: no KEDA pod ever runs on a node carrying them."""
    interceptor_min_replicas: PositiveInt = 2
    """Fewest interceptors: every request of a sleeping model passes one, so keep two behind a disruption budget."""
    interceptor_max_replicas: PositiveInt = 10
    """Most interceptors (the chart scales them on their own load)."""
    keda_chart_version: ChartVersion = KEDA_CHART_VERSION
    """Pinned `keda` chart version."""
    http_chart_version: ChartVersion = HTTP_CHART_VERSION
    """Pinned `keda-add-ons-http` chart version."""
    monitoring: Optional[MonitoringStack] = None
    """When set, a ServiceMonitor in its namespace scrapes the interceptors (held requests, answers by code), created
    after the stack (whose chart installs the ServiceMonitor CRD), and the stack's Prometheus may reach them."""
    longest_hold_seconds: Annotated[int, at_least(10)] = 600
    """The longest any model's route holds a request (`ModelScaleToZeroArgs.max_wait_seconds`): a stopping
    interceptor keeps answering the requests it holds this long, plus the answer's margin, before it exits."""
    load_balancer_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = field(default_factory=list)
    """Subnets of a load balancer in front of the interceptors (`ModelEndpointArgs.subnet_ids`): their addresses may
    reach the proxy and its health check. Empty: only pods in the cluster may."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What must exist before the interceptors' ServiceMonitor, besides `monitoring`."""
    keda_extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the `keda` chart's (checked against its pinned keys). Anything
    set here is yours to keep secure and working across chart upgrades."""
    http_extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: the same for the `keda-add-ons-http` chart."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.interceptor_min_replicas > self.interceptor_max_replicas:
            problems.append(("interceptor_min_replicas", got(self.interceptor_min_replicas, "must be 1.."
                             f"interceptor_max_replicas ({self.interceptor_max_replicas})")))
        problems += extra_values_problems("keda_extra_values", self.keda_extra_values,
                                          KEDA_PINNED.at(self.keda_chart_version))
        return problems + extra_values_problems("http_extra_values", self.http_extra_values,
                                                HTTP_PINNED.at(self.http_chart_version))


def validate_keda_http_add_on_args(args: KedaHttpAddOnArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class KedaHttpAddOn(pulumi.ComponentResource):
    """KEDA and its HTTP add-on, once per cluster: what lets models scale to zero and be woken by a request.

    Creates the namespace (Pod Security `baseline`, `restricted` warned), the official `keda` chart
    (operator, metrics API server, admission webhooks, the ScaledObject CRDs) and, after it, the
    official `keda-add-ons-http` chart (interceptor proxy, external scaler, operator, the
    InterceptorRoute CRD), every pod off GPU nodes, interceptors that drain held requests before they stop;
    a NetworkPolicy admitting to the interceptors only their callers (the proxy port from the cluster's pods and
    the load balancer's subnets, the admin port from the scaler and the load balancer's health check, metrics from
    the monitoring stack); a Service for the interceptors' metrics and, with a monitoring stack, its
    ServiceMonitor.
    """

    namespace: str
    """Namespace of KEDA and the add-on."""
    holder: RequestHolder
    """Where requests enter and where scalers are asked (input of `ModelScaleToZero`)."""
    metrics: MetricsEndpoint
    """Where the interceptors serve their metrics."""
    crds: list[pulumi.Resource]
    """The releases installing the CRDs: custom resources of both APIs must wait for them."""
    gpu_scheduling: GpuScheduling
    """The GPU node labels its pods (and a `ModelScaleToZero`'s cold-start answer) keep away from."""

    def __init__(self, name: str, args: KedaHttpAddOnArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("KedaHttpAddOn", name, args, KedaHttpAddOnArgs)
        _claims.claim("KedaHttpAddOn", name, opts, [
            _claims.kubernetes("Namespace", args.namespace, field="namespace"),
            *[_claims.kubernetes("CustomResourceDefinition", crd) for crd in KEDA_CRDS]])
        super().__init__("gpu-model-platform:index:KedaHttpAddOn", name, None, opts)
        self._args = args
        self.namespace = args.namespace
        self.gpu_scheduling = args.gpu_scheduling
        self.holder = RequestHolder(namespace=args.namespace, proxy_service=PROXY_SERVICE, proxy_port=PROXY_PORT,
                                    scaler_address=f"{SCALER_SERVICE}.{args.namespace}:{SCALER_PORT}",
                                    longest_hold_seconds=args.longest_hold_seconds)
        self._http_release_name = f"{name}-http"
        self.metrics = MetricsEndpoint(
            namespace=args.namespace, port="metrics", job=f"{HTTP_CHART}-interceptor-metrics",
            service_labels={**INTERCEPTOR_POD_LABELS, "app.kubernetes.io/instance": self._http_release_name})
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={
                **standard_labels(name, "autoscaler"),
                "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted"}),
            opts=pulumi.ResourceOptions(parent=self))
        keda = self._release(f"{name}-keda", name, KEDA_PINNED.at(args.keda_chart_version), self._keda_values(),
                             args.keda_extra_values, [ns])
        http = self._release(f"{name}-http", self._http_release_name, HTTP_PINNED.at(args.http_chart_version),
                             self._http_values(), args.http_extra_values, [ns, keda])
        self.crds = [keda, http]
        self._create_metrics(name, ns, http)
        self._create_network_policy(name, ns)
        self.register_outputs({"namespace": self.namespace, "proxy_service": self.holder.proxy_service,
                               "proxy_port": self.holder.proxy_port, "scaler_address": self.holder.scaler_address})

    def _release(self, logical: str, release: str, chart: PinnedChart, values: dict[str, Any],
                 extra_values: dict[str, Any], after: list[pulumi.Resource]) -> k8s.helm.v3.Release:
        return _charts.release(logical, chart, self._args.namespace, values, extra_values,
                               pulumi.ResourceOptions(parent=self, depends_on=after), name=release, max_history=5,
                               cleanup_on_fail=True)

    def _keda_values(self) -> dict[str, Any]:
        """The `keda` chart's values (keys from its values.yaml at 2.20.2)."""
        return {
            "crds": {"install": True},
            # One leader does the work; a second replica of each takes over at once when a node goes.
            "operator": {"replicaCount": 2},
            "metricsServer": {"replicaCount": 2},
            "webhooks": {"replicaCount": 2},
            "podDisruptionBudget": {"operator": {"maxUnavailable": 1}, "metricServer": {"maxUnavailable": 1},
                                    "webhooks": {"maxUnavailable": 1}},
            "affinity": off_gpu_node_affinity(self._args.gpu_scheduling),
            "resources": {part: {"requests": {"cpu": "50m", "memory": "100Mi"}, "limits": {"memory": "500Mi"}}
                          for part in ("operator", "metricServer", "webhooks")},
            "prometheus": {"operator": {"enabled": True}, "metricServer": {"enabled": True}},
        }

    def _http_values(self) -> dict[str, Any]:
        """The `keda-add-ons-http` chart's values (keys from its values.yaml at 0.15.0)."""
        a = self._args
        away = off_gpu_node_affinity(a.gpu_scheduling)
        small = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
        return {
            "crds": {"install": True},
            "operator": {"replicas": 1, "affinity": away, "resources": small, "pullPolicy": "IfNotPresent"},
            "scaler": {"replicas": 2, "affinity": away, "resources": small, "pullPolicy": "IfNotPresent"},
            "interceptor": {
                "replicas": {"min": a.interceptor_min_replicas, "max": a.interceptor_max_replicas},
                "affinity": away, "pullPolicy": "IfNotPresent",
                # Held requests cost memory: room for a few thousand waiting during a cold start.
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                "pdb": {"enabled": True, "maxUnavailable": 1},
                # Waits are per route (InterceptorRoute timeouts); no global request deadline cuts a hold short.
                "requestTimeout": "0s",
                **self._shutdown_values(),
            },
        }

    def _shutdown_values(self) -> dict[str, Any]:
        """A stopping interceptor (node drain, scale-in, upgrade) answers what it holds instead of cutting it."""
        drain = self._args.longest_hold_seconds + RESPONSE_MARGIN_SECONDS
        return {"shutdownDelay": f"{INTERCEPTOR_SHUTDOWN_DELAY_SECONDS}s", "drainTimeout": f"{drain}s",
                "terminationGracePeriodSeconds": INTERCEPTOR_SHUTDOWN_DELAY_SECONDS + drain + _KILL_MARGIN_SECONDS}

    def _create_network_policy(self, name: str, ns: k8s.core.v1.Namespace) -> None:
        peer = k8s.networking.v1.NetworkPolicyPeerArgs
        load_balancer = subnet_cidrs(self._args.load_balancer_subnet_ids, self).apply(
            lambda cidrs: [peer(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c)) for c in sorted(cidrs)])
        any_pod = [peer(namespace_selector=k8s.meta.v1.LabelSelectorArgs())]
        own_namespace = [peer(pod_selector=k8s.meta.v1.LabelSelectorArgs())]
        rules = [
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=load_balancer.apply(lambda peers: any_pod + peers), ports=[_tcp(PROXY_PORT)]),
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=load_balancer.apply(lambda peers: own_namespace + peers), ports=[_tcp(ADMIN_PORT)]),
        ]
        monitoring = self._args.monitoring
        if monitoring is not None:
            rules.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[peer(namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": monitoring.namespace}))],
                ports=[_tcp(INTERCEPTOR_METRICS_PORT)]))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-interceptor-network-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{HTTP_CHART}-interceptor", namespace=self._args.namespace,
                                                labels=standard_labels(name, "autoscaler")),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(self.metrics.service_labels)),
                policy_types=["Ingress"], ingress=rules),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]))

    def _create_metrics(self, name: str, ns: k8s.core.v1.Namespace, http: pulumi.Resource) -> None:
        m = self.metrics
        k8s.core.v1.Service(
            f"{name}-interceptor-metrics",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=m.job, namespace=m.namespace, labels=dict(m.service_labels)),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=dict(m.service_labels),
                ports=[k8s.core.v1.ServicePortArgs(name=m.port, port=INTERCEPTOR_METRICS_PORT,
                                                   target_port=INTERCEPTOR_METRICS_PORT, protocol="TCP")]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, http]))
        monitoring = self._args.monitoring
        if monitoring is None:
            return
        k8s.apiextensions.CustomResource(
            f"{name}-interceptor-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=m.job, namespace=monitoring.namespace,
                                                labels=standard_labels(name, "autoscaler")),
            spec={"jobLabel": "app.kubernetes.io/component",
                  "namespaceSelector": {"matchNames": [m.namespace]},
                  "selector": {"matchLabels": dict(m.service_labels)},
                  "endpoints": [{"port": m.port, "path": "/metrics", "interval": "15s"}]},
            # The ServiceMonitor CRD comes with the monitoring stack's chart.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring, *self._args.depends_on]))


def _tcp(port: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")


def cold_start_nginx_conf(model: str, retry_after_seconds: int, *, port: int = COLD_START_PORT,
                          scratch: str = "/tmp") -> str:
    """nginx.conf of the cold-start answer: every path 503 with `Retry-After`, JSON body; `/healthz` 200 for probes."""
    temp = "\n".join(f"  {kind}_temp_path {scratch}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    message = (f'{{"error": "model {model} is waking up from zero replicas (GPU node and model start take minutes); '
               f'retry after {retry_after_seconds} s"}}')
    return f"""worker_processes 1;
pid {scratch}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
{temp}
  access_log off;
  server_tokens off;
  server {{
    listen {port};
    location = /healthz {{ default_type text/plain; return 200 "ok\\n"; }}
    location / {{
      default_type application/json;
      add_header Retry-After {retry_after_seconds} always;
      return 503 '{message}\\n';
    }}
  }}
}}
"""


@dataclass
class ModelScaleToZeroArgs:
    """Inputs of `ModelScaleToZero`: the model and the add-on themselves; names, ports and namespaces come from them."""

    model: ModelService
    """The model to scale; built with `replica_owner="keda"` (and neither `autoscaling` nor `progressive_rollout`)."""
    add_on: KedaHttpAddOn
    """The cluster's KEDA and HTTP add-on: its interceptor holds the requests, its scaler is asked for the count, and
    the custom resources wait for its charts (their CRDs)."""
    hosts: list[pulumi.Input[str]] = field(default_factory=list)
    """Public hostnames routed to this model (a `ModelEndpoint`'s host), besides the Service's in-cluster names."""
    idle_seconds: Annotated[int, at_least(60)] = 900
    """No request for this long, and the model goes to zero replicas (KEDA `cooldownPeriod`)."""
    max_wait_seconds: Annotated[int, at_least(10)] = 600
    """Longest a request is held for a cold start (InterceptorRoute `timeouts.readiness`); then 503 + Retry-After."""
    min_replicas: NonNegativeInt = 0
    """Replicas while idle (0: scale to zero)."""
    max_replicas: PositiveInt = 1
    """Most replicas under load."""
    target_concurrency: PositiveInt = 16
    """Concurrent requests per replica KEDA keeps (half the server's batch of 32, as the queue HPA does)."""
    retry_after_seconds: PositiveInt = 60
    """`Retry-After` of the answer to a request that outwaited `max_wait_seconds`."""
    cold_start_image: ImageDigest = COLD_START_IMAGE
    """nginx (unprivileged, listening on 8080) by digest, for the cold-start answer."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.model.replica_owner != "keda":
            problems.append(("model", got(self.model.served.name, "is not set up to be scaled by KEDA: build its "
                                          "ModelService with replica_owner=\"keda\" (and replicas=0 to start "
                                          "asleep), or it and KEDA would both set its replicas")))
        if self.max_replicas < self.min_replicas:
            problems.append(("max_replicas", f"got {self.max_replicas} (min_replicas {self.min_replicas}); need 0 <= "
                                             "min_replicas <= max_replicas and max_replicas >= 1"))
        longest = self.add_on.holder.longest_hold_seconds
        if self.max_wait_seconds > longest:
            # A stopping interceptor would cut the request it holds: raise the add-on's longest_hold_seconds.
            problems.append(("max_wait_seconds", got(self.max_wait_seconds, "must be at most the add-on's "
                             f"longest_hold_seconds ({longest})")))
        return problems


def validate_model_scale_to_zero_args(args: ModelScaleToZeroArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def derived_names(name: str) -> dict[str, str]:
    """The Kubernetes names `ModelScaleToZero` derives from its instance name (route, ScaledObject, the HPA KEDA
    makes, the cold-start answer), each of which must be a DNS label."""
    return {"route": name, "hpa": f"{HPA_PREFIX}{name}", "cold start": f"{name}-cold-start",
            "network policy": f"{name}-interceptor"}


class ModelScaleToZero(pulumi.ComponentResource):
    """One model scaled by requests, down to zero replicas: the only owner of its Deployment's replicas.

    Creates, in the model's namespace: an InterceptorRoute (the model's hosts, requests held up to
    `max_wait_seconds` for a ready replica, then sent to the cold-start answer), a ScaledObject
    (replicas `min_replicas`..`max_replicas` on concurrent requests, down to `min_replicas` after
    `idle_seconds` without one; KEDA creates the one HPA), a NetworkPolicy admitting the interceptors
    to the model's `http` port (policies add up: the model's own still admits nothing else), and the
    cold-start answer: nginx answering 503 with `Retry-After`, as a ConfigMap, Deployment, Service and
    NetworkPolicy (only the interceptors may call it). The custom resources wait for the add-on's charts.
    """

    model: ModelService
    """The model it scales."""
    proxy_namespace: str
    """Where requests must enter: the interceptor's namespace (an ALB Ingress for the model goes there)."""
    proxy_service_name: str
    """The interceptor's proxy Service (the Ingress backend)."""
    proxy_port: int
    """Its port."""
    health_check_port: int
    """The interceptors' own readiness port, for a load balancer's health check (never routed to the model)."""
    health_check_path: str
    """Their readiness path on that port."""
    hosts: pulumi.Output[list[str]]
    """Host headers the interceptor routes to this model."""
    route_name: str
    """The InterceptorRoute (`route_name` label of the interceptor's metrics)."""
    scaled_object_name: str
    """The ScaledObject."""
    hpa_name: str
    """The HPA KEDA creates for it: the Deployment's one replica owner."""
    max_wait_seconds: int
    """Longest a request is held while the model wakes."""
    load_balancer_idle_timeout_seconds: int
    """Idle timeout a load balancer in front needs so that a held request is answered, not cut."""
    proxy: RequestProxy
    """The interceptor as a load balancer's target (what `ModelEndpoint` sends to when given this component)."""

    def __init__(self, name: str, args: ModelScaleToZeroArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelScaleToZero", name, args, ModelScaleToZeroArgs,
                            extra=name_problems("name", derived_names(name)))
        model = args.model
        taken = model.take("ModelScaleToZero", name)
        if taken:
            raise InvalidArgs("ModelScaleToZero", name, [f"model: {taken}"])
        super().__init__("gpu-model-platform:index:ModelScaleToZero", name, None, opts)
        self._args = args
        self.model = model
        h = args.add_on.holder
        self.proxy_namespace, self.proxy_service_name, self.proxy_port = h.namespace, h.proxy_service, h.proxy_port
        self.health_check_port, self.health_check_path = INTERCEPTOR_HEALTH_PORT, INTERCEPTOR_HEALTH_PATH
        self.route_name = self.scaled_object_name = name
        self.hpa_name = f"{HPA_PREFIX}{name}"
        self.max_wait_seconds = args.max_wait_seconds
        self.load_balancer_idle_timeout_seconds = args.max_wait_seconds + RESPONSE_MARGIN_SECONDS
        self.proxy = RequestProxy(namespace=h.namespace, service_name=h.proxy_service, port=h.proxy_port,
                                  health_check_port=self.health_check_port, health_check_path=self.health_check_path,
                                  idle_timeout_seconds=self.load_balancer_idle_timeout_seconds)
        self._cold_start = f"{name}-cold-start"
        self._model_name = model.served.name
        self._labels = standard_labels(self._model_name, "scale-to-zero")
        self._after_crds = list(args.add_on.crds)
        self.hosts = pulumi.Output.all(model.service_name, model.namespace, *args.hosts).apply(
            lambda v: [f"{v[0]}.{v[1]}", f"{v[0]}.{v[1]}.svc", f"{v[0]}.{v[1]}.svc.cluster.local", *v[2:]])

        self._create_cold_start_answer(name)
        self._create_interceptor_opening(name)
        self._create_route(name)
        self._create_scaled_object(name)
        self.register_outputs({
            "proxy_namespace": self.proxy_namespace, "proxy_service_name": self.proxy_service_name,
            "proxy_port": self.proxy_port, "hosts": self.hosts, "route_name": self.route_name,
            "scaled_object_name": self.scaled_object_name, "hpa_name": self.hpa_name,
            "load_balancer_idle_timeout_seconds": self.load_balancer_idle_timeout_seconds,
        })

    def _metadata(self, name: str, **extra: Any) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self.model.namespace, labels=self._labels, **extra)

    def _create_route(self, name: str) -> None:
        a = self._args
        k8s.apiextensions.CustomResource(
            f"{name}-route", api_version=HTTP_API, kind="InterceptorRoute", metadata=self._metadata(name),
            spec={
                "target": {"service": self.model.service_name, "portName": HTTP_PORT_NAME},
                "rules": [{"hosts": self.hosts}],
                "scalingMetric": {"concurrency": {"targetValue": a.target_concurrency}},
                # The hold: up to max_wait for a ready endpoint, then the fallback (never the interceptor's bare 504).
                "timeouts": {"readiness": f"{a.max_wait_seconds}s"},
                "coldStart": {"fallback": {"service": {"name": self._cold_start, "port": COLD_START_PORT}}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._after_crds))

    def _create_scaled_object(self, name: str) -> None:
        a = self._args
        k8s.apiextensions.CustomResource(
            f"{name}-scaled-object", api_version=KEDA_API, kind="ScaledObject", metadata=self._metadata(name),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.model.deployment_name},
                "minReplicaCount": a.min_replicas,
                "maxReplicaCount": a.max_replicas,
                "cooldownPeriod": a.idle_seconds,
                "pollingInterval": 15,
                "triggers": [{"type": "external-push", "metadata": {
                    "scalerAddress": a.add_on.holder.scaler_address, "interceptorRoute": name}}],
                "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                    # Between 1 and max, a replica (and its GPU node) goes only after a quiet spell, one at a time.
                    "stabilizationWindowSeconds": min(a.idle_seconds, 3600),
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._after_crds))

    def _create_interceptor_opening(self, name: str) -> None:
        """Admits the interceptors to the model's `http` port: every request of a model that scales to zero comes
        through them (NetworkPolicies add up, so the model's own policy keeps admitting nothing else)."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy", metadata=self._metadata(derived_names(name)["network policy"]),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.model.selector),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": self.proxy_namespace}))],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=HTTP_PORT_NAME, protocol="TCP")])]),
            opts=pulumi.ResourceOptions(parent=self))

    def _create_cold_start_answer(self, name: str) -> None:
        a = self._args
        labels = {**self._labels, **selector_labels(self._cold_start)}
        selector = selector_labels(self._cold_start)
        opts = pulumi.ResourceOptions(parent=self)
        config = k8s.core.v1.ConfigMap(
            f"{name}-cold-start-config", metadata=self._metadata(self._cold_start),
            data={"nginx.conf": cold_start_nginx_conf(self._model_name, a.retry_after_seconds)}, opts=opts)
        probe = k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http"),
                                      period_seconds=10)
        container = k8s.core.v1.ContainerArgs(
            name="nginx", image=a.cold_start_image, image_pull_policy="IfNotPresent",
            # nginx directly: the image's entrypoint scripts would try to edit the read-only /etc/nginx.
            command=["nginx", "-g", "daemon off;"],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=COLD_START_PORT, protocol="TCP")],
            readiness_probe=probe, liveness_probe=probe,
            resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "10m", "memory": "16Mi"},
                                                           limits={"cpu": "100m", "memory": "64Mi"}),
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_non_root=True, run_as_user=_COLD_START_UID, run_as_group=_COLD_START_UID,
                read_only_root_filesystem=True, allow_privilege_escalation=False,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/nginx/nginx.conf",
                                                       sub_path="nginx.conf", read_only=True),
                           k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")])
        k8s.apps.v1.Deployment(
            f"{name}-cold-start", metadata=self._metadata(self._cold_start),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1, revision_history_limit=3,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=_COLD_START_UID, run_as_group=_COLD_START_UID,
                            fs_group=_COLD_START_UID, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                        affinity=_affinity(a.add_on.gpu_scheduling),
                        containers=[container],
                        volumes=[k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                     name=config.metadata.name)),
                                 k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                     size_limit="16Mi"))]))),
            opts=opts)
        k8s.core.v1.Service(
            f"{name}-cold-start-service", metadata=self._metadata(self._cold_start),
            spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=[k8s.core.v1.ServicePortArgs(
                name="http", port=COLD_START_PORT, target_port="http", protocol="TCP")]),
            opts=opts)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-cold-start-network-policy", metadata=self._metadata(self._cold_start),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector), policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": self.proxy_namespace}))],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port="http", protocol="TCP")])]),
            opts=opts)


def _affinity(scheduling: GpuScheduling) -> k8s.core.v1.AffinityArgs:
    term = off_gpu_node_affinity(scheduling)["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return k8s.core.v1.AffinityArgs(node_affinity=k8s.core.v1.NodeAffinityArgs(
        required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(node_selector_terms=[
            k8s.core.v1.NodeSelectorTermArgs(match_expressions=[
                k8s.core.v1.NodeSelectorRequirementArgs(**e) for e in t["matchExpressions"]])
            for t in term["nodeSelectorTerms"]])))
