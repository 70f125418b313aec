"""Progressive delivery: a new model version reaches prod as a canary gated on the model's own SLO signals.

Argo Rollouts (the choice against Flagger is recorded in docs/delivery.md). `ArgoRollouts` installs the
controller once per cluster from its official chart; `ModelCanary` gives one model a Rollout that takes
its pod template from ModelService's Deployment (`workloadRef`, so ModelService stays the one source of
the pods) and an AnalysisTemplate whose queries are the model's alert expressions (components/monitoring_rules.py)
narrowed to the canary's and the stable's pods.

Facts read from the pinned sources:
- chart: argoproj/argo-helm `charts/argo-rollouts` at tag argo-rollouts-2.41.0 (commit 8796aeaa, appVersion
  v1.9.0): values.yaml keys (tests/progressive_delivery/argo-rollouts-2.41.0.keys.tsv), the CRDs in
  templates/crds (tests/progressive_delivery/argo-rollouts-2.41.0.crds.json), the metrics Service
  `<fullname>-metrics` with port name `metrics` (templates/controller/metrics-service.yaml);
- controller: argoproj/argo-rollouts tag v1.9.0. docs/migrating.md: `workloadRef.scaleDown` never | onsuccess |
  progressively, and rollout/sync.go + rollout/replicaset.go: both scale the Deployment only for the Rollout's first
  revision (onsuccess: to 0 once the Rollout is healthy; progressively: to replicas minus the Rollout's ready ones,
  which scales a Deployment at 0 up while the first pods start); docs/features/canary/index.md: without a traffic
  router `setWeight` is a replica ratio;
  docs/features/hpa-support.md: an HPA scales a Rollout through its /scale subresource;
  docs/features/analysis.md: `podTemplateHashValue: Latest | Stable` args; an Inconclusive run pauses the
  rollout, a Failed (or Error) one aborts it; metricproviders/prometheus/prometheus.go: a vector result
  is handed to the conditions as `result`, a list of floats (empty when the query returns nothing);
  utils/evaluate/evaluate.go: neither condition true = Inconclusive; analysis/analysis.go: failed >
  failureLimit = Failed, inconclusive > inconclusiveLimit = Inconclusive, consecutive errors > 4 = Error;
  controller/metrics/prommetrics.go + rollouts.go: `rollout_info{namespace, name, strategy, traffic_router,
  phase}` with phase Progressing | Paused | Completed | Error | Timeout | Abort | InvalidSpec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, cast

import pulumi
import pulumi_kubernetes as k8s

from .cluster_autoscaler import off_gpu_node_affinity
from .gpu_scheduling import GpuScheduling
from .labels import standard_labels
from .monitoring_rules import ModelTarget, error_ratio_expr, latency_quantile_expr, request_count_expr

CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
CHART, CHART_VERSION = "argo-rollouts", "2.41.0"
CONTROLLER_VERSION = "v1.9.0"
"""The chart's appVersion: the controller image tag it installs."""
ROLLOUTS_API = "argoproj.io/v1alpha1"
POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash"
"""Label the controller puts on every pod of a Rollout's ReplicaSet (one value per pod template)."""
HASH_METRIC_LABEL = "rollouts_pod_template_hash"
"""The same label on the model's series: the ServiceMonitor copies it (`podTargetLabels`), sanitised by Prometheus."""
CANARY_HASH_ARG, STABLE_HASH_ARG = "canary-hash", "stable-hash"
METRICS_PORT = 8090  # controller.metrics.service.port
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_DURATION = re.compile(r"^[0-9]+(s|m|h)$")


@dataclass
class ArgoRolloutsArgs:
    """Inputs of `ArgoRollouts`."""

    namespace: str = "argo-rollouts"
    """Namespace of the controller."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The GPU node labels: the controller never runs on a node carrying them."""
    chart_version: str = CHART_VERSION
    """Pinned `argo-rollouts` chart version."""
    monitoring_namespace: Optional[str] = None
    """When set, a ServiceMonitor there scrapes the controller (`rollout_info` feeds the rollout alerts)."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What must exist first (the monitoring stack, for the ServiceMonitor's CRD)."""


def validate_argo_rollouts_args(args: ArgoRolloutsArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    problems = []
    if not _DNS_LABEL.match(args.namespace):
        problems.append(f"namespace: got {args.namespace!r}; must be a DNS label")
    if not _VERSION.match(args.chart_version):
        problems.append(f"chart_version: got {args.chart_version!r}; pin an exact chart version")
    return problems


class ArgoRollouts(pulumi.ComponentResource):
    """The Argo Rollouts controller, once per cluster: what runs canaries and their analysis.

    Creates the namespace (Pod Security `restricted`), the official `argo-rollouts` chart (two
    controller replicas with leader election and a disruption budget, the CRDs, off GPU nodes, the
    metrics Service) and, with a monitoring namespace, a ServiceMonitor that keeps the rollouts'
    own `namespace` label (`honorLabels`).
    """

    namespace: str
    """Namespace of the controller."""
    release: k8s.helm.v3.Release
    """The release installing the CRDs: Rollouts and AnalysisTemplates must wait for it."""
    metrics_job: str
    """`job` label of the controller's metrics."""

    def __init__(self, name: str, args: ArgoRolloutsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        problems = validate_argo_rollouts_args(args)
        if problems:
            raise ValueError(f"ArgoRollouts {name!r}: " + "; ".join(problems))
        super().__init__("gpu-model-platform:index:ArgoRollouts", name, None, opts)
        self._args = args
        self.namespace = args.namespace
        # The chart's fullname is the release name when it contains the chart's name (templates/_helpers.tpl).
        release_name = name if CHART in name else f"{name}-{CHART}"
        self.metrics_job = f"{release_name}-metrics"
        labels = standard_labels(name, "progressive-delivery")
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={
                **labels, "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}),
            opts=pulumi.ResourceOptions(parent=self))
        self.release = k8s.helm.v3.Release(
            f"{name}-release", name=release_name, chart=CHART, version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=args.namespace, values=self._values(), max_history=5, cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]))
        if args.monitoring_namespace is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-service-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=self.metrics_job, namespace=args.monitoring_namespace,
                                                    labels=labels),
                spec={"namespaceSelector": {"matchNames": [args.namespace]},
                      "selector": {"matchLabels": {"app.kubernetes.io/component": "rollouts-controller",
                                                   "app.kubernetes.io/instance": release_name}},
                      # rollout_info carries the Rollout's namespace: keep it rather than the controller's.
                      "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s", "honorLabels": True}]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, *args.depends_on]))
        self.register_outputs({"namespace": self.namespace, "metrics_job": self.metrics_job})

    def _values(self) -> dict[str, Any]:
        """The `argo-rollouts` chart's values (keys from its values.yaml at 2.41.0)."""
        return {
            "installCRDs": True,
            "keepCRDs": True,  # deleting the release must not delete every Rollout with its CRD
            "controller": {
                "replicas": 2,  # leader election: the second takes over when a node goes
                "affinity": off_gpu_node_affinity(self._args.gpu_scheduling),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                "pdb": {"enabled": True, "maxUnavailable": 1},
                "metrics": {"enabled": True},
            },
            "dashboard": {"enabled": False},
            # Only the AWS Load Balancer Controller is a router here; the mesh providers' RBAC is not needed.
            "providerRBAC": {"enabled": True, "providers": {
                "istio": False, "smi": False, "ambassador": False, "awsLoadBalancerController": True,
                "awsAppMesh": False, "traefik": False, "apisix": False, "contour": False, "glooPlatform": False,
                "gatewayAPI": False}},
        }


# --- the canary ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CanaryStep:
    """One step of a canary: shift to `weight` percent, check the canary, optionally wait."""

    weight: int
    """Percent of replicas (or, with the ALB, of requests) on the new version."""
    pause: Optional[str] = None
    """After the analysis passes: wait this long (`5m`), `manual` for a person's `promote`, or no pause."""


@dataclass(frozen=True)
class CanaryAnalysis:
    """How a canary step is judged: the model's SLO signals on the canary's pods against the stable's."""

    max_error_ratio: float
    """Highest 5xx share the canary may have over `window` (default: what pages, the first burn-rate alert's)."""
    max_latency_p99_seconds: float
    """Highest p99 latency the canary may have over `window` (the latency objective)."""
    max_error_ratio_increase: float = 0.01
    """How much higher than the stable's the canary's 5xx share may be (ratio points)."""
    max_latency_p99_increase_seconds: float = 0.1
    """How much slower than the stable's the canary's p99 may be."""
    min_requests: int = 100
    """Fewest inference requests the canary must answer within `window`; fewer and the measurement is
    Inconclusive: the rollout pauses instead of promoting a version nobody used."""
    window: str = "5m"
    """Range of every query; also the delay before the first measurement, so it covers canary traffic only."""
    interval: str = "1m"
    """Time between measurements."""
    count: int = 3
    """Measurements per step; all must pass (one failure aborts, one inconclusive pauses)."""


@dataclass(frozen=True)
class AlbRouting:
    """Traffic split at the ALB (AWS Load Balancer Controller weighted target groups) instead of replica ratio."""

    ingress: pulumi.Input[str]
    """The model's ALB Ingress (in the model's namespace) whose rule points at `root_service`."""
    root_service: pulumi.Input[str]
    """The Service the Ingress rule names; the controller rewrites its action annotation with the weights."""
    service_port: int
    """Port of the Services the Ingress uses."""


@dataclass
class ModelCanaryArgs:
    """Inputs of `ModelCanary`: the model's names come from `ModelService`'s outputs, never repeated."""

    namespace: pulumi.Input[str]
    """`ModelService.namespace`."""
    deployment_name: pulumi.Input[str]
    """`ModelService.deployment_name`: the Deployment whose pod template the Rollout runs (and which it scales down)."""
    selector: pulumi.Input[dict[str, Any]]
    """`ModelService.selector`: the pod labels of the template."""
    model_name: str
    """The model's name (`model` label of its metrics, job of its targets)."""
    analysis: CanaryAnalysis
    """The checks each step passes before the next."""
    prometheus_url: str
    """In-cluster URL of the Prometheus holding the model's metrics, e.g. `http://prometheus-operated.monitoring.svc:9090`."""
    steps: list[CanaryStep] = field(default_factory=lambda: [CanaryStep(10), CanaryStep(50)])
    """Canary steps; 100% (promotion) follows the last."""
    replicas: int = 2
    """Replicas when nothing else owns the count; with `hpa_owns_replicas`, the count the Rollout starts at."""
    hpa_owns_replicas: bool = False
    """An HPA scales the Rollout: later updates leave `spec.replicas` alone."""
    progress_deadline_seconds: int = 1800
    """A canary pod not available after this long (no GPU node came, image pull, model load) aborts the update."""
    alb: Optional[AlbRouting] = None
    """Split traffic at the ALB (weighted target groups); none = replica ratio."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What installs the argoproj.io CRDs (`ArgoRollouts.release`): the custom resources wait for it."""


def validate_model_canary_args(args: ModelCanaryArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    problems = []
    weights = [s.weight for s in args.steps]
    if not weights or any(not 0 < w < 100 for w in weights) or weights != sorted(set(weights)):
        problems.append(f"steps: got weights {weights}; need at least one, each 1..99, strictly increasing")
    for step in args.steps:
        if step.pause not in (None, "manual") and not _DURATION.match(step.pause):
            problems.append(f"steps: pause {step.pause!r}; a duration such as '5m', 'manual' or none")
    a = args.analysis
    if not 0 < a.max_error_ratio < 1 or not 0 <= a.max_error_ratio_increase < 1:
        problems.append("analysis.max_error_ratio: must be between 0 and 1 (and max_error_ratio_increase 0..1)")
    if a.max_latency_p99_seconds <= 0 or a.max_latency_p99_increase_seconds < 0:
        problems.append("analysis.max_latency_p99_seconds: must be > 0 (and the increase >= 0)")
    if a.min_requests < 1 or a.count < 1:
        problems.append(f"analysis.min_requests: got {a.min_requests} (count {a.count}); both must be >= 1")
    for key in ("window", "interval"):
        if not _DURATION.match(getattr(a, key)):
            problems.append(f"analysis.{key}: got {getattr(a, key)!r}; a duration such as '5m'")
    if args.replicas < 1:
        problems.append(f"replicas: got {args.replicas}; a canary needs live replicas (>= 1)")
    if args.progress_deadline_seconds < 60:
        problems.append(f"progress_deadline_seconds: got {args.progress_deadline_seconds}; must be >= 60")
    if not _DNS_LABEL.match(args.model_name):
        problems.append(f"model_name: got {args.model_name!r}; must be a DNS label")
    return problems


def _arg(name: str) -> str:
    """How an AnalysisTemplate refers to one of its args (resolved by the controller before the query is sent)."""
    return "{{args." + name + "}}"


def _gated(value: str, target: ModelTarget, analysis: CanaryAnalysis) -> str:
    """`value` only when the canary answered enough requests in the window: otherwise no result (Inconclusive)."""
    canary = {HASH_METRIC_LABEL: f'"{_arg(CANARY_HASH_ARG)}"'}
    return f"({value})\nand on()\n({request_count_expr(target, analysis.window, **canary)}) >= {analysis.min_requests}"


def analysis_metrics(target: ModelTarget, analysis: CanaryAnalysis, prometheus_url: str) -> list[dict[str, Any]]:
    """The AnalysisTemplate's metrics: the alerts' error-ratio and p99 expressions on the canary's pods, alone and
    against the stable's. Each query is empty unless the canary answered `min_requests` in the window."""
    w = analysis.window
    canary = {HASH_METRIC_LABEL: f'"{_arg(CANARY_HASH_ARG)}"'}
    stable = {HASH_METRIC_LABEL: f'"{_arg(STABLE_HASH_ARG)}"'}
    errors, stable_errors = error_ratio_expr(target, w, by="", **canary), error_ratio_expr(target, w, by="", **stable)
    p99 = latency_quantile_expr(target, w, 0.99, by="", **canary)
    stable_p99 = latency_quantile_expr(target, w, 0.99, by="", **stable)
    checks = [
        ("error-ratio", errors, analysis.max_error_ratio),
        # A stable that answered nothing has made no errors.
        ("error-ratio-vs-stable", f"({errors})\n- on()\n(({stable_errors}) or vector(0))", analysis.max_error_ratio_increase),
        ("latency-p99", p99, analysis.max_latency_p99_seconds),
        ("latency-p99-vs-stable", f"({p99})\n- on()\n({stable_p99})", analysis.max_latency_p99_increase_seconds),
    ]
    return [{
        "name": name,
        "interval": analysis.interval,
        "initialDelay": analysis.window,
        "count": analysis.count,
        "failureLimit": 0,
        "inconclusiveLimit": 0,
        # One value or none: none (too few canary requests, or no stable to compare with) is neither.
        "successCondition": f"len(result) == 1 && result[0] <= {limit:.6g}",
        "failureCondition": f"len(result) == 1 && (result[0] > {limit:.6g} || isNaN(result[0]))",
        "provider": {"prometheus": {"address": prometheus_url, "query": _gated(query, target, analysis)}},
    } for name, query, limit in checks]


def analysis_step_args() -> list[dict[str, Any]]:
    """Args every analysis step passes: the canary's and the stable's pod template hashes."""
    return [{"name": CANARY_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}},
            {"name": STABLE_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Stable"}}]


def canary_steps(steps: list[CanaryStep], template: str) -> list[dict[str, Any]]:
    """setWeight, then the analysis (it must pass to go on), then the step's pause, for every step."""
    out: list[dict[str, Any]] = []
    for step in steps:
        out.append({"setWeight": step.weight})
        out.append({"analysis": {"templates": [{"templateName": template}], "args": analysis_step_args()}})
        if step.pause == "manual":
            out.append({"pause": {}})
        elif step.pause:
            out.append({"pause": {"duration": step.pause}})
    return out


class ModelCanary(pulumi.ComponentResource):
    """One model released as a canary: a Rollout on ModelService's pod template, judged by the model's SLO signals.

    Creates, in the model's namespace, an AnalysisTemplate (error ratio and p99 latency of the canary's
    pods, alone and against the stable's, only on enough requests) and a Rollout referencing the
    Deployment (`workloadRef`, `scaleDown: onsuccess`: the Deployment runs no pod once the Rollout's
    are available). A failed analysis aborts: the canary goes, the stable ReplicaSet (the previous
    digest) serves everything. With `alb`, also the canary and stable Services the ALB's weighted
    target groups point at.
    """

    rollout_name: pulumi.Output[str]
    """The Rollout (named like the Deployment, so an HPA or a person finds it under the model's name)."""
    analysis_template_name: str
    """The AnalysisTemplate every step runs."""

    def __init__(self, name: str, args: ModelCanaryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        problems = validate_model_canary_args(args)
        if problems:
            raise ValueError(f"ModelCanary {name!r}: " + "; ".join(problems))
        super().__init__("gpu-model-platform:index:ModelCanary", name, None, opts)
        self._args = args
        self._labels = standard_labels(args.model_name, "progressive-delivery")
        self.analysis_template_name = f"{args.model_name}-canary"
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        template = self._create_analysis_template(name, after_crds)
        services = self._create_alb_services(name) if args.alb is not None else []
        rollout_opts = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, template, *services])
        if args.hpa_owns_replicas:
            rollout_opts = pulumi.ResourceOptions.merge(rollout_opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
        rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout", api_version=ROLLOUTS_API, kind="Rollout",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.deployment_name, namespace=args.namespace, labels=self._labels),
            spec=self._rollout_spec(), opts=rollout_opts)
        # A CustomResource's fields are dynamic (read through __getattr__), so the SDK types no `metadata`.
        self.rollout_name = cast(Any, rollout).metadata["name"]
        self.register_outputs({"rollout_name": self.rollout_name, "analysis_template_name": self.analysis_template_name})

    def _create_analysis_template(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        a = self._args
        # The ServiceMonitor takes `job` from the Service's name label: the model's name, as the alerts select it.
        metrics = pulumi.Output.from_input(a.namespace).apply(lambda ns: analysis_metrics(
            ModelTarget(model=a.model_name, namespace=ns, job=a.model_name), a.analysis, a.prometheus_url))
        return k8s.apiextensions.CustomResource(
            f"{name}-analysis", api_version=ROLLOUTS_API, kind="AnalysisTemplate",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.analysis_template_name, namespace=a.namespace,
                                                labels=self._labels),
            spec={"args": [{"name": CANARY_HASH_ARG}, {"name": STABLE_HASH_ARG}], "metrics": metrics},
            opts=opts)

    def _rollout_spec(self) -> dict[str, Any]:
        a = self._args
        canary: dict[str, Any] = {
            # A surge pod may need a GPU node of its own; never take a serving replica away for it.
            "maxSurge": 1, "maxUnavailable": 0,
            "steps": canary_steps(a.steps, self.analysis_template_name),
        }
        if a.alb is not None:
            canary |= {"canaryService": self._canary_service, "stableService": self._stable_service,
                       "trafficRouting": {"alb": {"ingress": a.alb.ingress, "rootService": a.alb.root_service,
                                                  "servicePort": a.alb.service_port}}}
        return {
            "replicas": a.replicas,
            "revisionHistoryLimit": 5,
            # Going back to one of the last three versions skips the steps and analysis (docs/features/rollback.md):
            # an emergency rollback must not take a canary's half hour.
            "rollbackWindow": {"revisions": 3},
            "selector": {"matchLabels": a.selector},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": a.deployment_name,
                            # A live Deployment's pods (canary switched on later) keep serving until the Rollout is
                            # healthy, then go; a new stack's Deployment, created at 0, is never scaled up (as
                            # `progressively` would, asking for GPU nodes for nothing).
                            "scaleDown": "onsuccess"},
            "progressDeadlineSeconds": a.progress_deadline_seconds,
            "progressDeadlineAbort": True,
            "strategy": {"canary": canary},
        }

    def _create_alb_services(self, name: str) -> list[pulumi.Resource]:
        """The canary and stable Services the ALB's target groups use (the controller pins their selectors to a hash)."""
        a = self._args
        assert a.alb is not None
        self._canary_service = f"{a.model_name}-canary"
        self._stable_service = f"{a.model_name}-stable"
        return [k8s.core.v1.Service(
            f"{name}-{role}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=a.namespace, labels=self._labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=a.selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=a.alb.service_port, target_port="http",
                                                   protocol="TCP")]),
            opts=pulumi.ResourceOptions(parent=self))
            for role, service in (("canary", self._canary_service), ("stable", self._stable_service))]
