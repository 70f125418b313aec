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


# Paths of *other* projects that the docs cite as sources (each beside the upstream repository it names), and
# files the documented commands create (training writes app/artifacts/). Anything else must exist here.
UPSTREAM_OR_GENERATED = {
    "docs/parameters.md",                # aws-ebs-csi-driver, cited with its tag in docs/aws-platform.md
    "docs/upgrading/compatibility.md",   # aws/karpenter-provider-aws, cited in docs/aws-platform.md and autoscaling.md
    "docs/install.md",                   # aws-ebs-csi-driver, cited in docs/aws-platform.md
    "app/artifacts", "app/artifacts/", "app/artifacts/model.onnx",  # written by `python train.py`
}
_REPO_PATH = re.compile(r"`((?:\.github|\.ci|app|bench|components|docs|examples|policy|scripts|stack_config|tests|tools)"
                        r"/[A-Za-z0-9_./-]+)`")


def _documents() -> list:
    return [PROJECT_DIR / "README.md", PROJECT_DIR / "app" / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md")),
            *sorted((PROJECT_DIR / "examples").glob("*/README.md")), *sorted(PROJECT_DIR.glob("Pulumi.*.yaml"))]


def test_every_repository_path_a_document_names_exists():
    missing = [f"{doc.relative_to(PROJECT_DIR)}: {path}"
               for doc in _documents() for path in _REPO_PATH.findall(doc.read_text())
               if path.rstrip(".") not in UPSTREAM_OR_GENERATED and not (PROJECT_DIR / path.rstrip(".")).exists()]
    assert not missing, missing


def test_the_path_check_sees_a_missing_path():
    assert _REPO_PATH.findall("see `tools/synth/fakes/aws.py` and `docs/cost.md`") == \
        ["tools/synth/fakes/aws.py", "docs/cost.md"]
    assert not (PROJECT_DIR / "tools/synth/fakes/aws.py").exists()


def test_the_readmes_config_table_lists_exactly_the_sections_the_loader_accepts():
    from stack_config.schema import StackConfig

    readme = (PROJECT_DIR / "README.md").read_text()
    table = readme[readme.index("| section | what it sets |"):]
    table = table[:table.index("\n\n")]
    documented = re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)
    accepted = [field.alias or name for name, field in StackConfig.model_fields.items()]
    assert sorted(documented) == sorted(accepted)


def _readme() -> str:
    return (PROJECT_DIR / "README.md").read_text()


def test_the_readmes_first_command_installs_only_the_locked_program_requirements_without_torch_or_cuda():
    from tools.locks import lock_pins

    first = re.search(r"```sh\n(python -m pip install -r (\S+) && python -m tools\.synth [^\n]*)\n```", _readme())
    assert first and first.group(2) == "requirements.txt", "the first command installs only what the synth needs"
    pins = lock_pins((PROJECT_DIR / "requirements.lock").read_text())
    assert pins and not [name for name in pins if name == "torch" or name.startswith("nvidia-")], pins


def test_the_readme_names_every_debian_package_and_every_daemon_the_test_script_stops():
    script = (PROJECT_DIR / "scripts" / "test").read_text()
    packages = re.search(r"^APT_PACKAGES=\(([^)]*)\)", script, re.MULTILINE).group(1).split()
    readme = _readme()
    section = readme[readme.index("It first installs what the tests drive for real"):readme.index("## Real use")]
    assert packages and all(f"`{p}`" in section for p in packages), packages
    stopped = re.search(r"systemctl stop ([^\n]*?) 2>", script).group(1)
    assert f"`systemctl stop {stopped}`" in section.replace("\n  ", " ")
    killed = re.search(r"for daemon in ([^;]*); do\n\s+\"\$\{as_root\[@\]\}\" pkill -u prometheus", script).group(1).split()
    assert killed and all(f"`{d}`" in section for d in killed), killed
    assert "nginx -s quit" in script and "`nginx -s quit`" in section


def test_the_test_script_takes_torchs_cpu_build_and_ci_the_hash_locked_one():
    script = (PROJECT_DIR / "scripts" / "test").read_text()
    index = re.search(r'^TORCH_CPU_INDEX="([^"]+)"', script, re.MULTILINE).group(1)
    checks = (PROJECT_DIR / ".github" / "workflows" / "checks.yml").read_text()
    # CI installs the hash lock (PyPI's torch); a second index there could shadow it with an unlocked X+cpu.
    assert index not in checks and "--require-hashes --no-deps -r requirements-dev.lock" in checks
    assert f"`{index}`" in _readme() and "`requirements-dev.lock`" in _readme()
    install = script.index('--index-url "$TORCH_CPU_INDEX"')
    assert install < script.index("-r requirements-dev.txt"), "the CPU build is in place before torch==X is resolved"


def test_the_app_readme_installs_the_torch_version_training_pins_from_the_cpu_index():
    pinned = re.search(r"^torch==(\S+)$", (PROJECT_DIR / "app" / "requirements-train.txt").read_text(), re.MULTILINE)
    app_readme = (PROJECT_DIR / "app" / "README.md").read_text()
    assert f"--index-url https://download.pytorch.org/whl/cpu torch=={pinned.group(1)}+cpu" in app_readme
