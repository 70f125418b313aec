"""examples/two-teams-shared-monitoring under the mocks the package ships: two teams, one cluster, one
monitoring stack, and each team's alerts reach only its own Slack channel (checked with amtool).

The program runs exactly as an adopter's test would run it: `gpu_model_platform.testing.run` (which
refuses a URN registered twice) around the example's `__main__.py`, with the config its Pulumi.yaml
declares.
"""

from __future__ import annotations

import runpy
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.needs import tool
from tools.api_surface.examples import EXAMPLES_DIR, STACK, example_config, load_checkout_as_package

EXAMPLE = "two-teams-shared-monitoring"
TEAMS = {"fraud": "fraud-detector", "churn": "churn-predictor"}


@cache
def registered():
    """The example's registrations under `gpu_model_platform.testing` (cached: read-only)."""
    package = load_checkout_as_package()
    testing = __import__(f"{package.__name__}.testing", fromlist=["run"])
    project, config, secret_keys = example_config(EXAMPLE)
    main = EXAMPLES_DIR / EXAMPLE / "__main__.py"
    return testing.run(lambda: runpy.run_path(str(main), run_name="__main__"), project=project, stack=STACK,
                       config=config, secret_keys=secret_keys)


def manifests(kind: str) -> list[dict]:
    return [r.inputs for r in registered() if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind]


def of_team(kind: str, team: str) -> dict:
    found = [m for m in manifests(kind) if (m["metadata"].get("labels") or {}).get("team") == team]
    assert len(found) == 1, f"one {kind} of team {team}: {[m['metadata'].get('name') for m in found]}"
    return found[0]


def amtool() -> str:
    return tool("amtool")  # skips on a laptop without it, fails under CI=true


def alertmanager_config(directory: Path) -> Path:
    [secret] = [m for m in manifests("Secret") if "alertmanager.yaml" in (m.get("stringData") or {})]
    path = directory / "alertmanager.yml"
    path.write_text(secret["stringData"]["alertmanager.yaml"])
    return path


def routes(config: Path, labels: dict[str, str]) -> list[str]:
    result = subprocess.run([amtool(), "config", "routes", "test", f"--config.file={config}",
                             *[f"{k}={v}" for k, v in sorted(labels.items())]],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(result.stdout.strip().split(","))


# ------------------------------------------------------------------------------ the program

def test_the_program_runs_under_the_shipped_mocks_with_no_urn_twice():
    types = {r.type for r in registered()}
    assert {"gpu-model-platform:index:MonitoringStack", "gpu-model-platform:index:ModelService",
            "gpu-model-platform:index:ModelMonitoring"} <= types
    urns = [r.urn for r in registered()]
    assert len(urns) == len(set(urns))


@pytest.mark.parametrize("team", TEAMS)
def test_each_model_runs_in_its_teams_existing_namespace_which_is_not_created(team):
    deployment = of_team("Deployment", team)
    assert deployment["metadata"] == {**deployment["metadata"], "name": TEAMS[team], "namespace": team}
    created = {m["metadata"]["name"] for m in manifests("Namespace")}
    assert team not in created, f"the {team} namespace is the platform team's: it must not be created (or deleted)"


@pytest.mark.parametrize("team", TEAMS)
def test_the_teams_servers_are_probed_on_their_own_health_paths(team):
    container = of_team("Deployment", team)["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "admin"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz/live", "port": "admin"}


def test_the_fraud_model_runs_on_a_gpu_and_the_churn_model_on_cpu():
    def limits(team: str) -> dict:
        return of_team("Deployment", team)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]

    assert limits("fraud")["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in limits("churn")
    assert "nodeSelector" not in of_team("Deployment", "churn")["spec"]["template"]["spec"]


def test_one_monitoring_stack_serves_both_teams():
    assert len([r for r in registered() if r.type == "gpu-model-platform:index:MonitoringStack"]) == 1
    assert len([r for r in registered() if r.type == "gpu-model-platform:index:ModelMonitoring"]) == 2


@pytest.mark.parametrize("team", TEAMS)
def test_every_alert_of_a_model_carries_its_team(team):
    rules = [r for g in of_team("PrometheusRule", team)["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert rules and all(r["labels"]["team"] == team for r in rules), team


# ------------------------------------------------------------------------------ routing, by amtool

@pytest.mark.slow
def test_the_rendered_alertmanager_config_passes_amtool(tmp_path):
    result = subprocess.run([amtool(), "check-config", str(alertmanager_config(tmp_path))], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("team", TEAMS)
def test_each_teams_alerts_reach_only_its_own_channel(team, tmp_path):
    config = alertmanager_config(tmp_path)
    rules = [r for g in of_team("PrometheusRule", team)["spec"]["groups"] for r in g["rules"] if "alert" in r]
    for rule in rules:
        assert routes(config, {"alertname": rule["alert"], **rule["labels"]}) == [f"{team}-slack"], rule["alert"]


@pytest.mark.slow
def test_alerts_of_no_team_reach_neither_team(tmp_path):
    # GPU alerts have no team: with only team receivers configured, nobody here is notified of them.
    assert routes(alertmanager_config(tmp_path), {"alertname": "GpuIdle", "severity": "warning",
                                                  "service": "gpu"}) == ["null"]


@pytest.mark.slow
def test_routing_ignores_a_team_that_has_no_receiver(tmp_path):
    assert routes(alertmanager_config(tmp_path), {"alertname": "ModelDown", "severity": "critical",
                                                  "team": "search"}) == ["null"]


def test_the_webhook_urls_stay_secret():
    [secret] = [r for r in registered() if r.type == "kubernetes:core/v1:Secret"
                and "alertmanager.yaml" in (r.inputs.get("stringData") or {})]
    assert "s3cr3t-fraud" in secret.inputs["stringData"]["alertmanager.yaml"], "the check must see where they are"
    everything_shown = str([r.masked_inputs for r in registered()])
    assert "s3cr3t-fraud" not in everything_shown and "s3cr3t-churn" not in everything_shown
