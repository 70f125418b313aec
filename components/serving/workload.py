"""What `ModelService` builds from its args: the pod, its ports, probes and environment, the Service ports and
the NetworkPolicy. Pure functions of the args (`service_args` holds them, their rules and the rollout timing).

docs/workload-contract.md says the same in words; `server_contract` holds the names.
"""

from __future__ import annotations

import math

import pulumi
import pulumi_kubernetes as k8s

from .. import _claims
from . import server_contract as contract
from .service_args import (
    API_KEYS_DIR,
    API_KEYS_VOLUME,
    TMP_VOLUME,
    HorizontalAutoscaling,
    ModelServiceArgs,
    container_ports,
    drain_seconds,
    probe_port,
    service_port_numbers,
)

# CoreDNS pods carry k8s-app=kube-dns in kube-system: kubernetes/kubernetes cluster/addons/dns/coredns/
# coredns.yaml.base, which the EKS `coredns` add-on's manifest keeps (plus eks.amazonaws.com/component).
_DNS_NAMESPACE, _DNS_POD_LABELS = "kube-system", {"k8s-app": "kube-dns"}
# The node's instance metadata service: pods must not borrow the node role's credentials.
_IMDS = "169.254.169.254/32"


# ------------------------------------------------------------------------------ names

def service_selector(name: str) -> dict[str, str]:
    """Labels that select the model's Service (what the ServiceMonitor matches)."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "inference"}


def secret_env_name(name: str) -> str:
    return f"{name}-env"


def api_keys_secret_name(name: str) -> str:
    return f"{name}-api-keys"


def claims(args: ModelServiceArgs, name: str, namespace: str) -> list[_claims.Claim | None]:
    """The objects created under fixed names (the namespace, and the workload's objects in it)."""
    found: list[_claims.Claim | None] = []
    if args.create_namespace:
        found.append(_claims.kubernetes("Namespace", namespace, field="namespace"))
    kinds = ["apps/Deployment", "Service", "ServiceAccount", "networking.k8s.io/NetworkPolicy"]
    found += [_claims.kubernetes(kind, name, namespace, field="name") for kind in kinds]
    if args.secret_env:
        found.append(_claims.kubernetes("Secret", secret_env_name(name), namespace, field="name"))
    if args.api_keys:
        found.append(_claims.kubernetes("Secret", api_keys_secret_name(name), namespace, field="name"))
    return found


# ------------------------------------------------------------------------------ rules

# ------------------------------------------------------------------------------ the pod

def _key_from_env(a: ModelServiceArgs) -> bool:
    """The server reads its one API key from a variable (`ServingRuntime.api_key_env`), not from files."""
    return bool(a.api_keys) and a.runtime.api_keys == "env"


def _environment(a: ModelServiceArgs, name: str, secret_name: pulumi.Input[str] | None,
                 api_keys: pulumi.Input[str] | None) -> list[k8s.core.v1.EnvVarArgs]:
    env: dict[str, str] = {
        contract.ENV_PORT: str(a.container_port),
        contract.ENV_GRPC_PORT: str(a.grpc_port) if a.grpc_port is not None else "0",
        contract.ENV_MODEL_NAME: name,
        contract.ENV_MAX_BATCH_SIZE: str(a.max_batch_size),
        contract.ENV_BATCH_WINDOW_MS: str(a.batch_window_ms),
        contract.ENV_DRAIN_TIMEOUT_SECONDS: f"{drain_seconds(a):g}",
        contract.ENV_ORT_DISABLE_TELEMETRY: "1",
    }
    if a.admin_port is not None:
        env[contract.ENV_ADMIN_PORT] = str(a.admin_port)
    if a.model_version:
        env[contract.ENV_MODEL_VERSION] = a.model_version
    if a.api_keys and not _key_from_env(a):
        env[contract.ENV_API_KEYS_DIR] = API_KEYS_DIR
    env.update(a.env)
    plain = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(env.items())]
    from_secret = [
        k8s.core.v1.EnvVarArgs(name=k, value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=k)))
        for k in sorted(a.secret_env)
    ]
    if _key_from_env(a) and a.runtime.api_key_env is not None:
        # The key stays in the Secret: the pod spec names it, the kubelet reads it (never plain text in the spec).
        from_secret.append(k8s.core.v1.EnvVarArgs(name=a.runtime.api_key_env, value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=api_keys, key=next(iter(a.api_keys))))))
    return plain + from_secret


def _resources(a: ModelServiceArgs) -> k8s.core.v1.ResourceRequirementsArgs:
    r = a.resources
    requests = {"cpu": r.cpu_request, "memory": r.memory_request}
    limits = {"cpu": r.cpu_limit, "memory": r.memory_limit}
    if a.gpus > 0:
        # Extended resources cannot be overcommitted: request and limit must match.
        requests[a.gpu_resource] = limits[a.gpu_resource] = str(a.gpus)
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)


def _probe(path: str, port: str, period: int, failures: int, timeout: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
                                 period_seconds=period, failure_threshold=failures, timeout_seconds=timeout)


def _api_keys_volume(a: ModelServiceArgs, secret: pulumi.Input[str] | None) -> tuple[
        list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    if secret is None or _key_from_env(a):
        return [], []
    volume = k8s.core.v1.VolumeArgs(name=API_KEYS_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
        secret_name=secret, default_mode=0o440))  # owner and fsGroup (the server) only
    return [volume], [k8s.core.v1.VolumeMountArgs(name=API_KEYS_VOLUME, mount_path=API_KEYS_DIR, read_only=True)]


def _container(a: ModelServiceArgs, name: str, secret_name: pulumi.Input[str] | None,
               api_keys: pulumi.Input[str] | None) -> k8s.core.v1.ContainerArgs:
    p, port = a.probes, probe_port(a)
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=a.image,
        image_pull_policy="IfNotPresent",  # a digest never changes content
        command=a.command,
        args=a.container_args,
        ports=[k8s.core.v1.ContainerPortArgs(name=n, container_port=number, protocol=protocol)
               for n, number, protocol in container_ports(a)],
        env=_environment(a, name, secret_name, api_keys),
        resources=_resources(a),
        # Model load and warm-up can take minutes; the startup probe covers it so liveness stays strict.
        startup_probe=_probe(p.readiness_path, port, p.period_seconds, math.ceil(p.startup_seconds / p.period_seconds),
                             p.timeout_seconds),
        readiness_probe=_probe(p.readiness_path, port, p.period_seconds, p.failure_threshold, p.timeout_seconds),
        liveness_probe=_probe(p.liveness_path, port, p.liveness_period_seconds, p.failure_threshold, p.timeout_seconds),
        lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
            sleep=k8s.core.v1.SleepActionArgs(seconds=a.pre_stop_seconds))) if a.pre_stop_seconds else None,
        security_context=k8s.core.v1.SecurityContextArgs(
            run_as_non_root=True,
            run_as_user=a.run_as_user,
            run_as_group=a.run_as_group,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=path)
                       for path in contract.WRITABLE_PATHS] + _api_keys_volume(a, api_keys)[1] + list(a.volume_mounts),
    )


def _spread(a: ModelServiceArgs, selector: dict[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    zone_rule = "DoNotSchedule" if a.zone_spread == "required" else "ScheduleAnyway"
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1, topology_key=key, when_unsatisfiable=rule,
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        )
        for key, rule in (("topology.kubernetes.io/zone", zone_rule), ("kubernetes.io/hostname", "ScheduleAnyway"))
    ]


def pod_spec(a: ModelServiceArgs, name: str, selector: dict[str, str], service_account: pulumi.Input[str],
             secret_name: pulumi.Input[str] | None, api_keys: pulumi.Input[str] | None) -> k8s.core.v1.PodSpecArgs:
    scheduling = a.gpu_scheduling if a.gpus > 0 else None
    return k8s.core.v1.PodSpecArgs(
        service_account_name=service_account,
        priority_class_name=a.priority_class_name,
        automount_service_account_token=a.service_account_role_arn is not None,
        termination_grace_period_seconds=a.termination_grace_period_seconds,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=a.run_as_user, run_as_group=a.run_as_group, fs_group=a.run_as_group,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=s) for s in a.image_pull_secrets] or None,
        containers=[_container(a, name, secret_name, api_keys)],
        volumes=[k8s.core.v1.VolumeArgs(name=TMP_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
            size_limit="1Gi"))] + _api_keys_volume(a, api_keys)[0] + list(a.volumes),
        node_selector=scheduling.node_selector() if scheduling else None,
        tolerations=[k8s.core.v1.TolerationArgs(key=t["key"], operator=t["operator"], value=t["value"], effect=t["effect"])
                     for t in scheduling.tolerations()] if scheduling else None,
        topology_spread_constraints=_spread(a, selector),
    )


# ------------------------------------------------------------------------------ Service and NetworkPolicy

def service_ports(a: ModelServiceArgs) -> list[k8s.core.v1.ServicePortArgs]:
    targets = {contract.METRICS_SERVICE_PORT_NAME: _metrics_target(a)}
    protocols = {p.name: p.protocol for p in a.extra_ports}
    return [k8s.core.v1.ServicePortArgs(name=name, protocol=protocols.get(name, "TCP"), port=number,
                                        target_port=targets.get(name, name))
            for name, number in service_port_numbers(a)]


def _metrics_target(a: ModelServiceArgs) -> str:
    return contract.ADMIN_PORT_NAME if a.admin_port is not None else contract.HTTP_PORT_NAME


def _from_namespaces(names: list[str]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs(
        match_expressions=[k8s.meta.v1.LabelSelectorRequirementArgs(
            key="kubernetes.io/metadata.name", operator="In", values=names)]))]


def _ports(names: list[tuple[str | int, str]]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=name, protocol=protocol) for name, protocol in names]


def network_policy_spec(a: ModelServiceArgs, selector: dict[str, str]) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Callers reach the public ports, Prometheus only `metrics`; egress only what the server needs.

    The kubelet's probes need no rule: traffic from the pod's own node is always allowed (Kubernetes docs,
    "Network Policies": IP blocks exception).
    """
    public: list[tuple[str | int, str]] = [(contract.HTTP_PORT_NAME, "TCP")]
    public += [(contract.GRPC_PORT_NAME, "TCP")] if a.grpc_port is not None else []
    public += [(p.name, p.protocol) for p in a.extra_ports if p.service_port is not None]
    ingress = []
    if a.allowed_namespaces:
        ingress.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=_from_namespaces(sorted(set(a.allowed_namespaces))), ports=_ports(public)))
    if a.monitoring_namespace:
        ingress.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=_from_namespaces([a.monitoring_namespace]), ports=_ports([(_metrics_target(a), "TCP")])))
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        policy_types=["Ingress", "Egress"],
        ingress=ingress,
        egress=_egress(a),
    )


def _egress(a: ModelServiceArgs) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """The server loads its model from the image and calls nothing: no egress at all, by default.

    With an IRSA role the pod exchanges its token with STS and calls the AWS APIs the role is for: it
    needs DNS (CoreDNS), and HTTPS to AWS endpoints, which have no fixed addresses (a NetworkPolicy
    cannot match names), so to any address but the node's metadata service.
    """
    rules: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] = []
    if a.service_account_role_arn is not None:
        rules.append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": _DNS_NAMESPACE}),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(_DNS_POD_LABELS)))],
            ports=_ports([(53, "UDP"), (53, "TCP")])))
        rules.append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(
                cidr="0.0.0.0/0", except_=[_IMDS]))],
            ports=_ports([(443, "TCP")])))
    return rules + list(a.egress_rules)


def autoscaling_metric(scaling: HorizontalAutoscaling) -> k8s.autoscaling.v2.MetricSpecArgs:
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

