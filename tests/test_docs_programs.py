"""Every documented program runs: each ```python block marked `<!-- program: <name> -->` in README.md or docs/ is
a whole program, run here under the shipped mocks against this checkout as `gpu_model_platform`, and type-checked
with `mypy --strict` together with the examples (examples/*/__main__.py). Config it reads gets the examples'
sample values (tools/api_surface/examples.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.api_surface.examples import EXAMPLES_DIR, SAMPLE_SECRETS, SAMPLE_VALUES, run_program
from tools.synth import PROJECT_DIR

MARKER = re.compile(r"<!-- program: ([a-z0-9-]+) -->\n```python\n(.*?)```", re.DOTALL)
DOCS = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").rglob("*.md"))]


def documented_programs() -> dict[str, str]:
    """Name -> source of every marked program; a name used twice is an error."""
    found: dict[str, str] = {}
    for doc in DOCS:
        for name, code in MARKER.findall(doc.read_text()):
            assert name not in found, f"program {name!r} is marked twice"
            found[name] = code
    return found


PROGRAMS = documented_programs()


def _config(code: str) -> tuple[dict[str, str], list[str]]:
    """Sample values for the keys the program requires (`require`, `require_secret`, `require_object`)."""
    import json

    config, secrets = {}, []
    for kind, key in re.findall(r'require(_secret|_object)?\("([A-Za-z]+)"\)', code):
        full = f"docs-program:{key}"
        if kind == "_secret":
            config[full] = SAMPLE_SECRETS[key]
            secrets.append(full)
        else:
            value = SAMPLE_VALUES[key]
            config[full] = value if isinstance(value, str) else json.dumps(value)
    return config, secrets


def test_the_getting_started_endpoint_program_is_marked():
    assert "docs-endpoint" in PROGRAMS


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_documented_program_runs_under_the_mocks(name, tmp_path):
    main = tmp_path / "__main__.py"
    main.write_text(PROGRAMS[name])
    config, secrets = _config(PROGRAMS[name])
    run = run_program(main, "docs-program", config, secrets)
    assert run.synthesis.resources, f"{name} declared nothing"
    assert [r for r in run.synthesis.resources if r.type.startswith("gpu-model-platform:index:")]


def test_the_documented_programs_and_the_examples_type_check_strictly(tmp_path):
    """One mypy run over all of them, with `gpu_model_platform` resolving to this checkout's components/."""
    (tmp_path / "gpu_model_platform").symlink_to(PROJECT_DIR / "components", target_is_directory=True)
    # Every program is a `__main__`: each gets a module name of its own.
    sources = {f"doc_{name}": code for name, code in PROGRAMS.items()}
    sources |= {f"example_{p.parent.name}": p.read_text() for p in sorted(EXAMPLES_DIR.glob("*/__main__.py"))}
    files = []
    for module, code in sources.items():
        files.append(tmp_path / f"{module.replace('-', '_')}.py")
        files[-1].write_text(code)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file", str(_config_file(tmp_path)),
                             "--cache-dir", str(PROJECT_DIR / ".mypy_cache"), *map(str, files)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr


def _config_file(tmp_path: Path) -> Path:
    """Strict mypy, nothing else of this repository's configuration."""
    config = tmp_path / "mypy.ini"
    # The library's own settings (pyproject.toml), so the cache of its last check (and of Pulumi's SDKs) is reused.
    config.write_text("[mypy]\nstrict = True\npython_version = 3.11\n\n"
                      "[mypy-IPython,IPython.*]\nfollow_imports = skip\n")
    return config
