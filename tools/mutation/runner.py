"""Runs mutmut on one module in a scratch copy of the repository and reads back each mutant's verdict."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from configparser import ConfigParser
from dataclasses import dataclass, field
from pathlib import Path

from tools.mutation.targets import ROOT

# mutmut's own entry point, called so that mutmut.__main__ is imported once (`python -m mutmut` warns).
MUTMUT = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
GRACE_SECONDS = 60
PLUGIN_SOURCE = Path(__file__).with_name("pytest_plugin.py")
PLUGIN = "_mutation_plugin"  # its module name in the scratch copy


@dataclass
class Run:
    """One module's mutants and what mutmut said of each (None: not run before the time ran out)."""

    module: str
    tests: list[str]
    verdicts: dict[str, str | None] = field(default_factory=dict)
    diffs: dict[str, str] = field(default_factory=dict)
    timed_out: bool = False


def project_files(root: Path = ROOT) -> list[str]:
    """The files a clean clone would have, plus new ones not ignored (the work in progress counts)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (root / f).is_file()]


def prepare(module: str, tests: list[str], workdir: Path, root: Path = ROOT) -> None:
    """Copy the project into `workdir` and write mutmut's configuration for `module` and `tests`."""
    if workdir.exists():
        shutil.rmtree(workdir)
    for name in project_files(root):
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    shutil.copy2(PLUGIN_SOURCE, workdir / f"{PLUGIN}.py")
    package = Path(module).parts[0]
    others = sorted({Path(n).parts[0] for n in project_files(root)} - {package} | {f"{PLUGIN}.py"})
    config = ConfigParser()
    config["mutmut"] = {
        "source_paths": package,
        "only_mutate": module,
        # tests read data files and import sibling packages from the copy mutmut runs in
        "also_copy": "\n" + "\n".join(others),
        "pytest_add_cli_args_test_selection": "\n" + "\n".join(tests),
        "pytest_add_cli_args": f"\n-p\nno:cacheprovider\n-p\nno:xdist\n-p\n{PLUGIN}",
        # Each mutant's tests run in a child of a server that only collected them: the harness caches stacks
        # per process, and a child forked after the clean run would reuse the unmutated ones (false survivors).
        "process_isolation": "forkserver",
        "forkserver_warmup": "collect",
    }
    with open(workdir / "setup.cfg", "w") as f:
        config.write(f)


def mutant_names(workdir: Path, module: str) -> list[str]:
    """Every mutant mutmut makes of `module`, by the names `mutmut run` accepts (read in the prepared copy)."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from mutmut.mutation.file_mutation import mutate_file_contents\n"
        "from mutmut.utils.format_utils import get_mutant_name\n"
        "m = sys.argv[1]\n"
        "names = mutate_file_contents(m, Path(m).read_text()).mutant_names\n"
        "print(json.dumps(sorted(get_mutant_name(Path(m), n) for n in names)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, module], cwd=workdir, check=True, capture_output=True, text=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def sample(names: list[str], size: int | None, seed: int) -> list[str]:
    """A reproducible random sample (all of them when `size` is None or not smaller)."""
    if size is None or size >= len(names):
        return names
    return sorted(random.Random(seed).sample(names, size))


def run_mutmut(workdir: Path, names: list[str], jobs: int, max_seconds: float) -> bool:
    """Run the mutants; at the deadline interrupt mutmut (it keeps what it finished). True if cut short."""
    args = [*MUTMUT, "run", "--max-children", str(jobs), *names]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the mutated copy must be what imports
    with subprocess.Popen(args, cwd=workdir, env=env, start_new_session=True, stdout=subprocess.DEVNULL) as proc:
        try:
            proc.wait(timeout=max_seconds)
            return False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return True


def verdicts(workdir: Path, module: str, names: list[str]) -> dict[str, str | None]:
    """mutmut's status of each mutant in `names` (killed, survived, timeout, no tests, ...), None if not run."""
    from mutmut.stats import status_by_exit_code

    meta = workdir / "mutants" / f"{module}.meta"
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
    return {n: None if codes.get(n) is None else status_by_exit_code[codes[n]] for n in names}


def diffs(workdir: Path, names: list[str]) -> dict[str, str]:
    """The diff mutmut shows for each mutant, read in one process."""
    if not names:
        return {}
    script = (
        "import json, sys\n"
        "from mutmut.mutation.diff_apply import get_diff_for_mutant\n"
        "print(json.dumps({n: get_diff_for_mutant(n) for n in sys.argv[1:]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, *names], cwd=workdir, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def preview(module: str, workdir: Path, *, size: int | None, seed: int, root: Path = ROOT) -> dict[str, str]:
    """The diff of each mutant the run would sample, without running any (to read them before writing tests)."""
    prepare(module, [], workdir, root)
    names = sample(mutant_names(workdir, module), size, seed)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from mutmut.mutation.file_mutation import mutate_file_contents\n"
        "from mutmut.mutation.diff_apply import get_diff_for_mutant\n"
        "m = sys.argv[1]\n"
        "code = mutate_file_contents(m, Path(m).read_text()).code\n"
        "print(json.dumps({n: get_diff_for_mutant(n, source=code, path=m) for n in sys.argv[2:]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, module, *names], cwd=workdir, check=True, capture_output=True,
                         text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def mutate(module: str, tests: list[str], workdir: Path, *, size: int | None, seed: int, jobs: int, max_seconds: float,
           root: Path = ROOT) -> Run:
    """Mutate `module` against `tests` in `workdir`: the sampled mutants' verdicts and the survivors' diffs."""
    prepare(module, tests, workdir, root)
    names = sample(mutant_names(workdir, module), size, seed)
    run = Run(module, tests)
    run.timed_out = run_mutmut(workdir, names, jobs, max_seconds)
    run.verdicts = verdicts(workdir, module, names)
    not_killed = [n for n, v in run.verdicts.items() if v is not None and v not in ("killed", "timeout")]
    run.diffs = diffs(workdir, not_killed)
    return run
