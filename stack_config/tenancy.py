"""Teams as tenants, from the stack config: what each model may need at most, whether its team's quota holds it,
and the `Tenancy` component's args.

A model's most is what its namespace holds at the worst moment of a release: every replica it may scale to, plus
the pods a release adds on top (one surge pod of a rolling update; a canary's share of the replicas at its
heaviest step), plus the cold-start answer of a model that scales to zero. Quotas cap requests and limits at one
figure, so limits are what must fit.

Takes the config by duck typing (`stack_config.catalogue` imports it for `stack_config.schema`'s validator).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from typing import Any, Optional

from components._args import quantity_value
from components.capacity.gpu_sharing import SHARED_RESOURCE, mig_resource
from components.tenancy.tenancy import ContainerDefaults, TenancyArgs, Tenant, priority_class_name

# The cold-start answer ModelScaleToZero runs beside a model that scales to zero: its container's limits
# (components/serving/scale_to_zero.py, `_create_cold_start_answer`).
COLD_START_LIMITS = {"cpu": "100m", "memory": "64Mi"}


@dataclass(frozen=True)
class Need:
    """What a model's namespace holds at most: whole GPUs, time-sliced shares, CPU and memory (limits), MIG slices."""

    gpus: int
    shared_gpus: int
    cpu: decimal.Decimal
    memory: decimal.Decimal
    mig_slices: int = 0

    def __add__(self, other: Need) -> Need:
        return Need(self.gpus + other.gpus, self.shared_gpus + other.shared_gpus, self.cpu + other.cpu,
                    self.memory + other.memory, self.mig_slices + other.mig_slices)


NOTHING = Need(0, 0, decimal.Decimal(0), decimal.Decimal(0))


def most_pods(model: Any) -> int:
    """Replicas at their most, plus the pods a release runs beside them."""
    asleep, hpa = model.scale_to_zero, model.autoscaling
    replicas = asleep.max_replicas if asleep.enabled else (hpa.max_replicas if hpa.enabled else model.replicas)
    if model.rollout.strategy == "canary":
        heaviest = max((step.weight for step in model.rollout.steps), default=0)
        return replicas + max(1, math.ceil(replicas * heaviest / 100))
    return replicas + 1  # maxSurge 1, maxUnavailable 0 (ModelService's rolling update)


def need_of(model: Any) -> Need:
    """The most a model's pods (and its cold-start answer) request and are limited to."""
    pods, limits = most_pods(model), model.resources.limits
    shared, mig = shares_gpu(model), mig_profile(model) is not None
    need = Need(gpus=0 if shared or mig else pods * model.gpus_per_pod, shared_gpus=pods if shared else 0,
                cpu=pods * _value(limits.cpu), memory=pods * _value(limits.memory), mig_slices=pods if mig else 0)
    if model.scale_to_zero.enabled:
        need = need + Need(0, 0, _value(COLD_START_LIMITS["cpu"]), _value(COLD_START_LIMITS["memory"]))
    return need


def shares_gpu(model: Any) -> bool:
    """Whether the model runs on a time-sliced GPU (its pods request the shared pool's resource)."""
    return model.gpu_sharing is not None and model.gpu_sharing.mode == "timeSlicing"


def mig_profile(model: Any) -> Optional[str]:
    """The MIG slice a model runs on, None when it takes whole GPUs or time-sliced shares."""
    sharing = model.gpu_sharing
    return sharing.mig_profile if sharing is not None and sharing.mode == "mig" else None


def _value(quantity: str) -> decimal.Decimal:
    value = quantity_value(quantity)
    assert value is not None, f"the schema admits quantities only: {quantity!r}"
    return value


def priority_of(config: Any, model: Any) -> Optional[str]:
    """The PriorityClass name of a model's pods: its own priority, else its team's; None without tenancy."""
    if config.tenancy is None:
        return None
    team = config.tenancy.team(model.team)
    return priority_class_name(model.priority or (team.priority if team else "production"))


def tenancy_problems(config: Any) -> list[str]:
    """Every model has a team of `tenancy.teams`, and every team's quota holds its models at their most."""
    tenancy = config.tenancy
    if tenancy is None:
        return []
    problems = []
    names = [team.name for team in tenancy.teams]
    if len(set(names)) != len(names):
        problems.append(f"tenancy.teams: got {names}; list each team once")
    used: dict[str, Need] = {}
    for index, view in enumerate(config.catalogue()):
        key, model = f"models[{index}]" if config.models else "model", view.model
        team = tenancy.team(model.team)
        if team is None:
            problems.append(f"{key}.team: got {model.team!r}; with tenancy every model names one of tenancy.teams "
                            f"({', '.join(names)})")
            continue
        if tenancy.namespaces == "perTeam" and model.namespace != (team.namespace or team.name):
            problems.append(f"{key}.namespace: got {model.namespace!r}; with tenancy.namespaces perTeam a model "
                            f"lives in its team's namespace ({team.namespace or team.name!r}): unset it")
        before = used.get(team.name, NOTHING)
        used[team.name] = before + need_of(model)
        problems += _overflow(key, model, team, before, used[team.name])
    problems += _access_problems(config)
    return problems


def _overflow(key: str, model: Any, team: Any, before: Need, after: Need) -> list[str]:
    quota = {"gpus": (team.gpus, "requests.nvidia.com/gpu"), "shared_gpus": (team.shared_gpus, "shared GPU replicas"),
             "cpu": (_value(team.cpu), "cpu"), "memory": (_value(team.memory), "memory"),
             "mig_slices": (team.mig_slices, "MIG slices")}
    problems = []
    for field, (hard, what) in quota.items():
        if getattr(after, field) > hard:
            others = f" (its team's models before it take {_shown(field, getattr(before, field))})" \
                if getattr(before, field) else ""
            problems.append(
                f"{key}.team: got {model.team!r}; the team's quota of {_shown(field, hard)} {what} "
                f"(tenancy.teams[{team.name}].{_alias(field)}) cannot hold {model.name} at its most: "
                f"{_shown(field, getattr(after, field) - getattr(before, field))}{others}; raise the quota or "
                "lower the model's replicas")
    return problems


def _alias(field: str) -> str:
    return {"shared_gpus": "sharedGpus", "mig_slices": "migSlices"}.get(field, field)


def _shown(field: str, value: Any) -> str:
    if field == "memory":
        return f"{decimal.Decimal(value) / 2**30:.2f}Gi".replace(".00Gi", "Gi")
    return f"{value}" if field != "cpu" else f"{decimal.Decimal(value).normalize():f}"


def _access_problems(config: Any) -> list[str]:
    problems = []
    cluster = config.cluster
    taken = set(cluster.admin_role_arns) | set(cluster.viewer_role_arns) | set(cluster.preview_role_arns)
    for team in config.tenancy.teams:
        if team.read_role_arns and cluster.mode == "local":
            problems.append(f"tenancy.teams[{team.name}].readRoleArns: got {team.read_role_arns}; EKS access entries "
                            "need an EKS cluster (cluster.mode create or existing)")
        twice = sorted(set(team.read_role_arns) & taken)
        if twice:
            problems.append(f"tenancy.teams[{team.name}].readRoleArns: got {twice}; already given cluster access "
                            "(cluster.adminRoleArns, viewerRoleArns or previewRoleArns): a role has one access entry")
    return problems


def tenancy_args(config: Any, cluster: Any) -> TenancyArgs:
    """One tenant per namespace: a team's (its quota), or a model's (its own most, within its team's)."""
    tenancy = config.tenancy
    assert tenancy is not None
    tenants: dict[str, Tenant] = {}
    for view in config.catalogue():
        model, team = view.model, tenancy.team(view.model.team)
        namespace = model.namespace or model.name
        if tenancy.namespaces == "perTeam":
            quota = Need(team.gpus, team.shared_gpus, _value(team.cpu), _value(team.memory), team.mig_slices)
            profiles = {mig_profile(v.model) for v in config.catalogue() if v.model.team == team.name}
            sizes = (team.cpu, team.memory)
        else:
            quota, profiles = need_of(model), {mig_profile(model)}
            sizes = (_quantity(quota.cpu), f"{math.ceil(quota.memory / 2**20)}Mi")
        previous = tenants.get(namespace)
        tenant = _tenant(team, namespace, quota, sizes, profiles - {None})
        if previous is not None:
            tenant.extended = previous.extended | tenant.extended
        tenants[namespace] = tenant
    defaults = tenancy.container_defaults
    return TenancyArgs(
        tenants=list(tenants.values()),
        cluster_name=cluster.cluster_name if config.cluster.mode != "local" else None,
        container_defaults=ContainerDefaults(cpu_request=defaults.requests.cpu, memory_request=defaults.requests.memory,
                                             cpu_limit=defaults.limits.cpu, memory_limit=defaults.limits.memory))


def _tenant(team: Any, namespace: str, quota: Need, sizes: tuple[str, str], mig_profiles: set[Any]) -> Tenant:
    """A namespace's quota: every MIG profile its models use is capped at the team's MIG slices (each)."""
    extended = {SHARED_RESOURCE: quota.shared_gpus} if quota.shared_gpus else {}
    extended |= {mig_resource(profile): quota.mig_slices for profile in sorted(mig_profiles)}
    return Tenant(team=team.name, namespace=namespace, gpus=quota.gpus, cpu=sizes[0], memory=sizes[1], extended=extended,
                  read_role_arns=list(team.read_role_arns))


def _quantity(cpu: decimal.Decimal) -> str:
    return f"{math.ceil(cpu * 1000)}m"
