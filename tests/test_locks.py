"""The hash-locked requirement files follow their inputs: a lock that is stale, misses a pin of its input,
or lists a package without hashes fails here, naming the one command that fixes it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tools.locks import LOCKS, REGENERATE, ROOT, input_hash, lock_problems, main

# Where each lock is installed, and how: CI's Pulumi jobs and the image build must use it with hashes.
INSTALLED_WITH_HASHES = {
    "requirements.lock": ROOT / ".github" / "actions" / "pulumi-python" / "action.yml",
    "policy/requirements.lock": ROOT / ".github" / "actions" / "pulumi-python" / "action.yml",
    "app/requirements.lock": ROOT / "app" / "Dockerfile",
    "app/requirements-gpu.lock": ROOT / "app" / "Dockerfile",
    "requirements-dev.lock": ROOT / ".github" / "workflows" / "checks.yml",
}
WORKFLOWS = ROOT / ".github" / "workflows"


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.output)
def test_every_lock_matches_its_input(lock):
    assert lock_problems(lock) == []


def test_the_check_command_passes_on_this_tree():
    assert main(["--check"]) == 0


def _copy(tmp_path: Path, lock) -> Path:
    for name in (lock.input, lock.output):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_editing_an_input_makes_its_lock_stale_until_regenerated(tmp_path):
    lock = next(lock for lock in LOCKS if lock.input == "app/requirements.txt")
    root = _copy(tmp_path, lock)
    # A package the lock cannot hold (grpcio, the example here before, is now a server dependency).
    (root / lock.input).write_text((root / lock.input).read_text() + "not-a-locked-package==1.0.0\n")
    problems = lock_problems(lock, root)
    assert any("stale" in p and REGENERATE in p for p in problems), problems
    assert any("not-a-locked-package is None" in p for p in problems), problems


def test_a_pin_changed_in_the_input_is_named(tmp_path):
    lock = next(lock for lock in LOCKS if lock.input == "app/requirements.txt")
    root = _copy(tmp_path, lock)
    text = (root / lock.input).read_text()
    (root / lock.input).write_text(re.sub(r"^numpy==\S+", "numpy==1.0.0", text, flags=re.MULTILINE))
    assert any("numpy is '" in p and "pins '1.0.0'" in p for p in lock_problems(lock, root))


def test_a_locked_package_without_hashes_is_refused(tmp_path):
    lock = next(lock for lock in LOCKS if lock.input == "policy/requirements.txt")
    root = _copy(tmp_path, lock)
    text = (root / lock.output).read_text()
    (root / lock.output).write_text(text + "extra-package==1.0\n")
    assert any("extra-package without --hash" in p for p in lock_problems(lock, root))


def test_a_missing_lock_is_named_with_the_command(tmp_path):
    lock = LOCKS[0]
    (tmp_path / lock.input).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / lock.input, tmp_path / lock.input)
    assert lock_problems(lock, tmp_path) == [f"{lock.output}: missing; run `{REGENERATE}`"]


def test_the_input_hash_covers_included_files(tmp_path):
    (tmp_path / "base.txt").write_text("a==1\n")
    (tmp_path / "top.txt").write_text("-r base.txt\nb==2\n")
    before = input_hash(tmp_path / "top.txt", tmp_path)
    (tmp_path / "base.txt").write_text("a==2\n")
    assert input_hash(tmp_path / "top.txt", tmp_path) != before


@pytest.mark.parametrize(("lock", "where"), INSTALLED_WITH_HASHES.items())
def test_ci_and_the_images_install_the_locks_with_hashes(lock, where):
    name = Path(lock).name
    text = where.read_text()
    install = [line for line in re.split(r"(?<!\\)\n", text) if name in line and "pip install" in line]
    assert install, f"{where.relative_to(ROOT)} does not install {lock}"
    assert all("--require-hashes" in line for line in install), install


def test_the_dockerfile_copies_the_locks_and_the_build_context_lets_them_through():
    dockerfile = (ROOT / "app" / "Dockerfile").read_text()
    dockerignore = (ROOT / "app" / ".dockerignore").read_text().splitlines()
    for name in ("requirements.lock", "requirements-gpu.lock"):
        assert f"COPY {name} /tmp/{name}" in dockerfile
        assert f"!{name}" in dockerignore


def test_ubuntu_packages_come_from_a_fixed_snapshot():
    dockerfile = (ROOT / "app" / "Dockerfile").read_text()
    assert re.search(r"^ARG UBUNTU_SNAPSHOT=\d{8}T\d{6}Z$", dockerfile, re.MULTILINE)
    apt = re.findall(r"apt-get [^\n]*(?:update|install)[^\n]*", dockerfile)
    assert apt and all('-o APT::Snapshot="${UBUNTU_SNAPSHOT}"' in line for line in apt), apt


def _pip_installs(text: str) -> list[str]:
    return [line for line in re.split(r"(?<!\\)\n", text) if "pip install" in line]


def test_the_training_environment_is_installed_only_from_its_hash_lock():
    # Its model ships in the image: no workflow installs the training requirements (or the dev ones that
    # include them) from the unhashed inputs, and the model job trains from the lock.
    inputs = ("-r requirements-dev.txt", "-r app/requirements-train.txt")
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in _pip_installs(path.read_text()):
            assert not any(name in line for name in inputs), f"{path.name}: {line.strip()}"
            if "requirements-dev.lock" in line:
                assert "--require-hashes" in line and "--no-deps" in line, f"{path.name}: {line.strip()}"
    checks = (WORKFLOWS / "checks.yml").read_text()
    model_job = checks[checks.index("\n  model:"):]
    assert re.search(r"--require-hashes --no-deps -r requirements-dev\.lock\n(.*\n){0,4}.*python train\.py",
                     model_job), "the model job does not train from the hash lock"


def test_the_training_lock_pins_torch_with_hashes_and_no_second_index_can_shadow_it():
    # `torch==X` also matches a local version `X+cpu` from an extra index, whose hash is not locked.
    lock = (ROOT / "requirements-dev.lock").read_text()
    torch = re.search(r"^torch==(\S+) .*?(?=^\S)", lock, re.MULTILINE | re.DOTALL)
    assert torch and "--hash=sha256:" in torch.group(0)
    pinned = re.search(r"^torch==(\S+)$", (ROOT / "app" / "requirements-train.txt").read_text(), re.MULTILINE)
    assert pinned and torch.group(1) == pinned.group(1)
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = path.read_text()
        if "requirements-dev.lock" in text:
            assert "PIP_EXTRA_INDEX_URL" not in text and "--extra-index-url" not in text, path.name


def test_part_of_a_lock_is_cut_with_every_dependency_and_its_hashes():
    from tools.locks import subset
    lock = (ROOT / "requirements-dev.lock").read_text()
    part = subset(lock, ["scikit-learn"])
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", part, re.MULTILINE)
    # scikit-learn, what it names in its `# via` annotations, transitively (joblib needs cloudpickle), and both
    # of scipy's marker-exclusive pins of the universal lock.
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "cloudpickle"} <= set(names)
    assert names.count("scipy") == len(re.findall(r"^scipy==", lock, re.MULTILINE)) >= 1
    assert "torch" not in names and "pytest" not in names, "nothing scikit-learn does not need"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", part.strip())
    assert all("--hash=sha256:" in block for block in blocks)
    with pytest.raises(SystemExit, match="not in the lock: not-locked"):
        subset(lock, ["not-locked"])


def test_the_image_job_installs_the_gates_data_from_the_training_lock_with_hashes():
    image = (ROOT / ".github" / "workflows" / "image.yml").read_text()
    assert 'python -m tools.locks --subset requirements-dev.lock scikit-learn > "$RUNNER_TEMP/gate-data.txt"' in image
    installs = [line for line in image.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes --no-deps" in line for line in installs), installs
