"""Hash-locked requirement files: every package, transitive ones included, pinned with the hashes of
its files, so `pip install --require-hashes` installs exactly what was locked or nothing.

    python -m tools.locks            regenerate every lock from its input (needs PyPI; uv as pinned)
    python -m tools.locks --check    fail when a lock is stale (offline; tests/test_locks.py runs it)
    python -m tools.locks --subset LOCK NAME...   the blocks of LOCK that NAME and its dependencies need
                                     (hashes kept), for installing part of a lock with --require-hashes

The inputs stay the readable `requirements*.txt` files people and Dependabot edit; each lock records
the sha256 of its input (with the files it includes) so any edit of the input makes the lock stale
until this command runs again. The locks are universal (environment markers kept) from Python 3.11
up, so the CPU image (python 3.11) and the GPU image (Ubuntu 24.04's python 3.12) install from them.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_FLOOR = "3.11"
REGENERATE = "python -m tools.locks"
_INPUT_HASH_RE = re.compile(r"^# input sha256: ([0-9a-f]{64})$", re.MULTILINE)
_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)
_INCLUDE_RE = re.compile(r"^-r\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Lock:
    """One lock file and the input it is compiled from, both relative to the project."""

    input: str
    output: str
    purpose: str


# What runs with credentials (the program and the policy pack in CI) and what ships (the images).
LOCKS: tuple[Lock, ...] = (
    Lock("requirements.txt", "requirements.lock", "the Pulumi program, in CI's preview and deploy jobs"),
    Lock("policy/requirements.txt", "policy/requirements.lock", "the policy pack, in every preview and update"),
    Lock("app/requirements.txt", "app/requirements.lock", "the CPU image (app/Dockerfile, build-cpu)"),
    Lock("app/requirements-gpu.txt", "app/requirements-gpu.lock", "the GPU image (app/Dockerfile, build-gpu)"),
    # The training environment (app/requirements-train.txt, included by requirements-dev.txt): its model
    # ships in the image. torch comes from PyPI (a CUDA build that also runs on CPU) because PyTorch's
    # own CPU index cannot be reached where the locks are compiled; the lock is what CI installs.
    Lock("requirements-dev.txt", "requirements-dev.lock",
         "the training environment and its tests (checks.yml's model and test jobs, mutation.yml)"),
)


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def input_files(path: Path) -> list[Path]:
    """The input and every file it includes with `-r`, depth first, each once."""
    seen: list[Path] = []

    def visit(p: Path) -> None:
        if p in seen:
            return
        seen.append(p)
        for include in _INCLUDE_RE.findall(p.read_text()):
            visit((p.parent / include).resolve())

    visit(path.resolve())
    return seen


def input_hash(path: Path, root: Path = ROOT) -> str:
    """sha256 over the input and its includes: their paths (relative to `root`) and bytes."""
    digest = hashlib.sha256()
    for p in input_files(path):
        digest.update(p.relative_to(root.resolve()).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return digest.hexdigest()


def input_pins(path: Path) -> dict[str, str]:
    """`name: version` of every `name==version` line of the input and its includes."""
    return {normalize(m[0]): m[2] for p in input_files(path) for m in _PIN_RE.findall(p.read_text())}


def lock_pins(text: str) -> dict[str, str]:
    return {normalize(m[0]): m[2] for m in _PIN_RE.findall(text)}


def lock_problems(lock: Lock, root: Path = ROOT) -> list[str]:
    """Why `lock` does not match its input, each naming the file and the fix; empty when it does."""
    source, output = root / lock.input, root / lock.output
    if not output.is_file():
        return [f"{lock.output}: missing; run `{REGENERATE}`"]
    text = output.read_text()
    problems = []
    recorded = _INPUT_HASH_RE.search(text)
    if recorded is None or recorded.group(1) != input_hash(source, root):
        problems.append(f"{lock.output}: stale, {lock.input} (or a file it includes) changed since it was locked; "
                        f"run `{REGENERATE}`")
    locked = lock_pins(text)
    for name, version in input_pins(source).items():
        if locked.get(name) != version:
            problems.append(f"{lock.output}: {name} is {locked.get(name)!r}, {lock.input} pins {version!r}; "
                            f"run `{REGENERATE}`")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split("==")[0] for b in blocks if _PIN_RE.match(b) and "--hash=sha256:" not in b]
    if unhashed:
        problems.append(f"{lock.output}: {', '.join(unhashed)} without --hash; run `{REGENERATE}`")
    return problems


def _blocks(text: str) -> list[tuple[str, str]]:
    """Each locked block (pin, markers, hashes, `# via` comments) with its normalized name; a universal lock
    can hold one name twice, under exclusive environment markers."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    return [(normalize(m.group(1)), block.rstrip("\n") + "\n") for block in blocks if (m := _PIN_RE.match(block))]


def _required_by(block: str) -> set[str]:
    """The packages a block's `# via` comments name (uv's annotation of who needs it)."""
    vias = re.findall(r"#\s+via\s+(\S[^\n]*)|#\s{3,}(\S[^\n]*)", block)
    return {normalize(name) for pair in vias for name in pair if name and not name.startswith("-r")}


def subset(text: str, roots: list[str]) -> str:
    """The blocks `roots` need: the roots and, transitively, every package a needed package requires."""
    blocks = _blocks(text)
    needed = {normalize(r) for r in roots}
    missing = sorted(needed - {name for name, _ in blocks})
    if missing:
        raise SystemExit(f"not in the lock: {', '.join(missing)}")
    grown = True
    while grown:
        more = {name for name, block in blocks if name not in needed and _required_by(block) & needed}
        needed |= more
        grown = bool(more)
    return "".join(block for name, block in blocks if name in needed)


def compile_lock(lock: Lock, uv: str) -> None:
    """`uv pip compile --generate-hashes --universal` from PyPI, then the input hash on top."""
    output = ROOT / lock.output
    subprocess.run(
        [uv, "--no-config", "pip", "compile", lock.input, "--output-file", lock.output, "--generate-hashes",
         "--universal", "--python-version", PYTHON_FLOOR, "--index-url", "https://pypi.org/simple",
         "--custom-compile-command", REGENERATE, "--no-progress", "--quiet"],
        cwd=ROOT, check=True)
    header = (f"# Hash-locked {lock.purpose}. Generated from {lock.input}; edit that, then run `{REGENERATE}`.\n"
              f"# input sha256: {input_hash(ROOT / lock.input)}\n")
    output.write_text(header + output.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.locks", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale locks and exit 1; change nothing")
    parser.add_argument("--subset", nargs="+", metavar=("LOCK", "NAME"),
                        help="print the blocks of LOCK that the named packages need, hashes kept")
    args = parser.parse_args(argv)
    if args.subset:
        if len(args.subset) < 2:
            parser.error("--subset needs a lock and at least one package")
        print(subset((ROOT / args.subset[0]).read_text(), args.subset[1:]), end="")
        return 0
    if args.check:
        problems = [p for lock in LOCKS for p in lock_problems(lock)]
        print("\n".join(problems) or f"{len(LOCKS)} locks match their inputs")
        return 1 if problems else 0
    uv = shutil.which("uv")
    if uv is None:
        print("uv is not installed: pip install -r requirements-dev.txt", file=sys.stderr)
        return 2
    for lock in LOCKS:
        compile_lock(lock, uv)
        print(f"locked {lock.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
