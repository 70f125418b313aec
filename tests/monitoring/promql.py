"""What a PromQL expression reads: metric names and the label names of its matchers.

A small lexer, not a parser: `promtool` checks the syntax; this only has to find names. Strings are
blanked first, so braces or keywords inside label values never confuse it.
"""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).parent

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan", "start", "end"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)")


def _blank_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects (function and aggregation names excluded)."""
    text = _blank_strings(expr)
    names = {m.group(1) for m in _SELECTOR.finditer(text) if m.group(1)}
    text = _SELECTOR.sub(lambda m: m.group(1) or "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = _GROUPING.sub("", text)
    for match in _NAME.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before in ".$":
            continue  # duration units, exponents, Grafana variables
        if text[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() not in _KEYWORDS:
            names.add(match.group(0))
    return names


def matcher_labels(expr: str) -> dict[str, set[str]]:
    """For each metric selected with matchers, the label names the matchers use."""
    found: dict[str, set[str]] = {}
    for match in _SELECTOR.finditer(_blank_strings(expr)):
        if match.group(1):
            found.setdefault(match.group(1), set()).update(label for label, _ in _MATCHER_LABEL.findall(match.group(2)))
    return found


def exposition_metrics(text: str) -> dict[str, set[str]]:
    """Metric names in a /metrics page, with the label names seen on their samples.

    Families declared with `# TYPE` but without samples (the GPU memory gauge on a CPU machine)
    count too, with their histogram and counter series names.
    """
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", ""),
                        "counter": ("_total",)}.get(kind, ("",))
            for suffix in suffixes:
                found.setdefault(name + suffix if not name.endswith(suffix) else name, set())
        elif line and not line.startswith("#"):
            name = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)
            labels = re.match(r"[^{ ]*(?:\{(.*)\})?", line).group(1) or ""
            found.setdefault(name, set()).update(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', labels))
    return found


def dcgm_counters() -> dict[str, str]:
    """dcgm-exporter's default counters (name -> type), as read from its release."""
    rows = [line.split("\t") for line in (FIXTURES / "dcgm-exporter-4.5.3-4.8.2.counters.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    return {name: kind for name, kind in rows}


def node_exporter_metrics() -> set[str]:
    """The node-exporter filesystem metrics the node disk alerts read."""
    return {line for line in (FIXTURES / "node-exporter-filesystem.metrics.txt").read_text().splitlines()
            if line and not line.startswith("#")}


def kube_state_metrics() -> set[str]:
    """Every metric kube-state-metrics 2.20.0 documents."""
    return {line for line in (FIXTURES / "kube-state-metrics-2.20.0.metrics.txt").read_text().splitlines()
            if line and not line.startswith("#")}
