"""A saved update plan (`pulumi preview --save-plan`) as the Markdown the prod approver reads.

The plan file is Pulumi's `DeploymentPlanV1` (sdk/go/common/apitype/plan.go): `resourcePlans` maps
each URN to the `steps` the update may take; a resource whose steps are only `same` does not change.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

_ORDER = ("create", "update", "replace", "create-replacement", "delete-replaced", "delete", "read", "refresh")


def plan_steps(plan: dict) -> dict[str, list[str]]:
    """URN -> the steps of every resource that changes (a versioned wrapper `{version, plan}` is unwrapped)."""
    if "plan" in plan and "version" in plan:
        plan = plan["plan"]
    resource_plans = plan.get("resourcePlans")
    if not isinstance(resource_plans, dict):
        raise ValueError("not a Pulumi update plan: no resourcePlans")
    return {urn: steps for urn, entry in sorted(resource_plans.items())
            if (steps := [s for s in (entry or {}).get("steps") or [] if s != "same"])}


def _short(urn: str) -> str:
    """`type::name` of a URN (`urn:pulumi:<stack>::<project>::<parent types$>type::name`)."""
    parts = urn.split("::")
    return f"{parts[-2].rsplit('$', 1)[-1]} `{parts[-1]}`" if len(parts) >= 4 else urn


def summary_markdown(plan_path: Path, stack: str, commit: str, image: str) -> str:
    steps = plan_steps(json.loads(Path(plan_path).read_text()))
    counts = Counter(step for urn_steps in steps.values() for step in urn_steps)
    lines = [f"### Saved plan for `{stack}` at `{commit}`", "",
             f"Image: `{image}`", "",
             "`pulumi up --plan` applies exactly this and fails if anything else would change.", ""]
    if not steps:
        lines.append("No resource changes.")
        return "\n".join(lines) + "\n"
    lines += ["| operation | resources |", "| --- | --- |"]
    lines += [f"| {op} | {counts[op]} |" for op in sorted(counts, key=lambda o: (_ORDER + (o,)).index(o))]
    lines += ["", "| resource | steps |", "| --- | --- |"]
    lines += [f"| {_short(urn)} | {', '.join(s)} |" for urn, s in steps.items()]
    return "\n".join(lines) + "\n"
