"""Read stack configuration from the Pulumi runtime or a stack file, and validate it.

Everything wrong with a configuration is reported at once, in one
`ConfigError`, before the program registers a single resource.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from stack_config.schema import PROJECT, SECTION_KEYS, StackConfig

_PREFIX = f"{PROJECT}:"


class ConfigError(ValueError):
    """The stack configuration is invalid; `problems` lists every finding."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class RawConfig:
    """Config values of this project's namespace, keyed by section, and which paths are secret."""

    sections: dict[str, Any]
    secret_paths: frozenset[str] = field(default_factory=frozenset)

    def is_secret(self, path: str) -> bool:
        return any(path == s or path.startswith(s + ".") or path.startswith(s + "[") for s in self.secret_paths)

    def as_pulumi_config(self) -> tuple[dict[str, str], list[str]]:
        """The form `pulumi.runtime.set_all_config` takes: JSON values and secret keys."""
        values = {
            f"{_PREFIX}{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in self.sections.items()
        }
        secret_keys = sorted({f"{_PREFIX}{p.split('.')[0].split('[')[0]}" for p in self.secret_paths})
        return values, secret_keys


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def read_runtime_config() -> RawConfig:
    """This project's config as the Pulumi engine hands it to the program."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    sections, secrets = {}, set()
    for key in sorted(k for k in keys if k.startswith(_PREFIX)):
        section = key[len(_PREFIX):]
        sections[section] = _decode(runtime_config.get_config(key))
        if runtime_config.is_config_secret(key):
            secrets.add(section)
    return RawConfig(sections=sections, secret_paths=frozenset(secrets))


def _placeholder(ciphertext: str) -> str:
    return "synth-secret-" + hashlib.sha256(ciphertext.encode()).hexdigest()[:12]


def _replace_secure(node: Any, path: str, secrets: set[str], overrides: dict[str, str]) -> Any:
    if isinstance(node, dict) and set(node) == {"secure"}:
        secrets.add(path)
        return overrides.get(path, _placeholder(str(node["secure"])))
    if isinstance(node, dict):
        return {k: _replace_secure(v, f"{path}.{k}", secrets, overrides) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_secure(v, f"{path}[{i}]", secrets, overrides) for i, v in enumerate(node)]
    return node


def read_stack_file(path: Path | str, secret_values: Optional[dict[str, str]] = None) -> RawConfig:
    """This project's config from a `Pulumi.<stack>.yaml`, without decrypting it.

    Encrypted (`secure:`) values become deterministic placeholders, or the value
    given for their path in `secret_values`, and are remembered as secret.
    """
    document = yaml.safe_load(Path(path).read_text()) or {}
    config = document.get("config") or {}
    sections, secrets = {}, set()
    for key, value in config.items():
        if not str(key).startswith(_PREFIX):
            continue
        section = str(key)[len(_PREFIX):]
        sections[section] = _replace_secure(value, section, secrets, secret_values or {})
    return RawConfig(sections=sections, secret_paths=frozenset(secrets))


def other_namespaces(path: Path | str) -> dict[str, Any]:
    """Config keys of other packages in a stack file (e.g. `aws:region`), passed through untouched."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    return {k: v for k, v in (document.get("config") or {}).items() if not str(k).startswith(_PREFIX)}


# --- validation -----------------------------------------------------------------------------------


def _format_loc(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete classes an annotation may hold (Optional, list and Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None), list, tuple, dict):
        return [c for arg in typing.get_args(annotation) for c in _unwrap(arg)]
    return [annotation]


def _model_fields_by_alias(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    model: Optional[type[BaseModel]] = StackConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = _model_fields_by_alias(model).get(part)
        if info is None:
            return None
        models = [c for c in _unwrap(info.annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
        model = models[0] if models else None
    return model


def secret_field_paths(model: type[BaseModel] = StackConfig, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every secret field in the schema, `[]` standing for any list index."""
    for alias, info in _model_fields_by_alias(model).items():
        path = f"{prefix}.{alias}" if prefix else alias
        classes = _unwrap(info.annotation)
        if SecretStr in classes:
            yield path
        is_list = typing.get_origin(info.annotation) is list or any(
            typing.get_origin(a) is list for a in typing.get_args(info.annotation))
        for cls in classes:
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                yield from secret_field_paths(cls, f"{path}[]" if is_list else path)


def _present_values(data: Any, pattern: str) -> Iterator[tuple[str, Any]]:
    """Concrete (path, value) pairs in raw data matching a schema path such as `monitoring.receivers[].url`."""
    head, _, rest = pattern.partition(".")
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if not isinstance(data, dict) or key not in data:
        return
    if is_list and isinstance(data[key], list):
        values = [(f"{key}[{i}]", v) for i, v in enumerate(data[key])]
    else:
        values = [(key, data[key])]
    for path, value in values:
        if not rest:
            yield path, value
        else:
            for sub_path, sub_value in _present_values(value, rest):
                yield f"{path}.{sub_path}", sub_value


def _plaintext_secret_problems(raw: RawConfig) -> list[str]:
    problems = []
    for pattern in secret_field_paths():
        for found_path, found in _present_values(raw.sections, pattern):
            # A map of secrets (`model.apiKeys`) is set key by key: each value must be a secret.
            entries = [(f"{found_path}.{k}", v) for k, v in found.items()] if isinstance(found, dict) else [
                (found_path, found)]
            for path, value in entries:
                if value is None or raw.is_secret(path):
                    continue
                problems.append(
                    f"{_PREFIX}{path}: a secret was given in plain text; "
                    f"set it with `pulumi config set --secret --path '{_PREFIX}{path}' <value>`")
    return problems


def _describe(error: dict, raw: RawConfig) -> list[str]:
    loc = tuple(error["loc"])
    path = _format_loc(loc)
    where = f"{_PREFIX}{path}" if path else f"{_PREFIX}<root>"
    kind = error["type"]
    shown = "***" if raw.is_secret(path) else error.get("input")
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(_model_fields_by_alias(model)) if model else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return [f"{where}: unknown key{hint}; allowed keys: {', '.join(allowed)}"]
    if kind == "missing":
        return [f"{where}: required key is missing"]
    if kind == "literal_error":
        return [f"{where}: got {shown!r}; allowed: {error['ctx']['expected']}"]
    if kind == "string_pattern_mismatch":
        return [f"{where}: got {shown!r}; must match {error['ctx']['pattern']}"]
    if kind == "value_error":
        message = str(error["ctx"]["error"])
        return [f"{where}.{part}" if path else f"{_PREFIX}{part}" for part in message.split(" | ")]
    return [f"{where}: got {shown!r}; {error['msg']}"]


def load(raw: RawConfig) -> StackConfig:
    """Validate raw config into a typed `StackConfig`, or raise one `ConfigError` listing every problem."""
    problems = _plaintext_secret_problems(raw)
    data = dict(raw.sections)
    known = set(SECTION_KEYS.values())
    for key in sorted(set(data) - known):
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"{_PREFIX}{key}: unknown key{hint}; allowed keys: {', '.join(sorted(known))}")
        data.pop(key)
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            problems.extend(_describe(item, raw))
        config = None
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config
