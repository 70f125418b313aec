"""Reading resource properties the same way whether they come from the engine or from a test.

The engine hands a policy its properties behind `pulumi_policy`'s unknown-checking proxy:
reading a value that is not known yet (an output of a resource still to be created, during
preview) raises `UnknownValueError`, which would abort the whole check. `normalize` turns the
properties into plain dicts and lists once, with `UNKNOWN` where a value cannot be known yet
and `pulumi_policy.Secret` where the value is a Pulumi secret, so each policy checks what is
known now and leaves the rest to the update, when every input is known.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

_UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE,
})


class _Unknown:
    """A value the engine cannot know during preview."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


def normalize(value: Any) -> Any:
    """Plain dicts and lists, with `UNKNOWN` for unknown values and `Secret` kept around secrets."""
    if isinstance(value, Secret):
        return Secret(normalize(value.value))
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _read(value, key) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_read(value, index) for index in range(len(value))]
    return value


def _read(container: Any, key: Any) -> Any:
    try:
        return normalize(container[key])
    except UnknownValueError:
        return UNKNOWN


def reveal(value: Any) -> Any:
    """The value with any `Secret` wrapper removed (only the outer one)."""
    while isinstance(value, Secret):
        value = value.value
    return value


def get(value: Any, *path: Any) -> Any:
    """The value at `path` in normalized properties, through secrets; None if absent, UNKNOWN if unknown."""
    value = reveal(value)
    for key in path:
        if value is UNKNOWN or value is None:
            return value
        if isinstance(key, int):
            value = reveal(value[key]) if isinstance(value, list) and -len(value) <= key < len(value) else None
        else:
            value = reveal(value.get(key)) if isinstance(value, dict) else None
    return value


def items(value: Any) -> list:
    """The list at a path (`get(...)` result), or [] when absent or unknown."""
    value = reveal(value)
    return [reveal(v) for v in value] if isinstance(value, list) else []


def is_known(value: Any) -> bool:
    return value is not UNKNOWN


def contains_unknown(value: Any) -> bool:
    """Whether any part of the value (dicts, lists and tuples searched through) is not known yet."""
    value = reveal(value)
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    return False


def walk(value: Any, path: tuple = (), secret: bool = False) -> Iterator[tuple[tuple, Any, bool]]:
    """Every leaf as (path, plain value, whether a Pulumi secret encloses it)."""
    if isinstance(value, Secret):
        yield from walk(value.value, path, True)
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, (*path, key), secret)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index), secret)
    else:
        yield path, value, secret


def dotted(path: tuple) -> str:
    """`spec.template.spec.containers[0].image` from a path tuple."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
