"""The delivery workflows (.github/): what triggers what, and the guarantees each job keeps.

Read as YAML (and as text where a comment matters, as for the version beside a pinned SHA),
then checked by actionlint (with shellcheck) and GitHub's workflow JSON schema.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.needs import tool

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
ACTIONS_DIR = ROOT / ".github" / "actions"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml")) + sorted(WORKFLOWS_DIR.glob("*.yaml"))
ACTION_FILES = sorted(ACTIONS_DIR.glob("*/action.yml"))

# Stacks CI never previews or deploys, and why (each one's stack file must say the same).
NOT_DEPLOYED_BY_CI = {"local": "a kind cluster on a developer's laptop"}

PULUMI_ACTION = "pulumi/actions"
AWS_ACTION = "aws-actions/configure-aws-credentials"
_SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
_VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
_EXPRESSION = re.compile(r"^\$\{\{\s*([^}]*?)\s*\}\}$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def workflow(name: str) -> dict:
    return load(WORKFLOWS_DIR / name)


def triggers(wf: dict) -> dict:
    """`on:` (PyYAML reads the bare key `on` as the boolean True)."""
    on = wf.get("on", wf.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def jobs(wf: dict) -> dict[str, dict]:
    return wf["jobs"]


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def action(step: dict) -> str:
    """`owner/repo` of a step's `uses:` (or the local path)."""
    return step.get("uses", "").split("@")[0]


def pulumi_steps(job: dict, command: str | None = None) -> list[dict]:
    return [s for s in steps(job) if action(s) == PULUMI_ACTION and "command" in s.get("with", {})
            and (command is None or s["with"]["command"] == command)]


def all_jobs() -> list[tuple[str, str, dict, dict]]:
    """(file name, job id, job, workflow) for every job of every workflow."""
    return [(path.name, job_id, job, wf) for path in WORKFLOW_FILES for wf in [load(path)]
            for job_id, job in jobs(wf).items()]


def deployable_stacks() -> set[str]:
    stacks = {p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml")}
    return stacks - set(NOT_DEPLOYED_BY_CI)


def matrix_stacks(job: dict) -> set[str]:
    return set(job["strategy"]["matrix"]["stack"])


def run_scripts() -> list[tuple[str, str]]:
    found = [(f"{name}:{job_id}", s["run"]) for name, job_id, job, _ in all_jobs() for s in steps(job) if "run" in s]
    for path in ACTION_FILES:
        found += [(str(path.relative_to(ROOT)), s["run"]) for s in load(path)["runs"]["steps"] if "run" in s]
    return found


# ---- triggers and flow -------------------------------------------------------------------------

def test_the_workflows_are_the_four_this_project_delivers_with():
    # release.yml (the library's tags and releases) is tested in tests/test_release.py.
    assert {p.name for p in WORKFLOW_FILES} == {"checks.yml", "pull-request.yml", "deploy.yml", "drift.yml", "release.yml"}
    assert triggers(workflow("checks.yml")) == {"workflow_call": None}
    assert triggers(workflow("pull-request.yml")) == {"pull_request": {"branches": ["main"]}}
    assert triggers(workflow("deploy.yml")) == {"push": {"branches": ["main"]}}
    drift = triggers(workflow("drift.yml"))
    assert set(drift) == {"schedule", "workflow_dispatch"}
    [schedule] = drift["schedule"]
    assert len(schedule["cron"].split()) == 5


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_pull_requests_and_main_run_the_same_checks_first(name):
    wf_jobs = jobs(workflow(name))
    assert wf_jobs["checks"]["uses"] == "./.github/workflows/checks.yml"
    pulumi_jobs = [job_id for job_id, job in wf_jobs.items() if pulumi_steps(job)]
    assert pulumi_jobs
    for job_id in pulumi_jobs:
        assert "checks" in _all_needs(wf_jobs, job_id), f"{name}:{job_id} runs before the checks pass"


def _all_needs(wf_jobs: dict, job_id: str) -> set[str]:
    needs = wf_jobs[job_id].get("needs", [])
    needs = {needs} if isinstance(needs, str) else set(needs)
    return needs.union(*(_all_needs(wf_jobs, n) for n in needs)) if needs else set()


def test_the_checks_lint_test_train_gate_and_hand_over_the_model():
    checks = jobs(workflow("checks.yml"))
    assert any("ruff check" in s.get("run", "") for s in steps(checks["lint"]))
    assert any(s.get("run", "").strip() == "python -m pytest -n 2" for s in steps(checks["unit-tests"])), \
        "the unit tests must run README's command"
    model = steps(checks["model"])
    runs = [s.get("run", "") for s in model]
    train = next(i for i, r in enumerate(runs) if "python train.py --epochs 10" in r)
    gate = next(i for i, r in enumerate(runs) if "python evaluate.py --min-accuracy" in r)
    upload = next(i for i, s in enumerate(model) if action(s) == "actions/upload-artifact")
    assert train < gate < upload, "the model is uploaded only after it is trained and passes the gate"
    assert model[upload]["with"] == {"name": "model-artifacts", "path": "app/artifacts/", "if-no-files-found": "error"}
    assert all(s.get("working-directory") == "app" for s in (model[train], model[gate]))


def test_the_unit_tests_install_what_ci_run_installs():
    ci_run = (ROOT / "scripts" / "test").read_text()  # README's test command, which .ci/run runs
    apt_packages = re.search(r"APT_PACKAGES=\(([^)]*)\)", ci_run).group(1).split()
    install = "\n".join(s.get("run", "") for s in steps(jobs(workflow("checks.yml"))["unit-tests"]))
    for package in apt_packages:
        assert re.search(rf"apt-get install .*\b{re.escape(package)}\b", install), package
    assert "-r requirements-dev.txt" in install and "-r requirements-checkov.txt" in install
    assert "CHECKOV_BIN=" in install


def test_ruff_is_pinned_in_the_dev_requirements_the_lint_job_installs_from():
    assert re.search(r"^ruff==\d+\.\d+\.\d+$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    lint = "\n".join(s.get("run", "") for s in steps(jobs(workflow("checks.yml"))["lint"]))
    assert "'^ruff==' requirements-dev.txt" in lint


def test_pull_requests_preview_every_deployable_stack_with_the_policy_pack_and_one_edited_comment():
    preview = jobs(workflow("pull-request.yml"))["preview"]
    assert matrix_stacks(preview) == deployable_stacks()
    [step] = pulumi_steps(preview)
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["comment-on-pr"] is True and step["with"]["edit-pr-comment"] is True
    assert preview["strategy"]["fail-fast"] is False, "one stack's failure must not hide the other's diff"
    assert "continue-on-error" not in step and "continue-on-error" not in preview, \
        "a failed preview or policy violation must fail the check"


def test_the_stacks_ci_skips_are_local_clusters():
    for stack in NOT_DEPLOYED_BY_CI:
        config = load(ROOT / f"Pulumi.{stack}.yaml")["config"]
        assert config["gpu-model-platform:cluster"]["mode"] == "local", stack


def test_main_deploys_every_deployable_stack_and_prod_only_after_dev_behind_its_environment():
    deploy = jobs(workflow("deploy.yml"))
    deployed = {s["with"]["stack-name"]: job_id for job_id, job in deploy.items() for s in pulumi_steps(job, "up")}
    assert set(deployed) == deployable_stacks()
    dev, prod = deploy[deployed["dev"]], deploy[deployed["prod"]]
    assert "needs" in prod and deployed["dev"] in _all_needs(deploy, deployed["prod"])
    assert prod["environment"] == "prod"
    assert dev["environment"] == "dev"
    for job in (dev, prod):
        [step] = pulumi_steps(job, "up")
        assert step["with"]["policyPacks"] == "policy"


def test_up_runs_only_on_a_push_to_main():
    for name, job_id, job, wf in all_jobs():
        if pulumi_steps(job, "up"):
            assert triggers(wf) == {"push": {"branches": ["main"]}}, f"{name}:{job_id}"
            assert "refs/heads/main" in job.get("if", "") and "push" in job.get("if", ""), f"{name}:{job_id}"
    for where, script in run_scripts():
        assert not re.search(r"\bpulumi\s+(up|update|destroy)\b", script), f"{where} changes a stack outside the action"


def test_each_stack_update_is_serialized_per_stack_and_never_cancelled():
    groups = {}
    for name, job_id, job, _ in all_jobs():
        for step in pulumi_steps(job, "up"):
            stack = step["with"]["stack-name"]
            concurrency = job.get("concurrency")
            assert isinstance(concurrency, dict), f"{name}:{job_id} has no concurrency group"
            assert stack in concurrency["group"] and concurrency["cancel-in-progress"] is False
            groups[concurrency["group"]] = f"{name}:{job_id}"
    assert len(groups) == len(deployable_stacks()), "one group per stack"
    for name, job_id, job, wf in all_jobs():
        for concurrency in (wf.get("concurrency"), job.get("concurrency")):
            if isinstance(concurrency, dict):
                assert concurrency.get("cancel-in-progress") is False, f"{name}:{job_id} may cancel a run"
                # A job queued in an update's group would displace a queued update.
                owner = groups.get(concurrency["group"])
                assert owner in (None, f"{name}:{job_id}"), f"{name}:{job_id} shares {owner}'s update group"


def test_the_pulumi_jobs_use_the_gated_model_and_never_build_or_push_images_themselves():
    for name, job_id, job, _ in all_jobs():
        if not any(s["with"]["command"] in ("preview", "up") for s in pulumi_steps(job)):
            continue
        job_steps = steps(job)
        download = next(i for i, s in enumerate(job_steps) if action(s) == "actions/download-artifact")
        assert job_steps[download]["with"] == {"name": "model-artifacts", "path": "app/artifacts"}, f"{name}:{job_id}"
        assert download < job_steps.index(pulumi_steps(job)[0])
        assert any(s.get("uses") == "./.github/actions/pulumi-python" for s in job_steps)
    for where, script in run_scripts():
        assert not re.search(r"\bdocker\s+(build|push|buildx)\b", script), f"{where}: the program builds the image"


def test_the_drift_check_refreshes_each_stack_without_changing_it_and_reports_drift():
    drift_job = jobs(workflow("drift.yml"))["drift"]
    assert matrix_stacks(drift_job) == deployable_stacks()
    job_steps = steps(drift_job)
    refresh = next(s for s in job_steps if "pulumi refresh" in s.get("run", ""))
    for flag in ("--preview-only", "--expect-no-changes", '--stack "$STACK"', "--non-interactive"):
        assert flag in refresh["run"], flag
    assert "set -o pipefail" in refresh["run"], "tee must not hide the refresh's exit code"
    report = job_steps[job_steps.index(refresh) + 1]
    assert report["if"] == f"failure() && steps.{refresh['id']}.outcome == 'failure'"
    assert "gh issue create" in report["run"] and "gh issue comment" in report["run"]
    assert "GITHUB_STEP_SUMMARY" in report["run"]
    assert drift_job["permissions"]["issues"] == "write"


def test_the_pulumi_cli_version_is_the_one_requirements_txt_pins(tmp_path):
    sdk = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group(1)
    scripts = [s["run"] for s in load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
               if s.get("id") == "versions"]
    scripts += [s["run"] for s in steps(jobs(workflow("drift.yml"))["drift"]) if s.get("id") == "versions"]
    assert len(scripts) == 2
    for script in scripts:
        output = tmp_path / "github_output"
        output.write_text("")
        subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, check=True, env={**os.environ, "GITHUB_OUTPUT": str(output)})
        assert output.read_text().strip() == f"pulumi={sdk}"
    for name, job_id, job, _ in all_jobs():
        for step in steps(job):
            if action(step) == PULUMI_ACTION:
                assert re.fullmatch(r"\$\{\{ steps\.\w+\.outputs\.pulumi(-version)? \}\}",
                                    step["with"]["pulumi-version"]), f"{name}:{job_id}"


def test_the_virtualenvs_are_the_ones_the_project_files_name():
    assert load(ROOT / "Pulumi.yaml")["runtime"]["options"]["virtualenv"] == "venv"
    assert load(ROOT / "policy" / "PulumiPolicy.yaml")["runtime"]["options"]["virtualenv"] == "venv"
    script = next(s["run"] for s in load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
                  if "venv" in s.get("run", ""))
    assert "python -m venv venv" in script and "venv/bin/pip install --disable-pip-version-check -r requirements.txt" in script
    assert "python -m venv policy/venv" in script and "-r policy/requirements.txt" in script


# ---- credentials and permissions ---------------------------------------------------------------

def test_every_workflow_grants_nothing_by_default_and_every_job_states_its_permissions():
    for path in WORKFLOW_FILES:
        wf = load(path)
        assert wf.get("permissions") == {}, f"{path.name}: set top-level permissions: {{}}"
        for job_id, job in jobs(wf).items():
            assert isinstance(job.get("permissions"), dict), f"{path.name}:{job_id} has no permissions block"
            expected = "write" if "contents" in ALLOWED_WRITES.get((path.name, job_id), ()) else "read"
            assert job["permissions"].get("contents") == expected, f"{path.name}:{job_id}"


ALLOWED_WRITES = {
    ("pull-request.yml", "preview"): {"id-token", "pull-requests"},
    ("deploy.yml", "up-dev"): {"id-token"},
    ("deploy.yml", "up-prod"): {"id-token"},
    ("drift.yml", "drift"): {"id-token", "issues"},
    ("release.yml", "release"): {"contents"},  # the tag and the GitHub release
}


def test_write_permissions_are_only_where_needed():
    for name, job_id, job, _ in all_jobs():
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes == ALLOWED_WRITES.get((name, job_id), set()), f"{name}:{job_id} may write {writes}"


def test_aws_credentials_come_only_from_oidc_roles_in_repository_variables():
    for name, job_id, job, _ in all_jobs():
        aws_steps = [s for s in steps(job) if action(s) == AWS_ACTION]
        oidc = job["permissions"].get("id-token") == "write"
        assert bool(aws_steps) == oidc, f"{name}:{job_id}: id-token: write exactly where AWS is assumed"
        for step in aws_steps:
            inputs = step["with"]
            assert re.fullmatch(r"\$\{\{ vars\.AWS_\w+_ROLE_ARN \}\}", inputs["role-to-assume"]), f"{name}:{job_id}"
            assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(inputs)
            assert inputs["role-session-name"] and inputs["aws-region"]
        if pulumi_steps(job):
            assert aws_steps and steps(job).index(aws_steps[0]) < steps(job).index(pulumi_steps(job)[0])
    deploy = jobs(workflow("deploy.yml"))
    preview = jobs(workflow("pull-request.yml"))["preview"]
    def role(job):
        return next(s for s in steps(job) if action(s) == AWS_ACTION)["with"]["role-to-assume"]
    assert role(deploy["up-dev"]) == role(deploy["up-prod"]) == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert role(preview) == role(jobs(workflow("drift.yml"))["drift"]) == "${{ vars.AWS_PREVIEW_ROLE_ARN }}", \
        "pull requests and the drift check never get the deploy role"


def test_the_state_backend_and_secrets_provider_are_configurable():
    for name, job_id, job, _ in all_jobs():
        for step in pulumi_steps(job):
            assert step["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}", f"{name}:{job_id}"
            assert step["with"]["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}", f"{name}:{job_id}"
            assert step["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}, f"{name}:{job_id}"
    refresh = next(s for s in steps(jobs(workflow("drift.yml"))["drift"]) if "pulumi refresh" in s.get("run", ""))
    assert refresh["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert refresh["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


# ---- no secrets in plain text ------------------------------------------------------------------

_SENSITIVE_KEY = re.compile(r"(token|secret|password|passphrase|private[-_]?key|access[-_]?key)", re.IGNORECASE)
# `permissions` scopes (id-token) and the secrets provider's URL (a KMS key's alias) are not credentials.
_NOT_CREDENTIALS = {"permissions", "secrets-provider"}
_LITERAL_SECRETS = [
    re.compile(r"\bA(KIA|SIA)[0-9A-Z]{16}\b"),            # AWS access key ids
    re.compile(r"\bpul-[0-9a-f]{40}\b"),                 # Pulumi access tokens
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),       # GitHub tokens
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),       # Slack tokens
    re.compile(r"hooks\.slack\.com/services/"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def secret_problems(document: Any, path: str = "") -> list[str]:
    """Keys that look like credentials must take their value from `secrets.*` (or the run's own token)."""
    problems = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if key in _NOT_CREDENTIALS:
                continue
            if isinstance(value, (str, int, float)) and _SENSITIVE_KEY.search(str(key)):
                expression = _EXPRESSION.match(str(value))
                if not expression or not re.fullmatch(r"secrets\.\w+|github\.token", expression.group(1)):
                    problems.append(f"{where}: {value!r} is not a ${{{{ secrets.* }}}} reference")
            problems += secret_problems(value, where)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            problems += secret_problems(value, f"{path}[{index}]")
    return problems


def test_the_secret_scanner_catches_a_literal_token_and_accepts_references():
    assert secret_problems({"env": {"PULUMI_ACCESS_TOKEN": "pul-0123"}})
    assert secret_problems({"with": {"aws-secret-access-key": "${{ vars.KEY }}"}})
    assert not secret_problems({"env": {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                                        "GH_TOKEN": "${{ github.token }}"}})


@pytest.mark.parametrize("path", WORKFLOW_FILES + ACTION_FILES, ids=lambda p: p.name if p.name != "action.yml" else p.parent.name)
def test_no_secret_is_written_in_plain_text(path):
    text = path.read_text()
    for pattern in _LITERAL_SECRETS:
        assert not pattern.search(text), f"{path.name}: {pattern.pattern}"
    assert secret_problems(load(path)) == []
    # Secrets reach only the steps that use them, never a whole job or workflow.
    document = load(path)
    assert "secrets." not in yaml.safe_dump(document.get("env", {}))
    for job in document.get("jobs", {}).values():
        assert "secrets." not in yaml.safe_dump(job.get("env", {}))


# ---- pinning, timeouts, caching ----------------------------------------------------------------

def uses_lines() -> list[tuple[str, str]]:
    """(file: line, the whole line) for every `uses:` in the workflows and local actions."""
    return [(f"{path.name}:{number}", line.strip())
            for path in WORKFLOW_FILES + ACTION_FILES
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if re.match(r"^\s*(-\s+)?uses:", line)]


def pin_problem(line: str) -> str | None:
    reference = line.split("uses:", 1)[1].split("#", 1)[0].strip()
    if reference.startswith("./"):
        return None if "@" not in reference else "a local action is used from this checkout, without @"
    if not _SHA_PIN.match(reference):
        return f"{reference} is not pinned to a full 40-character commit SHA"
    if not _VERSION_COMMENT.search(line):
        return f"{reference} has no '# vX.Y.Z' comment naming the version the SHA is"
    return None


def test_the_pin_check_refuses_tags_branches_short_shas_and_a_missing_version_comment():
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    assert pin_problem(f"- uses: actions/checkout@{sha} # v7.0.1") is None
    assert pin_problem("uses: ./.github/actions/pulumi-python") is None
    for bad in ("uses: actions/checkout@v7", "uses: actions/checkout@main", "uses: actions/checkout@3d3c42e",
                f"uses: actions/checkout@{sha}"):
        assert pin_problem(bad), bad


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version():
    lines = uses_lines()
    assert len(lines) > 10
    problems = [f"{where}: {problem}" for where, line in lines if (problem := pin_problem(line))]
    assert problems == []
    # One version of each action across all files.
    pins: dict[str, set[str]] = {}
    for _, line in lines:
        reference = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if "@" in reference:
            name, sha = reference.split("@")
            pins.setdefault(name, set()).add(sha)
    assert {name: shas for name, shas in pins.items() if len(shas) > 1} == {}


def test_every_job_has_a_timeout():
    for name, job_id, job, _ in all_jobs():
        if "uses" in job:  # a reusable workflow's own jobs carry the timeouts
            continue
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 120, f"{name}:{job_id}"


def test_pip_downloads_are_cached_wherever_python_is_set_up():
    setups = [s for path in WORKFLOW_FILES for job in jobs(load(path)).values() for s in steps(job)
              if action(s) == "actions/setup-python"]
    setups += [s for path in ACTION_FILES for s in load(path)["runs"]["steps"] if action(s) == "actions/setup-python"]
    assert setups
    for step in setups:
        assert step["with"]["cache"] == "pip" and step["with"]["cache-dependency-path"]
        assert step["with"]["python-version"] == "3.11"


def test_checkouts_do_not_leave_the_token_in_the_git_config():
    for name, job_id, job, _ in all_jobs():
        for step in steps(job):
            if action(step) == "actions/checkout":
                assert step["with"]["persist-credentials"] is False, f"{name}:{job_id}"


# ---- linters -------------------------------------------------------------------------------------

def _tool(name: str) -> str:
    return tool(name)


def test_workflows_pass_actionlint_with_shellcheck():
    actionlint, shellcheck = _tool("actionlint"), _tool("shellcheck")
    # The files are named so actionlint needs no git repository around them (CI's clone has one; a tarball not).
    result = subprocess.run([actionlint, "-no-color", "-shellcheck", shellcheck, *map(str, WORKFLOW_FILES)], cwd=ROOT,
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_and_shellcheck_really_run(tmp_path):
    actionlint, shellcheck = _tool("actionlint"), _tool("shellcheck")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $UNQUOTED\n"
                   "      - uses: actions/checkout@v7\n        with:\n          no-such-input: 1\n")
    result = subprocess.run([actionlint, "-no-color", "-shellcheck", shellcheck, str(bad)],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "SC2086" in result.stdout and "no-such-input" in result.stdout


def test_workflows_and_actions_match_githubs_json_schemas():
    check = _tool("check-jsonschema")
    for schema, files in (("vendor.github-workflows", WORKFLOW_FILES), ("vendor.github-actions", ACTION_FILES)):
        result = subprocess.run([check, "--builtin-schema", schema, *map(str, files)],
                                check=False, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
