"""The examples use the library from the outside, and several models and teams never collide.

Each program under `examples/` imports `gpu_model_platform` only. Here that name is this
checkout's `components/` folder loaded as its own package (the same module names an installed
wheel has; `tests/test_package.py` proves the wheel itself). The programs run under mocks with
the config their `Pulumi.yaml` declares, and the checks below look for any identity two
instances could share: URNs, Kubernetes objects, Helm releases, explicitly named AWS resources,
alert rules and Grafana dashboards.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tools.synth import PROJECT_DIR, Synthesis, engine, run_main

EXAMPLES_DIR = PROJECT_DIR / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "__main__.py").is_file())
COMPONENTS_DIR = PROJECT_DIR / "components"
PACKAGE = "gpu_model_platform"

# Stand-ins for the secrets an adopter sets with `pulumi config set --secret`.
FAKE_KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "team",
    "clusters": [{"name": "team", "cluster": {"server": "https://team.example.internal"}}],
    "contexts": [{"name": "team", "context": {"cluster": "team", "user": "team"}}],
    "users": [{"name": "team", "user": {"token": "fake-token"}}],
})
TEST_SECRETS = {"kubeconfig": FAKE_KUBECONFIG, "grafanaAdminPassword": "s3cr3t-example-grafana"}
# What an adopter sets with `pulumi config set` where Pulumi.yaml declares no default.
TEST_VALUES = {
    "clusterName": "team-cluster",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"],
    "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/team-model@sha256:" + "ab" * 32,
}


def load_checkout_as_package():
    """`import gpu_model_platform` gives this checkout's components/, as an installed copy would."""
    existing = sys.modules.get(PACKAGE)
    if existing is not None and Path(existing.__file__).resolve().parent == COMPONENTS_DIR.resolve():
        return existing
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(PACKAGE, COMPONENTS_DIR / "__init__.py",
                                                  submodule_search_locations=[str(COMPONENTS_DIR)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def example_config(example: str) -> tuple[str, dict[str, str], list[str]]:
    """The project name, and the config the example's Pulumi.yaml declares, with test secrets."""
    project = yaml.safe_load((EXAMPLES_DIR / example / "Pulumi.yaml").read_text())
    name = project["name"]
    config, secret_keys = {}, []
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        short = full.split(":", 1)[1]
        if isinstance(spec, dict) and spec.get("secret"):
            config[full] = TEST_SECRETS[short]
            secret_keys.append(full)
            continue
        value = spec.get("default", spec.get("value")) if isinstance(spec, dict) else spec
        if value is None:
            value = TEST_VALUES[short]
        config[full] = value if isinstance(value, str) else json.dumps(value)
    return name, config, secret_keys


class Run:
    """One example under mocks, with every URN as often as it was registered."""

    def __init__(self, synthesis: Synthesis, registered: list[str]):
        self.synthesis = synthesis
        self.registered = registered


_RUNS: dict[str, Run] = {}


def run_example(example: str) -> Run:
    if example not in _RUNS:
        project, config, secret_keys = example_config(example)
        _RUNS[example] = run_program(EXAMPLES_DIR / example / "__main__.py", project, config, secret_keys)
    return _RUNS[example]


def run_program(main: Path, project: str, config: dict[str, str], secret_keys: list[str]) -> Run:
    load_checkout_as_package()
    registered: list[str] = []
    original = engine._RecordingMonitor.RegisterResource

    def counting(self, request):
        response = original(self, request)
        registered.append(response.urn)
        return response

    # The harness keys registrations by URN, so a second registration of one URN would simply
    # overwrite the first; counting the calls is what sees it (the real engine refuses it).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine._RecordingMonitor, "RegisterResource", counting)
        synthesis = run_main(main, project=project, stack="example", config=config, secret_keys=secret_keys)
    return Run(synthesis, registered)


def _duplicates(keys: list) -> list:
    return sorted((k for k, n in Counter(keys).items() if n > 1), key=str)


# ------------------------------------------------------------------------------ identities

def kubernetes_identities(synthesis: Synthesis) -> list[tuple]:
    """(API group, kind, namespace, name) of every object, Helm releases included."""
    out = []
    for registration, manifest in synthesis.kubernetes_objects():
        metadata = manifest.get("metadata") or {}
        group = manifest["apiVersion"].split("/")[0] if "/" in manifest["apiVersion"] else ""
        out.append((group, manifest["kind"], metadata.get("namespace"), metadata.get("name"), registration.name))
    for release in synthesis.helm_releases():
        name = release.inputs.get("name") or release.outputs.get("name")
        out.append(("helm.sh", "Release", release.inputs.get("namespace"), name, release.name))
    return out


def alert_identities(synthesis: Synthesis) -> list[tuple]:
    """(alert name, its static labels) of every alerting rule: what Alertmanager and people see."""
    out = []
    for _, manifest in synthesis.kubernetes_objects():
        if manifest["kind"] != "PrometheusRule":
            continue
        for group in (manifest.get("spec") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    out.append((rule["alert"], tuple(sorted((rule.get("labels") or {}).items()))))
    return out


def dashboards(synthesis: Synthesis) -> list[dict]:
    """Grafana dashboards kept as JSON in ConfigMaps (the sidecar's way) or in custom resources."""
    found = []
    for registration, manifest in synthesis.kubernetes_objects():
        values = list((manifest.get("data") or {}).values())
        spec = manifest.get("spec") or {}
        values += [spec.get("json")] if isinstance(spec.get("json"), str) else []
        for value in values:
            try:
                document = json.loads(value) if isinstance(value, str) else None
            except ValueError:
                continue
            if isinstance(document, dict) and "panels" in document:
                found.append({**document, "_resource": registration.name})
    return found


def named_aws_resources(synthesis: Synthesis) -> list[tuple]:
    """(type, explicit name) of AWS resources given a physical name, which must be unique per account."""
    return [(r.type, r.inputs["name"]) for r in synthesis.resources
            if r.type.startswith("aws:") and r.custom and isinstance(r.inputs.get("name"), str)]


# ------------------------------------------------------------------------------ the programs

@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_is_a_complete_pulumi_program(example):
    directory = EXAMPLES_DIR / example
    for name in ("Pulumi.yaml", "__main__.py", "requirements.txt", "README.md"):
        assert (directory / name).is_file(), f"{example}: {name} is missing"
    project = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python", example


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_uses_the_package_from_the_outside(example):
    tree = ast.parse((EXAMPLES_DIR / example / "__main__.py").read_text())
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert PACKAGE in {name.split(".")[0] for name in imported}, example
    inside = {name for name in imported if name.split(".")[0] in {"components", "stack_config", "tools", "tests"}}
    assert not inside, f"{example} imports this repository's internals: {inside}"
    private = {name for name in imported if name.startswith(PACKAGE + ".")}
    assert not private, f"{example} imports private modules {private}; use `from {PACKAGE} import ...`"


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_requires_this_package_and_the_tested_pins(example):
    lines = [raw.split("#")[0].strip() for raw in (EXAMPLES_DIR / example / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    paths = [line for line in lines if line.startswith(".")]
    assert len(paths) == 1, f"{example}: one requirement should be the package (a path to this checkout)"
    # Pulumi runs pip from the project directory, so the path is relative to it.
    pyproject = EXAMPLES_DIR / example / paths[0] / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["name"] == "gpu-model-platform", example
    tested = {pin.split("==")[0].lower(): pin for pin in (PROJECT_DIR / "requirements.txt").read_text().splitlines()
              if "==" in pin and not pin.startswith("#")}
    for line in lines:
        if "==" in line:
            name = line.split("==")[0].lower()
            assert tested.get(name) == line, f"{example}: {line} differs from the tested {tested.get(name)}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_runs_under_mocks(example):
    run = run_example(example)
    assert run.synthesis.resources, example


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_urn_is_registered_twice(example):
    run = run_example(example)
    assert not _duplicates(run.registered), f"{example}: duplicate URNs {_duplicates(run.registered)}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_two_kubernetes_objects_share_a_kind_namespace_and_name(example):
    identities = kubernetes_identities(run_example(example).synthesis)
    keys = [identity[:4] for identity in identities]
    clashes = {key: [i[4] for i in identities if i[:4] == key] for key in _duplicates(keys)}
    assert not clashes, f"{example}: Kubernetes objects that would overwrite each other: {clashes}"
    unnamed = [i[4] for i in identities if not i[3]]
    assert not unnamed, f"{example}: objects without a name: {unnamed}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_two_aws_resources_share_an_explicit_name(example):
    names = named_aws_resources(run_example(example).synthesis)
    assert not _duplicates(names), f"{example}: AWS resources with the same name: {_duplicates(names)}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_two_alert_rules_share_an_identity(example):
    identities = alert_identities(run_example(example).synthesis)
    assert not _duplicates(identities), (
        f"{example}: alert rules with the same name and labels (Alertmanager cannot tell the models "
        f"apart): {_duplicates(identities)}")


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_two_dashboards_share_a_uid_or_a_title(example):
    found = dashboards(run_example(example).synthesis)
    uids = [d.get("uid") for d in found]
    assert all(uids), f"{example}: dashboards without a uid: {[d['_resource'] for d in found if not d.get('uid')]}"
    assert not _duplicates(uids), f"{example}: dashboard uids used twice: {_duplicates(uids)}"
    assert all(len(uid) <= 40 for uid in uids), f"{example}: Grafana uids are at most 40 characters: {uids}"
    titles = [d.get("title") for d in found]
    assert not _duplicates(titles), f"{example}: dashboard titles used twice (one folder): {_duplicates(titles)}"


# ------------------------------------------------------------------------------ what each example shows

def _component_names(synthesis: Synthesis, type_name: str) -> list[str]:
    return sorted(r.name for r in synthesis.of_type(f"gpu-model-platform:index:{type_name}"))


def test_two_models_share_one_cluster_and_one_monitoring_stack_with_their_own_everything():
    synthesis = run_example("two-models-one-cluster").synthesis
    assert len(_component_names(synthesis, "MonitoringStack")) == 1
    for component in ("ModelRegistry", "ModelImage", "ModelService", "ModelMonitoring"):
        assert len(_component_names(synthesis, component)) == 2, (component, _component_names(synthesis, component))
    namespaces = [m["metadata"]["name"] for _, m in synthesis.kubernetes_objects() if m["kind"] == "Namespace"]
    deployments = {m["metadata"]["namespace"]: m for _, m in synthesis.kubernetes_objects() if m["kind"] == "Deployment"
                   and m["metadata"].get("namespace") in namespaces}
    gpu_pods = [ns for ns, d in deployments.items()
                if "nvidia.com/gpu" in (d["spec"]["template"]["spec"]["containers"][0]["resources"].get("limits") or {})]
    assert len(deployments) >= 2 and len(gpu_pods) == 1, f"one GPU model and one CPU model: {sorted(deployments)}"
    providers = {r.provider_urn for r in synthesis.resources if r.type.startswith("kubernetes:") and r.custom}
    assert len(providers) == 1, f"every Kubernetes object goes through the one shared cluster: {providers}"
    assert len(alert_identities(synthesis)) >= 2 and len(dashboards(synthesis)) >= 2


def test_a_team_with_its_own_cluster_adds_only_a_gpu_node_group_and_a_model_service():
    synthesis = run_example("bring-your-own-cluster").synthesis
    ours = sorted({r.type for r in synthesis.resources if r.type.startswith("gpu-model-platform:")})
    assert ours == ["gpu-model-platform:index:GpuNodeGroup", "gpu-model-platform:index:ModelService"], ours
    assert not synthesis.of_type("aws:eks/cluster:Cluster"), "the team's cluster is not created here"
    deployment = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    node_group = synthesis.of_type("aws:eks/nodeGroup:NodeGroup")[0].inputs
    assert pod["nodeSelector"].items() <= node_group["labels"].items(), "the pods select the group's labels"
    taints = {(t["key"], t.get("value"), t["effect"]) for t in node_group.get("taints") or []}
    eks_effect = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
    tolerated = {(t["key"], t.get("value"), eks_effect[t["effect"]]) for t in pod.get("tolerations") or []}
    assert taints and taints <= tolerated, (taints, tolerated)


# ------------------------------------------------------------------------------ the checks themselves

def _fake_synthesis(objects: list[dict]) -> Synthesis:
    def registration(i: int, o: dict) -> engine.Registration:
        known = {"urn": f"urn:{i}", "type": f"kubernetes:x:{o['kind']}", "name": f"r{i}", "id": f"r{i}-id",
                 "parent": "", "custom": True, "provider": "", "raw_inputs": o, "outputs": o}
        # Only the fields this version of the harness has.
        return engine.Registration(**{f.name: known[f.name] for f in dataclasses.fields(engine.Registration)
                                      if f.name in known})

    resources = [registration(i, o) for i, o in enumerate(objects)]
    return Synthesis(project="p", stack="s", resources=resources, stack_outputs={})


def test_the_identity_checks_see_collisions():
    rule = {"alert": "ModelDown", "labels": {"severity": "critical"}}
    dashboard = json.dumps({"uid": "model", "title": "Model", "panels": []})
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "m"}, "data": {"a.json": dashboard}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "m"}, "data": {"b.json": dashboard}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "a", "namespace": "m"},
         "spec": {"groups": [{"name": "g", "rules": [rule, {"record": "x", "expr": "1"}]}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "b", "namespace": "m"},
         "spec": {"groups": [{"name": "g", "rules": [rule]}]}},
    ]
    synthesis = _fake_synthesis(objects)
    assert _duplicates([i[:4] for i in kubernetes_identities(synthesis)]) == [("", "ConfigMap", "m", "d")]
    assert _duplicates(alert_identities(synthesis)) == [("ModelDown", (("severity", "critical"),))]
    assert _duplicates([d["uid"] for d in dashboards(synthesis)]) == ["model"]


def test_the_urn_count_sees_a_logical_name_used_twice(tmp_path):
    main = tmp_path / "__main__.py"
    main.write_text("import pulumi_kubernetes as k8s\n"
                    "k8s.core.v1.Namespace('team', metadata={'name': 'a'})\n"
                    "k8s.core.v1.Namespace('team', metadata={'name': 'b'})\n")
    run = run_program(main, "p", {}, [])
    assert len(run.synthesis.resources) == 1, "the harness alone keeps only the last registration"
    assert _duplicates(run.registered) == ["urn:pulumi:example::p::pulumi:pulumi:Stack$kubernetes:core/v1:Namespace::team"]


def test_the_package_shim_loads_this_checkout_under_the_installed_name():
    package = load_checkout_as_package()
    assert package.__name__ == PACKAGE and list(package.__all__)
    assert re.fullmatch(rf"{PACKAGE}\.\w+", package.ModelService.__module__)
