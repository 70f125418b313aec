"""Progressive delivery: a new model version reaches prod as a canary gated on the model's own SLO signals.

Argo Rollouts (the choice against Flagger is recorded in docs/delivery.md). `ArgoRollouts` installs the
controller once per cluster from its official chart; `ModelCanary` gives one model a Rollout that takes
its pod template from ModelService's Deployment (`workloadRef`, so ModelService stays the one source of
the pods) and an AnalysisTemplate whose queries are the model's alert expressions (components/observability/monitoring_rules.py)
narrowed to the canary's and the stable's pods.

Facts read from the pinned sources:
- chart: argoproj/argo-helm `charts/argo-rollouts` at tag argo-rollouts-2.41.0 (commit 8796aeaa, appVersion
  v1.9.0; the newest chart in argo-helm when read, 2026-07-02), its controller image tag set to v1.9.1
  (`controller.image.tag`, "Overrides the image tag (default is the chart appVersion)"; argoproj/argo-rollouts tag
  v1.9.1, b6bd3bcf "Address CVE-2026-35469", published as quay.io/argoproj/argo-rollouts:v1.9.1 by its
  release.yaml; `git diff v1.9.0 v1.9.1 -- manifests/crds pkg/apis controller/metrics` is empty): values.yaml
  keys (components/charts/argo-rollouts-2.41.0.keys.tsv), the CRDs in
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
  phase}` with phase Progressing | Paused | Completed | Error | Timeout | Abort | InvalidSpec;
  docs/features/traffic-management/alb.md + rollout/trafficrouting/alb/alb.go: with `trafficRouting.alb` the
  controller writes `alb.ingress.kubernetes.io/actions.<rootService or stableService>` on the Ingress (a forward
  action, canary then stable, `ServicePort` the port as a string) and refuses an Ingress with no rule naming that
  Service; rollout/service.go: it pins the canary and stable Services to a ReplicaSet by a strategic merge patch
  of `spec.selector.rollouts-pod-template-hash`; cmd/rollouts-controller/main.go: `--aws-verify-target-group`
  (reading the target groups back) is off unless passed, and there is no `--aws-region` flag: the AWS SDK's
  default config (utils/aws/aws.go) takes `AWS_REGION`; utils/defaults/defaults.go: old pods go
  `scaleDownDelaySeconds` (30) after the switch. argo-helm argo-rollouts-2.41.0 templates/controller/deployment.yaml:
  `controller.extraArgs` are appended to the controller's args, `controller.extraEnv` is its env; _helpers.tpl: the
  service account is `serviceAccount.name`, else the fullname.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, Union, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _charts, _claims, _options
from .._args import (
    ChartVersion,
    DnsLabel,
    DnsSubdomain,
    InvalidArgs,
    Port,
    PositiveInt,
    PositiveNumber,
    Problem,
    Ratio,
    ShortDuration,
    at_least,
    below,
    between,
    checked_args,
    got,
    matches,
    name_problems,
    problems_of,
)
from .._charts import PinnedChart, extra_values_problems
from ..aws_regions import AwsRegion
from ..aws_tags import component_tags
from ..capacity.cluster_autoscaler import off_gpu_node_affinity
from ..capacity.gpu_scheduling import GpuScheduling
from ..cluster.irsa import ROLE_ARN_ANNOTATION, controller_role
from ..labels import standard_labels
from ..observability.monitoring_rules import (
    ModelTarget,
    TokenLatencyObjectives,
    error_ratio_expr,
    latency_quantile_expr,
    quantile_expr,
    request_count_expr,
)
from ..observability.monitoring_stack import MonitoringStack
from .backends import WeightedBackend
from .model_service import ModelService
from .runtimes import ServingRuntime

CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
CHART, CHART_VERSION = "argo-rollouts", "2.41.0"
CONTROLLER_VERSION = "v1.9.1"
"""The controller image tag installed (`controller.image.tag`): the chart's appVersion v1.9.0 has a dependency CVE
that v1.9.1 fixes."""
ROLLOUTS_API = "argoproj.io/v1alpha1"
POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash"
"""Label the controller puts on every pod of a Rollout's ReplicaSet (one value per pod template)."""
HASH_METRIC_LABEL = "rollouts_pod_template_hash"
"""The same label on the model's series: the ServiceMonitor copies it (`podTargetLabels`), sanitised by Prometheus."""
CANARY_HASH_ARG, STABLE_HASH_ARG = "canary-hash", "stable-hash"
METRICS_PORT = 8090  # controller.metrics.service.port
PINNED = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
ROLLOUTS_CRDS = ("rollouts.argoproj.io", "analysistemplates.argoproj.io", "analysisruns.argoproj.io")
"""The chart's CRDs (cluster-scoped: one controller installs them per cluster)."""


TARGET_GROUP_VERIFICATION_ACTIONS = (
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
)
"""What the controller reads to verify target groups: the policy published in docs/features/traffic-management/alb.md
("Zero-Downtime Updates with AWS TargetGroup Verification") at v1.9.0."""


@dataclass(frozen=True)
class TargetGroupVerification:
    """Let the controller read the ALB back through an IRSA role (`--aws-verify-target-group`): after each weight
    change it confirms the listener rule carries it, and after switching the stable Service it waits until the
    stable target group holds the new pods' IPs before the old pods go."""

    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider (`Cluster.oidc_provider_arn`): the role trusts the controller's account."""
    region: AwsRegion
    """The region of the load balancers (`AWS_REGION` of the controller: its AWS SDK reads it, utils/aws/aws.go)."""


@dataclass
class ArgoRolloutsArgs:
    """Inputs of `ArgoRollouts`."""

    namespace: DnsLabel = "argo-rollouts"
    """Namespace of the controller."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The GPU node labels: the controller never runs on a node carrying them."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `argo-rollouts` chart version."""
    monitoring_namespace: Optional[DnsLabel] = None
    """When set, a ServiceMonitor there scrapes the controller (`rollout_info` feeds the rollout alerts); pass
    what installs its CRD (the monitoring stack) as `depends_on` in the resource options."""
    target_group_verification: Optional[TargetGroupVerification] = None
    """Verify ALB weights and targets through AWS (an IRSA role, created here); None: the controller has no AWS
    credentials and takes a weight as set once the Ingress annotation is written."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the chart's (checked against its pinned keys). Anything set
    here is yours to keep secure and working across chart upgrades."""

    def _rules(self) -> list[Problem]:
        return extra_values_problems("extra_values", self.extra_values, PINNED.at(self.chart_version))


def validate_argo_rollouts_args(args: ArgoRolloutsArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class ArgoRollouts(pulumi.ComponentResource):
    """The Argo Rollouts controller, once per cluster: what runs canaries and their analysis.

    Creates the namespace (Pod Security `restricted`), the official `argo-rollouts` chart (two
    controller replicas with leader election and a disruption budget, the CRDs, off GPU nodes, the
    metrics Service) and, with a monitoring namespace, a ServiceMonitor that keeps the rollouts'
    own `namespace` label (`honorLabels`). Every child waits for the resource options' `depends_on`.
    With `target_group_verification`, an IAM role (IRSA, the published describe-only policy) for the
    controller's service account and `--aws-verify-target-group`; without, the controller has no AWS
    credentials and the flag stays off (its default, cmd/rollouts-controller/main.go at v1.9.0).
    """

    namespace: str
    """Namespace of the controller."""
    release: k8s.helm.v3.Release
    """The release installing the CRDs: Rollouts and AnalysisTemplates must wait for it."""
    metrics_job: str
    """`job` label of the controller's metrics."""
    service_account: str
    """The controller's service account (the chart's fullname)."""
    role_arn: Optional[pulumi.Output[str]]
    """The controller's IAM role with `target_group_verification`; None otherwise."""

    def __init__(self, name: str, args: ArgoRolloutsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ArgoRollouts", name, args, ArgoRolloutsArgs)
        _claims.claim("ArgoRollouts", name, opts, [
            _claims.kubernetes("Namespace", args.namespace, field="namespace"),
            *[_claims.kubernetes("CustomResourceDefinition", crd) for crd in ROLLOUTS_CRDS]])
        super().__init__("gpu-model-platform:index:ArgoRollouts", name, None, opts)
        self._args = args
        self.namespace = args.namespace
        # The chart's fullname is the release name when it contains the chart's name (templates/_helpers.tpl).
        release_name = name if CHART in name else f"{name}-{CHART}"
        self.metrics_job = f"{release_name}-metrics"
        self.service_account = release_name
        role = self._create_role(name) if args.target_group_verification is not None else None
        self.role_arn = role.arn if role is not None else None
        labels = standard_labels(name, "progressive-delivery")
        after = _options.dependencies(opts)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={
                **labels, "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        self.release = _charts.release(
            f"{name}-release", PINNED.at(args.chart_version), args.namespace, self._values(), args.extra_values,
            pulumi.ResourceOptions(parent=self, depends_on=[ns]), name=release_name, max_history=5,
            cleanup_on_fail=True)
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
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, *after]))
        self.register_outputs({"namespace": self.namespace, "metrics_job": self.metrics_job,
                               "service_account": self.service_account, "role_arn": self.role_arn})

    def _create_role(self, name: str) -> aws.iam.Role:
        verification = self._args.target_group_verification
        assert verification is not None
        return controller_role(
            f"{name}-role", f"{name}-policy",
            description="Argo Rollouts (IRSA): verify ALB target groups and weights of canaries",
            oidc_provider_arn=verification.oidc_provider_arn, namespace=self._args.namespace,
            service_account=self.service_account,
            policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": list(TARGET_GROUP_VERIFICATION_ACTIONS), "Resource": "*"}]}),
            tags=component_tags("argo-rollouts", name), parent=self)

    def _aws_values(self) -> dict[str, Any]:
        """With verification: the role on the chart's service account, the flag, and the region for the AWS SDK."""
        verification = self._args.target_group_verification
        if verification is None or self.role_arn is None:
            return {}
        return {"serviceAccount": {"create": True, "name": self.service_account,
                                   "annotations": {ROLE_ARN_ANNOTATION: self.role_arn}},
                "controller": {"extraArgs": ["--aws-verify-target-group"],
                               "extraEnv": [{"name": "AWS_REGION", "value": verification.region}]}}

    def _values(self) -> dict[str, Any]:
        """The `argo-rollouts` chart's values (keys from its values.yaml at 2.41.0)."""
        aws_values = self._aws_values()
        return aws_values | {
            "installCRDs": True,
            "keepCRDs": True,  # deleting the release must not delete every Rollout with its CRD
            "controller": {
                "image": {"tag": CONTROLLER_VERSION},
                "replicas": 2,  # leader election: the second takes over when a node goes
                "affinity": off_gpu_node_affinity(self._args.gpu_scheduling),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                "pdb": {"enabled": True, "maxUnavailable": 1},
                "metrics": {"enabled": True},
                **aws_values.get("controller", {}),
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

    weight: Annotated[int, between(1, 99)]
    """Percent of replicas (or, with the ALB, of requests) on the new version."""
    pause: Optional[Annotated[str, matches(r"manual|[0-9]+(s|m|h)", "must be a duration such as 5m, or 'manual'")]] \
        = None
    """After the analysis passes: wait this long (`5m`), `manual` for a person's `promote`, or no pause."""


@dataclass(frozen=True)
class CanaryAnalysis:
    """How a canary step is judged: the model's SLO signals on the canary's pods against the stable's."""

    max_error_ratio: Ratio
    """Highest 5xx share the canary may have over `window` (default: what pages, the first burn-rate alert's)."""
    max_latency_p99_seconds: PositiveNumber
    """Highest p99 latency the canary may have over `window` (the latency objective)."""
    max_error_ratio_increase: Annotated[float, at_least(0), below(1)] = 0.01
    """How much higher than the stable's the canary's 5xx share may be (ratio points)."""
    max_latency_p99_increase_seconds: Annotated[float, at_least(0)] = 0.1
    """How much slower than the stable's the canary's p99 may be."""
    min_requests: PositiveInt = 100
    """Fewest inference requests the canary must answer within `window`; fewer and the measurement is
    Inconclusive: the rollout pauses instead of promoting a version nobody used."""
    window: ShortDuration = "5m"
    """Range of every query; also the delay before the first measurement, so it covers canary traffic only."""
    interval: ShortDuration = "1m"
    """Time between measurements."""
    count: PositiveInt = 3
    """Measurements per step; all must pass (one failure aborts, one inconclusive pauses)."""
    max_time_to_first_token_p99_seconds: Optional[PositiveNumber] = None
    """An LLM server: highest p99 time to first token the canary may have over `window` (None: not checked)."""
    max_inter_token_latency_p99_seconds: Optional[PositiveNumber] = None
    """An LLM server: highest p99 inter-token latency the canary may have over `window` (None: not checked)."""
    check_request_latency: bool = True
    """Check the request latency (`max_latency_p99_seconds` and its increase); an LLM's request latency follows
    the length of what the caller asked for, so its canary may be judged on token latencies alone."""

    def tokens(self) -> TokenLatencyObjectives:
        """The token latency limits as the objectives the alerts use."""
        return TokenLatencyObjectives(self.max_time_to_first_token_p99_seconds, self.max_inter_token_latency_p99_seconds)


@dataclass(frozen=True)
class AlbRouting:
    """Traffic split at the ALB (AWS Load Balancer Controller weighted target groups) instead of replica ratio.

    The Ingress must route to `root_service` with the port `use-annotation` (`ModelEndpoint` with this canary's
    `weighted_backend` does): the controller writes the weights into that Ingress's
    `alb.ingress.kubernetes.io/actions.<root_service>` annotation (docs/features/traffic-management/alb.md,
    argo-rollouts v1.9.0); a rule naming another Service leaves the controller failing the update with
    "ingress does not have service ... in rules" (rollout/trafficrouting/alb/alb.go).
    """

    ingress: pulumi.Input[DnsSubdomain]
    """The model's ALB Ingress (in the model's namespace) whose rule points at `root_service`."""
    root_service: pulumi.Input[DnsLabel]
    """The Service the Ingress rule names; the controller rewrites its action annotation with the weights."""
    service_port: Port
    """Port of the canary and stable Services (created here) the weighted target groups forward to."""


_PROMETHEUS_URL = re.compile(r"https?://[^\s/]+(:[0-9]+)?(/\S*)?")


@dataclass
class ModelCanaryArgs:
    """Inputs of `ModelCanary`: the model, the controller and the Prometheus themselves; names come from them."""

    model: ModelService
    """The model to release as a canary; built with `progressive_rollout=True`. Its namespace, Deployment, pod labels,
    name (the `model` label the analysis queries), replicas and HPA come from it."""
    rollouts: ArgoRollouts
    """The cluster's Argo Rollouts controller: the Rollout and AnalysisTemplate wait for its CRDs."""
    prometheus: Union[MonitoringStack, str]
    """The Prometheus holding the model's metrics: the `MonitoringStack`, or the in-cluster URL of another one
    (e.g. `http://prometheus-operated.monitoring.svc:9090`)."""
    analysis: CanaryAnalysis
    """The checks each step passes before the next."""
    steps: list[CanaryStep] = field(default_factory=lambda: [CanaryStep(10), CanaryStep(50)])
    """Canary steps; 100% (promotion) follows the last."""
    progress_deadline_seconds: Annotated[int, at_least(60)] = 1800
    """A canary pod not available after this long (no GPU node came, image pull, model load) aborts the update."""
    split_at_load_balancer: bool = False
    """Split requests at the model's ALB (weighted target groups) instead of by replica ratio: give this canary as
    the `backend` of the model's `ModelEndpoint`, whose Ingress the controller then rewrites."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.model.progressive_rollout:
            problems.append(("model", got(self.model.served.name, "is not set up for a Rollout: build its "
                                          "ModelService with progressive_rollout=True (its Deployment then leaves "
                                          "the pods to the Rollout)")))
        if isinstance(self.prometheus, str) and not _PROMETHEUS_URL.fullmatch(self.prometheus):
            problems.append(("prometheus", got(self.prometheus, "must be a MonitoringStack or an http(s) URL such as "
                                                                "http://prometheus-operated.monitoring.svc:9090")))
        weights = [s.weight for s in self.steps]
        if not weights or weights != sorted(set(weights)):
            problems.append(("steps", got(weights, "need at least one step, weights strictly increasing (1..99)")))
        return problems + runtime_analysis_problems(self.model.served.runtime, self.analysis)


def runtime_analysis_problems(runtime: ServingRuntime, analysis: CanaryAnalysis) -> list[Problem]:
    """The checks the runtime cannot answer: a token latency limit on a server without that histogram, a request
    latency check on one without a latency distribution."""
    try:
        analysis.tokens().checks(runtime.signals)
    except ValueError as error:
        return [("analysis", got(analysis.tokens(), f"{error}; runtime {runtime.name!r} does not"))]
    if analysis.check_request_latency and runtime.signals.latency is None:
        return [("analysis.check_request_latency", got(True, f"runtime {runtime.name!r} exposes no request latency: "
                                                              "set it to False"))]
    return []


def validate_model_canary_args(args: ModelCanaryArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


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
    checks = [
        ("error-ratio", errors, analysis.max_error_ratio),
        # A stable that answered nothing has made no errors.
        ("error-ratio-vs-stable", f"({errors})\n- on()\n(({stable_errors}) or vector(0))", analysis.max_error_ratio_increase),
    ]
    if analysis.check_request_latency:
        p99 = latency_quantile_expr(target, w, 0.99, by="", **canary)
        stable_p99 = latency_quantile_expr(target, w, 0.99, by="", **stable)
        checks += [
            ("latency-p99", p99, analysis.max_latency_p99_seconds),
            ("latency-p99-vs-stable", f"({p99})\n- on()\n({stable_p99})", analysis.max_latency_p99_increase_seconds),
        ]
    checks += [(_TOKEN_CHECKS[alert], quantile_expr(target, distribution, w, 0.99, by="", **canary), limit)
               for alert, _, distribution, limit in analysis.tokens().checks(target.signals)]
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


_TOKEN_CHECKS = {"ModelTimeToFirstTokenP99AboveSlo": "time-to-first-token-p99",
                 "ModelInterTokenLatencyP99AboveSlo": "inter-token-latency-p99"}
"""The analysis metric judging the canary on each token latency objective."""


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


def derived_names(model_name: str) -> dict[str, str]:
    """Kubernetes names `ModelCanary` derives from the model's name (each a DNS label: Services are DNS-1035)."""
    canary, stable = alb_service_names(model_name)
    return {"analysis template": f"{model_name}-canary", "canary Service": canary, "stable Service": stable}


class ModelCanary(pulumi.ComponentResource):
    """One model released as a canary: a Rollout on ModelService's pod template, judged by the model's SLO signals.

    Creates, in the model's namespace, an AnalysisTemplate (error ratio and p99 latency of the canary's
    pods, alone and against the stable's, only on enough requests, queried by the model's own name) and a
    Rollout referencing the Deployment (`workloadRef`, `scaleDown: onsuccess`: the Deployment runs no pod
    once the Rollout's are available), at the model's replicas (its HPA's, which then owns the count). A
    failed analysis aborts: the canary goes, the stable ReplicaSet (the previous digest) serves everything.
    With `split_at_load_balancer`, also the canary and stable Services the ALB's weighted target groups
    forward to (the controller adds each one's `rollouts-pod-template-hash` to its selector); give the
    canary to `ModelEndpoint` as its `backend`. Every child waits for the controller's CRDs.
    """

    model: ModelService
    """The model it releases."""
    rollout_name: pulumi.Output[str]
    """The Rollout (named like the Deployment, so an HPA or a person finds it under the model's name)."""
    analysis_template_name: str
    """The AnalysisTemplate every step runs."""
    weighted_backend: Optional[WeightedBackend]
    """With `split_at_load_balancer`: the stable and canary Services the endpoint splits between; None otherwise."""

    def __init__(self, name: str, args: ModelCanaryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        model_name = args.model.served.name if isinstance(args, ModelCanaryArgs) and isinstance(
            args.model, ModelService) else ""
        args = checked_args("ModelCanary", name, args, ModelCanaryArgs,
                            extra=name_problems("model", derived_names(model_name)) if model_name else ())
        model = args.model
        # ModelService's outputs carry names known at declaration (`_claims.known`): the claims fire before anything
        # is registered.
        _claims.claim("ModelCanary", name, opts, [
            _claims.kubernetes("argoproj.io/Rollout", model.deployment_name, model.namespace, field="model"),
            _claims.kubernetes("argoproj.io/AnalysisTemplate", f"{model_name}-canary", model.namespace, field="model"),
            *([_claims.kubernetes("Service", service, model.namespace, field="model")
               for service in alb_service_names(model_name)] if args.split_at_load_balancer else [])])
        taken = model.take("ModelCanary", name)
        if taken:
            raise InvalidArgs("ModelCanary", name, [f"model: {taken}"])
        super().__init__("gpu-model-platform:index:ModelCanary", name, None, opts)
        self._args = args
        self.model = model
        self._model_name = model_name
        self._alb = AlbRouting(ingress=model_name, root_service=model_name,
                               service_port=model.service_port_number) if args.split_at_load_balancer else None
        self._labels = standard_labels(model_name, "progressive-delivery")
        self.analysis_template_name = f"{model_name}-canary"
        after_crds = [*_options.dependencies(opts), args.rollouts.release]
        template = self._create_analysis_template(name, pulumi.ResourceOptions(parent=self, depends_on=after_crds))
        self.weighted_backend = self._create_alb_services(name, after_crds) if self._alb is not None else None
        rollout_opts = pulumi.ResourceOptions(parent=self, depends_on=[*after_crds, template])
        if model.autoscaling is not None:
            # The HPA scales the Rollout: later updates leave its count alone.
            rollout_opts = pulumi.ResourceOptions.merge(rollout_opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
        rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout", api_version=ROLLOUTS_API, kind="Rollout",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.deployment_name, namespace=model.namespace,
                                                labels=self._labels),
            spec=self._rollout_spec(), opts=rollout_opts)
        # A CustomResource's fields are dynamic (read through __getattr__), so the SDK types no `metadata`.
        self.rollout_name = cast(Any, rollout).metadata["name"]
        self.register_outputs({"rollout_name": self.rollout_name, "analysis_template_name": self.analysis_template_name})

    def _prometheus_url(self) -> pulumi.Input[str]:
        prometheus = self._args.prometheus
        return prometheus.prometheus_url if isinstance(prometheus, MonitoringStack) else prometheus

    def _create_analysis_template(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        a, model, model_name = self._args, self.model, self._model_name
        # The ServiceMonitor takes `job` from the Service's name label: the model's name, as the alerts select it.
        signals = model.served.runtime.signals
        metrics = pulumi.Output.all(model.namespace, self._prometheus_url()).apply(lambda v: analysis_metrics(
            ModelTarget(model=model_name, namespace=v[0], job=model_name, signals=signals), a.analysis, v[1]))
        return k8s.apiextensions.CustomResource(
            f"{name}-analysis", api_version=ROLLOUTS_API, kind="AnalysisTemplate",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.analysis_template_name, namespace=model.namespace,
                                                labels=self._labels),
            spec={"args": [{"name": CANARY_HASH_ARG}, {"name": STABLE_HASH_ARG}], "metrics": metrics},
            opts=opts)

    def _rollout_spec(self) -> dict[str, Any]:
        a, model = self._args, self.model
        canary: dict[str, Any] = {
            # A surge pod may need a GPU node of its own; never take a serving replica away for it.
            "maxSurge": 1, "maxUnavailable": 0,
            "steps": canary_steps(a.steps, self.analysis_template_name),
        }
        if self._alb is not None:
            canary_service, stable_service = alb_service_names(self._model_name)
            canary |= {"canaryService": canary_service, "stableService": stable_service,
                       "trafficRouting": {"alb": {"ingress": self._alb.ingress, "rootService": self._alb.root_service,
                                                  "servicePort": self._alb.service_port}}}
        return {
            "replicas": model.replicas,
            "revisionHistoryLimit": 5,
            # Going back to one of the last three versions skips the steps and analysis (docs/features/rollback.md):
            # an emergency rollback must not take a canary's half hour.
            "rollbackWindow": {"revisions": 3},
            "selector": {"matchLabels": model.selector},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": model.deployment_name,
                            # A live Deployment's pods (canary switched on later) keep serving until the Rollout is
                            # healthy, then go; a new stack's Deployment, created at 0, is never scaled up (as
                            # `progressively` would, asking for GPU nodes for nothing).
                            "scaleDown": "onsuccess"},
            "progressDeadlineSeconds": a.progress_deadline_seconds,
            "progressDeadlineAbort": True,
            "strategy": {"canary": canary},
        }

    def _create_alb_services(self, name: str, after: list[pulumi.Resource]) -> WeightedBackend:
        """The canary and stable Services the ALB's target groups use. They select every pod of the model; the
        controller narrows each to one ReplicaSet (adds its `rollouts-pod-template-hash`) as the update goes."""
        model, alb = self.model, self._alb
        assert alb is not None
        services = [k8s.core.v1.Service(
            f"{name}-{role}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=model.namespace, labels=self._labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=model.selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=alb.service_port, target_port="http",
                                                   protocol="TCP")]),
            # The controller adds its own selector key (and a managed-by annotation) with a strategic merge patch
            # (rollout/service.go): keys Pulumi never sets, which server-side apply leaves to it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))
            for role, service in zip(("canary", "stable"), alb_service_names(self._model_name), strict=True)]
        canary, stable = (service.metadata.name for service in services)
        return WeightedBackend(stable_service=stable, canary_service=canary, service_port=alb.service_port)


def alb_service_names(model_name: str) -> tuple[str, str]:
    """(canary, stable) Services of a model split at the ALB."""
    return f"{model_name}-canary", f"{model_name}-stable"
