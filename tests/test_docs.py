"""Docs that are derived from code stay in step with it."""

from __future__ import annotations

import re

from tools.config_reference.__main__ import OUTPUT, render
from tools.synth import PROJECT_DIR


def test_the_config_reference_matches_the_schema():
    assert OUTPUT.read_text() == render(), "run `python -m tools.config_reference`"


def test_the_config_reference_documents_every_section_and_secret():
    text = OUTPUT.read_text()
    for section in ("aws", "network", "cluster", "gpuNodeGroup", "registry", "model", "monitoring"):
        assert f"`gpu-model-platform:{section}`" in text
    assert text.count("**secret** string") >= 3


def test_ci_runs_exactly_the_test_command_the_readme_gives():
    readme = (PROJECT_DIR / "README.md").read_text()
    ci = (PROJECT_DIR / ".ci" / "run").read_text()
    commands = re.findall(r"```sh\n(bash scripts/test)\n```", readme)
    assert len(commands) == 1, commands
    assert re.search(rf"^{re.escape(commands[0])}$", ci, re.MULTILINE), commands[0]


def test_readme_links_resolve():
    readme = (PROJECT_DIR / "README.md").read_text()
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)", readme):
        assert (PROJECT_DIR / target).exists(), target
