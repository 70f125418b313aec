"""`python -m tools.mutation`: mutmut really runs on a tiny module against its tests, survivors are listed with their
diff, equivalent mutants are reported (not counted) only while their recorded line still matches, and every
tracked module maps to test files that exist. Measuring the real modules is not part of the suite (docs/testing.md)."""

from __future__ import annotations

import re
import subprocess
from functools import partial

import pytest
import yaml

from tools.mutation import __main__ as cli
from tools.mutation import targets
from tools.mutation.report import EQUIVALENT_FILE, Equivalent, load_equivalents, mutated_line, score
from tools.mutation.runner import Run, mutate, preview, sample
from tools.mutation.targets import ROOT, mirrored_tests, tracked_modules

TINY = '''
def double_plus_one(value):
    return value * 2 + 1


def clamp(value, low, high):
    """`value` kept within low..high."""
    if value < low:
        return low
    if value > high:
        return high
    return value
'''
# Pins double_plus_one down; never tries a value at a bound of clamp, whose comparison mutants survive.
WEAK_TEST = '''
from pkg.tiny import clamp, double_plus_one


def test_double_plus_one():
    assert double_plus_one(3) == 7


def test_values_below_the_range_become_its_low_end():
    assert clamp(-5, 0, 10) == 0
    assert clamp(3, 0, 10) == 3
'''


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Run:
    repo = tmp_path_factory.mktemp("repo")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "tiny.py").write_text(TINY)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_tiny.py").write_text(WEAK_TEST)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    return mutate("pkg/tiny.py", ["tests/test_tiny.py"], repo / ".." / f"{repo.name}-work", size=None, seed=29, jobs=1,
                  max_seconds=300, root=repo)


def test_mutmut_runs_every_mutant_of_a_module_against_its_tests(tiny_run):
    verdicts = set(tiny_run.verdicts.values())
    assert None not in verdicts, "every mutant ran"
    assert {"killed", "survived"} <= verdicts
    result = score(tiny_run, {})
    assert 0 < result.killed < result.counted == len(tiny_run.verdicts)


def test_the_survivors_are_listed_with_the_line_they_change(tiny_run):
    result = score(tiny_run, {})
    lines = {mutated_line(tiny_run.diffs[name]) for name in result.survivors}
    assert any("high" in line for line in lines), lines  # the untested upper bound
    assert not any(tiny_run.verdicts[n] == "killed" for n in result.survivors)


def test_an_equivalent_mutant_is_reported_not_counted_while_its_line_matches(tiny_run):
    first = score(tiny_run, {})
    name = first.survivors[0]
    line = mutated_line(tiny_run.diffs[name])
    recorded = score(tiny_run, {name: Equivalent(name, line, "cannot be told apart")})
    assert (recorded.equivalent, recorded.counted, recorded.killed) == ([name], first.counted - 1, first.killed)
    moved = score(tiny_run, {name: Equivalent(name, "some other line", "cannot be told apart")})
    assert name in moved.survivors and moved.stale == [name] and moved.counted == first.counted


def test_the_score_is_killed_over_counted_and_timeouts_are_kills():
    run = Run("m.py", [], verdicts={"a": "killed", "b": "timeout", "c": "survived", "d": "no tests", "e": None})
    result = score(run, {})
    assert (result.killed, result.counted, result.not_run, result.percent) == (2, 4, 1, 50.0)
    assert result.survivors == ["c", "d"]


def test_the_sample_is_the_same_for_the_same_seed_and_all_mutants_without_one():
    names = [f"m{i}" for i in range(100)]
    assert sample(names, 10, 29) == sample(names, 10, 29) != sample(names, 10, 30)
    assert len(sample(names, 10, 29)) == 10 and sample(names, None, 29) == names == sample(names, 500, 29)


def test_an_equivalence_record_without_a_reason_is_refused(tmp_path):
    path = tmp_path / "equivalent.tsv"
    path.write_text("# header\nmod.x__mutmut_1\treturn None\t\n")
    with pytest.raises(SystemExit, match="equivalent.tsv:2"):
        load_equivalents(path)


def test_every_recorded_equivalent_mutant_belongs_to_a_tracked_module_and_says_why():
    modules = {m.removesuffix(".py").replace("/", ".") for m in tracked_modules()}
    for name, record in load_equivalents(EQUIVALENT_FILE).items():
        assert any(name.startswith(m + ".") for m in modules), name
        assert record.line and len(record.reason.split()) >= 3, name


def test_components_map_to_their_mirrored_tests_and_every_tracked_module_to_existing_test_files():
    assert "tests/serving/test_model_service.py" in mirrored_tests("components/serving/model_service.py")
    assert "tests/serving/test_scale_to_zero_promises.py" in mirrored_tests("components/serving/scale_to_zero.py")
    assert mirrored_tests("stack_config/schema.py") == []
    assert "tests/test_config_bounds.py" in targets.tests_for("stack_config/schema.py")
    for module in tracked_modules():
        assert (ROOT / module).is_file(), module
        assert all((ROOT / t).is_file() for t in targets.tests_for(module)), module


def test_a_pull_request_measures_the_tracked_modules_it_changes(monkeypatch):
    class Diff:
        stdout = "README.md\ncomponents/serving/model_service.py\ncomponents/serving/other.py\n"
    monkeypatch.setattr(cli.subprocess, "run", lambda *a, **k: Diff())
    assert cli.changed_modules("origin/main") == ["components/serving/model_service.py"]


def test_nothing_to_measure_passes(capsys):
    assert cli.main([]) == 0
    assert capsys.readouterr().out == "no module to mutate\n"


def test_a_module_left_without_time_is_reported_unmeasured_and_fails(tmp_path, capsys):
    summary = tmp_path / "summary.md"
    code = cli.main(["components/serving/model_service.py", "--max-total-seconds", "1", "--summary", str(summary)])
    assert code == 1
    assert "not measured" in capsys.readouterr().out
    assert "| `components/serving/model_service.py` | - | - | - | not measured: time spent |" in summary.read_text()


def test_pull_requests_measure_their_changed_modules_against_the_bar_within_a_time_budget():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "mutation.yml").read_text())
    assert list(workflow[True]) == ["pull_request"]  # YAML reads the `on` key as True
    [job] = workflow["jobs"].values()
    [command] = [s["run"] for s in job["steps"] if "tools.mutation" in s.get("run", "")]
    args = command.split()
    for flag, value in (("--changed-since", '"$BASE_SHA"'), ("--bar", "80"), ("--summary", '"$GITHUB_STEP_SUMMARY"')):
        assert args[args.index(flag) + 1] == value, flag
    budget = float(args[args.index("--max-total-seconds") + 1])
    assert budget < job["timeout-minutes"] * 60, "the tool's own budget ends before the job is killed"
    assert "mutmut==" in (ROOT / "requirements-dev.txt").read_text()
    assert "tools.mutation" not in (ROOT / "scripts" / "test").read_text(), "mutation runs stay out of .ci/run"


def test_list_prints_the_mutants_a_run_would_sample_without_running_them(tiny_run, tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "tiny.py").write_text(TINY)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    monkeypatch.setattr(cli, "preview", partial(preview, root=repo))
    assert cli.main(["pkg/tiny.py", "--list", "--sample", "3", "--seed", "29"]) == 0
    printed = capsys.readouterr().out
    expected = sample(sorted(tiny_run.verdicts), 3, 29)
    assert [line for line in printed.splitlines() if line.startswith("pkg.tiny.")] == expected
    assert printed.count("+++ pkg/tiny.py") == 3
    assert not (repo / "mutants").exists()


def scores_table() -> dict[str, list[str]]:
    """docs/testing.md's Scores table: each module's cells (score, killed/counted, command, commit, date)."""
    text = (ROOT / "docs" / "testing.md").read_text()
    table = text[text.index("| module | score | killed/counted | command | commit | date |"):].split("\n\n")[0]
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:]]
    return {cells[0].strip(" `"): [c.strip() for c in cells[1:]] for cells in rows}


def test_every_tracked_module_has_a_score_with_the_command_commit_and_date_that_gave_it():
    table = scores_table()
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip() == "true"
    assert set(table) == set(tracked_modules()), "targets.tsv and the Scores table name the same modules"
    for module, (percent, counted, command, commit, date) in table.items():
        assert percent.endswith("%") and "/" in counted, module
        assert command.startswith("`python -m tools.mutation ") and module in command, module
        assert shallow or subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT).returncode == 0, \
            f"{module}: {commit} is not a commit of this repository"
        assert len(date) == 10 and date.startswith("20"), module


PROMISE_PACKAGES = ("components/**/*.py", "stack_config/*.py", "policy/platform_policies/*.py", "app/model_server/*.py")


def test_every_module_that_carries_a_promise_is_scored_or_listed_as_not_measured_yet():
    text = (ROOT / "docs" / "testing.md").read_text()
    section = text[text.index("### Not measured yet"):]
    section = section.split("\n#")[0]
    listed = set(re.findall(r"`([\w/]+\.py)`", section))
    modules = {str(p.relative_to(ROOT)) for pattern in PROMISE_PACKAGES for p in ROOT.glob(pattern)}
    scored = set(tracked_modules())
    assert not listed & scored, "a scored module is still listed as not measured"
    assert modules - scored - listed == set(), "a module is neither scored nor listed as not measured yet"
    assert listed <= modules, "the list names a module that does not exist"
