"""Check or update the pinned public API surface: `python -m tools.api_surface [--update]`.

Without options it compares the live surface of `components/` (= `gpu_model_platform`) with
`docs/api/surface.json` and exits 1 listing every change and what to do. `--update` writes the pin,
but only when `components/_version.py` was bumped enough for the changes (SemVer; 0.x: breaking ->
minor, addition -> patch) and CHANGELOG.md has a section for that version. A version not yet
released (no `v<version>` tag) may have its pin updated in place. `--print` shows the live surface.

It also guards resource identity: `docs/api/resource-urns.json` pins the URNs the examples register;
one that is no longer registered, with no alias pointing back to it, is a breaking change (adopters'
stacks would replace that resource). `--update` rewrites that pin too.
"""

from __future__ import annotations

import argparse
import sys

from tools.api_surface import (
    CHANGELOG_FILE,
    SURFACE_FILE,
    Change,
    diff,
    live_surface,
    load_pinned,
    next_version,
    plan_update,
    render,
    required_bump,
)
from tools.api_surface.examples import URNS_FILE, live_urns, load_pinned_urns, lost_urns, render_urns


def check_report(pinned: dict | None, live: dict) -> list[str]:
    """Empty when the pin matches; otherwise the lines telling what changed and what to do."""
    if pinned is None:
        return [f"{SURFACE_FILE.name} is missing: run `python -m tools.api_surface --update`"]
    changes = diff(pinned["names"], live["names"])
    if not changes and pinned.get("version") == live["version"] and pinned.get("format") == live["format"]:
        return []
    lines = [(f"The public API of gpu_model_platform differs from docs/api/surface.json "
             f"(pinned {pinned.get('version')}, components/_version.py says {live['version']}):")]
    lines += [f"  {change}" for change in changes] or ["  (no API change: only the version or the file format)"]
    need = required_bump(changes, pinned["version"])
    if changes and live["version"] == pinned["version"]:
        lines.append(f"If the change is intended: set components/_version.py to {next_version(pinned['version'], need)} "
                     f"or higher ({need} bump; see docs/compatibility.md; while {pinned['version']} is not "
                     "tagged it may stay), add that version's section to CHANGELOG.md, then run "
                     "`python -m tools.api_surface --update` and `python -m tools.api_docs`.")
    else:
        lines.append("Run `python -m tools.api_surface --update` to record it.")
    if any(c.breaking for c in changes):
        lines.append("If it is not intended: restore what was removed or changed (a rename keeps the old name "
                     "exported and passes `aliases` to moved resources).")
    return lines


def lost_resources() -> list[Change]:
    """Resources of the examples pinned at the release that an upgrade would replace (no alias)."""
    pinned = load_pinned_urns()
    if pinned is None:
        return []
    return [Change(True, f"`{example}`: {urn} is no longer registered and no alias points to it "
                         "(adopters' stacks would replace it)")
            for example, urns in lost_urns(pinned).items() for urn in urns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.api_surface", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--update", action="store_true",
                      help="write docs/api/surface.json and docs/api/resource-urns.json (after a version bump)")
    mode.add_argument("--print", action="store_true", help="print the live surface as JSON")
    args = parser.parse_args(argv)

    live = live_surface()
    if args.print:
        sys.stdout.write(render(live))
        return 0
    pinned = load_pinned()
    lost = lost_resources()
    if not args.update:
        report = check_report(pinned, live)
        if lost:
            report += ["Resources an upgrade would replace in adopters' stacks (docs/api/resource-urns.json):",
                       *(f"  {change}" for change in lost),
                       "Pass `aliases` to the renamed or moved resources (docs/compatibility.md), or, if they are "
                       "really gone, bump the version as for a breaking change and run --update."]
        if load_pinned_urns() is None:
            report.append("docs/api/resource-urns.json is missing: run `python -m tools.api_surface --update`")
        print("\n".join(report) if report else f"API surface matches the pin ({live['version']}).",
              file=sys.stderr if report else sys.stdout)
        return 1 if report else 0

    plan = plan_update(pinned, live, CHANGELOG_FILE.read_text() if CHANGELOG_FILE.exists() else "", extra=lost)
    for change in plan.changes:
        print(f"  {change}")
    for message in plan.messages:
        print(message, file=sys.stdout if plan.allowed else sys.stderr)
    if not plan.allowed:
        print("refused: docs/api/surface.json left unchanged", file=sys.stderr)
        return 1
    SURFACE_FILE.parent.mkdir(parents=True, exist_ok=True)
    SURFACE_FILE.write_text(render(live))
    URNS_FILE.write_text(render_urns(live["version"], live_urns()))
    print(f"wrote {URNS_FILE.relative_to(URNS_FILE.parents[2])} (the examples' resources at {live['version']})")
    print(f"wrote {SURFACE_FILE.relative_to(SURFACE_FILE.parents[2])} ({live['version']}, "
          f"{len(live['names'])} public names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
