"""Teams as tenants, link by link on the example catalogue: each team's namespace, its quota and defaults, the
priority its models run at, and who may read it -- and the quota that cannot hold a model, refused at load."""

from __future__ import annotations

import copy

import pytest
from kubernetes_validate import utils as kubernetes_validate

from components import ContainerDefaults, Tenancy, TenancyArgs, Tenant
from components._args import InvalidArgs
from components.tenancy.tenancy import PRIORITY_CLASSES, team_group
from stack_config import ConfigError
from tests.catalogue import fixture
from tests.harness import components

NAMESPACE, QUOTA, LIMITS = "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:LimitRange"
PRIORITY, BINDING = "kubernetes:scheduling.k8s.io/v1:PriorityClass", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
DEPLOYMENT, ACCESS_ENTRY = "kubernetes:apps/v1:Deployment", "aws:eks/accessEntry:AccessEntry"


def _objects(synthesis, type_token: str) -> list[dict]:
    return [r.raw_inputs for r in synthesis.resources if r.type == type_token]


def _in(synthesis, type_token: str, namespace: str) -> dict:
    found = [o for o in _objects(synthesis, type_token) if o["metadata"].get("namespace") == namespace]
    assert len(found) == 1, (type_token, namespace, found)
    return found[0]


def _deployment(synthesis, model: str) -> dict:
    return next(o for o in _objects(synthesis, DEPLOYMENT) if o["metadata"]["name"] == model)


def test_each_team_gets_one_namespace_created_by_tenancy_and_none_by_its_models():
    synthesis = fixture.example()
    created = {r.raw_inputs["metadata"]["name"]: synthesis.component_of(r).type for r in synthesis.resources
               if r.type == NAMESPACE and r.raw_inputs["metadata"]["name"] in ("nlp", "vision")}
    assert created == {"nlp": "gpu-model-platform:index:Tenancy", "vision": "gpu-model-platform:index:Tenancy"}
    labels = _objects(synthesis, NAMESPACE)
    vision = next(n for n in labels if n["metadata"]["name"] == "vision")["metadata"]["labels"]
    assert vision["pod-security.kubernetes.io/enforce"] == "restricted" and vision["team"] == "vision"
    assert vision["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


def test_each_teams_quota_is_its_config_on_the_resource_its_models_request():
    synthesis = fixture.example()
    teams = {t["name"]: t for t in fixture.sections()["tenancy"]["teams"]}
    nlp, vision = _in(synthesis, QUOTA, "nlp")["spec"]["hard"], _in(synthesis, QUOTA, "vision")["spec"]["hard"]
    assert nlp["requests.nvidia.com/gpu"] == str(teams["nlp"]["gpus"])
    assert nlp["requests.cpu"] == nlp["limits.cpu"] == teams["nlp"]["cpu"]
    assert nlp["limits.memory"] == teams["nlp"]["memory"] and "requests.nvidia.com/gpu.shared" not in nlp
    # The vision team's models share GPUs: its quota is on the shared resource its pods ask for.
    assert vision["requests.nvidia.com/gpu.shared"] == str(teams["vision"]["sharedGpus"])
    assert vision["requests.nvidia.com/gpu"] == "0"
    embedder = _deployment(synthesis, "image-embedder")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert set(embedder["requests"]) & {k.removeprefix("requests.") for k in vision} >= {"nvidia.com/gpu.shared"}


def test_every_namespace_gives_containers_that_state_nothing_the_configured_defaults():
    synthesis = fixture.example()
    limits = _in(synthesis, LIMITS, "nlp")["spec"]["limits"][0]
    assert limits["type"] == "Container"
    assert limits["defaultRequest"] == {"cpu": "250m", "memory": "512Mi"} and limits["default"] == {"cpu": "1",
                                                                                                  "memory": "1Gi"}


def test_models_run_at_their_teams_priority_and_production_outranks_development_outranks_batch():
    synthesis = fixture.example()
    classes = {o["metadata"]["name"]: o for o in _objects(synthesis, PRIORITY)}
    llm = _deployment(synthesis, "llm-chat")["spec"]["template"]["spec"]["priorityClassName"]
    embedder = _deployment(synthesis, "image-embedder")["spec"]["template"]["spec"]["priorityClassName"]
    assert (llm, embedder) == ("model-serving-production", "model-serving-development")
    assert classes[llm]["value"] > classes[embedder]["value"] > classes["model-batch"]["value"]
    assert classes["model-batch"]["preemptionPolicy"] == "Never"
    assert classes[llm]["preemptionPolicy"] == "PreemptLowerPriority"
    assert not any(c["globalDefault"] for c in classes.values())


def test_a_models_own_priority_overrides_its_teams():
    models = fixture.sections()["models"]
    models[2]["priority"] = "batch"
    synthesis = fixture.synth(models=models)
    assert _deployment(synthesis, "image-embedder")["spec"]["template"]["spec"]["priorityClassName"] == "model-batch"


def test_a_teams_roles_read_its_namespace_only_through_their_access_entry_group():
    synthesis = fixture.example()
    entries = {e["principalArn"]: e for e in _objects(synthesis, ACCESS_ENTRY)
               if e["principalArn"].endswith("-read")}
    nlp_role = fixture.sections()["tenancy"]["teams"][0]["readRoleArns"][0]
    assert entries[nlp_role]["kubernetesGroups"] == [team_group("nlp")] and entries[nlp_role]["type"] == "STANDARD"
    binding = _in(synthesis, BINDING, "nlp")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert [s["name"] for s in binding["subjects"]] == [team_group("nlp")]
    assert [s["name"] for s in _in(synthesis, BINDING, "vision")["subjects"]] == [team_group("vision")]


def test_the_tenancy_objects_pass_strict_kubernetes_schemas():
    synthesis = fixture.example()
    version = f"{fixture.config().cluster.kubernetes_version}.0"
    for type_token in (NAMESPACE, QUOTA, LIMITS, PRIORITY, BINDING):
        for manifest in (m for r, m in synthesis.kubernetes_objects(masked=False)
                         if r.type == type_token and synthesis.component_of(r).type.endswith(":Tenancy")):
            kubernetes_validate.validate(manifest, version, strict=True)


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def _tenancy(**team_changes) -> dict:
    tenancy = copy.deepcopy(fixture.sections()["tenancy"])
    for team in tenancy["teams"]:
        team.update(team_changes.get(team["name"], {}))
    return tenancy


def test_a_model_its_teams_gpu_quota_cannot_hold_is_refused_at_load_naming_the_model_and_the_quota():
    # llm-chat at its most: 3 replicas (HPA max) + 2 canary pods (50% of 3) = 5 GPUs.
    problems = _problems(tenancy=_tenancy(nlp={"gpus": 4}))
    assert any(p.startswith("gpu-model-platform:models[0].team: got 'nlp'; the team's quota of 4 "
                            "requests.nvidia.com/gpu (tenancy.teams[nlp].gpus) cannot hold llm-chat at its most: 5")
               for p in problems), problems
    assert fixture.config(tenancy=_tenancy(nlp={"gpus": 5}))


def test_a_teams_second_model_that_overflows_its_shared_quota_is_the_one_refused():
    # image-classifier: 1 replica awake + 1 surge = 2 shares; image-embedder: 2 + 1 = 3.
    problems = _problems(tenancy=_tenancy(vision={"sharedGpus": 4}))
    assert [p for p in problems if "cannot hold" in p] == [
        "gpu-model-platform:models[2].team: got 'vision'; the team's quota of 4 shared GPU replicas "
        "(tenancy.teams[vision].sharedGpus) cannot hold image-embedder at its most: 3 (its team's models before it "
        "take 2); raise the quota or lower the model's replicas"]


def test_cpu_and_memory_quotas_count_limits_and_the_cold_start_answer():
    # vision CPU limits: classifier 2 pods x 1 + cold start 0.1, embedder 3 x 1 = 5.1.
    assert any("quota of 5 cpu" in p for p in _problems(tenancy=_tenancy(vision={"cpu": "5"})))
    assert fixture.config(tenancy=_tenancy(vision={"cpu": "5100m"}))
    assert any("Gi memory" in p and "image-embedder" in p for p in _problems(tenancy=_tenancy(vision={"memory": "10Gi"})))


def test_a_model_of_a_team_tenancy_does_not_list_is_refused():
    models = fixture.sections()["models"]
    models[1]["team"] = "speech"
    problems = _problems(models=models)
    assert any(p.startswith("gpu-model-platform:models[1].team: got 'speech'; with tenancy every model names one of "
                            "tenancy.teams (nlp, vision)") for p in problems), problems


def test_per_team_namespaces_refuse_a_model_placed_elsewhere_and_per_model_namespaces_split_the_quota():
    models = fixture.sections()["models"]
    models[0]["namespace"] = "chat"
    assert any(p.startswith("gpu-model-platform:models[0].namespace: got 'chat'; with tenancy.namespaces perTeam")
               for p in _problems(models=models))
    tenancy = dict(_tenancy(), namespaces="perModel")
    synthesis = fixture.synth(tenancy=tenancy)
    quotas = {o["metadata"]["namespace"]: o["spec"]["hard"] for o in _objects(synthesis, QUOTA)}
    assert sorted(quotas) == ["image-classifier", "image-embedder", "llm-chat"]
    assert quotas["llm-chat"]["requests.nvidia.com/gpu"] == "5"
    assert quotas["image-embedder"]["requests.nvidia.com/gpu.shared"] == "3"
    assert quotas["image-classifier"]["limits.cpu"] == "2100m"


def test_a_role_that_already_has_cluster_access_cannot_also_read_for_a_team():
    admin = fixture.sections()["cluster"]["adminRoleArns"][0]
    problems = _problems(tenancy=_tenancy(vision={"readRoleArns": [admin]}))
    assert any(p.startswith("gpu-model-platform:tenancy.teams[vision].readRoleArns: got ") and "already given cluster "
               "access" in p for p in problems), problems


def test_tenancy_args_refuse_two_tenants_in_one_namespace_and_one_role_reading_for_two_teams():
    role = "arn:aws:iam::123456789012:role/reader"
    with pytest.raises(InvalidArgs) as caught:
        Tenancy("t", TenancyArgs(tenants=[Tenant(team="a", namespace="x"), Tenant(team="b", namespace="x")]))
    assert "tenants: got ['x', 'x']; one tenant per namespace" in str(caught.value)
    with pytest.raises(InvalidArgs) as caught:
        Tenancy("t", TenancyArgs(tenants=[Tenant(team="a", namespace="x", read_role_arns=[role]),
                                          Tenant(team="b", namespace="y", read_role_arns=[role])]))
    assert "reads for teams a and b" in str(caught.value)
    assert "cluster_name: got None; required for the teams' read_role_arns" in str(caught.value)


def test_a_tenant_on_a_local_cluster_gets_its_namespace_quota_and_defaults_without_access_entries():
    def build(opts):
        return Tenancy("tenancy", TenancyArgs(tenants=[Tenant(team="a", namespace="a", gpus=2,
                                                              extended={"nvidia.com/mig-1g.10gb": 3})],
                                              container_defaults=ContainerDefaults(cpu_limit="2")), opts)
    synthesis = components(build)
    assert _objects(synthesis, ACCESS_ENTRY) == []
    hard = _in(synthesis, QUOTA, "a")["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "2" and hard["requests.nvidia.com/mig-1g.10gb"] == "3"
    assert _in(synthesis, LIMITS, "a")["spec"]["limits"][0]["default"]["cpu"] == "2"
    assert sorted(o["metadata"]["name"] for o in _objects(synthesis, PRIORITY)) == sorted(
        name for name, *_ in PRIORITY_CLASSES.values())
