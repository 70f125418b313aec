"""Which test files guard which module: the mirror rule, plus the files `targets.tsv` adds."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS_FILE = Path(__file__).with_name("targets.tsv")


def mirrored_tests(module: str, root: Path = ROOT) -> list[str]:
    """`components/<concern>/x.py` -> `tests/<concern>/test_x*.py`; other modules: `targets.tsv` only."""
    path = Path(module)
    if path.parts[0] != "components":
        return []
    folder = root / "tests" / Path(*path.parts[1:-1])
    found = sorted(folder.glob(f"test_{path.stem}*.py")) if folder.is_dir() else []
    return [str(p.relative_to(root)) for p in found]


def extra_tests(module: str, targets_file: Path = TARGETS_FILE) -> list[str]:
    """The test files `targets.tsv` lists for `module` (a module may have several lines)."""
    extra: list[str] = []
    for line in targets_file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, tests = line.partition("\t")
        if name == module:
            extra.extend(tests.split())
    return extra


def tracked_modules(targets_file: Path = TARGETS_FILE) -> list[str]:
    """Modules `targets.tsv` names: the ones the score table and the pull-request workflow follow."""
    names = [line.partition("\t")[0] for line in targets_file.read_text().splitlines()]
    return sorted({n for n in names if n.strip() and not n.startswith("#")})


def tests_for(module: str, root: Path = ROOT) -> list[str]:
    """Every test file that guards `module`, mirrored ones first, each once; refuses a module with none."""
    tests = list(dict.fromkeys(mirrored_tests(module, root) + extra_tests(module)))
    missing = [t for t in tests if not (root / t).is_file()]
    if missing:
        raise SystemExit(f"{TARGETS_FILE.name} names test files that do not exist: {', '.join(missing)}")
    if not tests:
        raise SystemExit(f"no test file guards {module}: add tests/.../test_{Path(module).stem}.py "
                         f"or a line to {TARGETS_FILE.name}")
    return tests
