"""Scores and the survivors list: equivalent mutants (equivalent.tsv) are shown with their reason, not counted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.mutation.runner import Run

EQUIVALENT_FILE = Path(__file__).with_name("equivalent.tsv")
KILLED = ("killed", "timeout", "caught by type check")


@dataclass(frozen=True)
class Equivalent:
    """A surviving mutant no test can tell from the original, the line it changes, and why."""

    mutant: str
    line: str
    reason: str


@dataclass(frozen=True)
class Score:
    module: str
    killed: int
    counted: int
    equivalent: list[str]
    survivors: list[str]
    stale: list[str]
    not_run: int

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def load_equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, Equivalent]:
    """equivalent.tsv: `mutant<TAB>mutated line<TAB>reason`; a line without a reason is refused."""
    records: dict[str, Equivalent] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[2].strip():
            raise SystemExit(f"{path.name}:{number}: expected `mutant<TAB>mutated line<TAB>reason`, got {line!r}")
        records[fields[0]] = Equivalent(fields[0], fields[1].strip(), fields[2].strip())
    return records


def mutated_line(diff: str) -> str:
    """The first line the mutant adds, as equivalent.tsv records it (to notice when the code moved on)."""
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else ""


def score(run: Run, equivalents: dict[str, Equivalent]) -> Score:
    """Killed over counted; a survivor whose equivalence record no longer matches its line counts (stale)."""
    ran = {n: v for n, v in run.verdicts.items() if v is not None and v != "skipped"}
    killed = [n for n, v in ran.items() if v in KILLED]
    equivalent, survivors, stale = [], [], []
    for name in sorted(set(ran) - set(killed)):
        record = equivalents.get(name)
        if record and record.line == mutated_line(run.diffs.get(name, "")):
            equivalent.append(name)
        else:
            (stale if record else survivors).append(name)
    counted = len(ran) - len(equivalent)
    not_run = sum(1 for v in run.verdicts.values() if v is None)
    return Score(run.module, len(killed), counted, equivalent, survivors + stale, stale, not_run)


def render(run: Run, result: Score, equivalents: dict[str, Equivalent]) -> str:
    """Plain text: the score line, then each survivor's diff, then the equivalent mutants and their reasons."""
    lines = [
        f"{result.module}: {result.percent:.1f}% ({result.killed} killed / {result.counted}, "
        f"{len(result.equivalent)} equivalent not counted"
        + (f", {result.not_run} not run: time ran out" if result.not_run else "")
        + f") against {' '.join(run.tests)}"
    ]
    for name in result.survivors:
        note = " (equivalent.tsv records another line: re-check it)" if name in result.stale else ""
        lines += [f"  survived ({run.verdicts[name]}){note}: {name}", *("    " + d for d in run.diffs.get(name, "").splitlines())]
    for name in result.equivalent:
        lines.append(f"  equivalent: {name}: {equivalents[name].reason}")
    return "\n".join(lines)


def summary_row(result: Score, bar: float) -> str:
    """One Markdown table row for the job summary."""
    verdict = "ok" if result.percent >= bar else f"below {bar:.0f}%"
    counts = f"{result.killed}/{result.counted}"
    return f"| `{result.module}` | {result.percent:.1f}% | {counts} | {len(result.survivors)} | {verdict} |"
