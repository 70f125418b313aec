"""The example programs under mocks, as adopters' stacks: what they register, and under which URNs.

`examples/*` import `gpu_model_platform`; here that name is this checkout's `components/`
folder loaded as its own package (the module names an installed wheel has). Each program runs
with the config its `Pulumi.yaml` declares plus sample values for what it leaves to the adopter.

The URNs the examples register at a release are pinned in `docs/api/resource-urns.json`: an
upgrade that no longer registers one of them, and gives no resource an alias pointing back to
it, would make `pulumi up` delete and recreate that resource in adopters' stacks. The same file
pins every component's type token (for components no example uses too).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.synth import PROJECT_DIR, Synthesis, engine, run_main

EXAMPLES_DIR = PROJECT_DIR / "examples"
COMPONENTS_DIR = PROJECT_DIR / "components"
PACKAGE = "gpu_model_platform"
URNS_FILE = PROJECT_DIR / "docs" / "api" / "resource-urns.json"
STACK = "example"

# Stand-ins for the secrets an adopter sets with `pulumi config set --secret`.
SAMPLE_KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "team",
    "clusters": [{"name": "team", "cluster": {"server": "https://team.example.internal"}}],
    "contexts": [{"name": "team", "context": {"cluster": "team", "user": "team"}}],
    "users": [{"name": "team", "user": {"token": "fake-token"}}],
})
SAMPLE_SECRETS = {"kubeconfig": SAMPLE_KUBECONFIG, "grafanaAdminPassword": "s3cr3t-example-grafana",
                  "fraudSlackWebhook": "https://hooks.slack.com/services/T000/B000/s3cr3t-fraud",
                  "churnSlackWebhook": "https://hooks.slack.com/services/T000/B000/s3cr3t-churn",
                  "fraudApiKey": "s3cr3t-fraud-api-key", "churnApiKey": "s3cr3t-churn-api-key",
                  "apiKey": "s3cr3t-api-key", "pagerDutyKey": "s3cr3t-pagerduty-routing-key"}
# What an adopter sets with `pulumi config set` where Pulumi.yaml declares no default.
SAMPLE_VALUES: dict[str, Any] = {
    "clusterName": "team-cluster",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"],
    "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/team-model@sha256:" + "ab" * 32,
    "fraudImage": "123456789012.dkr.ecr.us-west-2.amazonaws.com/fraud-detector@sha256:" + "cd" * 32,
    "churnImage": "123456789012.dkr.ecr.us-west-2.amazonaws.com/churn-predictor@sha256:" + "ef" * 32,
    "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "hostedZoneId": "Z0123456789ABCDEFGHIJ",
    "hostedZoneName": "models.example.com",
    "churnHost": "churn.models.example.com",
    "region": "us-west-2",
}


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "__main__.py").is_file())


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
    """The project name, and the config the example's Pulumi.yaml declares, with sample values."""
    project = yaml.safe_load((EXAMPLES_DIR / example / "Pulumi.yaml").read_text())
    name = project["name"]
    config, secret_keys = {}, []
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        short = full.split(":", 1)[1]
        if isinstance(spec, dict) and spec.get("secret"):
            config[full] = SAMPLE_SECRETS[short]
            secret_keys.append(full)
            continue
        value = spec.get("default", spec.get("value")) if isinstance(spec, dict) else spec
        if value is None:
            value = SAMPLE_VALUES[short]
        config[full] = value if isinstance(value, str) else json.dumps(value)
    return name, config, secret_keys


@dataclass
class Run:
    """One program under mocks: what it declared, every URN as often as it was registered, and the
    aliases and parent each registration carried."""

    synthesis: Synthesis
    registered: list[str]
    aliases: dict[str, list[Any]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)


def run_program(main: Path, project: str, config: dict[str, str], secret_keys: list[str]) -> Run:
    load_checkout_as_package()
    registered: list[str] = []
    aliases: dict[str, list[Any]] = {}
    parents: dict[str, str] = {}
    original = engine._RecordingMonitor.RegisterResource

    def recording(self, request):
        response = original(self, request)
        registered.append(response.urn)
        aliases[response.urn] = list(request.aliases)
        parents[response.urn] = request.parent
        return response

    # The harness keys registrations by URN, so a second registration of one URN would simply
    # overwrite the first; counting the calls is what sees it (the real engine refuses it).
    engine._RecordingMonitor.RegisterResource = recording
    try:
        synthesis = run_main(main, project=project, stack=STACK, config=config, secret_keys=secret_keys)
    finally:
        engine._RecordingMonitor.RegisterResource = original
    return Run(synthesis, registered, aliases, parents)


_RUNS: dict[str, Run] = {}


def run_example(example: str) -> Run:
    """The example under mocks (cached per process: treat it as read-only)."""
    if example not in _RUNS:
        project, config, secret_keys = example_config(example)
        _RUNS[example] = run_program(EXAMPLES_DIR / example / "__main__.py", project, config, secret_keys)
    return _RUNS[example]


# ------------------------------------------------------------------------------ URNs and aliases

def _split(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of `urn:pulumi:<stack>::<project>::<qualified type>::<name>`."""
    head, project, qualified, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified, name


def _urn(stack: str, project: str, qualified: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def former_urns(run: Run, urn: str, _memo: dict[str, set[str]] | None = None) -> set[str]:
    """Every URN the resource answers to: its own and those its aliases (and its parents') give it.

    Follows the engine: an alias spec replaces the name, type, stack, project or parent it sets and
    keeps the rest; a child of an aliased parent answers to the parent's former URNs too.
    """
    memo = {} if _memo is None else _memo
    if urn in memo:
        return memo[urn]
    memo[urn] = {urn}
    stack, project, qualified, name = _split(urn)
    type_ = qualified.rsplit("$", 1)[-1]
    parent = run.parents.get(urn, "")
    parent_urns = former_urns(run, parent, memo) if parent in run.parents else ({parent} if parent else set())
    out = {urn}

    def add(spec_name: str, spec_type: str, spec_stack: str, spec_project: str, parents: set[str]) -> None:
        for parent_urn in parents or {""}:
            # As the mock monitor builds URNs (pulumi.runtime.mocks.MockMonitor.make_urn): the parent's
            # own type, then `$`, then the type. The engine's chain is longer; the logic is the same.
            prefix = _split(parent_urn)[2].rsplit("$", 1)[-1] + "$" if parent_urn else ""
            out.add(_urn(spec_stack or stack, spec_project or project, prefix + (spec_type or type_),
                         spec_name or name))

    add("", "", "", "", parent_urns)  # the parent's former URNs alone
    for alias in run.aliases.get(urn, []):
        if alias.WhichOneof("alias") == "urn":
            out.add(alias.urn)
            continue
        spec = alias.spec
        if spec.WhichOneof("parent") == "noParent" and spec.noParent:
            parents: set[str] = set()
        elif spec.WhichOneof("parent") == "parentUrn" and spec.parentUrn:
            parents = {spec.parentUrn}
        else:
            parents = parent_urns
        add(spec.name, spec.type, spec.stack, spec.project, parents)
    memo[urn] = out
    return out


def registered_urns(run: Run) -> list[str]:
    """The URNs a program registers, the stack resource left out."""
    return sorted({u for u in run.registered if _split(u)[2] != "pulumi:pulumi:Stack"})


def live_urns() -> dict[str, list[str]]:
    """Per example, the URNs it registers."""
    return {example: registered_urns(run_example(example)) for example in example_names()}


def lost_in(run: Run, urns: list[str]) -> list[str]:
    """The URNs among `urns` that no resource of the run registers or answers to through an alias."""
    known: set[str] = set()
    memo: dict[str, set[str]] = {}
    for urn in set(run.registered):
        known |= former_urns(run, urn, memo)
    return sorted(set(urns) - known)


def lost_urns(pinned: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per example, the pinned URNs no resource registers or answers to through an alias any more."""
    lost = {}
    for example, urns in pinned.items():
        if not (EXAMPLES_DIR / example / "__main__.py").is_file():
            continue  # an example removed from the repository is no adopter's stack
        missing = lost_in(run_example(example), urns)
        if missing:
            lost[example] = missing
    return lost


def load_pinned_urns(path: Path = URNS_FILE) -> dict[str, list[str]] | None:
    return json.loads(path.read_text())["examples"] if path.exists() else None


def load_pinned_tokens(path: Path = URNS_FILE) -> dict[str, str] | None:
    """`component name -> Pulumi type token` at the pinned release (griffe cannot see these)."""
    return json.loads(path.read_text()).get("type_tokens") if path.exists() else None


def render_urns(version: str, urns: dict[str, list[str]], tokens: dict[str, str]) -> str:
    body = ",\n".join(f'    {json.dumps(example)}: [\n' + ",\n".join(f"      {json.dumps(u)}" for u in values) + "\n    ]"
                      for example, values in urns.items())
    token_lines = ",\n".join(f"    {json.dumps(name)}: {json.dumps(token)}" for name, token in tokens.items())
    return (f'{{\n  "version": {json.dumps(version)},\n  "type_tokens": {{\n{token_lines}\n  }},\n'
            f'  "examples": {{\n{body}\n  }}\n}}\n')
