"""The library type-checks under mypy --strict (pyproject.toml [tool.mypy]), with zero errors.

Adopters type-check their programs against our hints (the package ships `py.typed`), so an error
here is one their checker would inherit. Re-run by hand with `python -m mypy`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

from tools.synth import PROJECT_DIR


def _mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=900, check=False)


def test_the_components_pass_mypy_strict_with_no_errors():
    result = _mypy()
    assert result.returncode == 0, f"mypy found errors (run `python -m mypy`):\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout


def test_the_type_check_is_strict_on_the_whole_library():
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == ["components"] and config["strict"] is True


def test_the_checker_reports_an_error_in_strict_mode(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def double(x):\n    return x * 2\n\n\nvalue: int = 'text'\n")
    result = _mypy("--strict", "--no-incremental", str(sample))
    assert result.returncode == 1
    assert "no-untyped-def" in result.stdout and "Incompatible types in assignment" in result.stdout
