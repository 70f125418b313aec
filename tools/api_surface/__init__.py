"""The public API surface of the component library, pinned in `docs/api/surface.json`.

The surface is every name in `gpu_model_platform.__all__` (the `components` package of this
checkout): its kind; for classes the constructor parameters (name, kind, annotation as written,
default), the dataclass fields, the declared output attributes (class-level annotations), public
methods, and for components the Pulumi type token (changing it replaces adopters' resources). It is
read from the imported package, so it is what adopters really call.

`diff` compares two surfaces and sorts each change into breaking or addition; `required_bump` says
which SemVer bump that needs (the 0.x rule: breaking bumps the minor, an addition the patch), and
`plan_update` decides whether `--update` may write a new pin. See `docs/compatibility.md`.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
SURFACE_FILE = PROJECT_DIR / "docs" / "api" / "surface.json"
CHANGELOG_FILE = PROJECT_DIR / "CHANGELOG.md"
VERSION_FILE = PROJECT_DIR / "components" / "_version.py"
SOURCE_PACKAGE = "components"
PACKAGE = "gpu_model_platform"
FORMAT = 1

_TYPE_TOKEN_RE = re.compile(r"""["']([A-Za-z0-9_-]+:[A-Za-z0-9_/.-]*:[A-Za-z0-9_]+)["']""")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_LEVELS = ("patch", "minor", "major")


# ------------------------------------------------------------------------------ reading the surface

def read_version(path: Path = VERSION_FILE) -> str:
    """`__version__` from `_version.py`, read without importing (or running) anything."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise ValueError(f"{path}: no `__version__ = \"x.y.z\"` line")


def _annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty or value is inspect.Signature.empty:
        return None
    if isinstance(value, str):  # `from __future__ import annotations`: exactly as written
        return value
    if isinstance(value, type):
        return value.__qualname__
    return inspect.formatannotation(value)


def _value(value: Any) -> str:
    """A stable text for a default or constant (an object's address never leaks in)."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    text = repr(value)
    return f"<{type(value).__qualname__} instance>" if " at 0x" in text else text


def _parameters(signature: inspect.Signature, defaults: dict[str, str] | None = None) -> list[dict]:
    out = []
    for p in signature.parameters.values():
        if p.name in ("self", "cls"):
            continue
        entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name, "annotation": _annotation(p.annotation)}
        if defaults and p.name in defaults:
            entry["default"] = defaults[p.name]
        elif p.default is not inspect.Parameter.empty:
            entry["default"] = _value(p.default)
        else:
            entry["required"] = True
        out.append(entry)
    return out


def _own_bases(cls: type) -> list[type]:
    """The class and its bases that belong to the library (not Pulumi's, not builtins)."""
    return [c for c in cls.__mro__ if c is not object and c.__module__.split(".")[0] not in {"pulumi", "builtins"}
            and not c.__module__.startswith(("typing", "enum", "abc"))]


def _field_default(f: dataclasses.Field) -> str | None:
    if f.default is not dataclasses.MISSING:
        return _value(f.default)
    if f.default_factory is not dataclasses.MISSING:  # the value the factory makes, not its name
        return _value(f.default_factory())
    return None


def _type_token(cls: type) -> str | None:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return None
    match = _TYPE_TOKEN_RE.search(source)
    return match.group(1) if match else None


def _methods(cls: type) -> dict[str, dict]:
    methods: dict[str, dict] = {}
    for base in reversed(_own_bases(cls)):
        for name, member in vars(base).items():
            if name.startswith("_"):
                continue
            if isinstance(member, property):
                methods[name] = {"kind": "property",
                                 "returns": _annotation(inspect.signature(member.fget).return_annotation)}
            elif isinstance(member, (staticmethod, classmethod)) or inspect.isfunction(member):
                function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                kind = {staticmethod: "staticmethod", classmethod: "classmethod"}.get(type(member), "method")
                signature = inspect.signature(function)
                methods[name] = {"kind": kind, "parameters": _parameters(signature),
                                 "returns": _annotation(signature.return_annotation)}
    return dict(sorted(methods.items()))


def describe(obj: Any) -> dict:
    """The surface of one public object."""
    if inspect.isclass(obj):
        import pulumi  # imported here so that reading a pin never needs Pulumi

        if issubclass(obj, enum.Enum):
            return {"kind": "enum", "members": {m.name: _value(m.value) for m in obj}}
        entry: dict[str, Any] = {}
        if issubclass(obj, pulumi.ComponentResource):
            entry = {"kind": "component", "type_token": _type_token(obj)}
        elif dataclasses.is_dataclass(obj):
            entry = {"kind": "dataclass", "frozen": obj.__dataclass_params__.frozen}  # type: ignore[attr-defined]
        else:
            entry = {"kind": "class"}
        fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
        defaults = {name: d for name, f in fields.items() if (d := _field_default(f)) is not None}
        entry["parameters"] = _parameters(inspect.signature(obj), defaults)
        if fields:
            entry["fields"] = [
                {"name": f.name, "type": _annotation(f.type), **({"default": defaults[f.name]}
                                                               if f.name in defaults else {"required": True})}
                for f in fields.values()
            ]
        else:
            annotations: dict[str, Any] = {}
            for base in reversed(_own_bases(obj)):
                annotations.update(vars(base).get("__annotations__", {}))
            entry["attributes"] = [{"name": n, "type": _annotation(t)}
                                   for n, t in annotations.items() if not n.startswith("_")]
        entry["methods"] = _methods(obj)
        return entry
    if inspect.isfunction(obj):
        signature = inspect.signature(obj)
        return {"kind": "function", "parameters": _parameters(signature),
                "returns": _annotation(signature.return_annotation)}
    if isinstance(obj, (str, int, float, bool, tuple, frozenset, type(None))):
        return {"kind": "constant", "type": type(obj).__qualname__, "value": _value(obj)}
    return {"kind": "other", "type": type(obj).__qualname__, "value": _value(obj)}


def public_names(package: ModuleType) -> list[str]:
    names = getattr(package, "__all__", None)
    if names is None:
        raise SystemExit(f"{package.__name__} has no __all__: the public API must be listed there")
    missing = [n for n in names if not hasattr(package, n)]
    if missing:
        raise SystemExit(f"{package.__name__}.__all__ lists names it does not define: {missing}")
    return list(names)


def live_surface(package_name: str = SOURCE_PACKAGE) -> dict:
    """The surface of the package as this checkout defines it."""
    package = importlib.import_module(package_name)
    return {
        "format": FORMAT,
        "package": PACKAGE,
        "version": read_version(Path(package.__file__).with_name("_version.py")),
        "names": {name: describe(getattr(package, name)) for name in sorted(public_names(package))},
    }


def _render(value: Any, indent: int) -> str:
    # JSON with every flat object (a parameter, a field) on one line, so a diff shows one line per change.
    pad = "  " * indent
    if isinstance(value, dict) and value and any(isinstance(v, (dict, list)) for v in value.values()):
        items = [f'{pad}  {json.dumps(k)}: {_render(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        items = [f"{pad}  {_render(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)


def render(surface: dict) -> str:
    """The pin's text: stable, one line per parameter, field, attribute or method."""
    return _render(surface, 0) + "\n"


def load_pinned(path: Path = SURFACE_FILE) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


# ------------------------------------------------------------------------------ comparing

@dataclass(frozen=True)
class Change:
    breaking: bool
    message: str
    subject: str | None = None
    """The public name, when the change adds or removes a whole name."""

    def __str__(self) -> str:
        return f"{'BREAKING' if self.breaking else 'added   '}  {self.message}"


def _diff_members(owner: str, what: str, old: list[dict], new: list[dict], seen: set[tuple[str, str]],
                  out: list[Change], ordered: bool) -> None:
    old_by, new_by = {m["name"]: m for m in old}, {m["name"]: m for m in new}
    for name in old_by.keys() - new_by.keys():
        if (owner, name) not in seen:
            out.append(Change(True, f"`{owner}`: {what} `{name}` removed"))
        seen.add((owner, name))
    for name in new_by.keys() - old_by.keys():
        if (owner, name) not in seen:
            required = new_by[name].get("required", False)
            out.append(Change(required, f"`{owner}`: {what} `{name}` added"
                                        + (" without a default (existing callers break)" if required else "")))
        seen.add((owner, name))
    for name in old_by.keys() & new_by.keys():
        before, after = old_by[name], new_by[name]
        for key in sorted(set(before) | set(after)):
            if key == "name" or before.get(key) == after.get(key) or (owner, name) in seen:
                continue
            out.append(Change(True, f"`{owner}`: {what} `{name}` {key} changed: "
                                    f"{before.get(key)!r} -> {after.get(key)!r}"))
            seen.add((owner, name))
    if ordered:
        positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
        common_old = [m["name"] for m in old if m["name"] in new_by and m.get("kind", positional[1]) in positional]
        common_new = [m["name"] for m in new if m["name"] in old_by and m.get("kind", positional[1]) in positional]
        if common_old != common_new:
            out.append(Change(True, f"`{owner}`: positional {what} order changed: {common_old} -> {common_new}"))


def diff(old: dict, new: dict) -> list[Change]:
    """Every difference between two surfaces' `names`, breaking or an addition."""
    out: list[Change] = []
    for name in sorted(old.keys() - new.keys()):
        out.append(Change(True, f"`{name}` removed from the public API", name))
    for name in sorted(new.keys() - old.keys()):
        out.append(Change(False, f"`{name}` added to the public API ({new[name]['kind']})", name))
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name], new[name]
        seen: set[tuple[str, str]] = set()
        if before.get("kind") != after.get("kind"):
            out.append(Change(True, f"`{name}`: kind changed: {before.get('kind')} -> {after.get('kind')}"))
            continue
        if before.get("type_token") != after.get("type_token"):
            out.append(Change(True, f"`{name}`: Pulumi type token changed: {before.get('type_token')} -> "
                                    f"{after.get('type_token')} (existing stacks replace every instance unless "
                                    "the component passes `aliases`)"))
        for key in ("frozen", "returns", "type", "value"):
            if before.get(key) != after.get(key):
                out.append(Change(True, f"`{name}`: {key} changed: {before.get(key)!r} -> {after.get(key)!r}"))
        _diff_members(name, "parameter", before.get("parameters", []), after.get("parameters", []), seen, out, True)
        _diff_members(name, "field", before.get("fields", []), after.get("fields", []), seen, out, False)
        _diff_members(name, "output attribute", before.get("attributes", []), after.get("attributes", []),
                      seen, out, False)
        old_methods, new_methods = before.get("methods", {}), after.get("methods", {})
        for method in sorted(old_methods.keys() - new_methods.keys()):
            out.append(Change(True, f"`{name}.{method}` removed"))
        for method in sorted(new_methods.keys() - old_methods.keys()):
            out.append(Change(False, f"`{name}.{method}` added"))
        for method in sorted(old_methods.keys() & new_methods.keys()):
            if old_methods[method] != new_methods[method]:
                out.append(Change(True, f"`{name}.{method}` signature changed"))
        old_members, new_members = before.get("members", {}), after.get("members", {})
        for member in sorted(old_members.keys() - new_members.keys()):
            out.append(Change(True, f"`{name}.{member}` removed"))
        for member in sorted(new_members.keys() - old_members.keys()):
            out.append(Change(False, f"`{name}.{member}` added"))
        for member in sorted(old_members.keys() & new_members.keys()):
            if old_members[member] != new_members[member]:
                out.append(Change(True, f"`{name}.{member}` value changed"))
    return out


# ------------------------------------------------------------------------------ versions

def parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(version)
    if not match:
        raise ValueError(f"version {version!r}: must be MAJOR.MINOR.PATCH (digits only)")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def required_bump(changes: list[Change], pinned_version: str) -> str | None:
    """The smallest bump the changes need. SemVer; while MAJOR is 0, one level lower (Cargo's rule)."""
    if not changes:
        return None
    breaking = any(c.breaking for c in changes)
    if parse_version(pinned_version)[0] == 0:
        return "minor" if breaking else "patch"
    return "major" if breaking else "minor"


def bump_of(old: str, new: str) -> str | None:
    """`major`, `minor` or `patch` for an increase; None when `new` is not greater than `old`."""
    a, b = parse_version(old), parse_version(new)
    if b <= a:
        return None
    return "major" if b[0] > a[0] else "minor" if b[1] > a[1] else "patch"


def next_version(version: str, level: str) -> str:
    major, minor, patch = parse_version(version)
    return {"major": f"{major + 1}.0.0", "minor": f"{major}.{minor + 1}.0", "patch": f"{major}.{minor}.{patch + 1}"}[level]


def changelog_has_section(changelog: str, version: str) -> bool:
    return re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE) is not None


def changelog_section(changelog: str, version: str) -> str:
    match = re.search(rf"^## \[{re.escape(version)}\].*?(?=^## \[|\Z)", changelog, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else ""


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
    allowed: bool
    changes: list[Change]
    messages: list[str]


def plan_update(pinned: dict | None, live: dict, changelog: str,
                released: Callable[[str], bool] = is_released, extra: list[Change] | None = None) -> Plan:
    """Whether `--update` may pin `live`, and why (not). `extra`: changes found outside the names
    (resources of the examples that would be replaced), judged by the same rules."""
    version = live["version"]
    messages: list[str] = []
    parse_version(version)
    if not changelog_has_section(changelog, version):
        return Plan(False, [], [f"CHANGELOG.md has no `## [{version}]` section: describe this version there first"])
    if pinned is None:
        return Plan(True, diff({}, live["names"]), [f"no pin yet: pinning the surface of {version}"])
    changes = diff(pinned["names"], live["names"]) + list(extra or [])
    pinned_version = pinned["version"]
    need = required_bump(changes, pinned_version)
    if version == pinned_version:
        if not changes:
            return Plan(True, changes, [f"the pin of {version} is already up to date"])
        if not released(pinned_version):
            messages.append(f"{version} is not released yet (no tag v{version}): its pin is updated in place")
        else:
            return Plan(False, changes, [
                (f"{version} is released (tag v{version}) and the surface changed: bump components/_version.py "
                f"to at least {next_version(version, need)} ({need}: "
                f"{'breaking changes' if any(c.breaking for c in changes) else 'additions only'}) "
                f"and add a `## [{next_version(version, need)}]` section to CHANGELOG.md")])
    else:
        bump = bump_of(pinned_version, version)
        if bump is None:
            return Plan(False, changes, [f"components/_version.py ({version}) is not above the pinned {pinned_version}"])
        if need and _LEVELS.index(bump) < _LEVELS.index(need):
            return Plan(False, changes, [
                (f"{pinned_version} -> {version} is a {bump} bump, but these changes need a {need} bump "
                f"(at least {next_version(pinned_version, need)}; rules in docs/compatibility.md)")])
        messages.append(f"{pinned_version} -> {version}: a {bump} bump" + (f" (needed: {need})" if need else ""))
    section = changelog_section(changelog, version)
    unmentioned = [c.subject for c in changes if c.subject and f"`{c.subject}`" not in section]
    if unmentioned:
        messages.append(f"warning: CHANGELOG.md [{version}] does not mention {', '.join(unmentioned)}")
    return Plan(True, changes, messages)
