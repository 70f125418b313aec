"""Resource options a component hands on to its children."""

from __future__ import annotations

from typing import Optional

import pulumi


def dependencies(opts: Optional[pulumi.ResourceOptions]) -> list[pulumi.Resource]:
    """The resources the options' `depends_on` names, as a list: a component's own `depends_on` does not hold
    back its children, so a component passes these on to the children that need them."""
    if opts is None or opts.depends_on is None:
        return []
    found = opts.depends_on
    if isinstance(found, pulumi.Resource):
        return [found]
    if isinstance(found, (list, tuple)):
        return [r for r in found if isinstance(r, pulumi.Resource)]
    raise TypeError("depends_on must be a resource or a list of resources (not an Output) for this component: "
                    "its children wait for them")
