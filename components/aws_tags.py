"""AWS tags every resource of a component carries, from one base dict.

The provider's `default_tags` (from the stack's `aws.defaultTags`) add project, environment and
owner to everything; these say which component and which instance of it made a resource.
"""

from __future__ import annotations

from collections.abc import Mapping

PART_OF = "gpu-model-platform"


def component_tags(component: str, name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`part-of`, `component` and `component-name`, then the caller's extra tags (which win)."""
    return {"part-of": PART_OF, "component": component, "component-name": name, **dict(extra or {})}
