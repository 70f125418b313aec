"""Teams as tenants from the config, computed by hand on small models: the pods a model may run at its most, what
they need, the quota refusals with their exact figures, and the tenants handed to the Tenancy component."""

from __future__ import annotations

import decimal
from types import SimpleNamespace as NS

import pytest

from stack_config.tenancy import (
    COLD_START_LIMITS,
    Need,
    most_pods,
    need_of,
    priority_of,
    tenancy_args,
    tenancy_problems,
)

D = decimal.Decimal


def _model(name: str = "m", team: str = "nlp", replicas: int = 2, gpus: int = 1, cpu: str = "2", memory: str = "4Gi",
           hpa: int | None = None, asleep: int | None = None, canary: list[int] | None = None, sharing=None,
           namespace: str | None = "nlp", priority: str | None = None) -> NS:
    return NS(name=name, team=team, replicas=replicas, gpus_per_pod=gpus, namespace=namespace, priority=priority,
              resources=NS(limits=NS(cpu=cpu, memory=memory)), gpu_sharing=sharing,
              scale_to_zero=NS(enabled=asleep is not None, max_replicas=asleep or 0),
              autoscaling=NS(enabled=hpa is not None, max_replicas=hpa or 0),
              rollout=NS(strategy="canary" if canary is not None else "rolling",
                         steps=[NS(weight=w) for w in canary or []]))


def _team(name: str = "nlp", gpus: int = 8, shared: int = 0, cpu: str = "64", memory: str = "256Gi", mig: int = 0,
          namespace: str | None = None, priority: str = "development", roles: tuple = ()) -> NS:
    return NS(name=name, gpus=gpus, shared_gpus=shared, cpu=cpu, memory=memory, mig_slices=mig, namespace=namespace,
              priority=priority, read_role_arns=list(roles))


def _config(models: list, teams: list, namespaces: str = "perTeam", mode: str = "create", many: bool = True,
            admins: tuple = ()) -> NS:
    tenancy = NS(teams=teams, namespaces=namespaces,
                 container_defaults=NS(requests=NS(cpu="250m", memory="512Mi"), limits=NS(cpu="2", memory="1Gi")))
    tenancy.team = lambda name: next((t for t in teams if t.name == name), None)
    return NS(tenancy=tenancy, models=models if many else [], catalogue=lambda: [NS(model=m) for m in models],
              cluster=NS(mode=mode, admin_role_arns=list(admins), viewer_role_arns=[], preview_role_arns=[]))


@pytest.mark.parametrize("model, pods", [
    (_model(replicas=3), 4),                                   # a rolling update's one surge pod
    (_model(replicas=3, hpa=5), 6),                            # the autoscaler's most
    (_model(replicas=3, hpa=5, asleep=7), 8),                  # scale to zero's most wins over the HPA's
    (_model(replicas=4, canary=[10, 50]), 6),                  # half of 4 on top at the heaviest step
    (_model(replicas=4, canary=[20]), 5),                      # 0.8 rounds up to one pod
    (_model(replicas=3, canary=[1]), 4),                       # at least one canary pod
    (_model(replicas=3, canary=[]), 4),
])
def test_a_model_runs_at_most_its_replicas_plus_the_pods_a_release_adds(model, pods):
    assert most_pods(model) == pods


def test_a_models_need_is_its_pods_times_their_gpus_and_limits_plus_the_cold_start_answer():
    assert need_of(_model(replicas=1, gpus=2, cpu="500m", memory="1Gi")) == Need(4, 0, D("1.000"), D(2 * 2**30))
    asleep = need_of(_model(replicas=0, asleep=1, cpu="1", memory="1Gi"))
    assert asleep == Need(2, 0, D(2) + D("0.1"), D(2 * 2**30) + D(64 * 2**20))
    assert COLD_START_LIMITS == {"cpu": "100m", "memory": "64Mi"}


def test_shared_and_mig_models_count_pods_not_whole_gpus():
    shared = need_of(_model(replicas=1, sharing=NS(mode="timeSlicing", mig_profile=None)))
    assert (shared.gpus, shared.shared_gpus, shared.mig_slices) == (0, 2, 0)
    mig = need_of(_model(replicas=1, sharing=NS(mode="mig", mig_profile="1g.10gb")))
    assert (mig.gpus, mig.shared_gpus, mig.mig_slices) == (0, 0, 2)


def test_a_model_runs_at_its_own_priority_else_its_teams_else_production():
    teams = [_team(priority="batch")]
    assert priority_of(_config([], teams), _model(priority="development")) == "model-serving-development"
    assert priority_of(_config([], teams), _model()) == "model-batch"
    assert priority_of(_config([], teams), _model(team="other")) == "model-serving-production"
    assert priority_of(NS(tenancy=None), _model()) is None


def test_without_tenancy_nothing_is_refused():
    assert tenancy_problems(NS(tenancy=None)) == []


def test_a_gpu_quota_is_refused_one_gpu_short_and_holds_at_its_exact_size():
    model = _model(replicas=3, gpus=1)  # 4 pods at most
    assert tenancy_problems(_config([model], [_team(gpus=4)])) == []
    assert tenancy_problems(_config([model], [_team(gpus=3)])) == [
        "models[0].team: got 'nlp'; the team's quota of 3 requests.nvidia.com/gpu (tenancy.teams[nlp].gpus) cannot "
        "hold m at its most: 4; raise the quota or lower the model's replicas"]


def test_the_second_model_is_refused_naming_what_the_first_takes():
    models = [_model("a", replicas=1), _model("b", replicas=1)]
    assert tenancy_problems(_config(models, [_team(gpus=3)], many=False)) == [
        "model.team: got 'nlp'; the team's quota of 3 requests.nvidia.com/gpu (tenancy.teams[nlp].gpus) cannot hold b "
        "at its most: 2 (its team's models before it take 2); raise the quota or lower the model's replicas"]


def test_cpu_memory_shared_and_mig_quotas_are_named_by_their_keys_and_shown_in_their_units():
    found = tenancy_problems(_config([_model(replicas=1, cpu="1500m", memory="3Gi")],
                                     [_team(cpu="2", memory="5Gi")]))
    assert found == [
        "models[0].team: got 'nlp'; the team's quota of 2 cpu (tenancy.teams[nlp].cpu) cannot hold m at its most: 3; "
        "raise the quota or lower the model's replicas",
        "models[0].team: got 'nlp'; the team's quota of 5Gi memory (tenancy.teams[nlp].memory) cannot hold m at its "
        "most: 6Gi; raise the quota or lower the model's replicas"]
    odd = tenancy_problems(_config([_model(replicas=0, cpu="250m", memory="1536Mi", asleep=1)],
                                   [_team(cpu="0.5", memory="3Gi")]))
    assert [p.split("cannot hold m at its most: ")[1].split(";")[0] for p in odd] == ["0.6", "3.06Gi"], odd
    shared = tenancy_problems(_config([_model(replicas=1, sharing=NS(mode="timeSlicing", mig_profile=None))],
                                      [_team(shared=1)]))
    assert shared == ["models[0].team: got 'nlp'; the team's quota of 1 shared GPU replicas "
                      "(tenancy.teams[nlp].sharedGpus) cannot hold m at its most: 2; raise the quota or lower the "
                      "model's replicas"]
    mig = tenancy_problems(_config([_model(replicas=1, sharing=NS(mode="mig", mig_profile="1g.10gb"))], [_team(mig=1)]))
    assert mig == ["models[0].team: got 'nlp'; the team's quota of 1 MIG slices (tenancy.teams[nlp].migSlices) "
                   "cannot hold m at its most: 2; raise the quota or lower the model's replicas"]


def test_a_model_of_no_listed_team_and_a_team_listed_twice_are_refused():
    found = tenancy_problems(_config([_model(team="ghost")], [_team(), _team()]))
    assert found == ["tenancy.teams: got ['nlp', 'nlp']; list each team once",
                     "models[0].team: got 'ghost'; with tenancy every model names one of tenancy.teams (nlp, nlp)"]


def test_per_team_namespaces_hold_each_model_in_its_teams_namespace():
    assert tenancy_problems(_config([_model(namespace="nlp")], [_team()])) == []
    assert tenancy_problems(_config([_model(namespace="lang")], [_team(namespace="lang")])) == []
    assert tenancy_problems(_config([_model(namespace="other")], [_team(namespace="lang")])) == [
        "models[0].namespace: got 'other'; with tenancy.namespaces perTeam a model lives in its team's namespace "
        "('lang'): unset it"]
    assert tenancy_problems(_config([_model(namespace="other")], [_team()], namespaces="perModel")) == []


def test_read_roles_need_an_eks_cluster_and_a_role_has_one_access_entry():
    role = "arn:aws:iam::123456789012:role/reader"
    assert tenancy_problems(_config([], [_team(roles=(role,))], mode="local")) == [
        f"tenancy.teams[nlp].readRoleArns: got ['{role}']; EKS access entries need an EKS cluster (cluster.mode "
        "create or existing)"]
    assert tenancy_problems(_config([], [_team(roles=(role,))], admins=(role,))) == [
        f"tenancy.teams[nlp].readRoleArns: got ['{role}']; already given cluster access (cluster.adminRoleArns, "
        "viewerRoleArns or previewRoleArns): a role has one access entry"]
    assert tenancy_problems(_config([], [_team(roles=(role,))])) == []


def test_per_team_tenants_get_their_teams_quota_and_every_mig_profile_its_models_use():
    models = [_model("a", sharing=NS(mode="mig", mig_profile="1g.10gb")),
              _model("b", sharing=NS(mode="mig", mig_profile="2g.20gb")), _model("c")]
    args = tenancy_args(_config(models, [_team(gpus=4, shared=2, mig=3, roles=("arn:r",))]), NS(cluster_name="eks"))
    [tenant] = args.tenants
    assert (tenant.team, tenant.namespace, tenant.gpus, tenant.cpu, tenant.memory) == ("nlp", "nlp", 4, "64", "256Gi")
    assert tenant.extended == {"nvidia.com/gpu.shared": 2, "nvidia.com/mig-1g.10gb": 3, "nvidia.com/mig-2g.20gb": 3}
    assert tenant.read_role_arns == ["arn:r"] and args.cluster_name == "eks"
    defaults = args.container_defaults
    assert (defaults.cpu_request, defaults.memory_request, defaults.cpu_limit, defaults.memory_limit) == (
        "250m", "512Mi", "2", "1Gi")  # none of them the component's own default


def test_per_model_tenants_get_the_models_own_most_rounded_up():
    model = _model(replicas=1, gpus=1, cpu="333m", memory="1000Ki", namespace=None)
    args = tenancy_args(_config([model], [_team()], namespaces="perModel", mode="local"), NS(cluster_name="eks"))
    [tenant] = args.tenants
    assert (tenant.namespace, tenant.gpus, tenant.cpu, tenant.memory, tenant.extended) == ("m", 2, "666m", "2Mi", {})
    assert args.cluster_name is None
