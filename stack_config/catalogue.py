"""The model catalogue: `models:` (or the single `model:`) as one stack view per model, and the rules between entries.

A view is the stack's config with `model` set to one entry, so every per-model mapping in
`stack_config.component_args` serves a catalogue entry unchanged. The rules here span entries: two
models never share a name, a namespace across teams, a platform namespace or an endpoint route, and
every team an alert receiver routes on owns a model. Each problem names both entries.

This module takes the config by duck typing (`stack_config.schema` imports it; it never imports back).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stack_config.endpoint_groups import group_problems
from stack_config.gpu_sharing import sharing_problems
from stack_config.tenancy import tenancy_problems

# Namespaces the platform's own charts live in (per stack config); a model there would share their quotas,
# NetworkPolicies and Pod Security level.
_SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def catalogue_views(config: Any) -> list[Any]:
    """`[config]` for a stack with `model:`; one view per `models:` entry (the entry as `model`, `models` empty).
    With `tenancy.namespaces: perTeam`, an entry without a namespace goes to its team's."""
    entries = config.models or ([config.model] if config.model is not None else [])
    placed = [_placed(config, entry) for entry in entries]
    if not config.models and placed and placed[0] is config.model:
        return [config]
    return [config.model_copy(update={"model": entry, "models": []}) for entry in placed]


def _placed(config: Any, entry: Any) -> Any:
    tenancy = config.tenancy
    if tenancy is None or tenancy.namespaces != "perTeam" or entry.namespace is not None:
        return entry
    team = tenancy.team(entry.team)
    return entry.model_copy(update={"namespace": (team.namespace or team.name) if team else entry.name})


def entry_key(config: Any, index: int) -> str:
    """How problems name an entry: `model` for the single form, `models[i]` for the catalogue."""
    return f"models[{index}]" if config.models else "model"


def _renamed(problem: str, key: str) -> str:
    """A view's problem about `model.<field>` as the catalogue entry's key (`models[2].<field>`)."""
    return key + problem[len("model"):] if problem.startswith("model.") or problem.startswith("model:") else problem


def catalogue_problems(config: Any) -> list[str]:
    """Every problem of the catalogue: its form, each entry against the stack, and entries against each other."""
    if config.model is not None and config.models:
        return ["model/models: both given; a stack declares its models once: keep `model` for a stack with one model, "
                "or move it into `models` as the first entry (docs/catalogue.md, \"Migrating\")"]
    if config.model is None and not config.models:
        return ["model/models: required: the stack's model (`model`) or its catalogue (`models`, a list)"]
    problems = []
    for index, view in enumerate(catalogue_views(config)):
        problems += [_renamed(p, entry_key(config, index)) for p in view.model_problems()]
    problems += _collisions(config)
    problems += tenancy_problems(config)
    problems += sharing_problems(config)
    problems += group_problems(config)
    problems += _receiver_teams(config)
    if len(config.models) > 1 and config.registry.name:
        problems.append(f"registry.name: got {config.registry.name!r}; a catalogue of several models gives each "
                        "its own repository (`<model name>-<stack>`): unset it")
    return problems


def _pairs(config: Any) -> Iterator[tuple[int, Any, int, Any]]:
    views = catalogue_views(config)
    for i, first in enumerate(views):
        for j in range(i + 1, len(views)):
            yield i, first.model, j, views[j].model


def _collisions(config: Any) -> list[str]:
    problems = []
    for i, first, j, second in _pairs(config):
        both = f"models[{i}] ({first.name}) and models[{j}] ({second.name})"
        if first.name == second.name:
            problems.append(f"models[{j}].name: got {second.name!r}; {both} share a name: every object of a model is "
                            "named after it, so names must be unique")
        elif namespace_of(first) == namespace_of(second) and first.team != second.team:
            problems.append(f"models[{j}].namespace: got {namespace_of(second)!r}; {both} share a namespace but not a "
                            f"team ({first.team!r}, {second.team!r}): a namespace is one tenant's")
        elif namespace_of(first) == namespace_of(second) and config.tenancy is None:
            problems.append(f"models[{j}].namespace: got {namespace_of(second)!r}; {both} share a namespace, which "
                            "each would create: set `tenancy` (it creates the team's namespace once) or give each "
                            "its own")
        if first.endpoint is not None and second.endpoint is not None and route_of(first) == route_of(second):
            problems.append(f"models[{j}].endpoint: got {route_of(second)}; {both} claim the same host and path: "
                            "one load balancer rule would serve both")
    platform = platform_namespaces(config)
    for index, view in enumerate(catalogue_views(config)):
        if namespace_of(view.model) in platform:
            problems.append(f"{entry_key(config, index)}.namespace: got {namespace_of(view.model)!r}; the platform's "
                            f"own namespace ({', '.join(sorted(platform))} are): give the model its own")
    return problems


def namespace_of(model: Any) -> str:
    """The namespace a catalogue entry's objects go to."""
    return str(model.namespace or model.name)


def route_of(model: Any) -> str:
    """`host/path` of a model's endpoint: the rule its load balancer matches requests on."""
    return f"{model.endpoint.host}{model.endpoint.path}"


def platform_namespaces(config: Any) -> set[str]:
    """The namespaces of the stack's shared charts (monitoring, KEDA, Argo Rollouts) and Kubernetes' own."""
    names = set(_SYSTEM_NAMESPACES) | {config.monitoring.namespace}
    for view in catalogue_views(config):
        if view.model.scale_to_zero.enabled:
            names.add(view.model.scale_to_zero.keda_namespace)
        if view.model.rollout.strategy == "canary":
            names.add(view.model.rollout.controller_namespace)
    return names


def teams(config: Any) -> list[str]:
    """The catalogue's teams, in the order their first model appears."""
    return list(dict.fromkeys(view.model.team for view in catalogue_views(config) if view.model.team))


def _receiver_teams(config: Any) -> list[str]:
    known = set(teams(config))
    problems = []
    for index, receiver in enumerate(config.monitoring.receivers):
        unknown = [team for team in receiver.teams if team not in known]
        if unknown:
            problems.append(f"monitoring.receivers[{index}].teams: got {unknown}; no model of the catalogue belongs to "
                            f"{'it' if len(unknown) == 1 else 'them'} (teams: {', '.join(sorted(known)) or 'none'}): "
                            "its alerts would never come")
    return problems
