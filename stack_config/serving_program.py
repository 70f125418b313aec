"""The serving half of the program, per catalogue entry: registry, image, service, release, endpoint, monitors.

`__main__.py` builds the cluster-wide components, then hands each model of the catalogue to
`ModelCatalogue.deploy`. Components every model shares -- the KEDA HTTP add-on, Argo Rollouts, the
AWS Load Balancer Controller -- are created once, when the first model needs them, so a stack with
`model:` registers exactly what it registered before the catalogue, in the same order and under the
same names (`model`, `model-endpoint`, ...). A `models:` entry's components carry its name
(`model-<name>`, `model-<name>-endpoint`, `registry-<name>`), so two entries never collide.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from components import (
    ArgoRollouts,
    KedaHttpAddOn,
    LoadBalancerController,
    ModelCanary,
    ModelEndpoint,
    ModelImage,
    ModelMonitoring,
    ModelRegistry,
    ModelScaleToZero,
    ModelService,
)
from stack_config import component_args as build
from stack_config.endpoint_groups import endpoint_changes
from stack_config.gpu_sharing_args import model_gpu
from stack_config.schema import StackConfig
from stack_config.tenancy import priority_of


@dataclass(frozen=True)
class ModelNames:
    """Logical names of one model's components."""

    prefix: str
    registry: str

    @classmethod
    def of(cls, view: StackConfig, catalogue: bool) -> ModelNames:
        """`model` and `registry` for the stack's one `model:`; `model-<name>` and `registry-<name>` in `models:`."""
        name = view.model.name
        return cls(prefix=f"model-{name}", registry=f"registry-{name}") if catalogue else \
            cls(prefix="model", registry="registry")

    @property
    def scale_to_zero(self) -> str:
        """Also the name of the model's InterceptorRoute and ScaledObject (its alerts refer to it)."""
        return build.MODEL_SCALE_TO_ZERO if self.prefix == "model" else f"{self.prefix}-scale-to-zero"

    def role(self, role: str) -> str:
        return f"{self.prefix}-{role}"


@dataclass
class DeployedModel:
    """What one catalogue entry got."""

    config: StackConfig
    registry: ModelRegistry
    image: Optional[ModelImage]
    service: ModelService
    scale_to_zero: Optional[ModelScaleToZero]
    endpoint: Optional[ModelEndpoint]


@dataclass
class ModelCatalogue:
    """Deploys catalogue entries onto the stack's cluster, creating the shared serving components on first need."""

    config: StackConfig
    cluster: Any
    network: Any
    gpu_nodes: Any
    monitoring: Any
    aws: Optional[pulumi.ResourceOptions]
    tenancy: Any = None
    shared_gpus: Any = None
    traces: Any = None
    logs: Any = None
    """The stack's `LogCollection`: with it, every model alert links to its dashboard panel and its logs."""
    deployed: list[DeployedModel] = field(default_factory=list)
    _shared: dict[str, Any] = field(default_factory=dict)

    @property
    def kubernetes(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers={"kubernetes": self.cluster.provider})

    @property
    def aws_and_kubernetes(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(self.aws, self.kubernetes)

    def _once(self, key: str, create: Any) -> Any:
        if key not in self._shared:
            self._shared[key] = create()
        return self._shared[key]

    def deploy(self, view: StackConfig) -> DeployedModel:
        """One model: its registry and image, service, scale-to-zero or canary, endpoint and monitoring."""
        names = ModelNames.of(view, catalogue=bool(self.config.models))
        registry = ModelRegistry(names.registry, build.registry_args(view), self.aws)
        # With model.image (CI's tested digest, or a rollback's), nothing is built: that image is deployed.
        image = ModelImage(names.role("image"), build.model_image_args(view, registry), self.aws) \
            if build.builds_image(view) else None
        service = ModelService(names.prefix, self._service_args(view, image), self.kubernetes)
        scale_to_zero, canary = self._release(view, names, service)
        endpoint = self._endpoint(view, names, service, scale_to_zero, canary)
        if self.monitoring:
            ModelMonitoring(names.role("monitoring"), self._monitoring_args(view, service, scale_to_zero, canary),
                            self.kubernetes)
        deployed = DeployedModel(view, registry, image, service, scale_to_zero, endpoint)
        self.deployed.append(deployed)
        return deployed

    def _service_args(self, view: StackConfig, image: Optional[ModelImage]) -> Any:
        args = dataclasses.replace(build.model_service_args(view, image, self.gpu_nodes, self.traces),
                                   **model_gpu(view, self.gpu_nodes, self.shared_gpus))
        if self.tenancy is None:
            return args
        # The tenant's namespace, quota and PriorityClasses come first; the model runs at its priority.
        return dataclasses.replace(args, create_namespace=False, after=[self.tenancy],
                                   priority_class_name=priority_of(self.config, view.model))

    def _release(self, view: StackConfig, names: ModelNames, service: ModelService) -> tuple[Any, Any]:
        if build.scales_to_zero(view):
            # KEDA owns the model's replicas (0..max); its requests enter through the add-on's interceptor.
            keda = self._once("keda", lambda: KedaHttpAddOn(
                "keda", build.keda_http_add_on_args(view, self.monitoring, self.network), self.kubernetes))
            return ModelScaleToZero(names.scale_to_zero, build.model_scale_to_zero_args(view, service, keda),
                                    self.kubernetes), None
        if build.releases_as_canary(view):  # the config refuses a canary on a model that scales to zero
            # New versions go out as a canary: Argo Rollouts runs the Deployment's pods in steps judged by the SLO
            # signals, splitting requests at the endpoint's load balancer (trafficRouting alb) or by replicas.
            rollouts = self._once("rollouts", lambda: ArgoRollouts(
                "argo-rollouts", build.argo_rollouts_args(view, self.monitoring, self.cluster),
                build.after(self.aws_and_kubernetes, self.monitoring)))
            canary_name = build.MODEL_CANARY if names.prefix == "model" else names.role("canary")
            return None, ModelCanary(canary_name, build.model_canary_args(view, service, rollouts, self.monitoring),
                                     self.kubernetes)
        return None, None

    def _endpoint(self, view: StackConfig, names: ModelNames, service: ModelService, scale_to_zero: Any,
                  canary: Any) -> Optional[ModelEndpoint]:
        # The HTTPS endpoint: an ALB (AWS Load Balancer Controller), certificate and DNS name; via the interceptor
        # if asleep. The controller is the stack's: the first model with an endpoint installs it.
        lb_controller = self._once("lb", lambda: LoadBalancerController(
            "load-balancer-controller", build.load_balancer_controller_args(view, self.cluster, self.network),
            self.aws_and_kubernetes)) if build.uses_load_balancer_controller(view) else self._shared.get("lb")
        if view.model.endpoint is None:
            return None
        first_of_host = self._shared.get(f"host:{view.model.endpoint.host}")
        args = dataclasses.replace(build.model_endpoint_args(view, scale_to_zero or canary or service, self.network),
                                   **endpoint_changes(self.config, view, first_of_host))
        endpoint = ModelEndpoint(names.role("endpoint"), args, build.after(self.aws_and_kubernetes, lb_controller))
        self._shared.setdefault(f"host:{view.model.endpoint.host}", endpoint)
        return endpoint

    def _monitoring_args(self, view: StackConfig, service: ModelService, scale_to_zero: Any, canary: Any) -> Any:
        args = dataclasses.replace(build.model_monitoring_args(view, self.monitoring, service, scale_to_zero, canary),
                                   alert_links=build.alert_links(view, self.logs))
        slo = view.model.slo
        if slo is not None:
            args = dataclasses.replace(args, availability=slo.availability, latency_p99_seconds=slo.latency_p99_seconds)
        return args

    def export(self) -> None:
        """The stack's model outputs: the first names for `model:`, a map by model name for `models:`."""
        if not self.config.models:
            only = self.deployed[0]
            if only.scale_to_zero is not None:
                proxy = only.scale_to_zero
                pulumi.export("modelProxy", {"namespace": proxy.proxy_namespace, "service": proxy.proxy_service_name,
                                             "port": proxy.proxy_port, "hosts": proxy.hosts})
            pulumi.export("repositoryUrl", only.registry.repository_url)
            pulumi.export("image", only.image.image_ref if only.image else only.config.model.image)
            pulumi.export("modelNamespace", only.service.namespace)
            pulumi.export("modelService", only.service.service_name)
            pulumi.export("modelEndpoint", only.endpoint.url if only.endpoint else None)
            return
        pulumi.export("models", {d.config.model.name: {
            "team": d.config.model.team, "namespace": d.service.namespace, "service": d.service.service_name,
            "repositoryUrl": d.registry.repository_url,
            "image": d.image.image_ref if d.image else d.config.model.image,
            "endpoint": d.endpoint.url if d.endpoint else None} for d in self.deployed})
