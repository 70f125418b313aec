"""The one command of the server benchmark matrix (bench/server/triton_peer.py), wired end to end in a
bounded smoke run: our server alone (no Triton build here), 1-row JSON, one client at a time, a
few seconds; both load clients measure, and the tables land between the document's markers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH_SERVER = REPO / "bench" / "server"
if str(BENCH_SERVER) not in sys.path:  # the benchmark scripts import their neighbours by module name
    sys.path.insert(0, str(BENCH_SERVER))

import matrix_doc  # noqa: E402 (needs the path above)


@pytest.mark.slow
@pytest.mark.tools("wrk")
def test_the_matrix_command_measures_with_both_clients_and_writes_its_tables_into_the_doc(tmp_path: Path) -> None:
    from tests.app.conftest import write_model_dir

    model = write_model_dir(tmp_path / "model").dir / "model.onnx"
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Before\n\n{matrix_doc.BEGIN}\nold table\n{matrix_doc.END}\n\n## After\n")
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(BENCH_SERVER / "triton_peer.py"), "--peer", "none", "--python",
                           sys.executable, "--model", str(model), "--protocols", "json", "--rows", "1",
                           "--levels", "1:40", "--rounds", "1", "--time-cap", "1", "--out", str(out), "--doc", str(doc)],
                          capture_output=True, text=True, timeout=180, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(out.read_text())
    [ours] = summary["rounds"]
    assert [(r["client"], r["protocol"], r["rows"], r["concurrency"]) for r in ours["runs"]] == [
        ("own", "json", 1, 1), ("independent", "json", 1, 1)]
    assert all(r["ok"] > 0 and r["ok"] == r["responses"] for r in ours["runs"]), ours["runs"]
    assert len(summary["commit"].removesuffix("-dirty")) == 40 and len(summary["loadavg_at_start"]) == 3
    text = doc.read_text()
    assert text.startswith("# Before\n\n") and text.endswith("\n\n## After\n") and "old table" not in text
    section = text.split(matrix_doc.BEGIN)[1].split(matrix_doc.END)[0]
    assert summary["commit"] in section and "load average" in section
    assert "| 1 | ours | json | 1 | 1 | own |" in section and "| 1 | ours | json | 1 | 1 | independent |" in section


def test_the_section_is_added_at_the_end_of_a_doc_without_markers_and_replaced_once_there(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n")
    matrix_doc.write_section(doc, "first")
    matrix_doc.write_section(doc, "second")
    assert doc.read_text() == f"# Title\n\n{matrix_doc.BEGIN}\nsecond\n{matrix_doc.END}\n"
