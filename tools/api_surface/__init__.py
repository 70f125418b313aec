"""The public API promise of `gpu_model_platform`, checked with griffe, plus what griffe cannot see.

- The names in `__all__` with their constructors, dataclass fields, outputs and methods: griffe's
  own breaking-change check (`griffe.find_breaking_changes`, what `griffe check` runs), between the
  pinned surface `docs/api/surface.json` and the live code of `components/`.
- Annotations of parameters and attributes: griffe 2.4.1 does not compare them (a TODO in its
  `diff.py`), so `annotation_changes` does, on the same griffe objects.
- Pulumi identity, which no Python tool knows: each component's type token (pinned with the
  examples' URNs in `docs/api/resource-urns.json`, see `tools.api_surface.examples`).

The baseline is the pinned surface, not a git ref: no release tag exists yet, and CI's shallow
clones carry no history to load one from. The pin is griffe's own JSON of the public names
(docstrings and private members left out), at the version it records; `--update` rewrites it when
`plan_update` allows (see `docs/compatibility.md`). Once tags exist the same check runs against one
with `griffe.load_git("components", ref="v<version>")`.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import griffe

from tools.release import changelog_problems, parse_version

PROJECT_DIR = Path(__file__).resolve().parents[2]
SURFACE_FILE = PROJECT_DIR / "docs" / "api" / "surface.json"
SOURCE_PACKAGE = "components"
PACKAGE = "gpu_model_platform"
FORMAT = 2

_TYPE_TOKEN_RE = re.compile(r"""["']([A-Za-z0-9_-]+:[A-Za-z0-9_/.-]*:[A-Za-z0-9_]+)["']""")


# ------------------------------------------------------------------------------ reading the API

def load_package(project_dir: Path = PROJECT_DIR, name: str = SOURCE_PACKAGE) -> griffe.Module:
    """`components/` as griffe reads it (statically), aliases resolved."""
    logging.getLogger("griffe").setLevel(logging.ERROR)
    package = griffe.load(name, search_paths=[project_dir], try_relative_path=False, resolve_aliases=True,
                          resolve_external=False)
    if package.exports is None:
        raise SystemExit(f"{name}/__init__.py has no __all__: the public API must be listed there")
    return package


def _exported(package: griffe.Module) -> Iterator[tuple[str, Any]]:
    for name in map(str, package.exports or []):
        member = package.members.get(name)
        if member is None:
            raise SystemExit(f"{package.name}.__all__ lists {name!r}, which the package does not define")
        yield name, member.final_target if member.is_alias else member


def _prune(obj: Any) -> None:
    """Docstrings, private members and imported names are not part of the promise."""
    obj.docstring = None
    for name, member in list(obj.members.items()):
        private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
        if member.is_alias or private:
            obj.del_member(name)
        else:
            _prune(member)


def public_api(package: griffe.Module) -> griffe.Module:
    """One module named like the installed package whose members are exactly `__all__`.

    It takes the objects over from `package` (read `type_tokens` first).
    Comparing two of these keeps griffe to the promise: the package's modules are private, even
    though griffe would call them public (their names have no underscore).
    """
    # A relative path: griffe's explanations need one, and the pin must not name this checkout.
    api = griffe.Module(PACKAGE, filepath=Path(package.name) / "__init__.py")
    for name, target in list(_exported(package)):
        api.set_member(name, target)
    _prune(api)
    return api


def type_tokens(package: griffe.Module) -> dict[str, str]:
    """`name -> Pulumi type token` of every exported component (read from its source)."""
    tokens = {}
    for name, target in _exported(package):
        if target.is_class and any(str(b).split(".")[-1] == "ComponentResource" for b in target.bases):
            match = _TYPE_TOKEN_RE.search(target.source)
            tokens[name] = match.group(1) if match else ""
    return dict(sorted(tokens.items()))


def render(version: str, api: griffe.Module) -> str:
    """The pin's text: griffe's JSON of the public API, with the version it was taken at."""
    document = {"format": FORMAT, "package": PACKAGE, "version": version, "api": api}
    return json.dumps(document, cls=griffe.JSONEncoder, full=False, indent=1) + "\n"


def load_pinned(path: Path = SURFACE_FILE) -> dict[str, Any] | None:
    """The pin, its `api` decoded back into griffe objects; None when there is none (or an old format)."""
    if not path.exists():
        return None
    pinned = json.loads(path.read_text(), object_hook=griffe.json_decoder)
    return pinned if isinstance(pinned, dict) and pinned.get("format") == FORMAT else None


# ------------------------------------------------------------------------------ comparing

@dataclass(frozen=True)
class Change:
    """One breaking change, in words."""

    message: str

    def __str__(self) -> str:
        return f"BREAKING  {self.message}"


def _parameters(obj: Any) -> dict[str, Any]:
    init = obj.members.get("__init__") if obj.is_class else obj
    return {p.name: p for p in init.parameters} if init is not None and init.is_function else {}


def annotation_changes(old: griffe.Module, new: griffe.Module) -> list[Change]:
    """Changed type hints of the parameters and attributes both versions have (griffe leaves these out)."""
    out = []
    for name, before in old.members.items():
        after = new.members.get(name)
        if after is None or before.kind != after.kind:
            continue  # griffe reports these
        pairs = [(f"{name}({p})", _parameters(before)[p].annotation, a.annotation)
                 for p, a in _parameters(after).items() if p in _parameters(before)]
        if before.is_class:
            pairs += [(f"{name}.{m}", before.members[m].annotation, a.annotation)
                      for m, a in after.members.items() if m in before.members and a.is_attribute
                      and before.members[m].is_attribute]
        out += [Change(f"{where}: type changed: {str(b)!r} -> {str(a)!r}") for where, b, a in pairs if str(b) != str(a)]
    return out


def breaking_changes(old: griffe.Module, new: griffe.Module) -> list[Change]:
    """griffe's breaking changes between two public APIs, then the annotation changes it does not check."""
    return [Change(_one_line(b)) for b in griffe.find_breaking_changes(old, new)] + annotation_changes(old, new)


def _one_line(breakage: Any) -> str:
    """griffe's one-line explanation without its file location (the pin has no files) and colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", breakage.explain(style=griffe.ExplanationStyle.ONE_LINE))
    return re.sub(r"^\S+:\d+: ", "", text)


def token_changes(pinned: dict[str, str], live: dict[str, str]) -> list[Change]:
    """A component whose type token changed (or that is gone) replaces every adopter's instance."""
    return [Change(f"{name}: Pulumi type token changed: {token} -> {live.get(name) or 'gone'} (existing stacks "
                   "replace every instance unless the component passes `aliases`)")
            for name, token in pinned.items() if live.get(name) != token]


# ------------------------------------------------------------------------------ versions

def next_version(version: str, breaking: bool) -> str:
    """The smallest version after `version` a change needs: SemVer, and while 0.y.z one level lower."""
    major, minor, patch = parse_version(version)
    if breaking:
        return f"{major}.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    return f"{major}.{minor}.{patch + 1}"


def is_released(version: str, project_dir: Path = PROJECT_DIR) -> bool:
    """A version is released once the tag `v<version>` exists. Without git, assume it is (safe side)."""
    try:
        result = subprocess.run(["git", "tag", "--list", f"v{version}"], cwd=project_dir, capture_output=True,
                                text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return True
    return result.returncode != 0 or bool(result.stdout.strip())


@dataclass
class Plan:
    """Whether the check passes (or `--update` may write), and what to tell the maintainer."""

    allowed: bool
    changes: list[Change]
    messages: list[str]


def plan_update(pinned_version: str, version: str, changes: list[Change], changelog: str,
                released: Callable[[str], bool] = is_released) -> Plan:
    """Whether a new pin of `version` may replace the pin of `pinned_version`, given the breaking changes.

    An unreleased version (no tag) may have its pin rewritten in place; a released one must not
    change: breaking changes need the next minor (0.x) or major version, with its CHANGELOG section.
    """
    problems = changelog_problems(changelog, version)
    if problems:
        return Plan(False, changes, problems)
    if version == pinned_version:
        if changes and released(version):
            return Plan(False, changes, [
                f"{version} is released (tag v{version}) and these changes break it: set components/_version.py "
                f"to {next_version(version, True)} or higher, describe it in CHANGELOG.md, then run --update"])
        note = f"{version} is not released yet (no tag v{version}): its pin is rewritten in place" if changes else ""
        return Plan(True, changes, [note] if note else [])
    if parse_version(version) <= parse_version(pinned_version):
        return Plan(False, changes, [f"components/_version.py ({version}) is not above the pinned {pinned_version}"])
    needed = next_version(pinned_version, bool(changes))
    if changes and parse_version(version) < parse_version(needed):
        return Plan(False, changes, [f"{pinned_version} -> {version} is too small for breaking changes: at least "
                                     f"{needed} (docs/compatibility.md)"])
    return Plan(True, changes, [f"{pinned_version} -> {version}"])
