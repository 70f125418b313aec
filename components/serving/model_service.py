"""ModelService: the model's namespace, workload, Service and the guards around them.

The args say what the workload needs; `workload` turns them into the pod, its ports, probes,
environment and network policy (docs/workload-contract.md is the same contract in words).
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import _claims
from .._args import checked_args, children_wait_for_checks
from ..labels import restricted_namespace_labels, selector_labels, standard_labels
from . import server_contract as contract
from . import workload
from .service_args import (
    API_KEYS_DIR,
    ContainerResources,
    ExtraPort,
    HealthProbes,
    HorizontalAutoscaling,
    ImageDigest,
    ModelServiceArgs,
    PodsMetric,
    PortName,
    ReplicaOwner,
    ServedModel,
    instance_problems,
    pod_ready_seconds,
    rollout_timeout_minutes,
    validate_model_service_args,
)

__all__ = ["API_KEYS_DIR", "POD_READINESS_GATE_LABEL", "ContainerResources", "ExtraPort", "HealthProbes",
           "HorizontalAutoscaling", "ImageDigest", "ModelService", "ModelServiceArgs", "PodsMetric", "PortName",
           "ReplicaOwner", "ServedModel", "validate_model_service_args"]

# The AWS Load Balancer Controller injects readiness gates into new pods of namespaces carrying this label,
# so a rolling update waits for each new pod to be healthy in the ALB's target group (inert without it).
POD_READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}

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
    service_port_number: int
    """The same, known at declaration."""
    selector: pulumi.Output[dict[str, str]]
    """Labels that select the model's pods."""
    served: ServedModel
    """What `ModelMonitoring` needs (name, namespace, Service labels, metrics port, team), known at declaration."""
    authenticated: bool
    """Whether the server checks API keys (`api_keys` given)."""
    replica_owner: Optional[ReplicaOwner]
    """Who owns `spec.replicas` besides an HPA or a Rollout (`keda`: a `ModelScaleToZero` must take the model)."""
    progressive_rollout: bool
    """Whether an Argo Rollout runs the pods (a `ModelCanary` must take the model)."""
    autoscaling: Optional[HorizontalAutoscaling]
    """The HPA, when one scales the pods (the Deployment's, or the Rollout's)."""
    replicas: int
    """Pods when nothing else owns the count; the HPA's minimum with `autoscaling`."""
    termination_grace_period_seconds: int
    """How long a stopping pod may still answer: a load balancer in front waits as long before forgetting it."""
    readiness_path: str
    """The server's readiness path (also served on its public port)."""
    monitoring_namespace: Optional[str]
    """The namespace whose Prometheus the model's NetworkPolicy admits to `metrics`."""

    def __init__(self, name: str, args: ModelServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelService", name, args, ModelServiceArgs, extra=instance_problems(name, args))
        k8s_name = args.name or name
        namespace = args.namespace or k8s_name
        _claims.claim("ModelService", name, opts, workload.claims(args, k8s_name, namespace))
        # A field given as an Output (the image) is checked once it resolves: nothing registers before it passes.
        super().__init__("gpu-model-platform:index:ModelService", name, None, children_wait_for_checks(args, opts))
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
        self.service_port_number = args.service_port
        self.selector = pulumi.Output.from_input(self._selector)
        self.served = ServedModel(name=k8s_name, namespace=namespace, service_labels=workload.service_selector(
            k8s_name), metrics_port=contract.METRICS_SERVICE_PORT_NAME, team=args.team, runtime=args.runtime)
        self.authenticated = bool(args.api_keys)
        self.replica_owner, self.progressive_rollout = args.replica_owner, args.progressive_rollout
        self.autoscaling = args.autoscaling
        self.replicas = args.autoscaling.min_replicas if args.autoscaling else args.replicas
        self.termination_grace_period_seconds = args.termination_grace_period_seconds
        self.readiness_path = args.probes.readiness_path
        self.monitoring_namespace = args.monitoring_namespace
        self._taken_by: Optional[tuple[str, str]] = None
        self.register_outputs({
            "namespace": self.namespace,
            "deployment_name": self.deployment_name,
            "service_name": self.service_name,
            "service_port": self.service_port,
            "selector": self.selector,
            "authenticated": self.authenticated,
        })

    @property
    def taken_by(self) -> Optional[tuple[str, str]]:
        """(component, instance) of the `ModelScaleToZero` or `ModelCanary` that took the model; None if none did."""
        return self._taken_by

    def take(self, component: str, instance: str) -> Optional[str]:
        """Record that `component` drives the model's replicas; what is wrong if another one does already."""
        if self._taken_by is not None and self._taken_by != (component, instance):
            other, other_instance = self._taken_by
            return (f"ModelService {self._name!r} is already driven by {other} {other_instance!r}: one model "
                    "gets one of ModelScaleToZero or ModelCanary, once")
        self._taken_by = (component, instance)
        return None

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
        timeout = f"{rollout_timeout_minutes(a, max(replicas, 1))}m"
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
                progress_deadline_seconds=pod_ready_seconds(a),
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
