"""What `ModelService` builds from its args: the pod, its ports, probes and environment, the Service ports,
the NetworkPolicy, the rollout timing, and the rules the args must follow. Pure functions of the args.

docs/workload-contract.md says the same in words; `server_contract` holds the names.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from .. import _claims
from .._args import Problem, got
from . import server_contract as contract

if TYPE_CHECKING:
    from .model_service import HorizontalAutoscaling, ModelServiceArgs

API_KEYS_DIR = "/etc/model-server/api-keys"
"""Where the API keys Secret is mounted (the server's `API_KEYS_DIR`): one file per key."""

EXIT_MARGIN_SECONDS = 1
"""After its drain deadline the server still closes sockets and flushes logs before SIGKILL."""
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")
# CoreDNS pods carry k8s-app=kube-dns in kube-system: kubernetes/kubernetes cluster/addons/dns/coredns/
# coredns.yaml.base, which the EKS `coredns` add-on's manifest keeps (plus eks.amazonaws.com/component).
_DNS_NAMESPACE, _DNS_POD_LABELS = "kube-system", {"k8s-app": "kube-dns"}
# The node's instance metadata service: pods must not borrow the node role's credentials.
_IMDS = "169.254.169.254/32"
_TMP_VOLUME = "tmp"
_API_KEYS_VOLUME = "api-keys"
_RESERVED_VOLUMES = (_TMP_VOLUME, _API_KEYS_VOLUME)


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
            *_other_rules(a)]


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
        problems.append(("volumes", got(name, f"volume names must be unique and not {_TMP_VOLUME!r} (the server's "
                                              f"scratch emptyDir) or {_API_KEYS_VOLUME!r} (its API keys)")))
    known = set(names) | {_TMP_VOLUME} | ({_API_KEYS_VOLUME} if a.api_keys else set())
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


def _other_rules(a: ModelServiceArgs) -> list[Problem]:
    problems: list[Problem] = []
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


# ------------------------------------------------------------------------------ the pod

def _environment(a: ModelServiceArgs, name: str, secret_name: pulumi.Input[str] | None) -> list[k8s.core.v1.EnvVarArgs]:
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
    if a.api_keys:
        env[contract.ENV_API_KEYS_DIR] = API_KEYS_DIR
    env.update(a.env)
    plain = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(env.items())]
    from_secret = [
        k8s.core.v1.EnvVarArgs(name=k, value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=k)))
        for k in sorted(a.secret_env)
    ]
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
    if secret is None:
        return [], []
    volume = k8s.core.v1.VolumeArgs(name=_API_KEYS_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
        secret_name=secret, default_mode=0o440))  # owner and fsGroup (the server) only
    return [volume], [k8s.core.v1.VolumeMountArgs(name=_API_KEYS_VOLUME, mount_path=API_KEYS_DIR, read_only=True)]


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
        env=_environment(a, name, secret_name),
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
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name=_TMP_VOLUME, mount_path=path)
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
        volumes=[k8s.core.v1.VolumeArgs(name=_TMP_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
            size_limit="1Gi"))] + _api_keys_volume(a, api_keys)[0] + list(a.volumes),
        node_selector=scheduling.node_selector() if scheduling else None,
        tolerations=[k8s.core.v1.TolerationArgs(key=t["key"], operator=t["operator"], value=t["value"], effect=t["effect"])
                     for t in scheduling.tolerations()] if scheduling else None,
        topology_spread_constraints=_spread(a, selector),
    )


# ------------------------------------------------------------------------------ Service and NetworkPolicy

def service_port_numbers(a: ModelServiceArgs) -> list[tuple[str, int]]:
    """(Service port name, number): `http`, `grpc`, `metrics` (to `admin`, or `http` without one), exposed extras."""
    ports = [(contract.HTTP_PORT_NAME, a.service_port)]
    if a.grpc_port is not None:
        ports.append((contract.GRPC_PORT_NAME, a.grpc_port))
    ports.append((contract.METRICS_SERVICE_PORT_NAME, a.admin_port if a.admin_port is not None else a.container_port))
    return ports + [(p.name, p.service_port) for p in a.extra_ports if p.service_port is not None]


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

