"""Every alert's runbook_url resolves to a section of docs/runbooks.md that says what to do."""

from __future__ import annotations

import re

import pytest

from components.observability.model_monitoring import ModelMonitoringArgs, model_rules
from components.observability.monitoring_rules import (
    RUNBOOKS_URL,
    RolloutSignals,
    TokenLatencyObjectives,
    alert_names,
    gpu_rule_groups,
)
from components.serving.model_service import ServedModel
from components.serving.runtimes import VLLM
from tools.synth import PROJECT_DIR

RUNBOOKS = PROJECT_DIR / RUNBOOKS_URL
GROUPS = model_rules(ModelMonitoringArgs(model=ServedModel("m"), rollout=RolloutSignals("m"),
                                         runbook_url=RUNBOOKS_URL)) + gpu_rule_groups(runbook_url=RUNBOOKS_URL) + [
    # An LLM server's token-latency alerts (vLLM's profile).
    g for g in model_rules(ModelMonitoringArgs(model=ServedModel("m", runtime=VLLM), runbook_url=RUNBOOKS_URL,
                                               tokens=TokenLatencyObjectives(2.0, 0.1))) if g["name"] == "m.alerts"]


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections() -> dict[str, str]:
    """Second-level sections of the runbooks by anchor, with their text."""
    parts = re.split(r"^## (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {github_anchor(title): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


@pytest.mark.parametrize("rule", [r for g in GROUPS for r in g["rules"] if "alert" in r],
                         ids=lambda r: f"{r['alert']}-{r['labels'].get('window', r['labels']['severity'])}")
def test_the_runbook_url_points_at_a_section_of_the_runbooks(rule):
    path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert path == RUNBOOKS_URL and RUNBOOKS.is_file()
    assert anchor in sections(), f"{rule['alert']}: no section #{anchor} in {RUNBOOKS_URL}"


@pytest.mark.parametrize("alert", alert_names(GROUPS))
def test_each_runbook_says_what_it_means_how_to_confirm_it_and_what_to_do(alert):
    body = sections()[alert.lower()]
    for part in ("**Means.**", "**Confirm.**", "**Act.**"):
        assert part in body, f"{alert}: missing {part}"


def test_links_between_runbooks_resolve():
    text = RUNBOOKS.read_text()
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in sections(), anchor


def test_the_anchor_check_would_see_a_missing_section():
    assert "modeldown" in sections() and "modelisfine" not in sections()
    assert github_anchor("GpuXidError") == "gpuxiderror"
