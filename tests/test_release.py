"""Releases: CHANGELOG.md describes the version, the release workflow applies that same rule, tags
and publishes only a new version, and the install lines in the docs name something that exists.

The workflow's own shell steps are run here (in a scratch git repository holding the files they
read), so what is tested is what GitHub runs; actionlint and GitHub's schema check the rest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.needs import tool
from tools.release import (
    CHANGELOG_FILE,
    changelog_problems,
    main,
    read_version,
    release_notes,
    repository_problems,
)
from tools.synth import PROJECT_DIR

WORKFLOW_FILE = PROJECT_DIR / ".github" / "workflows" / "release.yml"
WORKFLOW = yaml.safe_load(WORKFLOW_FILE.read_text())
PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
SOURCE_URL = PYPROJECT["project"]["urls"]["Source"]
# Each action at the commit its tag names, read with `git rev-parse <tag>^{commit}` in the fetched
# repositories (github.com/actions/checkout, setup-python, upload-artifact, download-artifact).
PINNED_ACTIONS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}

GOOD = """# Changelog

## [Unreleased]

### Added
- Something not released yet.

## [0.2.0] - 2026-12-01

### Changed
- `ModelService` takes a team.

## [0.1.0] - 2026-11-25

### Added
- First release.
"""


def _step(job: str, name_part: str) -> dict:
    return next(s for s in WORKFLOW["jobs"][job]["steps"] if name_part in s.get("name", ""))


# ------------------------------------------------------------------------------ the CHANGELOG rule

def test_the_changelog_describes_the_current_version_as_its_newest_release():
    problems = changelog_problems(CHANGELOG_FILE.read_text(), read_version())
    assert not problems, "\n".join(problems)


def test_a_dated_newest_section_with_entries_passes_and_its_body_is_the_release_notes():
    assert changelog_problems(GOOD, "0.2.0") == []
    assert release_notes(GOOD, "0.2.0") == "### Changed\n- `ModelService` takes a team.\n"


@pytest.mark.parametrize("changelog, version, expected", [
    (GOOD, "0.3.0", "no `## [0.3.0] - YYYY-MM-DD` section"),
    (GOOD, "0.1.0", "the newest section is [0.2.0], not [0.1.0]"),
    (GOOD.replace("## [0.2.0] - 2026-12-01", "## [0.2.0]"), "0.2.0", "must end with ` - YYYY-MM-DD`"),
    (GOOD.replace("2026-12-01", "2026-13-01"), "0.2.0", "2026-13-01 is not a date"),
    (GOOD.replace("### Changed\n- `ModelService` takes a team.\n", ""), "0.2.0", "list the changes"),
    (GOOD, "0.2", "must be MAJOR.MINOR.PATCH"),
])
def test_the_rule_refuses_a_changelog_that_does_not_describe_the_version(changelog, version, expected):
    problems = changelog_problems(changelog, version)
    assert any(expected in p for p in problems), problems


def test_the_metadata_must_point_at_the_repository_that_releases():
    assert repository_problems(PYPROJECT, SOURCE_URL) == []
    [problem] = repository_problems(PYPROJECT, "https://github.com/someone/fork")
    assert "Source" in problem and "https://github.com/someone/fork" in problem


# ------------------------------------------------------------------------------ the workflow's steps, run

def _scratch_repository(tmp_path: Path, changelog: str | None = None) -> Path:
    """A git repository with the files the release steps read (this checkout's, or a given CHANGELOG)."""
    root = tmp_path / "repo"
    for relative in ("tools/__init__.py", "tools/release.py", "components/_version.py", "pyproject.toml"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / relative, root / relative)
    (root / "CHANGELOG.md").write_text(changelog if changelog is not None else CHANGELOG_FILE.read_text())
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    return root


def _run_step(step: dict, cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    output = cwd / "github_output"
    output.write_text("")
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"
    environment = {**os.environ, **env, "GITHUB_OUTPUT": str(output), "PATH": path}
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=cwd, env=environment,
                            capture_output=True, text=True, timeout=60, check=False)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result, values


def test_the_version_step_releases_a_version_only_while_it_has_no_tag(tmp_path):
    root = _scratch_repository(tmp_path)
    step = _step("build", "Version")
    result, outputs = _run_step(step, root, {})
    assert result.returncode == 0, result.stderr
    assert outputs == {"version": read_version(), "new": "true"}
    subprocess.run(["git", "-C", str(root), "tag", f"v{read_version()}"], check=True)
    result, outputs = _run_step(step, root, {})
    assert outputs["new"] == "false" and "tagged already" in result.stdout


def test_the_changelog_step_applies_the_tested_rule_and_writes_the_notes(tmp_path):
    step = _step("build", "CHANGELOG.md describes the version")
    assert "python -m tools.release check" in step["run"]
    assert step["env"]["REPOSITORY_URL"] == "${{ github.server_url }}/${{ github.repository }}"
    root = _scratch_repository(tmp_path / "good")
    result, _ = _run_step(step, root, {"REPOSITORY_URL": SOURCE_URL})
    assert result.returncode == 0, result.stderr
    assert (root / "dist" / "release-notes.md").read_text() == release_notes(CHANGELOG_FILE.read_text(), read_version())

    undescribed = re.sub(rf"^## \[{re.escape(read_version())}\].*$", "## [9.9.9] - 2026-01-01",
                         CHANGELOG_FILE.read_text(), flags=re.MULTILINE)
    root = _scratch_repository(tmp_path / "bad", undescribed)
    result, _ = _run_step(step, root, {"REPOSITORY_URL": SOURCE_URL})
    expected = changelog_problems(undescribed, read_version())
    assert result.returncode != 0 and expected and all(p in result.stderr for p in expected), result.stderr

    root = _scratch_repository(tmp_path / "fork")
    result, _ = _run_step(step, root, {"REPOSITORY_URL": "https://github.com/someone/fork"})
    assert result.returncode != 0 and "[project.urls] Source" in result.stderr


def test_the_cli_prints_the_version_read_without_importing_the_package(capsys):
    assert main(["version"]) == 0 and capsys.readouterr().out.strip() == read_version()


# ------------------------------------------------------------------------------ the workflow's shape

def test_the_workflow_runs_on_a_version_change_on_main_or_by_hand():
    on = WORKFLOW.get("on", WORKFLOW.get(True))
    assert on == {"push": {"branches": ["main"], "paths": ["components/_version.py"]}, "workflow_dispatch": None}
    assert WORKFLOW["concurrency"] == {"group": "release", "cancel-in-progress": False}


def test_only_the_publishing_job_may_write_and_only_contents():
    assert WORKFLOW["permissions"] == {}
    assert WORKFLOW["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert WORKFLOW["jobs"]["release"]["permissions"] == {"contents": "write"}


def test_the_release_publishes_the_built_files_as_v_version_at_the_built_commit_only_for_a_new_version():
    release = WORKFLOW["jobs"]["release"]
    assert release["needs"] == "build"
    assert release["if"] == "needs.build.outputs.new == 'true' && github.ref == 'refs/heads/main'"
    build = _step("build", "Build the sdist")
    assert "python -m build --outdir dist ." in build["run"] and "^build==' requirements-dev.txt" in build["run"]
    for name in ("dist/gpu_model_platform-$VERSION-py3-none-any.whl", "dist/gpu_model_platform-$VERSION.tar.gz"):
        assert f'test -f "{name}"' in build["run"], name
    assert _step("release", "publish")["env"] == {
        "GH_TOKEN": "${{ github.token }}", "GH_REPO": "${{ github.repository }}",
        "VERSION": "${{ needs.build.outputs.version }}", "TARGET": "${{ github.sha }}"}


def test_the_publish_step_tags_the_built_commit_and_attaches_both_files_and_the_notes(tmp_path):
    # `gh` replaced by a stub that records its arguments, one per line.
    bin_dir, calls = tmp_path / "bin", tmp_path / "gh-calls"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\n')
    (bin_dir / "gh").chmod(0o755)
    result, _ = _run_step(_step("release", "publish"), tmp_path, {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VERSION": "1.2.3", "TARGET": "abc123"})
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        "release", "create", "v1.2.3",
        "dist/gpu_model_platform-1.2.3-py3-none-any.whl", "dist/gpu_model_platform-1.2.3.tar.gz",
        "--target", "abc123", "--title", "gpu-model-platform 1.2.3", "--notes-file", "dist/release-notes.md"]


def test_every_action_is_pinned_to_the_commit_of_the_tag_in_its_comment():
    lines = [line.strip() for line in WORKFLOW_FILE.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines
    for line in lines:
        match = re.fullmatch(r"(?:-\s+)?uses: ([\w-]+/[\w-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", line)
        assert match, f"not pinned by SHA with its version: {line}"
        assert PINNED_ACTIONS[match.group(1)] == (match.group(2), match.group(3)), line
    checkouts = [s for job in WORKFLOW["jobs"].values() for s in job["steps"] if "checkout" in s.get("uses", "")]
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_the_release_workflow_passes_actionlint_and_githubs_schema():
    result = subprocess.run([tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), str(WORKFLOW_FILE)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW_FILE)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------ what the docs tell adopters

INSTALL_DOCS = [PROJECT_DIR / "README.md", PROJECT_DIR / "docs" / "getting-started.md"]


@pytest.mark.parametrize("doc", INSTALL_DOCS, ids=lambda p: p.name)
def test_the_install_lines_name_this_repository_at_a_commit_or_the_current_release_tag(doc):
    references = re.findall(r"git\+(https://[^@\s`]+)@([^\s`)]+)", doc.read_text())
    assert references, f"{doc.name} shows no install line"
    for url, ref in references:
        assert url == SOURCE_URL, f"{doc.name}: {url} is not pyproject's Source {SOURCE_URL}"
        assert ref in ("<commit>", f"v{read_version()}"), f"{doc.name}: @{ref}"
    text = " ".join(doc.read_text().split())
    assert "@<commit>" in text and ".github/workflows/release.yml" in text, doc.name


def test_pip_installs_the_package_from_git_at_a_commit(tmp_path):
    # What `gpu-model-platform @ git+<url>@<commit>` makes pip do, with this checkout as the remote.
    head = subprocess.run(["git", "-C", str(PROJECT_DIR), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--wheel-dir", str(tmp_path), f"gpu-model-platform @ git+file://localhost{PROJECT_DIR}@{head}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    committed = subprocess.run(["git", "-C", str(PROJECT_DIR), "show", f"{head}:components/_version.py"],
                               capture_output=True, text=True, check=True).stdout
    version = re.search(r'__version__ = "([^"]+)"', committed).group(1)
    assert [p.name for p in tmp_path.glob("*.whl")] == [f"gpu_model_platform-{version}-py3-none-any.whl"]
