"""The API reference of `gpu_model_platform`, generated from docstrings and type hints.

Griffe (the engine behind mkdocstrings) reads `components/` statically: class and method
docstrings, the docstrings written under dataclass fields and output attributes, and the
signatures as written. This module renders one Markdown page per defining module under
`docs/api/reference/`, plus an index, and checks what a reader would trip over:

- a public class, a public method of it, or a public function without a docstring;
- a broken cross-reference: a backticked name that looks like a class (`ModelService`,
  `ModelService.namespace`, `gpu_model_platform.X`) resolving to nothing public nor to a known
  outside name (Kubernetes kinds, Pulumi provider resources, builtins), an autoref
  `[text][Name]`, or a relative link to a missing file or heading; in docstrings and in the
  hand-written pages that describe the package;
- generated pages that differ from what the code says (or stale pages left behind).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import logging
import re
import textwrap
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import griffe

PROJECT_DIR = Path(__file__).resolve().parents[2]
SOURCE_PACKAGE = "components"
PACKAGE = "gpu_model_platform"
REFERENCE_DIR = PROJECT_DIR / "docs" / "api" / "reference"
# Hand-written pages about the package: their names and links are checked too.
HAND_WRITTEN = [PROJECT_DIR / "docs" / "getting-started.md", PROJECT_DIR / "docs" / "api" / "README.md",
                PROJECT_DIR / "docs" / "compatibility.md"]
CONFIG_REFERENCE = PROJECT_DIR / "docs" / "config-reference.md"

_TYPE_TOKEN_RE = re.compile(r"""["']([A-Za-z0-9_-]+:[A-Za-z0-9_/.-]*:[A-Za-z0-9_]+)["']""")
_BACKTICK_RE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:\(\))?$")
_CLASS_LIKE_RE = re.compile(r"^[A-Z][a-z][A-Za-z0-9]*$")
_AUTOREF_RE = re.compile(r"\[([^\]\n]+)\]\[([^\]\n]*)\]")
_LINK_RE = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_FENCE_RE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.MULTILINE | re.DOTALL)

# Outside names written in backticks that are not ours (besides the computed catalogue below):
# custom resource kinds of the charts we install, Kubernetes field values, tools and files.
EXTRA_EXTERNAL_NAMES = frozenset({
    "Alertmanager", "AlertmanagerConfig", "Always", "Dockerfile", "DoNotSchedule", "Egress", "Equal", "Exists",
    "Grafana", "IfNotPresent", "Ingress", "Karpenter", "Never", "NoExecute", "NoSchedule", "NodeClaim",
    "NodePool", "Opaque", "PodMonitor", "PreferNoSchedule", "Prometheus", "PrometheusRule", "Pulumi",
    "RollingUpdate", "RuntimeDefault", "ScheduleAnyway", "ServiceMonitor", "Recreate", "Retain", "Delete",
    "ClusterIP", "NodePort", "LoadBalancer", "Unconfined", "Localhost", "OnFailure", "Helm",
})


# ------------------------------------------------------------------------------ the model

@dataclass
class PublicObject:
    """One name of `__all__`, resolved to where it is defined."""

    name: str
    obj: Any  # griffe Class, Function or Attribute
    page: str  # file name of its page under docs/api/reference/

    @property
    def kind(self) -> str:
        if self.obj.is_class:
            if any(str(b).split(".")[-1] == "ComponentResource" for b in self.obj.bases):
                return "component"
            if "dataclass" in self.obj.labels:
                return "dataclass"
            if any(str(b).split(".")[-1] in ("Enum", "StrEnum", "IntEnum") for b in self.obj.bases):
                return "enum"
            return "class"
        if self.obj.is_function:
            return "function"
        return "constant"

    @property
    def anchor(self) -> str:
        return _anchor(self.name)


@dataclass
class Api:
    package: Any
    version: str
    objects: dict[str, PublicObject] = field(default_factory=dict)
    runtime_defaults: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per public name, parameter defaults as the imported package has them (from `tools.api_surface`)."""

    def pages(self) -> dict[str, list[PublicObject]]:
        pages: dict[str, list[PublicObject]] = {}
        for o in self.objects.values():
            pages.setdefault(o.page, []).append(o)
        order = {"component": 0}
        out = {}
        for page, objs in sorted(pages.items()):
            # Components first, then source order; a page without one leads with the name it is named after.
            objs = sorted(objs, key=lambda o: (order.get(o.kind, 1), o.obj.lineno or 0))
            stem = page.removesuffix(".md").replace("_", "")
            out[page] = sorted(objs, key=lambda o: not (o is objs[0] and o.kind == "component"
                                                        or objs[0].kind != "component" and o.name.lower() == stem))
        return out


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def load(project_dir: Path = PROJECT_DIR, package_name: str = SOURCE_PACKAGE, runtime: bool = True) -> Api:
    """Read the package statically and resolve every name of its `__all__`.

    With `runtime`, the package is also imported for the values of defaults that the source only
    names (`field(default_factory=default_gpu_labels)`): a reader needs the value, not a private name.
    """
    logging.getLogger("griffe").setLevel(logging.ERROR)
    package = griffe.load(package_name, search_paths=[str(project_dir)], resolve_aliases=True,
                          resolve_external=False)
    exports = package.exports
    if exports is None:
        raise SystemExit(f"{package_name}/__init__.py has no __all__: the public API must be listed there")
    from tools.api_surface import read_version

    api = Api(package=package, version=read_version(project_dir / package_name / "_version.py"))
    for name in exports:
        name = str(name)
        member = package.members.get(name)
        if member is None:
            raise SystemExit(f"{package_name}.__all__ lists {name!r}, which the package does not define")
        target = member.final_target if member.is_alias else member
        module = target.module.path.split(".", 1)[-1] if target.module.path != package_name else "index"
        api.objects[name] = PublicObject(name=name, obj=target, page=f"{module.replace('.', '_')}.md")
    if runtime:
        from tools.api_surface import live_surface

        for name, entry in live_surface(package_name).get("names", {}).items():
            api.runtime_defaults[name] = {p["name"]: p["default"] for p in entry.get("parameters", []) if "default" in p}
    return api


# ------------------------------------------------------------------------------ external names

def defined_strings(api: Api) -> frozenset[str]:
    """Class-like string literals of the package's code: alert names, kinds, chart objects it writes."""
    names = set()
    for module in api.package.modules.values():
        if module.filepath and Path(module.filepath).is_file():
            for node in ast.walk(ast.parse(Path(module.filepath).read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CLASS_LIKE_RE.match(node.value):
                    names.add(node.value)
    return frozenset(names)


def external_names() -> frozenset[str]:
    """Class-like names that are someone else's: builtins, typing, Pulumi's SDK and providers."""
    names = set(EXTRA_EXTERNAL_NAMES) | set(dir(builtins)) | set(typing.__all__)
    try:
        import pulumi

        names |= set(getattr(pulumi, "__all__", dir(pulumi)))
    except ImportError:
        pass
    for provider in ("pulumi_kubernetes", "pulumi_aws", "pulumi_docker"):
        try:
            root = Path(__import__(provider).__file__).parent
        except ImportError:
            continue
        for path in root.rglob("*.py"):  # file names only: importing every provider module takes seconds
            stem = path.stem
            if stem.startswith("_"):
                continue
            names.add(stem if stem[:1].isupper() else "".join(w.capitalize() for w in stem.split("_")))
    return frozenset(names)


# ------------------------------------------------------------------------------ signatures and values

def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _default(value: Any) -> str:
    """A dataclass default as a reader needs it: `field(default_factory=X)` shows as `X()`."""
    text = _text(value)
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return text
    empty = {"dict": "{}", "list": "[]", "tuple": "()", "set": "set()"}
    if isinstance(node, ast.Call) and not node.args and not node.keywords and ast.unparse(node.func) in empty:
        return empty[ast.unparse(node.func)]  # griffe writes `field(default_factory=dict)` as `dict()`
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("field", "dataclasses.field"):
        for keyword in node.keywords:
            if keyword.arg == "default":
                return ast.unparse(keyword.value)
            if keyword.arg == "default_factory":
                factory = keyword.value
                if isinstance(factory, ast.Lambda):
                    return ast.unparse(factory.body)
                return empty.get(ast.unparse(factory), f"{ast.unparse(factory)}()")
    return text


def _is_opaque_call(text: str, public: set[str]) -> bool:
    """A default written as a call to something the reader cannot look up (a private factory)."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, ast.Call) and ast.unparse(node.func) not in public | {"dict", "list", "tuple", "set"}


def _signature(function: Any, name: str, runtime_defaults: dict[str, str] | None = None,
               public: frozenset[str] = frozenset()) -> str:
    parts, seen_keyword_only = [], False
    for p in function.parameters:
        if p.name in ("self", "cls"):
            continue
        kind = p.kind.value
        if kind == "keyword-only" and not seen_keyword_only:
            parts.append("*")
            seen_keyword_only = True
        prefix = {"variadic positional": "*", "variadic keyword": "**"}.get(kind, "")
        text = prefix + p.name + (f": {p.annotation}" if p.annotation is not None else "")
        if p.default is not None:
            default = _default(p.default)
            if runtime_defaults and p.name in runtime_defaults and _is_opaque_call(default, set(public)):
                default = runtime_defaults[p.name]
            text += f" = {default}"
        parts.append(text)
    returns = f" -> {function.returns}" if function.returns is not None and name != "__init__" else ""
    one_line = f"({', '.join(parts)}){returns}"
    if len(name) + len(one_line) <= 100:
        return one_line
    return "(\n" + "".join(f"    {part},\n" for part in parts) + f"){returns}"


def _constructor(obj: Any) -> Any | None:
    init = obj.members.get("__init__")
    return init.final_target if init is not None and init.is_alias else init


def _public_members(obj: Any, kind: str) -> list[Any]:
    out = []
    for name, member in obj.members.items():
        if name.startswith("_") or member.is_alias:
            continue
        if (kind == "function" and member.is_function) or (kind == "attribute" and member.is_attribute):
            out.append(member)
    # Declared attributes in the order the class body declares them, then the rest by line.
    declared = list(_class_declarations(obj)) if kind == "attribute" else []
    return sorted(out, key=lambda m: (declared.index(m.name) if m.name in declared else len(declared), m.lineno or 0))


def type_token(obj: Any) -> str | None:
    try:
        source = obj.source
    except (OSError, AttributeError, ValueError):  # no source file: nothing to read the token from
        return None
    match = _TYPE_TOKEN_RE.search(source)
    return match.group(1) if match else None


def _docstring(obj: Any) -> str:
    return obj.docstring.value.strip() if obj.docstring else ""


def _class_declarations(cls: Any) -> dict[str, tuple[str, str]]:
    """`name -> (annotation, docstring)` of the class-level declarations, read from the class body.

    Griffe merges a declaration with assignments in `__init__`; a chained one there
    (`self.a = self.b = None`) hands every name the first one's annotation and docstring, so the
    class body wins. In declaration order; an undocumented declaration has "" as its docstring.
    """
    try:
        tree = ast.parse(textwrap.dedent(cls.source))
    except (OSError, SyntaxError, ValueError, AttributeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    declared = {}
    for node, following in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            documented = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
                and isinstance(following.value.value, str)
            declared[node.target.id] = (ast.unparse(node.annotation),
                                        inspect.cleandoc(following.value.value) if documented else "")
    return declared


def _member_doc(owner: Any, member: Any) -> str:
    return _class_declarations(owner).get(member.name, ("", ""))[1] or _docstring(member)


def _member_annotation(owner: Any, member: Any) -> str:
    return _class_declarations(owner).get(member.name, ("", ""))[0] or _text(member.annotation)


def _summary(obj: Any) -> str:
    text = _docstring(obj)
    return text.split("\n\n")[0].replace("\n", " ") if text else ""


# ------------------------------------------------------------------------------ cross-references

@dataclass(frozen=True)
class Reference:
    target: str
    where: str
    how: str  # "backticks", "autoref" or "link"


def _without_code_blocks(text: str) -> str:
    return _FENCE_RE.sub("", text)


def references(text: str, where: str) -> Iterator[Reference]:
    """The cross-references written in a docstring or page."""
    text = _without_code_blocks(text)
    for match in _AUTOREF_RE.finditer(text):
        yield Reference((match.group(2) or match.group(1)).strip("`"), where, "autoref")
    for match in _LINK_RE.finditer(text):
        yield Reference(match.group(1), where, "link")
    for match in _BACKTICK_RE.finditer(text):
        token = match.group(1).strip()
        if not _DOTTED_RE.match(token):
            continue
        token = token.removesuffix("()")
        head = token.split(".")[0]
        # Ours by prefix, or class-like (`ModelService`, `ModelService.namespace`); not `docker.Image`.
        if head in (PACKAGE, SOURCE_PACKAGE) or _CLASS_LIKE_RE.match(head):
            yield Reference(token, where, "backticks")


class Resolver:
    """Decides whether a reference points at something that exists."""

    def __init__(self, api: Api, external: frozenset[str], pages: dict[str, str]):
        self.api = api
        self.external = external
        self.pages = pages  # generated page name -> text (for anchors)

    def member_names(self, public: PublicObject) -> set[str]:
        obj = public.obj
        return set(obj.members) if obj.is_class else set()

    def resolve_name(self, token: str) -> str | None:
        """None when it resolves; otherwise why not."""
        parts = token.split(".")
        if parts[0] in (PACKAGE, SOURCE_PACKAGE):
            parts = parts[1:]
            # `testing` is the public sub-module of test helpers (docs/testing.md), outside the root __all__.
            if not parts or parts[0] in ("__all__", "__version__", "testing"):
                return None
            if parts[0] not in self.api.objects:
                return f"`{parts[0]}` is not in {PACKAGE}.__all__"
        head = parts[0]
        if head in self.api.objects:
            if len(parts) > 1 and parts[1] not in self.member_names(self.api.objects[head]):
                return f"`{head}` has no member `{parts[1]}`"
            return None
        if token.split(".")[0] in (PACKAGE, SOURCE_PACKAGE):
            return f"`{head}` is not public"
        if head in self.external:
            return None
        return (f"`{head}` is neither in {PACKAGE}.__all__ nor a known outside name (if it is someone "
                f"else's, add it to EXTRA_EXTERNAL_NAMES in tools/api_docs/__init__.py)")

    def resolve_link(self, target: str, base: Path) -> str | None:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            return None  # an absolute URL
        path_part, _, anchor = target.partition("#")
        path = (base / path_part).resolve() if path_part else None
        if path is not None and not path.exists() and path.relative_to(PROJECT_DIR.resolve()).parts[:3] != (
                "docs", "api", "reference"):
            return f"link target {path_part} does not exist"
        if path is not None and path.parent == REFERENCE_DIR.resolve() and path.suffix == ".md":
            text = self.pages.get(path.name)
            if text is None:
                return f"{path_part} is not a generated reference page"
            if anchor and anchor not in {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}:
                return f"{path_part} has no heading for #{anchor}"
        return None

    def problem(self, ref: Reference, base: Path) -> str | None:
        if ref.how == "link":
            return self.resolve_link(ref.target, base)
        return self.resolve_name(ref.target)


# ------------------------------------------------------------------------------ rendering

class Renderer:
    def __init__(self, api: Api):
        self.api = api
        self.aliases = private_aliases(api)

    def annotation(self, value: Any) -> str:
        """An annotation as written, with private type aliases spelled out (the reader cannot look them up)."""
        text = _text(value)
        for name, meaning in self.aliases.items():
            text = re.sub(rf"\b{re.escape(name)}\b", meaning, text)
        return text

    def link(self, token: str, from_page: str) -> str | None:
        parts = token.split(".")
        if parts[0] in (PACKAGE, SOURCE_PACKAGE):
            parts = parts[1:]
        if not parts or parts[0] not in self.api.objects:
            return None
        target = self.api.objects[parts[0]]
        return f"#{target.anchor}" if target.page == from_page else f"{target.page}#{target.anchor}"

    def prose(self, text: str, page: str) -> str:
        """A docstring with backticked public names turned into links."""
        def replace(match: re.Match) -> str:
            token = match.group(1).strip().removesuffix("()")
            href = self.link(token, page) if _DOTTED_RE.match(token) else None
            return f"[`{match.group(1)}`]({href})" if href else match.group(0)

        out, last = [], 0
        for fence in _FENCE_RE.finditer(text):  # leave code blocks alone
            out.append(_BACKTICK_RE.sub(replace, text[last:fence.start()]))
            out.append(fence.group(0))
            last = fence.end()
        out.append(_BACKTICK_RE.sub(replace, text[last:]))
        return "".join(out)

    def cell(self, text: str, page: str) -> str:
        return self.prose(text, page).replace("\n", " ").replace("|", "\\|")

    def code_cell(self, text: str) -> str:
        return f"`{text}`".replace("|", "\\|") if text else ""

    def render_object(self, o: PublicObject) -> list[str]:
        obj, page = o.obj, o.page
        lines = [f"## {o.name}", ""]
        if o.kind == "function":
            lines += ["```python", f"{o.name}{_signature(obj, o.name)}", "```", ""]
        elif obj.is_class:
            init = _constructor(obj)
            signature = (_signature(init, "__init__", self.api.runtime_defaults.get(o.name),
                                    frozenset(self.api.objects)) if init is not None else "()")
            lines += ["```python", f"{o.name}{signature}", "```", ""]
        else:
            lines += ["```python", f"{o.name}: {_text(obj.annotation) or 'object'} = {_text(obj.value)}", "```", ""]
        meta = [f"*{o.kind}*"]
        if o.kind == "component":
            token = type_token(obj)
            meta.append(f"type token `{token}`" if token else "type token not found")
        if "dataclass" in obj.labels and any("frozen=True" in _text(d.value) for d in obj.decorators):
            meta.append("frozen (build a changed copy with `dataclasses.replace`)")
        lines += [" · ".join(meta), ""]
        doc = _docstring(obj)
        if doc:
            lines += [self.prose(doc, page), ""]
        if o.kind == "dataclass":
            lines += self.render_fields(o)
        elif obj.is_class:
            attributes = _public_members(obj, "attribute")
            if attributes:
                title = "Outputs" if o.kind == "component" else "Attributes"
                lines += [f"**{title}**", "", "| name | type | description |", "| --- | --- | --- |"]
                lines += [f"| `{a.name}` | {self.code_cell(self.annotation(_member_annotation(obj, a)))} | "
                          f"{self.cell(_member_doc(obj, a), page)} |"
                          for a in attributes]
                lines.append("")
        if obj.is_class:
            for method in _public_members(obj, "function"):
                lines += [f"### {o.name}.{method.name}", "", "```python",
                          f"{method.name}{_signature(method, method.name)}", "```", ""]
                if _docstring(method):
                    lines += [self.prose(_docstring(method), page), ""]
        return lines

    def render_fields(self, o: PublicObject) -> list[str]:
        page, obj = o.page, o.obj
        init = _constructor(obj)
        defaults = {p.name: p.default for p in init.parameters} if init is not None else {}
        runtime = self.api.runtime_defaults.get(o.name, {})
        lines = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
        for a in _public_members(obj, "attribute"):
            if "class-attribute" not in a.labels and "instance-attribute" not in a.labels:
                continue
            static = defaults.get(a.name, a.value)
            if a.name in runtime:  # the value itself, also where the source names a factory
                default_cell = self.code_cell(runtime[a.name])
            elif static is not None:
                default_cell = self.code_cell(_default(static))
            else:
                default_cell = "required"
            lines.append(f"| `{a.name}` | {self.code_cell(self.annotation(_member_annotation(obj, a)))} | {default_cell} | "
                         f"{self.cell(_member_doc(obj, a), page)} |")
        return lines + [""]

    def page(self, page: str, objects: list[PublicObject]) -> str:
        title = objects[0].name  # `Api.pages` puts the page's namesake first
        module = objects[0].obj.module
        intro = _docstring(module)
        lines = [f"# {title}", "",
                 (f"<!-- Generated by `python -m tools.api_docs` from components/{module.filepath.name}; "
                 "do not edit by hand. -->"), "",
                 f"Part of [`{PACKAGE}` {self.api.version}](index.md). "
                 + "Public here: " + ", ".join(f"[`{o.name}`](#{o.anchor})" for o in objects) + ".", ""]
        if intro:
            lines += [self.prose(intro, page), ""]
        for o in objects:
            lines += self.render_object(o)
        return "\n".join(lines).rstrip() + "\n"

    def index(self) -> str:
        lines = [f"# `{PACKAGE}` {self.api.version} API reference", "",
                 "<!-- Generated by `python -m tools.api_docs`; do not edit by hand. -->", "",
                 (f"Everything listed here is in `{PACKAGE}.__all__`: the supported public API, covered by "
                 "[the compatibility promise](../README.md). Anything else in the package is private. "
                 "Start with [getting started](../../getting-started.md); the stack config of this "
                 "repository's own program is described in [the config reference](../../config-reference.md)."), "",
                 "| name | kind | summary |", "| --- | --- | --- |"]
        for page, objects in self.api.pages().items():
            for o in objects:
                lines.append(f"| [`{o.name}`]({page}#{o.anchor}) | {o.kind} | "
                             f"{self.cell(_summary(o.obj), 'index.md')} |")
        return "\n".join(lines) + "\n"

    def render_all(self) -> dict[str, str]:
        pages = {page: self.page(page, objects) for page, objects in self.api.pages().items()}
        return {"index.md": self.index(), **pages}


# ------------------------------------------------------------------------------ checks

def missing_docstrings(api: Api) -> list[str]:
    problems = []
    for o in api.objects.values():
        where = f"{o.obj.filepath.name}:{o.obj.lineno}"
        if not _docstring(o.obj):
            problems.append(f"{where}: public {o.kind} `{o.name}` has no docstring")
        if o.obj.is_class:
            for method in _public_members(o.obj, "function"):
                if not _docstring(method):
                    problems.append(f"{method.filepath.name}:{method.lineno}: public method "
                                    f"`{o.name}.{method.name}` has no docstring")
    return problems


def _annotation_names(expr: Any) -> Iterator[Any]:
    if expr is None or isinstance(expr, str):
        return
    for part in expr.iterate(flat=True):
        if isinstance(part, griffe.ExprName):
            yield part


def _is_class(api: Api, path: str) -> bool:
    try:
        target = api.package.modules_collection[path]
    except (KeyError, griffe.AliasResolutionError):
        return False
    return bool((target.final_target if target.is_alias else target).is_class)


def private_aliases(api: Api) -> dict[str, str]:
    """Module-level type aliases of the package that are not public, as name -> what they stand for."""
    aliases = {}
    for module in api.package.modules.values():
        for name, member in module.members.items():
            if member.is_alias or not member.is_attribute or name in api.objects or member.value is None:
                continue
            value = str(member.value)
            if value.startswith(("Literal[", "Union[", "Optional[")):
                aliases[name] = value
    return aliases


def private_types_in_signatures(api: Api) -> list[str]:
    """Type hints of the public API naming a type of the package that is not public.

    Adopters could only build such an argument by importing a private module, which the promise
    lets change at any time; and the reference cannot link the name. Export it, or do not use it.
    """
    package = api.package.path
    problems: dict[str, set[str]] = {}
    for o in api.objects.values():
        obj, annotations = o.obj, []
        if obj.is_class:
            init = _constructor(obj)
            annotations += [p.annotation for p in init.parameters] if init is not None else []
            for member in obj.members.values():
                if member.is_alias or member.name.startswith("_"):
                    continue
                if member.is_attribute:
                    annotations.append(member.annotation)
                elif member.is_function:
                    annotations += [p.annotation for p in member.parameters] + [member.returns]
        elif obj.is_function:
            annotations += [p.annotation for p in obj.parameters] + [obj.returns]
        for annotation in annotations:
            for name in _annotation_names(annotation):
                path = name.canonical_path
                if path.startswith(package + ".") and path.rsplit(".", 1)[-1] not in api.objects \
                        and _is_class(api, path):  # a private alias (`X = Literal[...]`) is shown expanded
                    problems.setdefault(path, set()).add(o.name)
    return [f"`{path.rsplit('.', 1)[-1]}` ({path.split('.')[1]}.py) appears in the signature of public "
            f"{', '.join(f'`{n}`' for n in sorted(users))} but is not in {PACKAGE}.__all__: export it "
            "(adopters must not import private modules to build an argument)"
            for path, users in sorted(problems.items())]


def docstrings(api: Api) -> Iterator[tuple[str, str]]:
    """(where, text) of every docstring a reader of the reference sees."""
    seen_modules = set()
    for o in api.objects.values():
        module = o.obj.module
        if module.path not in seen_modules and _docstring(module):
            seen_modules.add(module.path)
            yield f"{module.filepath.name} (module docstring)", _docstring(module)
        yield f"{o.obj.filepath.name}:{o.obj.lineno} `{o.name}`", _docstring(o.obj)
        if o.obj.is_class:
            for member in _public_members(o.obj, "attribute") + _public_members(o.obj, "function"):
                yield f"{member.filepath.name}:{member.lineno} `{o.name}.{member.name}`", _member_doc(o.obj, member)


def broken_references(api: Api, pages: dict[str, str], hand_written: list[Path] = HAND_WRITTEN) -> list[str]:
    # A name the package's own code spells (an alert such as `ModelDown`) is a name, not a broken link.
    resolver = Resolver(api, external_names() | defined_strings(api), pages)
    problems = []
    for where, text in docstrings(api):
        for ref in references(text, where):
            problem = resolver.problem(ref, REFERENCE_DIR)
            if problem:
                problems.append(f"{where}: broken reference `{ref.target}`: {problem}")
    for path in hand_written:
        if not path.exists():
            problems.append(f"{path.relative_to(PROJECT_DIR)} is missing")
            continue
        for ref in references(path.read_text(), str(path.relative_to(PROJECT_DIR))):
            problem = resolver.problem(ref, path.parent)
            if problem:
                problems.append(f"{ref.where}: broken reference `{ref.target}`: {problem}")
    return problems


def stale_pages(pages: dict[str, str], directory: Path = REFERENCE_DIR) -> list[str]:
    problems = []
    for name, text in pages.items():
        path = directory / name
        if not path.exists():
            problems.append(f"docs/api/reference/{name} is missing")
        elif path.read_text() != text:
            problems.append(f"docs/api/reference/{name} is out of date")
    for path in sorted(directory.glob("*.md")) if directory.exists() else []:
        if path.name not in pages:
            problems.append(f"docs/api/reference/{path.name} documents nothing public any more")
    return problems


def write_pages(pages: dict[str, str], directory: Path = REFERENCE_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.md"):
        if path.name not in pages:
            path.unlink()
    written = []
    for name, text in pages.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(name)
    return written
