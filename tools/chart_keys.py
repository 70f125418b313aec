"""Write a chart's values keys file (components/charts/<chart>-<version>.keys.tsv) from its values.yaml.

    git show <tag>:<chart dir>/values.yaml | python -m tools.chart_keys "<header line>" [KEY ...] > X.keys.tsv

Every key path of values.yaml with the kind of its default: `map` (a mapping with keys), `empty-map`, `list` or
`scalar` (components/_charts.py reads them); a map the chart renders whole (`toYaml .Values.x` or
`with .Values.x` in the templates values.yaml itself holds, as Loki's `loki.config` does) is a `yaml-map`, whose
keys below are free; so is every map whose own key is one of the KEYs given (say `affinity`, where a shared
pod template renders each component's whole). Keys documented only in comments are not found this way.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

import yaml


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map" if value else "empty-map"
    return "list" if isinstance(value, list) else "scalar"


def key_rows(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, kind) of every key, parents before children."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        yield path, _kind(value)
        yield from key_rows(value, path)


_RENDERED_WHOLE = re.compile(r"(?:toYaml|with)\s+\.Values\.([A-Za-z0-9_.]+)")


def main(argv: list[str]) -> int:
    header = argv[1] if len(argv) > 1 else ""
    whole_keys = set(argv[2:])
    if header:
        print(f"# {header}")
    text = sys.stdin.read()
    whole = set(_RENDERED_WHOLE.findall(text))
    for path, kind in key_rows(yaml.safe_load(text) or {}):
        rendered_whole = path in whole or path.rsplit(".", 1)[-1] in whole_keys
        print(f"{path}\t{'yaml-map' if kind == 'map' and rendered_whole else kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
