"""Benchmark: program evaluation time under mocks per stack, and the unit suite's wall time.

    python bench/evaluate.py [--runs 5] [--skip-suite] [--write docs/benchmarks.md]

Targets on the reference machine (2 cores): under 2 s per stack evaluation, under 60 s for the
unit suite. Evaluation is timed in-process after a warm-up run (what a developer loop pays), and
once cold in a fresh interpreter (what `python -m tools.synth` pays, imports included).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.harness import STACKS, TEST_SECRETS  # noqa: E402
from tools.synth import synth_stack  # noqa: E402

EVALUATION_TARGET_S = 2.0
SUITE_TARGET_S = 60.0


def time_warm(stack: str, runs: int) -> tuple[float, float, int]:
    synth_stack(stack, secret_values=TEST_SECRETS)  # warm-up: imports and caches
    samples, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = len(synth_stack(stack, secret_values=TEST_SECRETS).resources)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), max(samples), count


def time_cold(stack: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tools.synth", "--stack", stack, "--out", str(out)],
                   cwd=PROJECT, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def time_suite() -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"],
                            cwd=PROJECT, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-200:]
    return elapsed, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = parser.parse_args()

    rows = ["| stack | resources | warm median (s) | warm max (s) | cold, incl. imports (s) | target | met |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    ok = True
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            median, worst, count = time_warm(stack, args.runs)
            cold = time_cold(stack, Path(tmp) / stack)
            met = worst < EVALUATION_TARGET_S and cold < EVALUATION_TARGET_S * 2
            ok &= met
            rows.append(f"| {stack} | {count} | {median:.3f} | {worst:.3f} | {cold:.2f} | < {EVALUATION_TARGET_S} s "
                        f"| {'yes' if met else 'NO'} |")
    lines = [f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
             f"{__import__('os').cpu_count()} cores; date {date.today().isoformat()}.", "",
             "Program evaluation under mocks (`python bench/evaluate.py`):", "", *rows, ""]
    if not args.skip_suite:
        elapsed, summary = time_suite()
        ok &= elapsed < SUITE_TARGET_S
        lines += ["Unit suite (`python -m pytest -n 2`):", "",
                  "| wall time (s) | result | target | met |", "| --- | --- | --- | --- |",
                  f"| {elapsed:.1f} | {summary} | < {SUITE_TARGET_S:.0f} s | {'yes' if elapsed < SUITE_TARGET_S else 'NO'} |", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text("# Benchmarks\n\n" + text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
