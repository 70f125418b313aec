"""Check or update the pinned public API: `python -m tools.api_surface [--update]`.

Without options it runs griffe's breaking-change check between `docs/api/surface.json` (the pin)
and the live `components/` (= `gpu_model_platform`), adds the annotation changes griffe leaves out,
the Pulumi type tokens, and the examples' resources (`docs/api/resource-urns.json`), and exits 1
listing every breaking change and what to do. griffe reports breaking changes only: additions pass.
`--update` rewrites both pins, when `components/_version.py` is high enough for the changes and
CHANGELOG.md describes it (an unreleased version, without its `v<version>` tag, is rewritten in place).
"""

from __future__ import annotations

import argparse
import sys

from tools.api_surface import (
    SURFACE_FILE,
    Change,
    breaking_changes,
    load_package,
    load_pinned,
    next_version,
    plan_update,
    public_api,
    render,
    token_changes,
    type_tokens,
)
from tools.api_surface.examples import URNS_FILE, live_urns, load_pinned_tokens, load_pinned_urns, lost_urns, render_urns
from tools.release import CHANGELOG_FILE, read_version


def lost_resources() -> list[Change]:
    """Resources of the examples pinned at the release that an upgrade would replace (no alias)."""
    pinned = load_pinned_urns()
    if pinned is None:
        return []
    return [Change(f"`{example}`: {urn} is no longer registered and no alias points to it "
                   "(adopters' stacks would replace it)")
            for example, urns in lost_urns(pinned).items() for urn in urns]


def changes_since_pin(pinned: dict, api, tokens: dict[str, str]) -> list[Change]:
    """Every breaking change between the pins and the live code: API, type tokens, resources."""
    changes = breaking_changes(pinned["api"], api)
    return changes + token_changes(load_pinned_tokens() or {}, tokens) + lost_resources()


def check_report(pinned: dict | None, version: str, changes: list[Change]) -> list[str]:
    """Empty when the pin holds; otherwise the lines telling what changed and what to do."""
    if pinned is None or load_pinned_urns() is None:
        return ["docs/api/surface.json or docs/api/resource-urns.json is missing (or in an old format): "
                "run `python -m tools.api_surface --update`"]
    if not changes and pinned["version"] == version:
        return []
    lines = [f"The public API of gpu_model_platform breaks the pin of {pinned['version']} "
             f"(components/_version.py says {version}):" if changes else
             f"docs/api/surface.json pins {pinned['version']}, components/_version.py says {version}:"]
    lines += [f"  {change}" for change in changes]
    if changes and version == pinned["version"]:
        lines.append(f"If intended: set components/_version.py to {next_version(version, True)} or higher (while "
                     f"{version} has no tag v{version} it may stay), describe it in CHANGELOG.md, then run "
                     "`python -m tools.api_surface --update`. If not: restore what changed (a rename keeps the old "
                     "name exported and passes `aliases` to moved resources; docs/compatibility.md).")
    else:
        lines.append("Run `python -m tools.api_surface --update` to pin this version.")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.api_surface", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true",
                        help="rewrite docs/api/surface.json and docs/api/resource-urns.json (after a version bump)")
    args = parser.parse_args(argv)

    package, version, pinned = load_package(), read_version(), load_pinned()
    tokens = type_tokens(package)  # before public_api, which moves the objects into the public module
    api = public_api(package)
    changes = changes_since_pin(pinned, api, tokens) if pinned is not None else []
    if not args.update:
        report = check_report(pinned, version, changes)
        print("\n".join(report) if report else f"The public API keeps the pin of {version}.",
              file=sys.stderr if report else sys.stdout)
        return 1 if report else 0

    if pinned is not None:
        plan = plan_update(pinned["version"], version, changes, CHANGELOG_FILE.read_text())
        for line in [*(f"  {c}" for c in plan.changes), *plan.messages]:
            print(line, file=sys.stdout if plan.allowed else sys.stderr)
        if not plan.allowed:
            print("refused: the pins are left unchanged", file=sys.stderr)
            return 1
    SURFACE_FILE.write_text(render(version, api))
    URNS_FILE.write_text(render_urns(version, live_urns(), tokens))
    print(f"wrote docs/api/surface.json and docs/api/resource-urns.json ({version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
