"""The examples use the library from the outside, and several models and teams never collide.

Each program under `examples/` imports `gpu_model_platform` only. Here that name is this
checkout's `components/` folder loaded as its own package (the same module names an installed
wheel has; `tests/test_package.py` proves the wheel itself). The programs run under mocks with
the config their `Pulumi.yaml` declares (the runner is `tools.api_surface.examples`), and the
checks below look for any identity two instances could share: URNs, Kubernetes objects, Helm
releases, explicitly named AWS resources, alert rules and Grafana dashboards. Last, the URNs pinned
at the release must still be registered, or aliased, so an upgrade replaces nothing.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tools.api_surface.examples import (
    EXAMPLES_DIR,
    PACKAGE,
    URNS_FILE,
    example_names,
    load_checkout_as_package,
    load_pinned_urns,
    lost_in,
    lost_urns,
    registered_urns,
    run_example,
    run_program,
)
from tools.synth import PROJECT_DIR, Synthesis, engine

EXAMPLES = example_names()


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
    assert re.fullmatch(rf"{PACKAGE}(\.\w+)+", package.ModelService.__module__)


# ------------------------------------------------------------------------------ resource identity across releases

def test_the_urns_pinned_at_the_release_are_still_registered_or_aliased():
    pinned = load_pinned_urns()
    assert pinned is not None, f"{URNS_FILE.name} is missing: run `python -m tools.api_surface --update`"
    lost = lost_urns(pinned)
    assert not lost, (
        f"after an upgrade, adopters' stacks would delete and recreate these resources: {lost}. Pass "
        "`aliases` (docs/compatibility.md, 'Renames keep aliases'), or, if they are really gone, bump the "
        "version as for a breaking change and run `python -m tools.api_surface --update`")


_WIDGET = """
import pulumi
import pulumi_kubernetes as k8s

class Widget(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("gpu-model-platform:index:{type_}", name, None, {component_opts})
        k8s.core.v1.Namespace(f"{{name}}-{child}", metadata={{"name": name}},
                              opts=pulumi.ResourceOptions(parent=self{child_opts}))
        self.register_outputs({{"name": name}})

Widget("team")
"""


def _widget(tmp_path: Path, label: str, **parts: str):
    main = tmp_path / label / "__main__.py"
    main.parent.mkdir()
    main.write_text(_WIDGET.format(**{"component_opts": "opts", "child_opts": "", **parts}))
    return run_program(main, "p", {}, [])


def test_a_rename_with_aliases_keeps_every_urn_and_one_without_loses_them(tmp_path):
    pinned = registered_urns(_widget(tmp_path, "before", type_="Widget", child="ns"))
    assert len(pinned) == 2
    renamed = _widget(tmp_path, "aliased", type_="Gadget", child="namespace",
                      component_opts='pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions('
                                     'aliases=[pulumi.Alias(type_="gpu-model-platform:index:Widget")]))',
                      child_opts=', aliases=[pulumi.Alias(name=f"{name}-ns")]')
    assert lost_in(renamed, pinned) == []
    bare = _widget(tmp_path, "bare", type_="Gadget", child="namespace")
    assert lost_in(bare, pinned) == pinned
    child_only = _widget(tmp_path, "child-only", type_="Widget", child="namespace")
    assert lost_in(child_only, pinned) == [u for u in pinned if u.endswith("::team-ns")]
