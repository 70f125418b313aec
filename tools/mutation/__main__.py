"""`python -m tools.mutation MODULE... [--tests FILE...] [--sample N] [--seed S] [--max-seconds S]`.

Prints each module's score and its surviving mutants; exits 1 when a module scores below `--bar`.
`--list` prints the diffs of the mutants a run would sample, without running them (read them before writing tests).
`--changed-since REF` picks the tracked modules (targets.tsv) that differ from REF, for pull requests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.mutation.report import load_equivalents, render, score, summary_row
from tools.mutation.runner import mutate, preview
from tools.mutation.targets import ROOT, tests_for, tracked_modules

# Below this, a module's clean run alone would not finish: it is reported unmeasured instead.
MIN_MODULE_SECONDS = 120
SUMMARY_HEADER = "| module | score | killed/counted | survivors | verdict |\n|---|---|---|---|---|"


def changed_modules(ref: str) -> list[str]:
    """Tracked modules whose file differs between `ref` and the work tree."""
    out = subprocess.run(["git", "diff", "--name-only", ref, "--"], cwd=ROOT, check=True, capture_output=True, text=True)
    changed = set(out.stdout.split())
    return [m for m in tracked_modules() if m in changed]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.mutation", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module files, e.g. components/serving/model_service.py")
    parser.add_argument("--tests", nargs="+", help="test files to run instead of the ones targets.py maps")
    parser.add_argument("--changed-since", metavar="REF", help="add the tracked modules changed since REF")
    parser.add_argument("--sample", type=int, help="run a random sample of this many mutants per module")
    parser.add_argument("--seed", type=int, default=29, help="the sample's seed (default 29)")
    parser.add_argument("--max-seconds", type=float, default=1800, help="time per module; mutants left are 'not run'")
    parser.add_argument("--max-total-seconds", type=float, help="time for all modules; a module left unmeasured fails")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1: the machine is shared)")
    parser.add_argument("--list", action="store_true", help="print the sampled mutants' diffs; run none")
    parser.add_argument("--bar", type=float, default=80.0, help="lowest passing score in percent (default 80)")
    parser.add_argument("--summary", type=Path, help="append a Markdown table to this file (a job summary)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args(argv)
    if args.changed_since:
        args.modules = list(dict.fromkeys(args.modules + changed_modules(args.changed_since)))
    return args


def list_mutants(args: argparse.Namespace) -> int:
    """Print each module's sampled mutants (name and diff), as the same `--sample`/`--seed` run would pick them."""
    for module in args.modules:
        with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
            for name, diff in preview(module, Path(scratch), size=args.sample, seed=args.seed).items():
                print(f"{name}\n{diff}\n", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.modules:
        print("no module to mutate")
        return 0
    if args.list:
        return list_mutants(args)
    equivalents = load_equivalents()
    rows, details, failed = [], [], False
    deadline = time.monotonic() + (args.max_total_seconds or float("inf"))
    for module in args.modules:
        left = deadline - time.monotonic()
        if left < MIN_MODULE_SECONDS:
            print(f"{module}: not measured, the time for all modules is spent")
            rows.append(f"| `{module}` | - | - | - | not measured: time spent |")
            failed = True
            continue
        tests = args.tests or tests_for(module)
        with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
            workdir = args.workdir / Path(module).stem if args.workdir else Path(scratch)
            run = mutate(module, tests, workdir, size=args.sample, seed=args.seed, jobs=args.jobs,
                         max_seconds=min(args.max_seconds, left))
        result = score(run, equivalents)
        text = render(run, result, equivalents)
        print(text, flush=True)
        rows.append(summary_row(result, args.bar))
        details.append(f"<details><summary>{module}</summary>\n\n```diff\n{text}\n```\n</details>")
        failed |= result.percent < args.bar
    if args.summary:
        with args.summary.open("a") as f:
            f.write("\n".join([SUMMARY_HEADER, *rows, "", *details]) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
