"""The component library as adopters get it: a wheel of `gpu_model_platform`, and nothing else.

The wheel is built from this checkout (build files go to a temporary directory, so the tree stays
clean), installed with `--no-deps` into a throwaway target directory, and imported from there by a
fresh interpreter whose dependencies come from the current environment's site-packages.
"""

from __future__ import annotations

import ast
import email.message
import email.parser
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import trove_classifiers
import yaml

import components
from tools.release import read_version
from tools.synth import PROJECT_DIR

IMPORT_NAME = "gpu_model_platform"
COMPONENTS_DIR = PROJECT_DIR / "components"
PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
DATA_SUFFIXES = {".json", ".yaml", ".yml", ".tsv"}


def _version() -> str:
    return read_version(COMPONENTS_DIR / "_version.py")


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """Build the sdist, then the wheel from it (as the release workflow does), once per test process."""
    work = tmp_path_factory.mktemp("wheel-build")
    # setuptools reads this extra config file: its build and egg-info directories go outside the
    # checkout, so a stale `build/lib` can never slip a deleted module into the wheel.
    extra = work / "setuptools.cfg"
    extra.write_text(f"[build]\nbuild_base = {work / 'build'}\n[egg_info]\negg_base = {work}\n")
    env = {**os.environ, "DIST_EXTRA_CONFIG": str(extra), "PIP_NO_INDEX": "1"}
    # `python -m build` builds the wheel from the unpacked sdist, so a file the sdist forgets fails here.
    # --no-isolation: the pinned backend (setuptools, requirements-dev.txt) is already installed.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(PROJECT_DIR)],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    wheels, sdists = list((work / "dist").glob("*.whl")), list((work / "dist").glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, (wheels, sdists)
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def build(dists) -> Path:
    return dists["wheel"]


@pytest.fixture(scope="module")
def wheel_names(build) -> list[str]:
    with zipfile.ZipFile(build) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def installed(build, tmp_path_factory) -> Path:
    """The wheel installed (without dependencies) into a throwaway target directory."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(target),
         str(build)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"wheel install failed:\n{result.stdout}\n{result.stderr}"
    return target


def _run_from(target: Path, code: str) -> subprocess.CompletedProcess:
    # PYTHONPATH puts the installed copy first; the current site-packages supplies pulumi and
    # friends. The working directory is the target, so this checkout's `components` is not importable.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=target,
                          timeout=120, check=False)


def test_the_wheel_is_named_after_the_distribution_and_the_single_sourced_version(build):
    assert build.name == f"gpu_model_platform-{_version()}-py3-none-any.whl"


def test_the_wheel_holds_only_the_import_package_and_its_metadata(wheel_names):
    dist_info = f"gpu_model_platform-{_version()}.dist-info/"
    strays = [n for n in wheel_names if not n.startswith((f"{IMPORT_NAME}/", dist_info))]
    assert not strays, f"files outside {IMPORT_NAME}/ in the wheel: {strays}"
    # The policy pack ships as `gpu_model_platform.policy`, its pack directory included (tested below).
    program_files = [n for n in wheel_names if not n.startswith(f"{IMPORT_NAME}/policy/") and re.search(
        r"(^|/)(__main__\.py|Pulumi(\.[^/]+)?\.yaml|stack_config/|app/|tests?/|tools/|examples/|policy/|conftest\.py)",
        n)]
    assert not program_files, f"program-specific files came along: {program_files}"
    assert not [n for n in wheel_names if "__pycache__" in n or n.endswith(".pyc")]


def test_every_module_and_data_file_of_components_is_in_the_wheel(wheel_names):
    expected = sorted(
        f"{IMPORT_NAME}/{p.relative_to(COMPONENTS_DIR).as_posix()}"
        for p in COMPONENTS_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
        and (p.suffix in {".py", *DATA_SUFFIXES} or p.name == "py.typed"))
    missing = [n for n in expected if n not in wheel_names]
    packages = sorted({str(Path(n).parent).replace("/", ".") for n in missing if n.endswith(".py")})
    assert not missing, (f"not in the wheel: {missing}. Sub-packages must be listed in pyproject.toml "
                         f"[tool.setuptools] packages (here: {packages}); data files need a "
                         f"[tool.setuptools.package-data] pattern")
    assert f"{IMPORT_NAME}/py.typed" in wheel_names, "the PEP 561 marker makes type checkers read our hints"


def test_the_wheel_metadata_declares_the_runtime_dependencies_and_python(build):
    with zipfile.ZipFile(build) as archive:
        text = archive.read(f"gpu_model_platform-{_version()}.dist-info/METADATA").decode()
    metadata = email.parser.Parser().parsestr(text)
    assert metadata["Name"] == "gpu-model-platform"
    assert metadata["Version"] == _version()
    assert metadata["Requires-Python"] == PYPROJECT["project"]["requires-python"]
    required = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    assert _normalized(required) == _normalized(PYPROJECT["project"]["dependencies"])
    extra = [r.split(";")[0] for r in metadata.get_all("Requires-Dist") if 'extra == "policy"' in r]
    assert _normalized(extra) == _normalized(PYPROJECT["project"]["optional-dependencies"]["policy"])
    assert metadata.get_all("Provides-Extra") == ["policy"]


def _metadata(build: Path) -> email.message.Message:
    with zipfile.ZipFile(build) as archive:
        text = archive.read(f"gpu_model_platform-{_version()}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


# SHA-256 of the Apache License 2.0 as the ASF publishes it (https://www.apache.org/licenses/LICENSE-2.0.txt;
# the same bytes as Debian's /usr/share/common-licenses/Apache-2.0, which LICENSE was copied from).
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_the_licence_is_the_verbatim_apache_2_0_text():
    assert hashlib.sha256((PROJECT_DIR / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256, (
        "LICENSE differs from the official Apache License 2.0 text: restore it verbatim (project notices go in NOTICE)")


def test_the_wheel_and_the_sdist_carry_the_licence_and_the_notice(dists, wheel_names):
    for name in ("LICENSE", "NOTICE"):
        member = f"gpu_model_platform-{_version()}.dist-info/licenses/{name}"
        assert member in wheel_names, f"{name} is not in the wheel (pyproject.toml license-files)"
        with zipfile.ZipFile(dists["wheel"]) as archive:
            assert archive.read(member) == (PROJECT_DIR / name).read_bytes(), name
    with tarfile.open(dists["sdist"]) as archive:
        names = archive.getnames()
    root = f"gpu_model_platform-{_version()}"
    assert {f"{root}/LICENSE", f"{root}/NOTICE", f"{root}/pyproject.toml"} <= set(names), names
    assert not [n for n in names if n.startswith(f"{root}/tests/")], "MANIFEST.in prunes tests/ from the sdist"


def test_the_wheel_metadata_names_the_licence_the_authors_and_where_the_project_lives(build):
    metadata = _metadata(build)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert sorted(metadata.get_all("License-File")) == ["LICENSE", "NOTICE"]
    assert metadata["Author"] and metadata["Maintainer"], "authors and maintainers in pyproject.toml [project]"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert {"Homepage", "Source", "Documentation", "Changelog", "Issues"} <= set(urls), urls
    source = urls["Source"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", source), source
    assert all(u.startswith(source) for u in urls.values()), f"every link points into {source}: {urls}"


def test_the_classifiers_are_known_to_pypi_and_name_no_licence():
    classifiers = PYPROJECT["project"]["classifiers"]
    unknown = [c for c in classifiers if c not in trove_classifiers.classifiers]
    assert not unknown, f"PyPI rejects unknown classifiers: {unknown}"
    # PEP 639: with a `license` expression, licence classifiers are refused.
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert f"Programming Language :: Python :: {PYPROJECT['project']['requires-python'].removeprefix('>=')}" \
        in classifiers


def _normalized(requirements: list[str]) -> list[tuple[str, list[str]]]:
    """`(name, sorted specifiers)`: the metadata writer may reorder a requirement's specifiers."""
    out = []
    for requirement in requirements:
        name = _requirement_name(requirement)
        specifiers = requirement[len(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)):]
        out.append((name, sorted(s.strip() for s in specifiers.split(",") if s.strip())))
    return sorted(out)


def test_the_installed_package_imports_from_outside_the_checkout_with_its_public_api(installed):
    code = f"""
import importlib.metadata, json, {IMPORT_NAME} as p
print(json.dumps({{
    "file": p.__file__,
    "all": list(p.__all__),
    "resolved": [n for n in p.__all__ if getattr(p, n, None) is not None],
    "module_of": {{n: getattr(getattr(p, n), "__module__", "") for n in p.__all__}},
    "dist_version": importlib.metadata.version("gpu-model-platform"),
}}))
"""
    result = _run_from(installed, code)
    assert result.returncode == 0, f"importing {IMPORT_NAME} from the wheel failed:\n{result.stderr}"
    seen = json.loads(result.stdout)
    assert Path(seen["file"]).is_relative_to(installed), seen["file"]
    assert seen["all"] == list(components.__all__)
    assert seen["resolved"] == seen["all"], "every name in __all__ must exist in the installed package"
    wrong_home = {n: m for n, m in seen["module_of"].items() if m and not m.startswith(IMPORT_NAME)}
    assert not wrong_home, f"public names defined outside the package (absolute imports?): {wrong_home}"
    assert seen["dist_version"] == _version()


def test_the_package_reexports_its_single_sourced_version(installed):
    result = _run_from(installed, f"import {IMPORT_NAME} as p; print(getattr(p, '__version__', None))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _version(), (
        f"{IMPORT_NAME}.__version__ is {result.stdout.strip()}: components/__init__.py must say "
        "`from ._version import __version__` (and keep `__version__` out of __all__)")


def test_the_installed_components_work_under_mocks(installed):
    # One component end to end from the installed copy: proves data and relative imports resolve there.
    code = f"""
import pulumi, {IMPORT_NAME} as p

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", args.inputs
    def call(self, args):
        return {{}}

pulumi.runtime.set_mocks(Mocks(), preview=False)
service = p.ModelService("m", p.ModelServiceArgs(image="r/m@sha256:" + "0" * 64, name="m"))
print(pulumi.runtime.sync_await._sync_await(service.service_name.future()))
"""
    result = _run_from(installed, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "m"


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level modules the components import, outside the standard library, with the files."""
    found: dict[str, list[str]] = {}
    for path in sorted(COMPONENTS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, []).append(path.name)
    return found


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_declared_dependencies_are_exactly_what_the_components_import():
    distributions = importlib.metadata.packages_distributions()
    imported = {}
    for module, files in _third_party_imports().items():
        dists = distributions.get(module)
        assert dists, f"{module} (imported by {files}) is not installed"
        imported[dists[0].lower().replace("_", "-")] = files
    declared = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not set(imported) - declared, (
        f"components import {sorted(set(imported) - declared)} (in {imported}) but pyproject.toml "
        "[project] dependencies does not declare them: adopters' installs would fail")
    assert not declared - set(imported), f"declared but never imported by components: {sorted(declared - set(imported))}"


def test_dependency_lower_bounds_are_the_versions_ci_tests():
    pins = {}
    for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#")[0].strip().split("==")
            pins[_requirement_name(name)] = version
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = _requirement_name(requirement)
        lower = re.search(r">=\s*([0-9][^,;\s]*)", requirement)
        upper = re.search(r"<\s*([0-9]+)\b", requirement)
        assert lower and upper, f"{requirement}: give a range >=tested,<next-major"
        assert name in pins, f"{requirement}: pin the tested version in requirements.txt"
        assert lower.group(1) == pins[name], f"{requirement}: lower bound must be the tested pin {pins[name]}"
        assert int(upper.group(1)) == int(pins[name].split(".")[0]) + 1, f"{requirement}: upper bound is the next major"


def test_the_build_backend_and_frontend_are_pinned_and_installed_for_offline_builds():
    requires = PYPROJECT["build-system"]["requires"]
    assert all("==" in r for r in requires), requires
    for requirement in requires:
        name, version = requirement.split("==")
        assert importlib.metadata.version(name) == version, (
            f"{requirement} is the build backend; requirements-dev.txt must install the same version")
    dev_pins = (PROJECT_DIR / "requirements-dev.txt").read_text()
    frontend = re.search(r"^build==(\S+)$", dev_pins, re.MULTILINE)
    assert frontend, "requirements-dev.txt pins `build`, the frontend the release workflow runs"
    assert importlib.metadata.version("build") == frontend.group(1)


def test_the_shipped_mocks_test_a_program_from_the_installed_wheel(installed):
    # What an adopter's test does: the components and the mocks both from the wheel, invokes answered
    # (GpuNodeGroup reads the AWS partition), and a URN registered twice refused.
    code = f"""
import pulumi, {IMPORT_NAME} as p
from {IMPORT_NAME}.testing import DuplicateUrn, run

def program():
    p.GpuNodeGroup("gpu", p.GpuNodeGroupArgs(cluster_name="c", subnet_ids=["subnet-1", "subnet-2"]))
    p.ModelService("m", p.ModelServiceArgs(image="r/m@sha256:" + "0" * 64))

result = run(program)
print(result.one("aws:eks/nodeGroup:NodeGroup").inputs["amiType"])
print(result.one("kubernetes:apps/v1:Deployment").inputs["metadata"]["name"])
try:
    run(lambda: [pulumi.CustomResource("test:index:Thing", "same") for _ in range(2)])
except DuplicateUrn as error:
    print("duplicate refused")
"""
    result = _run_from(installed, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["AL2023_x86_64_NVIDIA", "m", "duplicate", "refused"]


POLICY_SOURCE = PROJECT_DIR / "policy" / "platform_policies"


def test_the_policy_packs_policies_and_its_pack_directory_are_in_the_wheel(wheel_names):
    expected = {f"{IMPORT_NAME}/policy/{p.relative_to(POLICY_SOURCE).as_posix()}" for p in POLICY_SOURCE.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    shipped = {n for n in wheel_names if n.startswith(f"{IMPORT_NAME}/policy/")}
    assert shipped == expected, (sorted(expected - shipped), sorted(shipped - expected))
    assert {f"{IMPORT_NAME}/policy/pack/__main__.py", f"{IMPORT_NAME}/policy/pack/PulumiPolicy.yaml"} <= shipped


def test_the_policy_extra_requires_the_pulumi_policy_version_the_pack_is_tested_with():
    pins = dict(line.split("==") for line in (PROJECT_DIR / "policy" / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for requirement in PYPROJECT["project"]["optional-dependencies"]["policy"]:
        name = _requirement_name(requirement)
        assert re.search(rf">={re.escape(pins[name])},<{int(pins[name].split('.')[0]) + 1}$", requirement), requirement


def test_the_installed_policy_pack_is_one_command_away_and_runs_every_policy(installed):
    # What Pulumi does with `--policy-pack DIR`: run DIR's __main__.py (pulumi/policy/__main__.py: runpy.run_path)
    # with the Python on PATH. PolicyPack is recorded instead of serving gRPC.
    code = f"""
import json, runpy, subprocess, sys
import pulumi_policy
built = {{}}
pulumi_policy.PolicyPack = lambda **kwargs: built.update(kwargs)
pack = subprocess.run([sys.executable, "-m", "{IMPORT_NAME}.policy"], capture_output=True, text=True,
                      check=True).stdout.strip()
runpy.run_path(pack, run_name="__main__")
print(json.dumps({{"pack": pack, "name": built["name"], "level": built["enforcement_level"].value,
                  "policies": [p.name for p in built["policies"]]}}))
"""
    result = _run_from(installed, code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    pack = Path(seen["pack"])
    assert pack.is_relative_to(installed) and (pack / "__main__.py").is_file(), seen["pack"]
    project = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    # No virtualenv of its own: the adopter's environment, where the library is installed, runs it.
    assert project["runtime"] == "python" and project["version"] == _version(), project
    from policy.platform_policies import PACK_NAME, all_policies
    assert seen["name"] == PACK_NAME and seen["level"] == "mandatory"
    assert seen["policies"] == [p.name for p in all_policies()]
