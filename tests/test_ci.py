"""README's test command runs every test: it installs the tools first, and under CI=true a test
that finds its tool missing fails instead of skipping. `.ci/run` is that command, exactly."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import needs
from tools.synth import PROJECT_DIR

TESTS_DIR = PROJECT_DIR / "tests"
SCRIPT = PROJECT_DIR / "scripts" / "test"


def _skips(path: Path) -> list[str]:
    """Calls of `pytest.skip`/`importorskip`/`xfail` and `pytest.mark.skip[if]`/`xfail` markers in a file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in ("skip", "skipif", "importorskip", "xfail")
        marker = isinstance(node, ast.Attribute) and node.attr in ("skip", "skipif", "xfail") \
            and isinstance(node.value, ast.Attribute) and node.value.attr == "mark"
        if called or marker:
            found.add((node.lineno, f"{path.name}:{node.lineno} {ast.unparse(getattr(node, 'func', node))}"))
    return [text for _, text in sorted(found)]


def test_only_the_needs_helper_skips_so_ci_can_turn_a_missing_tool_into_a_failure():
    found = [s for p in sorted(TESTS_DIR.rglob("*.py")) if p != TESTS_DIR / "needs.py" for s in _skips(p)]
    assert not found, ("skip through tests/needs.py (`@pytest.mark.tools(...)` or `tool(name)`), which fails "
                       f"under CI=true: {found}")


def test_the_skip_scan_sees_skips(tmp_path):
    sample = tmp_path / "test_x.py"
    sample.write_text("import pytest\n@pytest.mark.skipif(True, reason='x')\ndef test_a():\n    pytest.skip('y')\n"
                      "np = pytest.importorskip('numpy')\n")
    assert [s.split()[0] for s in _skips(sample)] == ["test_x.py:2", "test_x.py:4", "test_x.py:5"]


def test_a_missing_tool_skips_on_a_laptop_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(needs, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool is not installed"):
        needs.tool("no-such-tool")
    monkeypatch.setattr(needs, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="Under CI=true a test that cannot run fails"):
        needs.tool("no-such-tool")
    assert needs.tool("bash").endswith("bash")


def test_the_tools_marker_fails_a_test_under_ci_before_it_runs(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n@pytest.mark.tools('no-such-tool')\ndef test_uses_it():\n    raise AssertionError('ran')\n")
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_setup  # noqa: F401\n")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
            "-o", "markers=tools(*names): x", str(tmp_path)]
    laptop = subprocess.run(args, cwd=tmp_path, env={**env, "CI": ""}, capture_output=True, text=True, timeout=120)
    assert laptop.returncode == 0 and "1 skipped" in laptop.stdout, laptop.stdout
    ci = subprocess.run(args, cwd=tmp_path, env={**env, "CI": "true"}, capture_output=True, text=True, timeout=120)
    assert ci.returncode == 1 and "no-such-tool is missing" in ci.stdout and "ran" not in ci.stdout, ci.stdout


def test_ci_run_is_readmes_command_and_the_command_installs_every_tool_the_tests_need():
    assert (PROJECT_DIR / ".ci" / "run").read_text().rstrip().splitlines()[-1] == "bash scripts/test"
    script = SCRIPT.read_text()
    for install in ("apt-get install", "-r requirements-dev.txt", "-r requirements-checkov.txt",
                    'export CHECKOV_BIN="$CHECKOV_VENV/bin/checkov"'):
        assert install in script, install
    # Stopping the packages' daemons must spare test servers running beside it (same names, other user).
    kills = re.findall(r"pkill[^\n]*", script)
    assert kills == ['pkill -u prometheus -x "$daemon" 2>/dev/null || true'], kills
    assert re.search(r"for daemon in prometheus prometheus-alertmanager prometheus-node-exporter; do", script)
    assert '/usr/sbin/nginx -s quit' in script, "Debian's nginx is stopped through its own pid file"
    apt = re.search(r"APT_PACKAGES=\(([^)]*)\)", script).group(1).split()
    debian = {how.removeprefix("Debian package ") for how in needs.HOW.values() if how.startswith("Debian package ")}
    assert sorted(apt) == sorted(debian), "scripts/test installs exactly the Debian packages tests/needs.py names"
    for name, how in needs.HOW.items():
        pin = re.search(r"pip package (\S+) \((requirements[\w-]*\.txt)", how)
        if pin:
            package, file = pin.groups()
            assert re.search(rf"^{re.escape(package)}==", (PROJECT_DIR / file).read_text(), re.MULTILINE), \
                f"{name}: {package} is not pinned in {file}"
            assert f"-r {file}" in script, f"{name}: scripts/test does not install {file}"


def _run_with_stubs(tmp_path: Path, pytest_exit: int) -> tuple[subprocess.CompletedProcess, Path]:
    """.ci/run with apt, pip, pytest and friends replaced by stubs that record their calls."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    stubs = {
        "python": f'echo "python $*" >> {calls}; case "$*" in *"-m pytest"*) exit {pytest_exit};; esac; exit 0',
        "dpkg": "exit 1",  # nothing installed: the script must install both packages
        "apt-get": f'echo "apt-get $*" >> {calls}',
        "systemctl": "exit 0", "pkill": "exit 0", "sudo": '"$@"', "id": "echo 0",
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    version = re.search(r"^checkov==(\S+)$", (PROJECT_DIR / "requirements-checkov.txt").read_text(), re.MULTILINE)
    (venv / "bin" / "checkov").write_text(f"#!/bin/bash\necho {version.group(1)}\n")
    (venv / "bin" / "checkov").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "CHECKOV_VENV": str(venv)}
    return subprocess.run(["bash", str(PROJECT_DIR / ".ci" / "run")], env=env, capture_output=True, text=True,
                          timeout=60, check=False), calls


@pytest.mark.parametrize("pytest_exit, expected", [(0, 0), (1, 1), (5, 5)])
def test_ci_installs_then_runs_pytest_and_no_tests_collected_is_a_failure(tmp_path, pytest_exit, expected):
    result, calls = _run_with_stubs(tmp_path, pytest_exit)
    assert result.returncode == expected, result.stderr
    lines = calls.read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if line.startswith("apt-get install"))
    assert "prometheus prometheus-alertmanager nginx-light jq" in lines[install]
    requirements = lines.index("python -m pip install -q --disable-pip-version-check -r requirements-dev.txt")
    assert lines[-1] == "python -m pytest -n 2" and install < requirements < len(lines) - 1, lines
    if pytest_exit == 5:
        assert "collected no tests" in result.stderr
