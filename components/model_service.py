"""ModelService: the model's namespace, workload, Service and the guards around them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pulumi
import pulumi_kubernetes as k8s

from .gpu_scheduling import GPU_RESOURCE, GpuScheduling
from .labels import restricted_namespace_labels, selector_labels, standard_labels

_DIGEST_RE = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
_QUANTITY_RE = re.compile(r"(?!0+(\.0+)?m?$)[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|M|G)?")
_RUN_AS_USER = 10001  # matches the image's non-root user; > 10000 keeps clear of host UIDs
_PRE_STOP_SLEEP_SECONDS = 5  # lets endpoints and load balancers forget the pod before it drains
API_KEYS_DIR = "/etc/model-server/api-keys"
"""Where the API keys Secret is mounted (the server's `API_KEYS_DIR`): one file per key."""
_SECRET_KEY_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The AWS Load Balancer Controller injects readiness gates into new pods of namespaces carrying this label,
# so a rolling update waits for each new pod to be healthy in the ALB's target group (inert without it).
POD_READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}


@dataclass(frozen=True)
class ContainerResources:
    """CPU and memory requests and limits (Kubernetes quantities)."""

    cpu_request: str = "1"
    memory_request: str = "2Gi"
    cpu_limit: str = "2"
    memory_limit: str = "4Gi"


@dataclass(frozen=True)
class PodsMetric:
    """A per-pod custom metric (served by a custom metrics adapter) the HPA keeps at an average value."""

    name: str
    """The metric as the custom metrics API serves it, e.g. `inference_batch_queue_depth`."""
    target_average_value: str
    """Average per pod to keep, as a Kubernetes quantity (`16`, `500m`)."""


@dataclass(frozen=True)
class HorizontalAutoscaling:
    """An autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation, or on a model-aware per-pod metric."""

    min_replicas: int = 1
    max_replicas: int = 4
    target_cpu_utilization: int = 70
    scale_down_stabilization_seconds: int = 300
    pods_metric: Optional[PodsMetric] = None
    """When set, the HPA scales on this metric instead of CPU (a GPU model's load is not on its CPU; and an
    HPA whose CPU metric is unavailable would never scale down)."""
    scale_down_pods_per_minute: Optional[int] = None
    """When set, at most this many pods are removed per minute (each may take a GPU node with it)."""


@dataclass
class ModelServiceArgs:
    """Inputs of `ModelService`. Defaults follow the seed: `my-ai-model`, 8080 behind port 80, one replica."""

    image: pulumi.Input[str]
    """Image reference by digest (`repo@sha256:...`); tags are refused."""
    name: str = "my-ai-model"
    namespace: Optional[str] = None
    """Namespace to create (defaults to `name`)."""
    model_version: Optional[str] = None
    container_port: int = 8080
    service_port: int = 80
    replicas: int = 1
    gpus: int = 0
    """`nvidia.com/gpu` per pod; > 0 needs `gpu_scheduling`."""
    gpu_scheduling: Optional[GpuScheduling] = None
    resources: ContainerResources = field(default_factory=ContainerResources)
    env: dict[str, str] = field(default_factory=dict)
    """Plain environment variables of the server."""
    secret_env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables kept in a Kubernetes Secret (values should be Pulumi secrets)."""
    autoscaling: Optional[HorizontalAutoscaling] = None
    zone_spread: Literal["required", "preferred"] = "preferred"
    """`required` refuses to stack replicas in one zone; `preferred` only tries not to."""
    allowed_namespaces: list[str] = field(default_factory=list)
    """Namespaces whose pods may reach the model, besides `monitoring_namespace`."""
    monitoring_namespace: Optional[str] = "monitoring"
    service_account_role_arn: Optional[pulumi.Input[str]] = None
    """IAM role for the pods (IRSA); mounts the service account token when set."""
    termination_grace_period_seconds: int = 30
    max_batch_size: int = 32
    batch_window_ms: int = 2
    replica_owner: Optional[str] = None
    """An outside controller owning `spec.replicas` (e.g. `keda`, scaling to zero): the Deployment starts at
    `replicas` (0 allowed), updates never reset the count, and neither an HPA nor a PodDisruptionBudget is made."""
    api_keys: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Accepted API keys by name (`primary`, `secondary`: two while one is rotated), each a Pulumi secret.
    They become the files of a Secret mounted read-only at `API_KEYS_DIR`; clients send
    `Authorization: Bearer <key>`. Empty: the server accepts every request (and a `ModelEndpoint` refuses to
    expose it unless told `allow_unauthenticated`)."""
    progressive_rollout: bool = False
    """An Argo Rollout named like the Deployment runs the pods from its template (`workloadRef`): the Deployment is
    created with no replica and leaves `spec.replicas` to the controller (which scales a live one down once the
    Rollout is healthy); the HPA, when set, scales the Rollout."""


def validate_model_service_args(args: ModelServiceArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    problems = []
    if isinstance(args.image, str) and not _DIGEST_RE.match(args.image):
        problems.append(f"image: got {args.image!r}; must be pinned by digest (repo@sha256:<64 hex>)")
    if args.gpus < 0:
        problems.append(f"gpus: got {args.gpus}; must be >= 0")
    if args.gpus > 0 and args.gpu_scheduling is None:
        problems.append("gpu_scheduling: required when gpus > 0 (GPU nodes are tainted)")
    if args.replicas < (0 if args.replica_owner else 1):
        problems.append(f"replicas: got {args.replicas}; must be >= 1 (>= 0 with a replica_owner)")
    if args.progressive_rollout and args.replica_owner:
        problems.append(f"progressive_rollout: the Rollout and {args.replica_owner!r} would both own the pods' count; "
                        "a canary needs live replicas, so drop replica_owner")
    if args.replica_owner and args.autoscaling:
        problems.append(f"autoscaling: two owners of the Deployment's replicas (the HPA and {args.replica_owner!r}); "
                        "set one of autoscaling or replica_owner")
    if args.autoscaling and args.autoscaling.min_replicas > args.autoscaling.max_replicas:
        problems.append("autoscaling.min_replicas: must be <= autoscaling.max_replicas")
    metric = args.autoscaling.pods_metric if args.autoscaling else None
    if metric and not (re.fullmatch(r"[a-z_][a-z0-9_:]*", metric.name) and _QUANTITY_RE.fullmatch(metric.target_average_value)):
        problems.append(f"autoscaling.pods_metric: got {metric!r}; a metric name and a positive quantity such as '16'")
    if args.autoscaling and args.autoscaling.scale_down_pods_per_minute is not None \
            and args.autoscaling.scale_down_pods_per_minute < 1:
        problems.append("autoscaling.scale_down_pods_per_minute: must be >= 1")
    if args.termination_grace_period_seconds <= _PRE_STOP_SLEEP_SECONDS:
        problems.append(f"termination_grace_period_seconds: must be > {_PRE_STOP_SLEEP_SECONDS} (the preStop pause)")
    problems += [f"api_keys: got name {key!r}; a lower-case DNS label such as 'primary' (it is a file name)"
                 for key in args.api_keys if not _SECRET_KEY_RE.match(key)]
    for port_field in ("container_port", "service_port"):
        if not 1 <= getattr(args, port_field) <= 65535:
            problems.append(f"{port_field}: got {getattr(args, port_field)}; must be 1..65535")
    return problems


def _require_digest(image: str) -> str:
    if not _DIGEST_RE.match(image):
        raise ValueError(f"ModelService image: got {image!r}; must be pinned by digest (repo@sha256:<64 hex>)")
    return image


class ModelService(pulumi.ComponentResource):
    """Runs a model server on Kubernetes the way production GPU services need.

    Creates a restricted namespace, a ServiceAccount, a Deployment (by digest,
    probes, graceful drain, hardened security context, GPU scheduling, zone
    spread), a Service, a NetworkPolicy, and when there is more than one
    replica a PodDisruptionBudget; optionally a HorizontalPodAutoscaler.
    """

    namespace: pulumi.Output[str]
    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    service_port: pulumi.Output[int]
    selector: pulumi.Output[dict[str, Any]]
    authenticated: bool
    """Whether the server checks API keys (`api_keys` given)."""

    def __init__(self, name: str, args: ModelServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("gpu-model-platform:index:ModelService", name, None, opts)
        problems = validate_model_service_args(args)
        if problems:
            raise ValueError(f"ModelService {name!r}: " + "; ".join(problems))
        self._args = args
        # Only the Deployment carries the version: a new model must change nothing else.
        self._labels = standard_labels(args.name, "inference")
        self._versioned_labels = standard_labels(args.name, "inference", args.model_version)
        self._selector = selector_labels(args.name)
        child = pulumi.ResourceOptions(parent=self)

        ns = self._create_namespace(name, child)
        ns_name = ns.metadata.name
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
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

        self.namespace = ns_name
        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.service_port = pulumi.Output.from_input(args.service_port)
        self.selector = pulumi.Output.from_input(self._selector)
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
        """Whether an HPA or an outside controller (`replica_owner`) sets the replica count after creation."""
        return self._args.autoscaling is not None or self._args.replica_owner is not None or self._args.progressive_rollout

    def _min_replicas(self) -> int:
        if self._args.replica_owner:
            return 0  # the owner may scale to zero: no disruption budget floor
        autoscaling = self._args.autoscaling
        return autoscaling.min_replicas if autoscaling else self._args.replicas

    def _metadata(self, ns: pulumi.Input[str], name: Optional[str] = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name or self._args.name, namespace=ns, labels=self._labels)

    def _create_namespace(self, name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self._args.namespace or self._args.name,
                labels=self._labels | restricted_namespace_labels() | POD_READINESS_GATE_LABEL,
            ),
            opts=opts,
        )

    def _create_service_account(self, name: str, ns: pulumi.Input[str],
                                opts: pulumi.ResourceOptions) -> k8s.core.v1.ServiceAccount:
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
            metadata=self._metadata(ns, f"{self._args.name}-env"),
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
            metadata=self._metadata(ns, f"{self._args.name}-api-keys"),
            type="Opaque",
            string_data={k: pulumi.Output.secret(v) for k, v in sorted(self._args.api_keys.items())},
            opts=opts,
        )
        return secret.metadata.name

    def _api_keys_mounts(self) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
        if self._api_keys_secret is None:
            return [], []
        volume = k8s.core.v1.VolumeArgs(name="api-keys", secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=self._api_keys_secret, default_mode=0o440))  # owner and fsGroup (the server) only
        return [volume], [k8s.core.v1.VolumeMountArgs(name="api-keys", mount_path=API_KEYS_DIR, read_only=True)]

    def _environment(self) -> list[k8s.core.v1.EnvVarArgs]:
        a = self._args
        drain_seconds = a.termination_grace_period_seconds - _PRE_STOP_SLEEP_SECONDS - 1
        env: dict[str, str] = {
            "PORT": str(a.container_port),
            "MODEL_NAME": a.name,
            "MAX_BATCH_SIZE": str(a.max_batch_size),
            "BATCH_WINDOW_MS": str(a.batch_window_ms),
            "DRAIN_TIMEOUT_SECONDS": str(drain_seconds),
        }
        if a.model_version:
            env["MODEL_VERSION"] = a.model_version
        if a.api_keys:
            env["API_KEYS_DIR"] = API_KEYS_DIR
        env.update(a.env)
        plain = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(env.items())]
        from_secret = [
            k8s.core.v1.EnvVarArgs(name=k, value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=self._secret_env_name, key=k)))
            for k in sorted(a.secret_env)
        ]
        return plain + from_secret

    def _resources(self) -> k8s.core.v1.ResourceRequirementsArgs:
        r, gpus = self._args.resources, self._args.gpus
        requests = {"cpu": r.cpu_request, "memory": r.memory_request}
        limits = {"cpu": r.cpu_limit, "memory": r.memory_limit}
        if gpus > 0:
            # Extended resources cannot be overcommitted: request and limit must match.
            requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(gpus)
        return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)

    def _probe(self, path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
            period_seconds=period, failure_threshold=failures, timeout_seconds=2,
        )

    def _container(self, image: pulumi.Input[str]) -> k8s.core.v1.ContainerArgs:
        a = self._args
        return k8s.core.v1.ContainerArgs(
            name=a.name,
            image=image,
            image_pull_policy="IfNotPresent",  # a digest never changes content
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=a.container_port, protocol="TCP")],
            env=self._environment(),
            resources=self._resources(),
            # Model load and warm-up can take minutes; the startup probe covers it so liveness stays strict.
            startup_probe=self._probe("/v2/health/ready", period=5, failures=60),
            readiness_probe=self._probe("/v2/health/ready", period=5, failures=3),
            liveness_probe=self._probe("/v2/health/live", period=10, failures=3),
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                    sleep=k8s.core.v1.SleepActionArgs(seconds=_PRE_STOP_SLEEP_SECONDS))),
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_non_root=True,
                run_as_user=_RUN_AS_USER,
                run_as_group=_RUN_AS_USER,
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"), *self._api_keys_mounts()[1]],
        )

    def _spread(self) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        zone_rule = "DoNotSchedule" if self._args.zone_spread == "required" else "ScheduleAnyway"
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1, topology_key=key, when_unsatisfiable=rule,
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
            )
            for key, rule in (("topology.kubernetes.io/zone", zone_rule), ("kubernetes.io/hostname", "ScheduleAnyway"))
        ]

    def _pod_spec(self, service_account: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
        a = self._args
        scheduling = a.gpu_scheduling if a.gpus > 0 else None
        return k8s.core.v1.PodSpecArgs(
            service_account_name=service_account,
            automount_service_account_token=a.service_account_role_arn is not None,
            termination_grace_period_seconds=a.termination_grace_period_seconds,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True, run_as_user=_RUN_AS_USER, run_as_group=_RUN_AS_USER, fs_group=_RUN_AS_USER,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            containers=[self._container(pulumi.Output.from_input(a.image).apply(_require_digest))],
            volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")),
                     *self._api_keys_mounts()[0]],
            node_selector=scheduling.node_selector() if scheduling else None,
            tolerations=[k8s.core.v1.TolerationArgs(key=t["key"], operator=t["operator"], value=t["value"],
                                                   effect=t["effect"])
                         for t in scheduling.tolerations()] if scheduling else None,
            topology_spread_constraints=self._spread(),
        )

    def _create_deployment(self, name: str, ns: pulumi.Input[str], service_account: pulumi.Input[str],
                           opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        a = self._args
        if self._replicas_owned_elsewhere():
            # The HPA (or replica_owner) owns the replica count once it exists; later updates must not reset it.
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self._args.name, namespace=ns, labels=self._versioned_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=0 if a.progressive_rollout else a.replicas if a.replica_owner else self._min_replicas(),
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._versioned_labels),
                    spec=self._pod_spec(service_account),
                ),
            ),
            opts=opts,
        )

    def _create_service(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._metadata(ns),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=self._selector,
                ports=[k8s.core.v1.ServicePortArgs(
                    name="http", protocol="TCP", port=self._args.service_port, target_port="http")],
            ),
            opts=opts,
        )

    def _create_network_policy(self, name: str, ns: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        a = self._args
        sources = sorted(set(a.allowed_namespaces) | ({a.monitoring_namespace} if a.monitoring_namespace else set()))
        peers = [k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(
                    key="kubernetes.io/metadata.name", operator="In", values=sources)]))] if sources else []
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=self._metadata(ns),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=peers,
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port="http", protocol="TCP")],
                )] if peers else [],
            ),
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
                metrics=[self._autoscaling_metric(scaling)],
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

    @staticmethod
    def _autoscaling_metric(scaling: HorizontalAutoscaling) -> k8s.autoscaling.v2.MetricSpecArgs:
        if scaling.pods_metric is not None:
            return k8s.autoscaling.v2.MetricSpecArgs(
                type="Pods",
                pods=k8s.autoscaling.v2.PodsMetricSourceArgs(
                    metric=k8s.autoscaling.v2.MetricIdentifierArgs(name=scaling.pods_metric.name),
                    target=k8s.autoscaling.v2.MetricTargetArgs(
                        type="AverageValue", average_value=scaling.pods_metric.target_average_value),
                ),
            )
        return k8s.autoscaling.v2.MetricSpecArgs(
            type="Resource",
            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                name="cpu",
                target=k8s.autoscaling.v2.MetricTargetArgs(
                    type="Utilization", average_utilization=scaling.target_cpu_utilization),
            ),
        )
