"""The outside adopter's path, once end to end: the wheel built from this checkout, installed into a fresh virtual
environment (its dependencies from this environment's site-packages, as a pinned requirements file would give
them), and examples/platform-team copied outside the repository and run there under the package's shipped mocks,
against the installed package only (this checkout's `components/` is not importable there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.api_surface.examples import EXAMPLES_DIR, example_config, run_example
from tools.synth import PROJECT_DIR

# What the adopter's own test does, from the example's directory: the program under `gpu_model_platform.testing`.
RUNNER = """
import json, runpy, sys
import gpu_model_platform
from gpu_model_platform.testing import run

project, config, secret_keys = json.loads(sys.stdin.read())
result = run(lambda: runpy.run_path("__main__.py"), project=project, config=config, secret_keys=secret_keys)
print(json.dumps({"package": gpu_model_platform.__file__,
                  "resources": sorted([r.type, r.name] for r in result.registrations),
                  "outputs": sorted(result.stack_outputs)}))
"""


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def adopter_venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this checkout installed, nothing else of the repository."""
    work = tmp_path_factory.mktemp("adopter")
    # Build files outside the checkout (as tests/test_package.py does), so the tree stays clean.
    extra = work / "setuptools.cfg"
    extra.write_text(f"[build]\nbuild_base = {work / 'build'}\n[egg_info]\negg_base = {work}\n")
    env = {**os.environ, "DIST_EXTRA_CONFIG": str(extra), "PIP_NO_INDEX": "1"}
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist"),
                    str(PROJECT_DIR)], capture_output=True, text=True, env=env, timeout=300, check=True)
    [wheel] = (work / "dist").glob("*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], timeout=120, check=True)
    subprocess.run([str(_venv_python(venv)), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], capture_output=True, text=True, timeout=120, check=True)
    return venv


@pytest.mark.slow
def test_the_platform_team_example_runs_from_outside_the_repository_against_the_installed_wheel(
        adopter_venv, tmp_path):
    program = tmp_path / "platform-team"
    shutil.copytree(EXAMPLES_DIR / "platform-team", program)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    result = subprocess.run([str(_venv_python(adopter_venv)), "-c", RUNNER], cwd=program, env=env,
                            input=json.dumps(example_config("platform-team")), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(ran["package"]).is_relative_to(adopter_venv), f"imported {ran['package']}, not the installed wheel"
    # The same program run from this checkout declares the same resources and outputs.
    here = run_example("platform-team").synthesis
    assert ran["resources"] == sorted([r.type, r.name] for r in here.resources)
    assert ran["outputs"] == sorted(here.stack_outputs)
    assert ["gpu-model-platform:index:ModelCanary", "fraud-detector-canary"] in ran["resources"]


@pytest.mark.slow
def test_the_installed_package_names_its_own_policy_pack_directory(adopter_venv, tmp_path):
    # What `pulumi preview --policy-pack "$(python -m gpu_model_platform.policy)"` runs (docs/getting-started.md).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    result = subprocess.run([str(_venv_python(adopter_venv)), "-m", "gpu_model_platform.policy"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    pack = Path(result.stdout.strip())
    assert pack.is_relative_to(adopter_venv), pack
    assert (pack / "PulumiPolicy.yaml").is_file() and (pack / "__main__.py").is_file()
