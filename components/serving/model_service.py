"""ModelService: the model's namespace, workload, Service and the guards around them.

The args say what the workload needs; `workload` turns them into the pod, its ports, probes,
environment and network policy (docs/workload-contract.md is the same contract in words).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import _claims
from .._args import (
    SECRET,
    DnsLabel,
    DnsSubdomain,
    EnvName,
    HttpPath,
    LabelKey,
    LabelValue,
    MetricName,
    NonNegativeInt,
    Port,
    PositiveInt,
    Problem,
    Quantity,
    between,
    checked_args,
    got,
    matches,
    problems_of,
    quantity_value,
)
from ..capacity.gpu_scheduling import GPU_RESOURCE, GpuScheduling
from ..labels import restricted_namespace_labels, selector_labels, standard_labels
from . import server_contract as contract
from . import workload
from .runtimes import MODEL_SERVER, ServingRuntime
from .server_contract import ADMIN_PORT_NAME, HTTP_PORT_NAME

API_KEYS_DIR = workload.API_KEYS_DIR
# The AWS Load Balancer Controller injects readiness gates into new pods of namespaces carrying this label,
# so a rolling update waits for each new pod to be healthy in the ALB's target group (inert without it).
POD_READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
ImageDigest = Annotated[str, matches(r"[^\s@]+@sha256:[0-9a-f]{64}", "must be pinned by digest (repo@sha256:<64 hex>)")]
PortName = Annotated[str, matches(r"(?=.{1,15}$)[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]|[a-z]",
                                  "must be a port name (IANA_SVC_NAME: at most 15 lowercase letters, digits and "
                                  "single '-', with a letter)")]


@dataclass(frozen=True)
class ContainerResources:
    """CPU and memory requests and limits (Kubernetes quantities); a limit below its request is refused."""

    cpu_request: Quantity = "1"
    memory_request: Quantity = "2Gi"
    cpu_limit: Quantity = "2"
    memory_limit: Quantity = "4Gi"

    def _rules(self) -> list[Problem]:
        problems = []
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if quantity_value(limit) < quantity_value(request):  # type: ignore[operator]
                problems.append((f"{kind}_limit", got(limit, f"must be >= {kind}_request ({request}); Kubernetes "
                                                            "refuses a limit below its request")))
        return problems


@dataclass(frozen=True)
class PodsMetric:
    """A per-pod custom metric (served by a custom metrics adapter) the HPA keeps at an average value."""

    name: MetricName
    """The metric as the custom metrics API serves it, e.g. `inference_batch_queue_depth`."""
    target_average_value: Quantity
    """Average per pod to keep, as a Kubernetes quantity (`16`, `500m`)."""


@dataclass(frozen=True)
class HorizontalAutoscaling:
    """An autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation, or on a model-aware per-pod metric."""

    min_replicas: Annotated[int, between(1, 1000)] = 1
    """At least 1: an HPA cannot scale a Deployment to zero."""
    max_replicas: Annotated[int, between(1, 1000)] = 4
    target_cpu_utilization: Annotated[int, between(1, 100)] = 70
    """Average CPU utilisation to keep, in percent of the request (1..100)."""
    scale_down_stabilization_seconds: Annotated[int, between(0, 3600)] = 300
    pods_metric: Optional[PodsMetric] = None
    """When set, the HPA scales on this metric instead of CPU (a GPU model's load is not on its CPU; and an
    HPA whose CPU metric is unavailable would never scale down)."""
    scale_down_pods_per_minute: Optional[PositiveInt] = None
    """When set, at most this many pods are removed per minute (each may take a GPU node with it)."""

    def _rules(self) -> list[Problem]:
        if self.min_replicas > self.max_replicas:
            return [("min_replicas", got(self.min_replicas, f"must be <= max_replicas ({self.max_replicas})"))]
        return []


@dataclass(frozen=True)
class HealthProbes:
    """How the kubelet checks the server: paths, the port they are served on, and timings."""

    readiness_path: HttpPath = contract.READY_PATH
    """Ready to take traffic (also the startup probe's path)."""
    liveness_path: HttpPath = contract.LIVE_PATH
    """Alive; failing it restarts the container."""
    port: Optional[PortName] = None
    """The named container port serving both paths; None: `admin` (or `http` when `admin_port` is None)."""
    period_seconds: PositiveInt = 5
    """Readiness and startup probe interval."""
    liveness_period_seconds: PositiveInt = 10
    timeout_seconds: PositiveInt = 2
    failure_threshold: PositiveInt = 3
    """Failures in a row before not-ready (readiness) or a restart (liveness)."""
    startup_seconds: PositiveInt = 300
    """How long the model may take to load and warm up before liveness applies (the startup probe's budget)."""

    def _rules(self) -> list[Problem]:
        if self.startup_seconds < self.period_seconds:
            return [("startup_seconds", got(self.startup_seconds, f"must be >= period_seconds ({self.period_seconds})"))]
        return []


@dataclass(frozen=True)
class ExtraPort:
    """One more container port, optionally exposed on the Service (and open to `allowed_namespaces`)."""

    name: PortName
    container_port: Port
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    service_port: Optional[Port] = None
    """Expose it on the Service at this port; None keeps it inside the pod."""


@dataclass(frozen=True)
class ServedModel:
    """A model server running in the cluster, as `ModelMonitoring` needs to know it.

    `ModelService.served` gives it for a `ModelService`; build one yourself for a server deployed some
    other way (its Service must carry the `app.kubernetes.io/name: <name>` label).
    """

    name: DnsLabel
    """The `model` label of its metrics (MODEL_NAME), its container name and the `job` of its targets."""
    namespace: Optional[DnsLabel] = None
    """Where it runs (defaults to `name`)."""
    service_labels: Optional[dict[LabelKey, LabelValue]] = None
    """Labels selecting its Service (default: `ModelService`'s, `app.kubernetes.io/name` and `component`)."""
    metrics_port: PortName = contract.METRICS_SERVICE_PORT_NAME
    """The Service port serving `/metrics`."""
    team: Optional[DnsLabel] = None
    """The team that owns it: the `team` label of its alerts."""
    runtime: ServingRuntime = MODEL_SERVER
    """The server it runs: the names of its metrics and its metrics path."""

    def _rules(self) -> list[Problem]:
        labels = self.selector()
        if labels.get("app.kubernetes.io/name") != self.name:
            return [("service_labels", got(self.service_labels, "must include app.kubernetes.io/name: <name>, "
                                                                "which becomes the job label the alerts select"))]
        return []

    @property
    def model_namespace(self) -> str:
        return self.namespace or self.name

    def selector(self) -> dict[str, str]:
        """The labels that select the model's Service."""
        if self.service_labels is not None:
            return dict(self.service_labels)
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/component": "inference"}


@dataclass
class ModelServiceArgs:
    """Inputs of `ModelService`. Defaults: this repository's server (docs/workload-contract.md), hardened."""

    image: pulumi.Input[ImageDigest]
    """Image reference by digest (`repo@sha256:...`); tags are refused."""
    name: Optional[DnsLabel] = None
    """Name of every Kubernetes object, of the container and of the model (MODEL_NAME, the `model` label of its
    metrics); defaults to the instance name."""
    namespace: Optional[DnsLabel] = None
    """Namespace (defaults to `name`)."""
    create_namespace: bool = True
    """Create the namespace (restricted Pod Security). False: it exists already and is used as it is."""
    team: Optional[DnsLabel] = None
    """The team that owns the model: label `team` on its objects and pods and on its alerts (`ModelMonitoring`),
    which Alertmanager routes on."""
    model_version: Optional[LabelValue] = None
    container_port: Port = contract.DEFAULT_HTTP_PORT
    """The server's public HTTP port (PORT, container port `http`)."""
    service_port: Port = contract.DEFAULT_SERVICE_PORT
    """The Service's `http` port."""
    grpc_port: Optional[Port] = contract.DEFAULT_GRPC_PORT
    """The server's gRPC port (GRPC_PORT, container and Service port `grpc`); None turns gRPC off (GRPC_PORT=0)."""
    admin_port: Optional[Port] = contract.DEFAULT_ADMIN_PORT
    """Metrics and probes (ADMIN_PORT, container port `admin`, Service port `metrics` for the monitoring namespace
    only); None for a server that serves both on its public port."""
    extra_ports: list[ExtraPort] = field(default_factory=list)
    """More container ports, each optionally on the Service."""
    command: Optional[list[str]] = None
    """The container's command (its entrypoint); None keeps the image's."""
    container_args: Optional[list[str]] = None
    """The container's args; None keeps the image's."""
    probes: HealthProbes = field(default_factory=HealthProbes)
    """Health paths, their port and timings."""
    replicas: NonNegativeInt = 1
    """Pods; at least 1, unless `replica_owner` may scale the model to zero."""
    gpus: NonNegativeInt = 0
    """`nvidia.com/gpu` per pod; > 0 needs `gpu_scheduling`."""
    gpu_scheduling: Optional[GpuScheduling] = None
    """The GPU nodes' labels and taints (a node group's `scheduling`); only with `gpus` > 0."""
    resources: ContainerResources = field(default_factory=ContainerResources)
    env: dict[EnvName, str] = field(default_factory=dict)
    """Plain environment variables of the server (strings); the ones the contract sets come from fields."""
    secret_env: dict[EnvName, pulumi.Input[Annotated[str, SECRET]]] = field(default_factory=dict)
    """Environment variables kept in a Kubernetes Secret (values should be Pulumi secrets)."""
    autoscaling: Optional[HorizontalAutoscaling] = None
    zone_spread: Literal["required", "preferred"] = "preferred"
    """`required` refuses to stack replicas in one zone; `preferred` only tries not to."""
    allowed_namespaces: list[DnsLabel] = field(default_factory=list)
    """Namespaces whose pods may call the model (`http`, `grpc` and exposed extra ports)."""
    monitoring_namespace: Optional[DnsLabel] = "monitoring"
    """The namespace whose Prometheus may scrape `metrics`; None: nobody."""
    service_account_role_arn: Optional[pulumi.Input[str]] = None
    """IAM role for the pods (IRSA); mounts the service account token and opens egress to AWS APIs (HTTPS)."""
    run_as_user: PositiveInt = contract.RUN_AS_USER
    """UID of the container (never 0: Pod Security `restricted`)."""
    run_as_group: PositiveInt = contract.RUN_AS_GROUP
    """GID of the container and of mounted volumes (`fsGroup`)."""
    volumes: list[k8s.core.v1.VolumeArgs] = field(default_factory=list)
    """More pod volumes (`tmp` is the server's scratch emptyDir)."""
    volume_mounts: list[k8s.core.v1.VolumeMountArgs] = field(default_factory=list)
    """Where the server sees them (the root filesystem stays read-only)."""
    pod_labels: dict[LabelKey, LabelValue] = field(default_factory=dict)
    """Extra pod labels (not the selector's)."""
    pod_annotations: dict[str, str] = field(default_factory=dict)
    image_pull_secrets: list[DnsSubdomain] = field(default_factory=list)
    """Secrets in the namespace for pulling from a private registry."""
    egress_rules: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] = field(default_factory=list)
    """More egress the server needs (a feature store, a model bucket through a proxy); by default it may reach
    nothing (and, with an IRSA role, DNS and AWS APIs)."""
    termination_grace_period_seconds: PositiveInt = 30
    """Time from the pod's deletion to SIGKILL: covers `pre_stop_seconds`, the drain and the exit."""
    pre_stop_seconds: NonNegativeInt = 5
    """Pause before SIGTERM, so endpoints and load balancers forget the pod before it drains."""
    drain_timeout_seconds: Optional[NonNegativeInt] = None
    """DRAIN_TIMEOUT_SECONDS; None: whatever the grace period leaves after the pause and a second to exit."""
    rollout_timeout_minutes: Optional[PositiveInt] = None
    """How long `pulumi up` waits for the Deployment; None derives it from a GPU cold start (docs/autoscaling.md)."""
    max_batch_size: Annotated[int, between(1, 4096)] = 32
    batch_window_ms: Annotated[int, between(0, 1000)] = 2
    replica_owner: Optional[str] = None
    """An outside controller owning `spec.replicas` (e.g. `keda`, scaling to zero): the Deployment starts at
    `replicas` (0 allowed), updates never reset the count, and neither an HPA nor a PodDisruptionBudget is made."""
    api_keys: dict[DnsLabel, pulumi.Input[Annotated[str, SECRET]]] = field(default_factory=dict)
    """Accepted API keys by name (`primary`, `secondary`: two while one is rotated), each a Pulumi secret.
    They become the files of a Secret mounted read-only at `API_KEYS_DIR`; clients send
    `Authorization: Bearer <key>`. Empty: the server accepts every request (and a `ModelEndpoint` refuses to
    expose it unless told `allow_unauthenticated`)."""
    priority_class_name: Optional[DnsSubdomain] = None
    """PriorityClass of the pods (e.g. `Tenancy`'s serving classes): who keeps a GPU when there are too few."""
    gpu_resource: LabelKey = GPU_RESOURCE
    """The extended resource `gpus` counts: `nvidia.com/gpu` (whole GPUs), or what a shared pool's device plugin
    advertises (`nvidia.com/gpu.shared` when time-sliced, `nvidia.com/mig-<profile>` for a MIG slice)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the model's objects wait for, e.g. the `Tenancy` that creates the namespace (`create_namespace` False),
    its quota and its PriorityClasses."""
    progressive_rollout: bool = False
    """An Argo Rollout named like the Deployment runs the pods from its template (`workloadRef`): the Deployment is
    created with its replicas, so the model serves before the Rollout can (on a first `up` the Rollout is invalid
    until its Ingress exists, which waits on the certificate), and leaves `spec.replicas` to the controller, which
    scales the Deployment to zero once the Rollout is healthy; the HPA, when set, scales the Rollout."""
    runtime: ServingRuntime = MODEL_SERVER
    """The model server the image runs (`runtimes.VLLM`, `runtimes.TRITON`, or your own profile): what
    `ModelMonitoring`, `ModelCanary` and the autoscaler read from it. The ports, probes and start arguments
    are still the fields above; `ModelServiceArgs.for_runtime` fills them in from the profile."""

    def _rules(self) -> list[Problem]:
        return workload.rules(self)

    @classmethod
    def for_runtime(cls, runtime: ServingRuntime, image: pulumi.Input[ImageDigest], name: DnsLabel,
                    model_dir: str = "", probes: Optional[HealthProbes] = None, **fields: Any) -> ModelServiceArgs:
        """Args running `runtime`'s server for the model `name` (read from `model_dir`): the profile's ports,
        health paths and start command; `probes` keeps its timings (the paths and port are the runtime's),
        `fields` set everything else."""
        port = ADMIN_PORT_NAME if runtime.admin_port is not None and runtime.health_on_admin else HTTP_PORT_NAME
        health = replace(probes or HealthProbes(), readiness_path=runtime.readiness_path,
                         liveness_path=runtime.liveness_path, port=port)
        return cls(image=image, name=name, runtime=runtime, container_port=runtime.http_port,
                   grpc_port=runtime.grpc_port, admin_port=runtime.admin_port, probes=health,
                   command=list(runtime.command) if runtime.command is not None else None,
                   container_args=runtime.start_args(name, model_dir), **fields)


def validate_model_service_args(args: ModelServiceArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class ModelService(pulumi.ComponentResource):
    """Runs a model server on Kubernetes the way production GPU services need.

    Creates a restricted namespace (unless it exists), a ServiceAccount, a Deployment (by digest,
    probes, graceful drain, hardened security context, GPU scheduling, zone spread, rollout timeouts
    for a GPU cold start), a Service (`http`, `grpc`, `metrics`), a NetworkPolicy (callers in
    `allowed_namespaces`, Prometheus on `metrics` only, no egress but what the server needs), and when
    there is more than one replica a PodDisruptionBudget; optionally a HorizontalPodAutoscaler.
    Kubernetes names default to the instance name; two instances claiming the same object fail.
    """

    namespace: pulumi.Output[str]
    """The model's namespace."""
    deployment_name: pulumi.Output[str]
    """The Deployment's name (the Kubernetes name: `name`, or the instance name)."""
    service_name: pulumi.Output[str]
    """The Service's name (the same)."""
    service_port: pulumi.Output[int]
    """The Service's `http` port."""
    selector: pulumi.Output[dict[str, str]]
    """Labels that select the model's pods."""
    served: ServedModel
    """What `ModelMonitoring` needs (name, namespace, Service labels, metrics port, team), known at declaration."""
    authenticated: bool
    """Whether the server checks API keys (`api_keys` given)."""

    def __init__(self, name: str, args: ModelServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelService", name, args, ModelServiceArgs, extra=workload.instance_problems(name, args))
        k8s_name = args.name or name
        namespace = args.namespace or k8s_name
        _claims.claim("ModelService", name, opts, workload.claims(args, k8s_name, namespace))
        super().__init__("gpu-model-platform:index:ModelService", name, None, opts)
        self._args = args
        self._name = k8s_name
        team = {"team": args.team} if args.team else {}
        # Only the Deployment carries the version: a new model must change nothing else.
        self._labels = standard_labels(k8s_name, "inference") | team
        self._versioned_labels = standard_labels(k8s_name, "inference", args.model_version) | team
        self._selector = selector_labels(k8s_name)

        ns_name, in_ns = self._namespace(name, namespace)
        account = self._create_service_account(name, ns_name, in_ns)
        self._secret_env_name = self._create_secret_env(name, ns_name, in_ns) if args.secret_env else None
        self._api_keys_secret = self._create_api_keys(name, ns_name, in_ns) if args.api_keys else None
        deployment = self._create_deployment(name, ns_name, account.metadata.name, in_ns)
        service = self._create_service(name, ns_name, in_ns)
        self._create_network_policy(name, ns_name, in_ns)
        if self._min_replicas() > 1:
            self._create_disruption_budget(name, ns_name, in_ns)
        if args.autoscaling:
            self._create_autoscaler(name, ns_name, deployment.metadata.name, in_ns)

        # Known now: components given these outputs (a canary, an endpoint) claim their own objects by them.
        self.namespace = _claims.known(ns_name, namespace)
        self.deployment_name = _claims.known(deployment.metadata.name, k8s_name)
        self.service_name = _claims.known(service.metadata.name, k8s_name)
        self.service_port = pulumi.Output.from_input(args.service_port)
        self.selector = pulumi.Output.from_input(self._selector)
        self.served = ServedModel(name=k8s_name, namespace=namespace, service_labels=workload.service_selector(
            k8s_name), metrics_port=contract.METRICS_SERVICE_PORT_NAME, team=args.team, runtime=args.runtime)
        self.authenticated = bool(args.api_keys)
        self.register_outputs({
            "namespace": self.namespace,
            "deployment_name": self.deployment_name,
            "service_name": self.service_name,
            "service_port": self.service_port,
            "selector": self.selector,
            "authenticated": self.authenticated,
        })

    def _replicas_owned_elsewhere(self) -> bool:
        """Whether an HPA, an outside controller (`replica_owner`) or a Rollout sets the replica count after creation."""
        a = self._args
        return a.autoscaling is not None or a.replica_owner is not None or a.progressive_rollout

    def _min_replicas(self) -> int:
        if self._args.replica_owner:
            return 0  # the owner may scale to zero: no disruption budget floor
        autoscaling = self._args.autoscaling
        return autoscaling.min_replicas if autoscaling else self._args.replicas

    def _metadata(self, ns: pulumi.Input[str], name: Optional[str] = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name or self._name, namespace=ns, labels=self._labels)

    def _namespace(self, name: str, namespace: str) -> tuple[pulumi.Output[str], pulumi.ResourceOptions]:
        """The namespace's name and the options of everything inside it (created first, unless it exists)."""
        if not self._args.create_namespace:
            return pulumi.Output.from_input(namespace), pulumi.ResourceOptions(parent=self, depends_on=self._args.after)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace, labels=self._labels | restricted_namespace_labels() | POD_READINESS_GATE_LABEL),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._args.after),
        )
        return ns.metadata.name, pulumi.ResourceOptions(parent=self, depends_on=[ns])

    def _create_service_account(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions
                                ) -> k8s.core.v1.ServiceAccount:
        role = self._args.service_account_role_arn
        metadata = self._metadata(ns)
        if role is not None:
            metadata.annotations = {"eks.amazonaws.com/role-arn": role}
        return k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=metadata,
            automount_service_account_token=role is not None,
            opts=opts,
        )

    def _create_secret_env(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        secret = k8s.core.v1.Secret(
            f"{name}-env",
            metadata=self._metadata(ns, workload.secret_env_name(self._name)),
            type="Opaque",
            string_data={k: pulumi.Output.secret(v) for k, v in self._args.secret_env.items()},
            opts=opts,
        )
        return secret.metadata.name

    def _create_api_keys(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """The Secret holding one file per API key; the pod mounts it whole (no subPath), so the kubelet
        updates the files in place when a key is added or rotated and the server picks them up."""
        secret = k8s.core.v1.Secret(
            f"{name}-api-keys",
            metadata=self._metadata(ns, workload.api_keys_secret_name(self._name)),
            type="Opaque",
            string_data={k: pulumi.Output.secret(v) for k, v in sorted(self._args.api_keys.items())},
            opts=opts,
        )
        return secret.metadata.name

    def _create_deployment(self, name: str, ns: pulumi.Input[str], service_account: pulumi.Input[str],
                           opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        a = self._args
        replicas = a.replicas if a.replica_owner else self._min_replicas()
        # At least one pod's cold start: a model asleep at zero still rolls its pods once it wakes.
        timeout = f"{workload.rollout_timeout_minutes(a, max(replicas, 1))}m"
        # A GPU pod may wait for a node from zero and a multi-GB image pull: Pulumi's 10-minute default
        # would report a healthy rollout as failed.
        extra = pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout))
        if self._replicas_owned_elsewhere():
            # The HPA (or replica_owner) owns the replica count once it exists; later updates must not reset it.
            extra = pulumi.ResourceOptions.merge(extra, pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
        template_labels = {**a.pod_labels, **self._versioned_labels}
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self._name, namespace=ns, labels=self._versioned_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                revision_history_limit=5,
                # Without progress this long the rollout has failed: one pod's cold start, not Kubernetes' 10 min.
                progress_deadline_seconds=workload.pod_ready_seconds(a),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=template_labels,
                                                        annotations=dict(a.pod_annotations) or None),
                    spec=workload.pod_spec(a, self._name, self._selector, service_account, self._secret_env_name,
                                           self._api_keys_secret),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, extra),
        )

    def _create_service(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._metadata(ns),
            spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=self._selector,
                                             ports=workload.service_ports(self._args)),
            opts=opts,
        )

    def _create_network_policy(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=self._metadata(ns),
            spec=workload.network_policy_spec(self._args, self._selector),
            opts=opts,
        )

    def _create_disruption_budget(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption-budget",
            metadata=self._metadata(ns),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
            ),
            opts=opts,
        )

    def _create_autoscaler(self, name: str, ns: pulumi.Input[str], deployment: pulumi.Input[str],
                           opts: pulumi.ResourceOptions) -> None:
        scaling = self._args.autoscaling
        assert scaling is not None
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata=self._metadata(ns),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=self._scale_target(deployment),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[workload.autoscaling_metric(scaling)],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=scaling.scale_down_stabilization_seconds,
                        policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(
                            type="Pods", value=scaling.scale_down_pods_per_minute, period_seconds=60)]
                        if scaling.scale_down_pods_per_minute else None)),
            ),
            opts=opts,
        )

    def _scale_target(self, deployment: pulumi.Input[str]) -> k8s.autoscaling.v2.CrossVersionObjectReferenceArgs:
        """What the HPA scales: the Deployment, or the Rollout named like it that runs its pods (Argo Rollouts'
        /scale subresource, docs/features/hpa-support.md at v1.9.0)."""
        if self._args.progressive_rollout:
            return k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="argoproj.io/v1alpha1", kind="Rollout", name=deployment)
        return k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(api_version="apps/v1", kind="Deployment", name=deployment)
