"""The release rules of the `gpu_model_platform` library, shared by the tests and the release workflow.

`python -m tools.release version` prints the version (`components/_version.py`, read without
importing anything); `python -m tools.release check [--repository-url URL] [--notes FILE]` applies
`changelog_problems` (and, given the URL, checks that the package metadata points at that
repository), then writes the version's CHANGELOG section as the release notes.
`.github/workflows/release.yml` runs exactly these two commands; `tests/test_release.py` runs the
same functions on this checkout, so a version that the workflow would refuse fails the suite first.

Standard library only: the release job runs it before installing anything.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import re
import sys
import tomllib
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
VERSION_FILE = PROJECT_DIR / "components" / "_version.py"
CHANGELOG_FILE = PROJECT_DIR / "CHANGELOG.md"
PYPROJECT_FILE = PROJECT_DIR / "pyproject.toml"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# Keep a Changelog 1.1.0: `## [Unreleased]`, then `## [x.y.z] - YYYY-MM-DD`, newest first.
_SECTION_RE = re.compile(r"^## \[(?P<name>[^\]]+)\](?P<rest>.*)$", re.MULTILINE)
_DATED_RE = re.compile(r"^ - (\d{4}-\d{2}-\d{2})$")


def read_version(path: Path = VERSION_FILE) -> str:
    """`__version__` from `_version.py`, read without importing (or running) anything."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise ValueError(f"{path}: no `__version__ = \"x.y.z\"` line")


def parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(version)
    if not match:
        raise ValueError(f"version {version!r}: must be MAJOR.MINOR.PATCH (digits only)")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def sections(changelog: str) -> list[tuple[str, str, str]]:
    """(name, text after the brackets, body) of every `## [...]` section, in file order."""
    found = list(_SECTION_RE.finditer(changelog))
    return [(m.group("name"), m.group("rest"), changelog[m.end():found[i + 1].start() if i + 1 < len(found) else None])
            for i, m in enumerate(found)]


def changelog_problems(changelog: str, version: str) -> list[str]:
    """Why CHANGELOG.md does not describe `version` as its newest release; empty when it does.

    The rule: the first section after `[Unreleased]` is `## [<version>] - YYYY-MM-DD` (a real
    date), and it lists at least one change (`- ...`) under a `### ` heading.
    """
    try:
        parse_version(version)
    except ValueError as error:
        return [str(error)]
    released = [(name, rest, body) for name, rest, body in sections(changelog) if name != "Unreleased"]
    if not any(name == version for name, _, _ in released):
        return [f"CHANGELOG.md has no `## [{version}] - YYYY-MM-DD` section: describe the release there"]
    problems = []
    newest, rest, body = released[0]
    if newest != version:
        problems.append(f"CHANGELOG.md: the newest section is [{newest}], not [{version}] (newest first)")
        rest, body = next((r, b) for n, r, b in released if n == version)
    dated = _DATED_RE.match(rest)
    if not dated:
        problems.append(f"CHANGELOG.md [{version}]: the heading must end with ` - YYYY-MM-DD`, not {rest!r}")
    else:
        try:
            datetime.date.fromisoformat(dated.group(1))
        except ValueError:
            problems.append(f"CHANGELOG.md [{version}]: {dated.group(1)} is not a date")
    if not re.search(r"^### \S", body, re.MULTILINE) or not re.search(r"^- \S", body, re.MULTILINE):
        problems.append(f"CHANGELOG.md [{version}]: list the changes (`### Added` ... with `- ` entries)")
    return problems


def release_notes(changelog: str, version: str) -> str:
    """The body of the version's section: what the GitHub release says."""
    return next((body.strip() + "\n" for name, _, body in sections(changelog) if name == version), "")


def repository_problems(pyproject: dict, repository_url: str) -> list[str]:
    """The package metadata must point at the repository that releases it (not at a fork's origin)."""
    source = pyproject.get("project", {}).get("urls", {}).get("Source")
    if source != repository_url:
        return [f"pyproject.toml [project.urls] Source is {source!r}, but this release is built in "
                f"{repository_url}: set every [project.urls] entry (and the install lines in README.md and "
                "docs/getting-started.md) to this repository"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("version", help="print the library's version")
    check = commands.add_parser("check", help="check CHANGELOG.md (and the metadata) for a release of the version")
    check.add_argument("--repository-url", help="the repository the release is published in")
    check.add_argument("--notes", type=Path, help="write the version's CHANGELOG section to this file")
    args = parser.parse_args(argv)

    version = read_version()
    if args.command == "version":
        print(version)
        return 0
    changelog = CHANGELOG_FILE.read_text()
    problems = changelog_problems(changelog, version)
    if args.repository_url:
        problems += repository_problems(tomllib.loads(PYPROJECT_FILE.read_text()), args.repository_url)
    if problems:
        print(f"cannot release {version}:", *(f"  {p}" for p in problems), sep="\n", file=sys.stderr)
        return 1
    if args.notes:
        args.notes.write_text(release_notes(changelog, version))
    print(f"{version}: CHANGELOG.md describes it" + (f"; notes in {args.notes}" if args.notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
