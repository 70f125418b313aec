"""The args of `ModelService` and the rules they follow: what a model's workload is, as plain data.

`workload` turns these into Kubernetes objects and `model_service` creates them; the rules and the timing they
need live here, beside the fields, so that nothing here imports the modules that use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Optional

import pulumi
import pulumi_kubernetes as k8s

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
    got,
    matches,
    problems_of,
    quantity_value,
)
from ..capacity.gpu_scheduling import GPU_RESOURCE, GpuScheduling
from . import server_contract as contract
from .runtimes import MODEL_SERVER, ServingRuntime
from .server_contract import ADMIN_PORT_NAME, HTTP_PORT_NAME

API_KEYS_DIR = "/etc/model-server/api-keys"
"""Where the API keys Secret is mounted (the server's `API_KEYS_DIR`): one file per key."""

EXIT_MARGIN_SECONDS = 1
"""After its drain deadline the server still closes sockets and flushes logs before SIGKILL."""
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")
TMP_VOLUME = "tmp"
API_KEYS_VOLUME = "api-keys"
_RESERVED_VOLUMES = (TMP_VOLUME, API_KEYS_VOLUME)
ImageDigest = Annotated[str, matches(r"[^\s@]+@sha256:[0-9a-f]{64}", "must be pinned by digest (repo@sha256:<64 hex>)")]
ReplicaOwner = Literal["keda"]
"""Who, besides an HPA or a Rollout, may own a Deployment's `spec.replicas`: `keda` (`ModelScaleToZero`)."""
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
    replica_owner: Optional[ReplicaOwner] = None
    """An outside controller owning `spec.replicas` (e.g. `keda`, scaling to zero): the Deployment starts at
    `replicas` (0 allowed), updates never reset the count, and neither an HPA nor a PodDisruptionBudget is made."""
    api_keys: dict[DnsLabel, pulumi.Input[Annotated[str, SECRET]]] = field(default_factory=dict)
    """Accepted API keys by name (`primary`, `secondary`: two while one is rotated), each a Pulumi secret.
    They become a Secret, mounted read-only at `API_KEYS_DIR` (its files, this repository's server), or read into
    the one variable a runtime names (`ServingRuntime.api_key_env`, vLLM's `VLLM_API_KEY`); clients send
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
        return rules(self)

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


# ------------------------------------------------------------------------------ rules

def instance_problems(instance: str, args: ModelServiceArgs) -> list[Problem]:
    """Problems only the component sees: the instance name becomes the Kubernetes name when `name` is None."""
    if args.name is None and not _DNS_LABEL.fullmatch(instance):
        return [("name", f"got None, so the instance name {instance!r} would name the Kubernetes objects, and it is "
                         "not a DNS label (lowercase letters, digits and '-'); pass name=...")]
    return []


def _env_seconds(args: ModelServiceArgs, var: str) -> float | None:
    """A number of seconds set in `env` (None when unset or not a number: `_env_rules` says so)."""
    text = args.env.get(var)
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def drain_delay_seconds(args: ModelServiceArgs) -> float:
    """DRAIN_DELAY_SECONDS as the server gets it: `env`, else its default 0."""
    return _env_seconds(args, contract.ENV_DRAIN_DELAY_SECONDS) or 0


def drain_seconds(args: ModelServiceArgs) -> float | None:
    """DRAIN_TIMEOUT_SECONDS as the server gets it: `env`, then the field, then what the grace period leaves."""
    if contract.ENV_DRAIN_TIMEOUT_SECONDS in args.env:
        return _env_seconds(args, contract.ENV_DRAIN_TIMEOUT_SECONDS)
    if args.drain_timeout_seconds is not None:
        return args.drain_timeout_seconds
    return args.termination_grace_period_seconds - args.pre_stop_seconds - math.ceil(drain_delay_seconds(args)) \
        - EXIT_MARGIN_SECONDS


def rules(a: ModelServiceArgs) -> list[Problem]:
    return [*_gpu_rules(a), *_replica_rules(a), *_port_rules(a), *_env_rules(a), *_drain_rules(a), *_volume_rules(a),
            *_api_key_rules(a), *_other_rules(a)]


def _api_key_rules(a: ModelServiceArgs) -> list[Problem]:
    """The keys must reach the server the way its runtime reads them, or it would answer every caller."""
    runtime, names = a.runtime, ", ".join(sorted(a.api_keys))
    if runtime.api_keys == "env" and runtime.api_key_env is None:
        return [("runtime.api_key_env", f"got None; runtime {runtime.name!r} reads its key from the environment: "
                                        "name the variable")]
    if not a.api_keys:
        return []
    if runtime.api_keys == "none":
        return [("api_keys", f"got {names}; runtime {runtime.name!r} checks no API key: put authentication in front "
                             "of it (the load balancer) and give none here")]
    if runtime.api_keys == "env" and len(a.api_keys) != 1:
        return [("api_keys", f"got {len(a.api_keys)} keys ({names}); runtime {runtime.name!r} reads exactly one, from "
                             f"{runtime.api_key_env}: rotate by replacing it (a rolling restart)")]
    taken = runtime.api_key_env if runtime.api_keys == "env" else None
    return [(f"{field_name}.{taken}", "set by ModelService from api_keys; give the key there")
            for field_name, variables in (("env", a.env), ("secret_env", a.secret_env)) if taken in variables]


def _gpu_rules(a: ModelServiceArgs) -> list[Problem]:
    if a.gpus > 0 and a.gpu_scheduling is None:
        return [("gpu_scheduling", "got None; required when gpus > 0 (GPU nodes are tainted: pass the node group's "
                                   "scheduling)")]
    if a.gpus == 0 and a.gpu_scheduling is not None:
        return [("gpu_scheduling", "got a GpuScheduling while gpus is 0: a pod that asks for no GPU is not placed on "
                                   "GPU nodes, so the scheduling would be silently dropped; set gpus >= 1, or "
                                   "gpu_scheduling=None for a CPU model")]
    most = a.gpu_scheduling.max_gpus_per_node if a.gpu_scheduling else None
    if most is not None and a.gpus > most:
        return [("gpus", got(a.gpus, f"the GPU nodes of gpu_scheduling have at most {most} GPU(s) each: the pod "
                                     "could never be scheduled"))]
    return []


def container_ports(a: ModelServiceArgs) -> list[tuple[str, int, str]]:
    """(name, number, protocol) of every container port."""
    ports = [(contract.HTTP_PORT_NAME, a.container_port, "TCP")]
    if a.grpc_port is not None:
        ports.append((contract.GRPC_PORT_NAME, a.grpc_port, "TCP"))
    if a.admin_port is not None:
        ports.append((contract.ADMIN_PORT_NAME, a.admin_port, "TCP"))
    return ports + [(p.name, p.container_port, p.protocol) for p in a.extra_ports]


def probe_port(a: ModelServiceArgs) -> str:
    if a.probes.port is not None:
        return a.probes.port
    return contract.ADMIN_PORT_NAME if a.admin_port is not None else contract.HTTP_PORT_NAME


def _port_rules(a: ModelServiceArgs) -> list[Problem]:
    problems: list[Problem] = []
    ports = container_ports(a)
    names = [name for name, _, _ in ports]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(("extra_ports", got(name, "a container port name used twice (http, grpc and admin are the "
                                                  "server's own)")))
    numbers = [(number, protocol) for _, number, protocol in ports]
    for number, protocol in sorted({n for n in numbers if numbers.count(n) > 1}):
        problems.append(("extra_ports" if a.extra_ports else "container_port",
                         got(number, f"two container ports use {number}/{protocol}: container_port, grpc_port, "
                                     "admin_port and extra_ports must differ")))
    service = [p for _, p in service_port_numbers(a)]
    for number in sorted({n for n in service if service.count(n) > 1}):
        problems.append(("service_port", got(number, "two Service ports use this number (service_port, grpc_port, "
                                                     "admin_port and extra_ports[].service_port must differ)")))
    if probe_port(a) not in names:
        problems.append(("probes.port", got(a.probes.port, f"must name a container port: {', '.join(names)}")))
    return problems


def _env_rules(a: ModelServiceArgs) -> list[Problem]:
    problems: list[Problem] = []
    fields = {contract.ENV_PORT: "container_port", contract.ENV_GRPC_PORT: "grpc_port",
              contract.ENV_ADMIN_PORT: "admin_port", contract.ENV_MODEL_NAME: "name",
              contract.ENV_MODEL_VERSION: "model_version", contract.ENV_MAX_BATCH_SIZE: "max_batch_size",
              contract.ENV_BATCH_WINDOW_MS: "batch_window_ms", contract.ENV_ORT_DISABLE_TELEMETRY: "(always 1)",
              contract.ENV_API_KEYS_DIR: "api_keys"}
    for key in a.env:
        if key in contract.MANAGED_ENV:
            problems.append((f"env.{key}", f"got {a.env[key]!r}; set by ModelService from {fields[key]} (the probes, "
                                           "Service and NetworkPolicy follow that field); set the field instead"))
    for key in sorted(set(a.env) & set(a.secret_env)):
        problems.append((f"secret_env.{key}", "also in env: one variable, one source"))
    for var in (contract.ENV_DRAIN_TIMEOUT_SECONDS, contract.ENV_DRAIN_DELAY_SECONDS):
        if var in a.env and _env_seconds(a, var) is None:
            problems.append((f"env.{var}", got(a.env[var], "must be a number of seconds >= 0 such as 25")))
    drain = a.env.get(contract.ENV_DRAIN_TIMEOUT_SECONDS)
    if drain is not None and a.drain_timeout_seconds is not None:
        problems.append(("drain_timeout_seconds", got(a.drain_timeout_seconds, "also set in env "
                                                      f"{contract.ENV_DRAIN_TIMEOUT_SECONDS}: set one of them")))
    return problems


def _drain_rules(a: ModelServiceArgs) -> list[Problem]:
    drain = drain_seconds(a)
    if drain is None:
        return []
    delay = drain_delay_seconds(a)
    needed = a.pre_stop_seconds + delay + drain + EXIT_MARGIN_SECONDS
    source = "env DRAIN_TIMEOUT_SECONDS" if contract.ENV_DRAIN_TIMEOUT_SECONDS in a.env else "drain_timeout_seconds"
    delayed = f" + env DRAIN_DELAY_SECONDS ({delay:g} s)" if delay else ""
    if drain < 1:
        return [("termination_grace_period_seconds", got(a.termination_grace_period_seconds, "leaves no time to drain: "
                 f"must be > pre_stop_seconds ({a.pre_stop_seconds}){delayed} + {EXIT_MARGIN_SECONDS} s to exit"))]
    if needed > a.termination_grace_period_seconds:
        return [("termination_grace_period_seconds", got(a.termination_grace_period_seconds,
                 f"must be >= pre_stop_seconds ({a.pre_stop_seconds}){delayed} + the drain ({drain:g} s, {source}) + "
                 f"{EXIT_MARGIN_SECONDS} s to exit = {needed:g}: Kubernetes would kill the server mid-drain"))]
    return []


def _volume_rules(a: ModelServiceArgs) -> list[Problem]:
    problems: list[Problem] = []
    names = [v.name for v in a.volumes if isinstance(v.name, str)]
    for name in sorted({n for n in names if names.count(n) > 1 or n in _RESERVED_VOLUMES}):
        problems.append(("volumes", got(name, f"volume names must be unique and not {TMP_VOLUME!r} (the server's "
                                              f"scratch emptyDir) or {API_KEYS_VOLUME!r} (its API keys)")))
    known = set(names) | {TMP_VOLUME} | ({API_KEYS_VOLUME} if a.api_keys and a.runtime.api_keys == "files" else set())
    for i, mount in enumerate(a.volume_mounts):
        if isinstance(mount.name, str) and mount.name not in known:
            problems.append((f"volume_mounts[{i}].name", got(mount.name, f"must name a volume of the pod: "
                                                                         f"{', '.join(sorted(known))}")))
        if mount.mount_path in (*contract.WRITABLE_PATHS, API_KEYS_DIR):
            problems.append((f"volume_mounts[{i}].mount_path", got(mount.mount_path, "the server's scratch space is "
                                                                                     "mounted there already")))
    return problems


def _replica_rules(a: ModelServiceArgs) -> list[Problem]:
    problems: list[Problem] = []
    if a.replicas < (0 if a.replica_owner else 1):
        problems.append(("replicas", got(a.replicas, "must be >= 1 (>= 0 with a replica_owner)")))
    if a.progressive_rollout and a.replica_owner:
        problems.append(("progressive_rollout", f"the Rollout and {a.replica_owner!r} would both own the pods' count; "
                                                "a canary needs live replicas, so drop replica_owner"))
    if a.replica_owner and a.autoscaling:
        problems.append(("autoscaling", f"two owners of the Deployment's replicas (the HPA and {a.replica_owner!r}); "
                                        "set one of autoscaling or replica_owner"))
    elif a.autoscaling is not None and a.replicas not in (1, a.autoscaling.min_replicas):
        problems.append(("replicas", got(a.replicas, f"ignored with autoscaling: the Deployment starts at "
                                                     f"autoscaling.min_replicas ({a.autoscaling.min_replicas}); set "
                                                     "that instead")))
    return problems


# Namespaces the cluster itself owns: a stack that created (and would one day delete) one of these breaks the cluster.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def _other_rules(a: ModelServiceArgs) -> list[Problem]:
    problems: list[Problem] = []
    namespace = a.namespace or a.name
    if a.create_namespace and namespace in SYSTEM_NAMESPACES:
        problems.append(("namespace", got(namespace, f"the cluster owns {', '.join(SYSTEM_NAMESPACES)}: a stack that "
                                                     "creates it would delete it on destroy; use a namespace of the "
                                                     "model's own, or create_namespace=False")))
    reserved = {"app", "app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of",
                "app.kubernetes.io/managed-by", "app.kubernetes.io/version", "team"}
    for key in sorted(set(a.pod_labels) & reserved):
        problems.append((f"pod_labels.{key}", "set by ModelService (the selector, versions and team rely on it)"))
    role = a.service_account_role_arn
    if isinstance(role, str) and not _IAM_ROLE_ARN.fullmatch(role):
        problems.append(("service_account_role_arn", got(role, "must be an IAM role ARN "
                                                               "(arn:aws:iam::<account>:role/<name>)")))
    if a.rollout_timeout_minutes is not None and a.rollout_timeout_minutes * 60 < pod_ready_seconds(a):
        problems.append(("rollout_timeout_minutes", got(a.rollout_timeout_minutes, f"shorter than one pod's cold start "
                         f"({math.ceil(pod_ready_seconds(a) / 60)} min: node, image pull and probes.startup_seconds)")))
    return problems


# ------------------------------------------------------------------------------ timing

def pod_ready_seconds(a: ModelServiceArgs) -> int:
    """The longest one new pod may take to become ready: a GPU node from zero, the image pull, the startup budget."""
    node = contract.GPU_NODE_COLD_START_SECONDS if a.gpus > 0 else 0
    return node + contract.IMAGE_PULL_SECONDS + a.probes.startup_seconds


def rollout_timeout_minutes(a: ModelServiceArgs, replicas: int) -> int:
    """`rollout_timeout_minutes`, or: one node from zero, then each replica's pull and start in turn (maxSurge 1)."""
    if a.rollout_timeout_minutes is not None:
        return a.rollout_timeout_minutes
    node = contract.GPU_NODE_COLD_START_SECONDS if a.gpus > 0 else 0
    return math.ceil((node + replicas * (contract.IMAGE_PULL_SECONDS + a.probes.startup_seconds)) / 60)



def service_port_numbers(a: ModelServiceArgs) -> list[tuple[str, int]]:
    """(Service port name, number): `http`, `grpc`, `metrics` (to `admin`, or `http` without one), exposed extras."""
    ports = [(contract.HTTP_PORT_NAME, a.service_port)]
    if a.grpc_port is not None:
        ports.append((contract.GRPC_PORT_NAME, a.grpc_port))
    ports.append((contract.METRICS_SERVICE_PORT_NAME, a.admin_port if a.admin_port is not None else a.container_port))
    return ports + [(p.name, p.service_port) for p in a.extra_ports if p.service_port is not None]


