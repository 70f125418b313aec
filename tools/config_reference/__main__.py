"""Generate the stack config reference from the schema: `python -m tools.config_reference [--check]`.

The schema is the single declaration of every key (type, default, allowed
values, description); this page is derived from it so the two never disagree.
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from stack_config.schema import PROJECT, StackConfig

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "config-reference.md"


def _type_name(annotation: typing.Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Union:
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if annotation is SecretStr:
        return "**secret** string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(info) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump(by_alias=True) for v in value]
    return f"`{value}`".replace("|", "\\|")


def _nested(annotation) -> list[type[BaseModel]]:
    from stack_config.loader import _unwrap
    return [c for c in _unwrap(annotation) if isinstance(c, type) and issubclass(c, BaseModel)]


def _section(model: type[BaseModel], path: str, lines: list[str], seen: set[str]) -> None:
    if path in seen:
        return
    seen.add(path)
    lines += [f"### `{path}`", "", (model.__doc__ or "").strip(), "",
              "| key | type | default | description |", "| --- | --- | --- | --- |"]
    children = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        lines.append(f"| `{key}` | {_type_name(info.annotation)} | {_default(info)} | {info.description or ''} |")
        for nested in _nested(info.annotation):
            children.append((nested, f"{path}.{key}"))
    lines.append("")
    for nested, nested_path in children:
        _section(nested, nested_path, lines, seen)


def render() -> str:
    lines = ["# Stack configuration reference", "",
             "Generated from `stack_config/schema.py` by `python -m tools.config_reference`; do not edit by hand.",
             "", f"Every key lives under the `{PROJECT}:` namespace of a `Pulumi.<stack>.yaml` file, one top-level "
             "key per section. Unknown keys are errors. Secret fields must be set with "
             "`pulumi config set --secret --path '<section>.<key>' <value>`.", ""]
    seen: set[str] = set()
    for name, info in StackConfig.model_fields.items():
        key = info.alias or name
        lines.append(f"## `{PROJECT}:{key}` ({'required' if info.is_required() else 'optional'})")
        lines.append("")
        for model in _nested(info.annotation):
            _section(model, key, lines, seen)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.config_reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/config-reference.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run `python -m tools.config_reference`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
