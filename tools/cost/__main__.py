"""`python -m tools.cost --stack prod [--stack dev] [--json] [--baseline main.json --comment]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stack_config.loader import ConfigError
from tools.cost.estimate import SIZES, comment, estimate
from tools.synth.stack import PROJECT_DIR, synth_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=__doc__)
    parser.add_argument("--stack", action="append", required=True, help="stack name (repeatable)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON (a baseline for --comment)")
    parser.add_argument("--baseline", type=Path, help="JSON of main's estimates (from --json), for --comment")
    parser.add_argument("--comment", action="store_true", help="print the pull request comment (markdown)")
    args = parser.parse_args(argv)
    try:
        estimates = [estimate(synth_stack(stack, project_dir=args.project_dir)) for stack in args.stack]
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([e.as_json() for e in estimates], indent=2))
    elif args.comment:
        baseline = {e["stack"]: e["total"]["desired"] for e in json.loads(args.baseline.read_text())} \
            if args.baseline else {}
        print(comment(estimates, baseline), end="")
    else:
        for e in estimates:
            print(f"stack {e.stack}: monthly, US$ ({' / '.join(SIZES)} node group sizes)")
            for line, costs in e.lines.items():
                print(f"  {line:<45} " + " ".join(f"{c:>10,.2f}" for c in costs))
            print(f"  {'total':<45} " + " ".join(f"{e.total(s):>10,.2f}" for s in SIZES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
