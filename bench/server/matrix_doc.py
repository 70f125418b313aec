"""The results section of docs/benchmarks-server.md that `triton_peer.py` writes: the commit measured, the
machine and its load, the versions, and the tables, between two markers (everything else in the file is
left as it is)."""
from __future__ import annotations

import subprocess
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks-server.md"
BEGIN = "<!-- triton-matrix:begin (written by bench/server/triton_peer.py; edits here are overwritten) -->"
END = "<!-- triton-matrix:end -->"


def commit(repo: Path) -> str:
    """HEAD's commit, with `-dirty` when tracked files differ from it (what was measured is not a commit)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30).stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def section(summary: dict, table: str) -> str:
    """The Markdown of one matrix run: where, when, what, under which load, then the tables."""
    machine = summary["machine"]
    versions = {}
    for result in summary["rounds"]:
        versions.setdefault(result["key"], result["versions"])
    start, end = summary["loadavg_at_start"], summary["loadavg_at_end"]
    lines = [f"Measured {summary['date']} at commit `{summary['commit']}` with `{summary['command']}` "
             f"({summary['duration_s']} s).",
             f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), servers on CPU {machine['server_core']}, "
             f"load clients on CPU {machine['client_core']}; load average (1/5/15 min) "
             f"{' / '.join(f'{x:.2f}' for x in start)} at the start, {' / '.join(f'{x:.2f}' for x in end)} at the end "
             "(each run's 1-minute load is in the first table).",
             "Versions: " + "; ".join(f"{key}: " + ", ".join(f"{p} {v}" for p, v in sorted(found.items()))
                                      for key, found in versions.items()) + ".",
             "", table]
    return "\n".join(lines)


def write_section(doc: Path, text: str) -> None:
    """Replace what is between the markers of `doc` with `text` (the markers are added at the end when absent)."""
    current = doc.read_text() if doc.exists() else ""
    block = f"{BEGIN}\n{text.strip()}\n{END}"
    if BEGIN in current and END in current:
        before, rest = current.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        doc.write_text(before + block + after)
    else:
        doc.write_text(current.rstrip("\n") + ("\n\n" if current else "") + block + "\n")
