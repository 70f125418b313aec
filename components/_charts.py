"""An official Helm chart at a pinned version: one way to install it, one way to add values to it.

Every component that wraps a chart builds its values from typed args and takes `extra_values`, an
escape hatch deep-merged over them (mappings merge key by key, anything else replaces). Where this
package ships the pinned chart's values keys (`charts/<chart>-<version>.keys.tsv`, read from the
chart's release tag: every key of values.yaml with the kind of its default), extra values are
checked against them before anything is registered: an unknown top-level key, or a key one typo
away from a key the chart has, is refused naming the closest keys. Keys below a free-form map or a
list, and unknown keys with no near twin (a map the chart passes through, such as `grafana.ini`),
are let through -- except below an empty map whose keys the templates read are listed (`template`
rows under it, as keda's `podDisruptionBudget.operator.maxUnavailable`): those keys are checked.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ._args import Problem

KEYS_DIR = Path(__file__).parent / "charts"
# Kinds whose keys below are not listed: free-form maps, lists, and maps the templates render whole.
_FREE_FORM = ("empty-map", "list", "yaml-map")
# For others' values, also below a scalar default or a key documented only in comments (it may be a map).
_LENIENT = (*_FREE_FORM, "scalar", "template")


@dataclass(frozen=True)
class PinnedChart:
    """An official chart: its name, repository (https or oci://) and the version the project tested."""

    name: str
    repository: str
    version: str
    keys_file: str | None = None
    """The chart's values keys in `charts/`, when the project has them."""

    def at(self, version: str) -> PinnedChart:
        """The same chart at another version (whose values keys the project does not have)."""
        return self if version == self.version else PinnedChart(self.name, self.repository, version)


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` deep-merged over `base`: mappings key by key, any other value replaces."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def free_form(keys: Mapping[str, str], kinds: tuple[str, ...]) -> set[str]:
    """Paths of `kinds` below which any key passes: not the ones with keys of their own listed under them."""
    parents = {path.rsplit(".", 1)[0] for path in keys if "." in path}
    return {path for path, kind in keys.items() if kind in kinds and path not in parents}


@functools.cache
def chart_keys(keys_file: str) -> dict[str, str]:
    """`values path -> kind of its default` from a keys file in `charts/` (or at a full path)."""
    rows = [line.split("\t") for line in (KEYS_DIR / keys_file).read_text().splitlines()
            if line and not line.startswith("#")]
    return {path: kind for path, kind in rows}


def leaf_paths(data: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf of nested mappings (an empty mapping is a leaf)."""
    if isinstance(data, Mapping) and data:
        for key, value in data.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix


def unknown_keys(values: Mapping[str, Any], keys_file: str) -> list[str]:
    """Paths the chart neither declares nor reads, except below free-form maps and lists (the tests hold the
    components' own values to this)."""
    keys = chart_keys(keys_file)
    free = free_form(keys, _FREE_FORM)
    unknown = []
    for path in leaf_paths(values):
        parts = path.split(".")
        if path not in keys and not {".".join(parts[:i]) for i in range(1, len(parts))} & free:
            unknown.append(path)
    return unknown


def _leaf_key_paths(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths as tuples: a key may itself hold dots (`grafana.ini`)."""
    if isinstance(data, Mapping) and data:
        for key, value in data.items():
            yield from _leaf_key_paths(value, (*prefix, str(key)))
    else:
        yield prefix


def extra_values_problems(field: str, extra: Mapping[str, Any], chart: PinnedChart) -> list[Problem]:
    """Keys of `extra` that are surely mistakes for this chart version (see the module docstring)."""
    if chart.keys_file is None or not extra:
        return []
    keys = chart_keys(chart.keys_file)
    free = free_form(keys, _LENIENT)
    problems: list[Problem] = []
    seen: set[tuple[str, ...]] = set()
    for path in _leaf_key_paths(extra):
        prefixes = [".".join(path[:i]) for i in range(1, len(path) + 1)]
        if prefixes[-1] in keys or set(prefixes[:-1]) & free:
            continue
        depth = next(i for i, p in enumerate(prefixes) if p not in keys)
        unknown = path[:depth + 1]
        if unknown in seen:
            continue
        seen.add(unknown)
        parent, leaf = ".".join(unknown[:-1]), unknown[-1]
        siblings = sorted({k[len(parent) + 1:].split(".")[0] for k in keys if k.startswith(parent + ".")} if parent
                          else {k.split(".")[0] for k in keys})
        close = difflib.get_close_matches(leaf, siblings, n=3, cutoff=0.8)
        if parent and not close:
            continue  # possibly a map the chart passes through: nothing says it is wrong
        hint = f"did you mean {', '.join(close)}?" if close else f"top-level keys: {', '.join(siblings[:12])}, ..."
        problems.append((".".join((field, *unknown)), f"got {leaf!r}; not a values key of {chart.name} "
                                                       f"{chart.version}: {hint}"))
    return problems


def release(logical_name: str, chart: PinnedChart, namespace: pulumi.Input[str], values: Mapping[str, Any],
            extra_values: Mapping[str, Any], opts: pulumi.ResourceOptions, **settings: Any) -> k8s.helm.v3.Release:
    """A Helm release of the chart at its pinned version, with `extra_values` merged over `values`.

    `settings` are the Release's other arguments (`name`, `atomic`, `timeout`, ...): each component says why.
    """
    if chart.repository.startswith("oci://"):
        source: dict[str, Any] = {"chart": f"{chart.repository}/{chart.name}"}
    else:
        source = {"chart": chart.name, "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository)}
    return k8s.helm.v3.Release(logical_name, version=chart.version, namespace=namespace,
                               values=merged(values, extra_values) or None, opts=opts, **source, **settings)
