"""The delivery workflows (.github/): what triggers what, and the guarantees each job keeps.

Read as YAML (and as text where a comment matters, as for the version beside a pinned SHA), then
checked by actionlint (with shellcheck) and GitHub's workflow and action JSON schemas. What the
scripts the jobs run actually do is tested by running them: tests/test_delivery_scripts.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import stack_config
from tests.needs import tool
from tools.delivery.stacks import ci_stacks, stack_info, stack_names

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
ACTIONS_DIR = ROOT / ".github" / "actions"
SCRIPTS_DIR = ROOT / ".github" / "scripts"
# release.yml belongs to the packaging work (issue 16) and is tested there; docs.yml (the site) in tests/test_api_docs.py.
WORKFLOW_FILES = sorted(p for p in [*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])
DELIVERY_WORKFLOWS = {"checks.yml", "image.yml", "pull-request.yml", "preview-stack.yml", "preview.yml", "deploy.yml",
                      "stack.yml", "rollback.yml", "drift.yml", "local-stack.yml"}
# The reusable workflows that run Pulumi on a stack, and who may call them.
STACK_WORKFLOW = "./.github/workflows/stack.yml"
PREVIEW_WORKFLOW = "./.github/workflows/preview-stack.yml"
ACTION_FILES = sorted(ACTIONS_DIR.glob("*/action.yml"))

# Stacks CI never previews or deploys, and why (each one's stack file must say the same).
NOT_DEPLOYED_BY_CI = {"local": "a kind cluster on a developer's laptop"}

AWS_ACTION = "aws-actions/configure-aws-credentials"
PULUMI_AUTH_ACTION = "pulumi/auth-actions"
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


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def step_running(job: dict, text: str) -> dict:
    [step] = [s for s in steps(job) if text in s.get("run", "")]
    return step


def index_of(job: dict, predicate) -> int:
    return next(i for i, s in enumerate(steps(job)) if predicate(s))


def all_jobs() -> list[tuple[str, str, dict, dict]]:
    """(file name, job id, job, workflow) for every job of every delivery workflow."""
    return [(path.name, job_id, job, wf) for path in WORKFLOW_FILES if path.name in DELIVERY_WORKFLOWS
            for wf in [load(path)] for job_id, job in jobs(wf).items()]


def pulumi_jobs() -> list[tuple[str, str, dict]]:
    """Every job that runs Pulumi against a stack (preview, plan, up, refresh)."""
    return [(name, job_id, job) for name, job_id, job, _ in all_jobs()
            if "pulumi-stack.sh" in runs(job) or "pulumi refresh" in runs(job)]


def callers(uses: str) -> dict[tuple[str, str], dict]:
    """(file, job id) -> job, of every job that calls the reusable workflow `uses`."""
    return {(name, job_id): job for name, job_id, job, _ in all_jobs() if job.get("uses") == uses}


def run_scripts() -> list[tuple[str, str]]:
    found = [(f"{name}:{job_id}", s["run"]) for name, job_id, job, _ in all_jobs() for s in steps(job) if "run" in s]
    for path in ACTION_FILES:
        found += [(str(path.relative_to(ROOT)), s["run"]) for s in load(path)["runs"]["steps"] if "run" in s]
    return found


def deployable_stacks() -> set[str]:
    return set(stack_names()) - set(NOT_DEPLOYED_BY_CI)


# ---- triggers and flow -------------------------------------------------------------------------

def test_the_workflows_are_the_ones_this_project_delivers_with():
    assert DELIVERY_WORKFLOWS <= {p.name for p in WORKFLOW_FILES}
    assert {p.name for p in WORKFLOW_FILES} - DELIVERY_WORKFLOWS <= {"release.yml", "docs.yml", "mutation.yml"}
    for reusable in ("checks.yml", "image.yml", "stack.yml", "preview-stack.yml", "local-stack.yml"):
        assert set(triggers(workflow(reusable))) == {"workflow_call"}, reusable
    assert triggers(workflow("pull-request.yml")) == {"pull_request": {"branches": ["main"]}}
    assert triggers(workflow("deploy.yml")) == {"push": {"branches": ["main"]}}
    assert set(triggers(workflow("rollback.yml"))) == {"workflow_dispatch"}
    assert set(triggers(workflow("preview.yml"))) == {"workflow_dispatch"}
    drift = triggers(workflow("drift.yml"))
    assert set(drift) == {"schedule", "workflow_dispatch"}
    [schedule] = drift["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_the_stacks_ci_deploys_are_those_whose_config_says_how_ci_reaches_them():
    assert set(ci_stacks()) == deployable_stacks()
    for stack in NOT_DEPLOYED_BY_CI:
        config = stack_config(stack)
        assert config.cluster.mode == "local" and config.delivery is None, stack


def _all_needs(wf_jobs: dict, job_id: str) -> set[str]:
    needs = wf_jobs[job_id].get("needs", [])
    needs = {needs} if isinstance(needs, str) else set(needs)
    return needs.union(*(_all_needs(wf_jobs, n) for n in needs)) if needs else set()


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml", "preview.yml"])
def test_pull_requests_and_main_run_the_same_checks_then_the_same_image_build(name):
    wf_jobs = jobs(workflow(name))
    assert wf_jobs["checks"]["uses"] == "./.github/workflows/checks.yml"
    assert wf_jobs["image"]["uses"] == "./.github/workflows/image.yml"
    assert "checks" in _all_needs(wf_jobs, "image"), "the image packages the gated model"
    assert wf_jobs["image"]["with"]["model-artifact"] == "${{ needs.checks.outputs.model-artifact }}"
    cloud_jobs = [job_id for job_id, job in wf_jobs.items()
                  if job.get("uses") in (STACK_WORKFLOW, PREVIEW_WORKFLOW) or "pulumi-stack.sh" in runs(job)]
    assert cloud_jobs
    for job_id in cloud_jobs:
        assert {"checks", "image"} <= _all_needs(wf_jobs, job_id), f"{name}:{job_id} runs before the checks and image"


def test_the_checks_lint_test_train_gate_and_hand_over_the_model():
    checks = jobs(workflow("checks.yml"))
    assert any("ruff check" in s.get("run", "") for s in steps(checks["lint"]))
    assert any(s.get("run", "").strip() == "python -m pytest -n 2" for s in steps(checks["unit-tests"])), \
        "the unit tests must run README's command"
    model = steps(checks["model"])
    texts = [s.get("run", "") for s in model]
    train = next(i for i, r in enumerate(texts) if "python train.py --epochs 10" in r)
    gate = next(i for i, r in enumerate(texts) if "python evaluate.py --min-accuracy" in r)
    upload = next(i for i, s in enumerate(model) if action(s) == "actions/upload-artifact")
    assert train < gate < upload, "the model is uploaded only after it is trained and passes the gate"
    # Named for the run attempt, handed on by output: a re-run uploads its own and never collides.
    assert model[upload]["with"] == {"name": "model-artifacts-${{ github.run_attempt }}", "path": "app/artifacts/",
                                     "if-no-files-found": "error", "retention-days": 1}
    assert checks["model"]["outputs"]["artifact"] == model[upload]["with"]["name"]
    assert triggers(workflow("checks.yml"))["workflow_call"]["outputs"]["model-artifact"]["value"] == \
        "${{ jobs.model.outputs.artifact }}"
    download = next(s for s in steps(jobs(workflow("image.yml"))["image"]) if action(s) == "actions/download-artifact")
    assert download["with"]["name"] == "${{ inputs.model-artifact }}"
    assert all(s.get("working-directory") == "app" for s in (model[train], model[gate]))


def test_the_unit_tests_install_what_ci_run_installs():
    ci_run = (ROOT / "scripts" / "test").read_text()  # README's test command, which .ci/run runs
    apt_packages = re.search(r"APT_PACKAGES=\(([^)]*)\)", ci_run).group(1).split()
    install = runs(jobs(workflow("checks.yml"))["unit-tests"])
    for package in apt_packages:
        assert re.search(rf"apt-get install .*\b{re.escape(package)}\b", install), package
    assert "--require-hashes --no-deps -r requirements-dev.lock" in install and "-r requirements-checkov.txt" in install
    assert "CHECKOV_BIN=" in install
    # The tools scripts/test installs outside pip and apt, where tests/needs.py looks for them (CI=true fails without).
    pytriton_target = r"--target \"\$HOME/\.cache/gpu-model-platform/pytriton\" -r requirements-triton\.txt"
    assert re.search(r"--require-hashes\s+\\?\s*" + pytriton_target, install)
    assert 'schema_dir="$HOME/.cache/gpu-model-platform/grafana-schema"' in install and "npm ci" in install


def test_ruff_is_pinned_in_the_dev_requirements_the_lint_job_installs_from():
    assert re.search(r"^ruff==\d+\.\d+\.\d+$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert "'^ruff==' requirements-dev.txt" in runs(jobs(workflow("checks.yml"))["lint"])


# ---- one build per commit, its digest to every stack ------------------------------------------------

def test_the_image_is_built_once_per_commit_by_one_job_that_gates_and_scans_it():
    image = jobs(workflow("image.yml"))
    assert set(image) == {"image"} and "strategy" not in image["image"], "one job, no matrix: one build"
    job = image["image"]
    build = step_running(job, "build-images.sh")
    assert index_of(job, lambda s: action(s) == "actions/download-artifact") < steps(job).index(build), \
        "the image packages the gated model"
    assert build["env"]["MIN_ACCURACY"] == "${{ vars.MODEL_MIN_ACCURACY || '0.9' }}", "the same bar as the model job"
    assert any(action(s) == "aquasecurity/setup-trivy" for s in steps(job)) and "SCAN_SEVERITY" in build["env"]
    assert job["outputs"]["digests"] == "${{ steps.build.outputs.digests }}"
    assert triggers(workflow("image.yml"))["workflow_call"]["outputs"]["digests"]["value"] == "${{ jobs.image.outputs.digests }}"
    script = (SCRIPTS_DIR / "build-images.sh").read_text()
    assert script.count("docker buildx build") == 1 and "for variant in" in script


def test_only_the_image_job_builds_and_only_the_push_script_pushes():
    for where, script in run_scripts():
        assert not re.search(r"\bdocker\s+(build|push|buildx|tag)\b", script), f"{where}: the image job builds"
        assert not re.search(r"\bskopeo\s+(copy|login|sync)\b", script), f"{where}: only push-image.sh pushes"
    scripts = {p.name: p.read_text() for p in SCRIPTS_DIR.glob("*.sh")}
    assert [n for n, text in scripts.items() if "docker buildx build" in text] == ["build-images.sh"]
    assert [n for n, text in scripts.items() if "skopeo copy" in text] == ["push-image.sh"]
    assert 'skopeo copy --authfile "$auth/config.json" --preserve-digests' in scripts["push-image.sh"], \
        "a push keeps the tested digest, logged in outside the runner's home"
    assert not [n for n, text in scripts.items() if "skopeo login" in text or "docker login" in text]


def test_every_pulumi_run_is_given_the_image_by_digest_so_pulumi_builds_nothing():
    script = (SCRIPTS_DIR / "pulumi-stack.sh").read_text()
    # Every model CI builds gets the digest (model.image, or each catalogue entry's models[i].image).
    assert '"$python" -m tools.delivery model-images "$stack" "$image" "$version"' in script
    assert 'pulumi config set --stack "$stack" --path "gpu-model-platform:$key" "$value" --non-interactive' in script
    assert '[[ "$image" =~ @sha256:[0-9a-f]{64}$ ]]' in script
    for name, job_id, job in pulumi_jobs():
        if "pulumi-stack.sh" in runs(job):
            step = step_running(job, "pulumi-stack.sh")
            assert step["env"]["IMAGE"].startswith("${{ steps."), f"{name}:{job_id}"


def test_main_deploys_the_same_digest_to_every_stack_dev_first_prod_after_it():
    deploy = jobs(workflow("deploy.yml"))
    calls = {job["with"]["stack"]: job_id for job_id, job in deploy.items() if job.get("uses") == STACK_WORKFLOW}
    assert set(calls) == set(ci_stacks())
    assert calls["dev"] in _all_needs(deploy, calls["prod"]), "prod only after dev succeeded"
    assert "needs.dev.result == 'success'" in deploy[calls["prod"]]["if"]
    for stack, job_id in calls.items():
        job = deploy[job_id]
        assert job["with"]["digest"] == ("${{ fromJSON(needs.image.outputs.digests || '{}')"
                                         f"[fromJSON(needs.stacks.outputs.stacks).{stack}.variant] || '' }}}}")
        assert job["with"]["version"] == "${{ needs.image.outputs.version }}"
        assert job["with"]["archives"] == "${{ needs.image.outputs.archives }}"
        assert job["with"]["region"] == f"${{{{ fromJSON(needs.stacks.outputs.stacks).{stack}.region }}}}"
        assert {"image", "stacks"} <= set(job["needs"])
        assert "refs/heads/main" in job["if"] and "push" in job["if"]
    image = deploy["image"]["with"]
    assert image["ci-only"] is True and image["keep"] is True, "main keeps the tested archives for the pushes"


def test_a_stack_deploys_the_digest_it_was_given_and_the_pushed_image_is_the_planned_one():
    stack = jobs(workflow("stack.yml"))
    plan, up = stack["plan"], stack["up"]
    assert step_running(plan, "repositoryUri")["env"]["DIGEST"] == "${{ inputs.digest }}"
    push = step_running(up, "push-image.sh")
    assert push["env"]["PLANNED"] == "${{ needs.plan.outputs.image }}"
    assert '"${PLANNED##*@}"' in push["run"], "the digest pushed is the planned one"
    assert '[ "$image" = "$PLANNED" ]' in push["run"], "the image pushed is the one the approved plan deploys"
    assert step_running(up, "pulumi-stack.sh up")["env"]["IMAGE"] == "${{ steps.push.outputs.image }}"
    assert index_of(up, lambda s: "push-image.sh" in s.get("run", "")) < \
        index_of(up, lambda s: "pulumi-stack.sh up" in s.get("run", "")), "the image exists before pods pull it"


def test_pull_requests_preview_the_image_they_built_without_pushing_it():
    preview = jobs(workflow("preview-stack.yml"))["preview"]
    image = step_running(preview, "repositoryUri")
    assert image["env"]["DIGEST"] == "${{ inputs.digest }}"
    assert "push-image.sh" not in runs(preview) and "image-trust.sh sign" not in runs(preview)
    for (name, _), job in callers(PREVIEW_WORKFLOW).items():
        assert job["with"]["digest"] == \
            "${{ fromJSON(needs.image.outputs.digests)[fromJSON(needs.stacks.outputs.stacks)[matrix.stack].variant] }}"
        assert "keep" not in (jobs(workflow(name))["image"].get("with") or {}), f"{name}: no archive kept"


# ---- saved plans -------------------------------------------------------------------------------------

def test_each_stack_is_planned_with_save_plan_and_updated_with_exactly_that_plan():
    stack = jobs(workflow("stack.yml"))
    plan, up = stack["plan"], stack["up"]
    plan_step = step_running(plan, "pulumi-stack.sh plan")
    assert plan_step["run"] == '.github/scripts/pulumi-stack.sh plan "$STACK" "$IMAGE" "$VERSION" "$RUNNER_TEMP/plan"'
    upload = next(s for s in steps(plan) if action(s) == "actions/upload-artifact")
    # Named for the attempt that made it and handed to `up` by output: re-running the plan job uploads a new
    # name (no conflict), and re-running only `up` gets the stale plan, which the version check refuses.
    assert upload["with"]["name"] == "plan-${{ inputs.stack }}-${{ github.run_attempt }}" == plan["outputs"]["plan"]
    assert upload["with"]["path"] == "${{ runner.temp }}/plan/"
    download = next(s for s in steps(up) if action(s) == "actions/download-artifact"
                    and s["with"]["name"] == "${{ needs.plan.outputs.plan }}")
    assert download["with"]["path"] == "${{ runner.temp }}/plan"
    up_step = step_running(up, "pulumi-stack.sh up")
    assert up_step["run"].endswith('"$RUNNER_TEMP/plan/plan-$STACK.json"')
    assert up["needs"] == "plan"
    script = (SCRIPTS_DIR / "pulumi-stack.sh").read_text()
    assert '--save-plan "$where/plan-$stack.json"' in script and '--plan "$where" --yes' in script
    assert "--skip-preview" not in script, "the update's own preview is what checks it against the plan"


def test_the_approver_of_a_stack_sees_the_plans_summary_before_the_update_runs():
    stack = jobs(workflow("stack.yml"))
    summary = step_running(stack["plan"], "plan-summary")
    assert ">> \"$GITHUB_STEP_SUMMARY\"" in summary["run"] and "$RUNNER_TEMP/plan/plan-$STACK.json" in summary["run"]
    assert stack["up"]["environment"] == "${{ inputs.stack }}", "prod's required reviewers gate the up job"
    assert "environment" in stack["plan"] and stack["plan"]["environment"] != stack["up"]["environment"]


def test_the_policy_pack_runs_on_every_preview_plan_and_update():
    script = (SCRIPTS_DIR / "pulumi-stack.sh").read_text()
    assert 'common=(--stack "$stack" --policy-pack policy' in script
    assert script.count('"${common[@]}"') == 2, "preview/plan and up both use the common flags"


# ---- runners that reach the cluster -------------------------------------------------------------------

def test_every_job_that_touches_a_stack_runs_on_that_stacks_runners():
    expected = {
        ("preview-stack.yml", "preview"): "${{ fromJSON(inputs.runs-on) }}",
        ("drift.yml", "drift"): "${{ fromJSON(needs.stacks.outputs.stacks)[matrix.stack].runs_on }}",
        ("stack.yml", "plan"): "${{ fromJSON(inputs.runs-on) }}",
        ("stack.yml", "up"): "${{ fromJSON(inputs.runs-on) }}",
    }
    assert {(name, job_id) for name, job_id, _ in pulumi_jobs()} == set(expected)
    for (name, job_id), runs_on in expected.items():
        assert jobs(workflow(name))[job_id]["runs-on"] == runs_on, f"{name}:{job_id}"
    for job in jobs(workflow("deploy.yml")).values():
        if job.get("uses") == STACK_WORKFLOW:
            stack = job["with"]["stack"]
            assert job["with"]["runs-on"] == f"${{{{ toJSON(fromJSON(needs.stacks.outputs.stacks).{stack}.runs_on) }}}}"
    rollback = jobs(workflow("rollback.yml"))["rollback"]
    assert rollback["with"]["runs-on"] == "${{ toJSON(fromJSON(needs.stacks.outputs.stacks)[inputs.stack].runs_on) }}"
    assert rollback["with"]["region"] == "${{ fromJSON(needs.stacks.outputs.stacks)[inputs.stack].region }}"


@pytest.mark.parametrize("stack", sorted(deployable_stacks()))
def test_the_runner_labels_come_from_the_stack_file_that_says_how_ci_reaches_the_api(stack):
    config = stack_config(stack)
    assert stack_info(stack)["runs_on"] == config.delivery.runner_labels
    action_file = load(ACTIONS_DIR / "ci-stacks" / "action.yml")
    assert "python -m tools.delivery ci-stacks" in "\n".join(s.get("run", "") for s in action_file["runs"]["steps"])
    for name in ("pull-request.yml", "deploy.yml", "rollback.yml", "drift.yml"):
        job = jobs(workflow(name))["stacks"]
        assert job["runs-on"] == "ubuntu-24.04" and any(s.get("uses") == "./.github/actions/ci-stacks" for s in steps(job))


def test_the_previews_and_drift_checks_cover_every_ci_stack():
    for name, job_id in (("pull-request.yml", "preview"), ("preview.yml", "preview"), ("drift.yml", "drift")):
        job = jobs(workflow(name))[job_id]
        assert set(job["strategy"]["matrix"]["stack"]) == set(ci_stacks()), f"{name}:{job_id}"
        assert job["strategy"]["fail-fast"] is False, "one stack's failure must not hide the other's"
    assert set(triggers(workflow("rollback.yml"))["workflow_dispatch"]["inputs"]["stack"]["options"]) == set(ci_stacks())


# ---- credentials per environment ----------------------------------------------------------------------

ROLE_OF = {
    ("preview-stack.yml", "preview"): ("${{ inputs.stack }}-pr-preview", "${{ vars.AWS_PREVIEW_ROLE_ARN }}"),
    ("drift.yml", "drift"): ("${{ matrix.stack }}-drift", "${{ vars.AWS_DRIFT_ROLE_ARN }}"),
    ("stack.yml", "plan"): ("${{ inputs.stack }}-preview", "${{ vars.AWS_PREVIEW_ROLE_ARN }}"),
    ("stack.yml", "up"): ("${{ inputs.stack }}", "${{ vars.AWS_DEPLOY_ROLE_ARN }}"),
}


def test_each_stack_has_a_preview_role_and_a_deploy_role_carried_by_its_environments():
    assumed = {}
    for name, job_id, job, _ in all_jobs():
        aws = [s for s in steps(job) if action(s) == AWS_ACTION]
        if aws:
            [step] = aws
            assumed[(name, job_id)] = (job.get("environment"), step["with"]["role-to-assume"])
            assert "inputs.region" in step["with"]["aws-region"] or ".region }}" in step["with"]["aws-region"], \
                f"{name}:{job_id}: the region is the stack's (aws.region), not a repository variable"
    assert assumed == ROLE_OF
    # Only the up job, in the stack's own environment, ever gets a deploy role.
    deployers = [key for key, (_, role) in assumed.items() if "DEPLOY" in role]
    assert deployers == [("stack.yml", "up")]


def test_aws_sessions_outlast_the_jobs_that_use_them():
    for name, job_id, job, _ in all_jobs():
        for step in steps(job):
            if action(step) == AWS_ACTION:
                inputs = step["with"]
                assert int(inputs["role-duration-seconds"]) >= job["timeout-minutes"] * 60, f"{name}:{job_id}"
                assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(inputs)
                assert inputs["role-session-name"] and inputs["aws-region"]
            if action(step) == PULUMI_AUTH_ACTION:
                assert int(step["with"]["token-expiration"]) >= job["timeout-minutes"] * 60, f"{name}:{job_id}"


def test_pulumi_cloud_access_is_an_oidc_token_per_environment_never_a_stored_one():
    for path in WORKFLOW_FILES + ACTION_FILES:
        assert "PULUMI_ACCESS_TOKEN" not in path.read_text(), f"{path.name}: no long-lived Pulumi token"
    for name, job_id, job in pulumi_jobs():
        [auth] = [s for s in steps(job) if action(s) == PULUMI_AUTH_ACTION]
        assert auth["if"] == "vars.PULUMI_BACKEND_URL == ''", f"{name}:{job_id}: only with Pulumi Cloud"
        assert auth["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
        assert auth["with"]["scope"] == "team:${{ vars.PULUMI_TEAM }}", "the environment names its team"
        assert "environment" in job, f"{name}:{job_id}: the team comes from an environment"
        first_pulumi = index_of(job, lambda s: "pulumi-stack.sh" in s.get("run", "") or "pulumi refresh" in s.get("run", "")
                                or "deploy-guard.sh" in s.get("run", ""))
        assert steps(job).index(auth) < first_pulumi


def test_every_workflow_grants_nothing_by_default_and_every_job_states_its_permissions():
    for name, job_id, job, wf in all_jobs():
        assert wf.get("permissions") == {}, f"{name}: set top-level permissions: {{}}"
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_id} has no permissions block"
        assert job["permissions"].get("contents") == "read", f"{name}:{job_id}"


ALLOWED_WRITES = {
    ("pull-request.yml", "preview"): {"id-token", "pull-requests"},
    ("pull-request.yml", "cost-comment"): {"pull-requests"},  # posts the cost job's comment; runs no estimate
    ("preview.yml", "preview"): {"id-token", "pull-requests"},
    ("preview-stack.yml", "preview"): {"id-token", "pull-requests"},
    ("deploy.yml", "attest"): {"id-token", "attestations"},
    ("deploy.yml", "dev"): {"id-token"},
    ("deploy.yml", "prod"): {"id-token"},
    ("stack.yml", "plan"): {"id-token"},
    ("stack.yml", "up"): {"id-token"},
    ("rollback.yml", "rollback"): {"id-token"},
    ("drift.yml", "drift"): {"id-token", "issues"},
}


def test_write_permissions_are_only_where_needed():
    for name, job_id, job, _ in all_jobs():
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes == ALLOWED_WRITES.get((name, job_id), set()), f"{name}:{job_id} may write {writes}"


def test_the_image_build_holds_no_cloud_credential():
    for name in ("image.yml", "checks.yml"):
        for job_id, job in jobs(workflow(name)).items():
            assert "id-token" not in job["permissions"] and "environment" not in job, f"{name}:{job_id}"


# ---- ordering ---------------------------------------------------------------------------------------------

def test_each_stack_update_is_serialized_per_stack_and_never_cancelled():
    groups: dict[str, list[str]] = {}
    for name, job_id, job, wf in all_jobs():
        for concurrency in (wf.get("concurrency"), job.get("concurrency")):
            if isinstance(concurrency, dict):
                assert concurrency.get("cancel-in-progress") is False, f"{name}:{job_id} may cancel a run"
                groups.setdefault(concurrency["group"], []).append(f"{name}:{job_id}")
    # The group is held by the job that calls stack.yml, so it spans the plan, the approval and the update:
    # no other run plans or applies that stack in between.
    for (name, job_id), job in callers(STACK_WORKFLOW).items():
        stack = job["with"]["stack"]
        expected = f"pulumi-{stack}" if not stack.startswith("${{") else "pulumi-${{ inputs.stack }}"
        assert job["concurrency"] == {"group": expected, "cancel-in-progress": False}, f"{name}:{job_id}"
    assert groups["pulumi-dev"] == ["deploy.yml:dev"] and groups["pulumi-prod"] == ["deploy.yml:prod"]
    assert groups["pulumi-${{ inputs.stack }}"] == ["rollback.yml:rollback"]
    for job in jobs(workflow("stack.yml")).values():
        assert "concurrency" not in job, "a group inside the called workflow would let another run in between"


def test_no_update_starts_before_the_guard_refuses_an_older_commit():
    for job_id in ("plan", "up"):
        job = jobs(workflow("stack.yml"))[job_id]
        guard = index_of(job, lambda s: "deploy-guard.sh" in s.get("run", ""))
        pulumi = index_of(job, lambda s: "pulumi-stack.sh" in s.get("run", ""))
        assert guard < pulumi, job_id
        if job_id == "up":
            assert guard < index_of(job, lambda s: "push-image.sh" in s.get("run", ""))
        checkout = next(s for s in steps(job) if action(s) == "actions/checkout")
        assert checkout["with"]["fetch-depth"] == 0, "the guard compares commits: full history"
    guard = (SCRIPTS_DIR / "deploy-guard.sh").read_text()
    assert 'git merge-base --is-ancestor "$deployed" "$commit"' in guard
    assert '.environment["git.head"]' in guard


def test_up_runs_only_from_main_on_a_push_or_a_rollback_dispatched_on_main():
    callers = [(name, job_id, job) for name, job_id, job, _ in all_jobs() if job.get("uses") == "./.github/workflows/stack.yml"]
    assert {(n, j) for n, j, _ in callers} == {("deploy.yml", "dev"), ("deploy.yml", "prod"), ("rollback.yml", "rollback")}
    for name, job_id, job in callers:
        if name == "deploy.yml":
            assert "refs/heads/main" in job["if"], f"{name}:{job_id}"
    assert '[ "$GITHUB_REF" = refs/heads/main ]' in runs(jobs(workflow("rollback.yml"))["stacks"])
    for where, script in run_scripts():
        assert not re.search(r"\bpulumi\s+(up|update|destroy)\b", script), f"{where} changes a stack outside the script"


# ---- rollback by digest --------------------------------------------------------------------------------

def test_a_rollback_deploys_a_given_digest_with_no_build_and_no_push():
    rollback = workflow("rollback.yml")
    inputs = triggers(rollback)["workflow_dispatch"]["inputs"]
    assert inputs["digest"]["required"] is True and inputs["stack"]["type"] == "choice"
    assert "image" not in jobs(rollback) and "checks" not in jobs(rollback), "nothing is rebuilt"
    call = jobs(rollback)["rollback"]
    assert call["uses"] == "./.github/workflows/stack.yml"
    assert call["with"]["digest"] == "${{ inputs.digest }}" and call["with"]["stack"] == "${{ inputs.stack }}"
    assert call["with"]["archives"] == "", "no archive: push-image.sh only finds the digest, never pushes"
    assert "^sha256:[0-9a-f]{64}$" in runs(jobs(rollback)["stacks"]), "a tag is refused before anything runs"
    push = (SCRIPTS_DIR / "push-image.sh").read_text()
    assert 'elif [ -z "$archive" ]; then' in push and "does not hold" in push


# ---- pull request comments ------------------------------------------------------------------------------

def test_each_preview_passed_or_failed_edits_its_stacks_comment():
    preview = jobs(workflow("preview-stack.yml"))["preview"]
    comment = step_running(preview, "preview-comment.sh")
    assert comment["if"] == "always()", "a failed preview must replace the last good comment"
    assert comment["env"]["OUTCOME"] == "${{ steps.preview.outcome }}"
    assert comment["env"]["PR_NUMBER"] == "${{ inputs.pull-request }}"
    assert "continue-on-error" not in step_running(preview, "pulumi-stack.sh preview"), "a failure fails the check"
    assert preview["permissions"]["pull-requests"] == "write"


def test_the_drift_check_refreshes_each_stack_without_changing_it_and_reports_drift():
    drift_job = jobs(workflow("drift.yml"))["drift"]
    refresh = step_running(drift_job, "pulumi refresh")
    for flag in ("--preview-only", "--expect-no-changes", '--stack "$STACK"', "--non-interactive"):
        assert flag in refresh["run"], flag
    assert "set -o pipefail" in refresh["run"], "tee must not hide the refresh's exit code"
    job_steps = steps(drift_job)
    undeployed = step_running(drift_job, "undeployed.sh")
    assert job_steps.index(refresh) < job_steps.index(undeployed)
    report = job_steps[-1]
    # Any failure reports: drift, an undeployed merge, and a check that could not run (credentials, runner).
    assert report["if"] == "failure()"
    assert "gh issue create" in report["run"] and "gh issue comment" in report["run"]


def test_the_pulumi_cli_version_is_the_one_requirements_txt_pins(tmp_path):
    sdk = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group(1)
    scripts = [s["run"] for s in load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
               if s.get("id") == "versions"]
    scripts += [s["run"] for s in steps(jobs(workflow("drift.yml"))["drift"]) if s.get("id") == "versions"]
    assert len(scripts) == 2
    for script in scripts:
        output, github_env = tmp_path / "github_output", tmp_path / "github_env"
        output.write_text("")
        subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, check=True,
                       env={**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_ENV": str(github_env)})
        assert output.read_text().strip() == f"pulumi={sdk}"


def test_the_pulumi_cli_is_installed_only_by_the_script_that_checks_its_sha256():
    # pulumi/actions (v7.0.0's src/libs/pulumi-cli.ts) downloads without checking a checksum: it is gone.
    installs = [s for s in load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
                if "install-pulumi.sh" in s.get("run", "")]
    installs += [s for s in steps(jobs(workflow("drift.yml"))["drift"]) if "install-pulumi.sh" in s.get("run", "")]
    assert len(installs) == 2
    # cosign (which checks the checksums file's signature) is installed before the CLI, in both.
    action_steps = load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
    drift_steps = steps(jobs(workflow("drift.yml"))["drift"])
    for sequence, install in ((action_steps, installs[0]), (drift_steps, installs[1])):
        installer = next(i for i, st in enumerate(sequence) if st.get("uses", "").startswith("sigstore/cosign-installer@"))
        assert installer < sequence.index(install)
    for step in installs:
        assert step["env"]["PULUMI_VERSION"] == "${{ steps.versions.outputs.pulumi }}"
        first, path_line = step["run"].strip().splitlines()
        assert first == '.github/scripts/install-pulumi.sh "$PULUMI_VERSION" "$RUNNER_TEMP/pulumi-cli"'
        assert path_line == 'echo "$RUNNER_TEMP/pulumi-cli/pulumi" >> "$GITHUB_PATH"'
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        assert "pulumi/actions@" not in path.read_text(), path.name
    script = (ROOT / ".github" / "scripts" / "install-pulumi.sh").read_text()
    check, unpack = script.index("sha256sum --check --strict"), script.index("tar -xzf")
    assert check < unpack
    # The checksums come from the GitHub release, a second origin to the archive's download site.
    assert 'releases="${PULUMI_RELEASE_ORIGIN:-https://github.com/pulumi/pulumi/releases/download}"' in script
    assert 'downloads="${PULUMI_DOWNLOAD_ORIGIN:-https://get.pulumi.com/releases/sdk}"' in script
    assert not re.search(r"PULUMI_(DOWNLOAD|RELEASE)_ORIGIN", "".join(p.read_text() for p in [*WORKFLOW_FILES, *ACTION_FILES]))


def test_the_virtualenvs_are_the_ones_the_project_files_name_installed_from_the_locks():
    assert load(ROOT / "Pulumi.yaml")["runtime"]["options"]["virtualenv"] == "venv"
    assert load(ROOT / "policy" / "PulumiPolicy.yaml")["runtime"]["options"]["virtualenv"] == "venv"
    script = next(s["run"] for s in load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
                  if "venv" in s.get("run", ""))
    assert "venv/bin/pip install --disable-pip-version-check --require-hashes --no-deps -r requirements.lock" in script
    assert "policy/venv/bin/pip install --disable-pip-version-check --require-hashes --no-deps -r policy/requirements.lock" \
        in script


# ---- no secrets in plain text ------------------------------------------------------------------

_SENSITIVE_KEY = re.compile(r"(token|secret|password|passphrase|private[-_]?key|access[-_]?key)", re.IGNORECASE)
# `permissions` scopes (id-token), the secrets provider's URL and the Pulumi token's type/lifetime are not credentials.
_NOT_CREDENTIALS = {"permissions", "secrets-provider", "requested-token-type", "token-expiration"}
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
    assert not secret_problems({"env": {"GH_TOKEN": "${{ github.token }}"}})


@pytest.mark.parametrize("path", WORKFLOW_FILES + ACTION_FILES, ids=lambda p: p.name if p.name != "action.yml" else p.parent.name)
def test_no_secret_is_written_in_plain_text(path):
    text = path.read_text()
    for pattern in _LITERAL_SECRETS:
        assert not pattern.search(text), f"{path.name}: {pattern.pattern}"
    assert secret_problems(load(path)) == []
    assert "secrets." not in text or path.name == "release.yml", f"{path.name}: delivery needs no stored secret"


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
        return None if "@" not in reference else "a local action or workflow is used from this checkout, without @"
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
    assert [f"{where}: {problem}" for where, line in lines if (problem := pin_problem(line))] == []
    pins: dict[str, set[str]] = {}
    for _, line in lines:
        reference = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if "@" in reference:
            name, sha = reference.split("@")
            pins.setdefault(name, set()).add(sha)
    assert {name: shas for name, shas in pins.items() if len(shas) > 1} == {}, "one version of each action"


def test_every_job_has_a_timeout():
    for name, job_id, job, _ in all_jobs():
        if "uses" in job:  # a reusable workflow's own jobs carry the timeouts
            continue
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 120, f"{name}:{job_id}"


def test_pip_downloads_are_cached_wherever_python_is_set_up():
    setups = [s for _, _, job, _ in all_jobs() for s in steps(job) if action(s) == "actions/setup-python"]
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


# ---- supply chain upkeep ------------------------------------------------------------------------------

def test_renovate_keeps_actions_python_and_base_images_current():
    import json

    config = json.loads((ROOT / ".github" / "renovate.json").read_text())
    assert set(config["enabledManagers"]) == {"github-actions", "pip_requirements", "dockerfile", "custom.regex"}
    assert "helpers:pinGitHubActionDigests" in config["extends"], "SHA pins with the version comment"
    pip_rules = [r for r in config["packageRules"] if r.get("matchManagers") == ["pip_requirements"] and "prBodyNotes" in r]
    assert pip_rules and "python -m tools.locks" in pip_rules[0]["prBodyNotes"][0]
    assert not (ROOT / ".github" / "dependabot.yml").exists(), "one bot, not two opening the same PRs"
    # The tool versions the workflows install are visible to Renovate through its regex manager.
    [manager] = config["customManagers"]
    [pattern] = manager["matchStrings"]
    python_pattern = re.compile(pattern.replace("(?<", "(?P<"))
    files = [*WORKFLOW_FILES, *ACTION_FILES]
    patterns = [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]
    assert all(any(p.search(str(f.relative_to(ROOT))) for p in patterns) for f in files), "every file is scanned"
    found = {m.group("depName"): m.group("currentValue") for path in files
             for m in python_pattern.finditer(path.read_text())}
    assert found == {"aquasecurity/trivy": "v0.70.0", "sigstore/cosign": "v3.0.6"}
    assert all(m.group("datasource") == "github-releases" for path in WORKFLOW_FILES
               for m in python_pattern.finditer(path.read_text()))


def test_codeowners_guard_the_workflows_the_policy_pack_and_the_stack_files():
    owners = {}
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *teams = line.split()
            owners[pattern] = teams
    for pattern in ("/.github/", "/policy/", "/Pulumi.*.yaml", "/Pulumi.yaml", "/components/access/",
                    "/components/security/"):
        assert owners.get(pattern), pattern
    assert len(owners["/Pulumi.prod.yaml"]) >= 2, "prod's stack file names both teams"
    text = (ROOT / ".github" / "CODEOWNERS").read_text()
    assert "ANY one of them" in text and "Require approvals: 2" in text, "CODEOWNERS alone lets either team approve"
    assert "Require approval from two reviewers" in (ROOT / "docs" / "delivery.md").read_text()


# ---- linters -------------------------------------------------------------------------------------

def _tool(name: str) -> str:
    return tool(name)  # skips on a laptop without it, fails under CI=true (tests/needs.py)


def test_workflows_pass_actionlint_with_shellcheck():
    actionlint, shellcheck = _tool("actionlint"), _tool("shellcheck")
    result = subprocess.run([actionlint, "-no-color", "-shellcheck", shellcheck, *map(str, WORKFLOW_FILES)], cwd=ROOT,
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scripts_pass_shellcheck():
    shellcheck = _tool("shellcheck")
    scripts = sorted(SCRIPTS_DIR.glob("*.sh"))
    assert len(scripts) >= 5
    result = subprocess.run([shellcheck, "--severity=style", *map(str, scripts)], check=False, capture_output=True,
                            text=True, timeout=120)
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


def test_workflows_actions_and_renovate_match_their_json_schemas():
    check = _tool("check-jsonschema")
    for schema, files in (("vendor.github-workflows", WORKFLOW_FILES), ("vendor.github-actions", ACTION_FILES),
                          ("vendor.renovate", [ROOT / ".github" / "renovate.json"])):
        result = subprocess.run([check, "--builtin-schema", schema, *map(str, files)],
                                check=False, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


# ---- the delivery guide states only what a test or a file backs ------------------------------------------

def test_every_test_and_file_the_delivery_guide_cites_exists():
    guide = (ROOT / "docs" / "delivery.md").read_text()
    cited_tests = set(re.findall(r"`(test_\w+)`", guide))
    defined = {m for path in (ROOT / "tests").rglob("test_*.py")
               for m in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)}
    assert len(cited_tests) > 30
    assert cited_tests - defined == set(), "the guide cites tests that do not exist"
    # app/artifacts/ is what training writes, not a file of the repository.
    cited_files = set(re.findall(r"`(\.github/[\w./-]+|tools/[\w./-]+|app/[\w./-]+)`", guide)) - {"app/artifacts/"}
    assert cited_files and {f for f in cited_files if not (ROOT / f).exists()} == set()


def test_every_artifact_name_is_re_run_safe():
    # release.yml belongs to the packaging work (issue 16).
    for path in [p for p in WORKFLOW_FILES if p.name in DELIVERY_WORKFLOWS]:
        for job_id, job in jobs(load(path)).items():
            for step in steps(job):
                if action(step) == "actions/upload-artifact":
                    assert "${{ github.run_attempt }}" in step["with"]["name"], f"{path.name}:{job_id}"
                    assert step["with"].get("retention-days", 90) <= 1, \
                        f"{path.name}:{job_id}: a public repository's artifacts are readable by anyone signed in"
                if action(step) == "actions/download-artifact":
                    name = step["with"]["name"]
                    assert name.startswith("${{ ") and "run_attempt" not in name, \
                        f"{path.name}:{job_id}: the name comes from the uploading job's output, not this attempt"


def test_pull_request_jobs_never_select_a_stack_runner():
    stacks = {s: stack_info(s) for s in ci_stacks()}
    for s, info in stacks.items():
        assert info["preview_runs_on"] and not set(info["preview_runs_on"]) <= set(info["runs_on"]), s
    for name in ("pull-request.yml", "preview.yml"):
        for job_id, job in jobs(workflow(name)).items():
            runs_on = job.get("runs-on") or job.get("with", {}).get("runs-on")
            if job.get("uses") == PREVIEW_WORKFLOW:
                assert runs_on == "${{ toJSON(fromJSON(needs.stacks.outputs.stacks)[matrix.stack].preview_runs_on) }}"
            elif "uses" not in job:
                assert runs_on == "ubuntu-24.04", f"{name}:{job_id} runs on {runs_on}"
            assert not re.search(r"(?<!preview_)runs_on", str(runs_on)), f"{name}:{job_id}: a stack's deploy runners"
    assert jobs(workflow("preview-stack.yml"))["preview"]["runs-on"] == "${{ fromJSON(inputs.runs-on) }}"
    assert set(callers(PREVIEW_WORKFLOW)) == {("pull-request.yml", "preview"), ("preview.yml", "preview")}


def test_a_forks_pull_request_runs_nothing_where_a_cluster_is_reachable():
    preview = jobs(workflow("pull-request.yml"))["preview"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    for job_id, job in jobs(workflow("pull-request.yml")).items():
        if job_id != "preview":
            assert "id-token" not in str(job.get("permissions")), f"pull-request.yml:{job_id}"
            assert job.get("uses") in (None, "./.github/workflows/checks.yml", "./.github/workflows/image.yml",
                                       "./.github/workflows/local-stack.yml")


def test_a_maintainer_previews_a_forks_reviewed_commit_and_no_other():
    preview = workflow("preview.yml")
    inputs = triggers(preview)["workflow_dispatch"]["inputs"]
    assert inputs["commit"]["required"] is True and inputs["pull-request"]["required"] is True
    check = jobs(preview)["commit"]
    script = runs(check)
    assert '[ "$GITHUB_REF" = refs/heads/main ]' in script and "^[0-9a-f]{40}$" in script
    assert '--jq \'.head.sha\'' in script and '[ "$head" = "$COMMIT" ]' in script
    assert check["permissions"] == {"contents": "read", "pull-requests": "read"}
    wf_jobs = jobs(preview)
    for job_id in ("checks", "image", "preview"):
        assert "commit" in _all_needs(wf_jobs, job_id), job_id
        assert wf_jobs[job_id]["with"]["ref"] == "${{ inputs.commit }}", "the reviewed commit, not the head now"
    stacks_checkout = next(s for s in steps(wf_jobs["stacks"]) if action(s) == "actions/checkout")
    assert "ref" not in stacks_checkout["with"], "main's stack files decide the pools and roles"


def test_one_required_check_passes_for_a_fork_and_fails_on_any_failure():
    required = jobs(workflow("pull-request.yml"))["required"]
    assert required["if"] == "always()" and set(required["needs"]) == set(jobs(workflow("pull-request.yml"))) - {"required"}
    step = step_running(required, "required-check.sh")
    assert step["env"]["NEEDS"] == "${{ toJSON(needs) }}"
    assert step["env"]["FORK"] == "${{ github.event.pull_request.head.repo.full_name != github.repository }}"


def test_deploy_runners_run_only_main_workflows():
    for name, job_id, job in pulumi_jobs():
        if name == "preview-stack.yml":
            continue
        assert job["if"] == "github.ref == 'refs/heads/main'", f"{name}:{job_id}"
        first = steps(job)[index_of(job, lambda s: action(s) == "actions/checkout") + 1]
        assert first["run"].startswith(".github/scripts/deploy-preflight.sh "), f"{name}:{job_id}: checked first"
    assert {n for n, _, _, wf in all_jobs() if set(triggers(wf)) & {"pull_request", "pull_request_target"}} == \
        {"pull-request.yml"}
    assert "pull_request_target" not in "".join(p.read_text() for p in WORKFLOW_FILES)


def test_no_credential_outlives_its_job_on_a_runner(tmp_path):
    # Pulumi's login lives in PULUMI_HOME under the job's temp directory (wiped after the job), before any
    # Pulumi step; registry logins in $RUNNER_TEMP/registry-auth (registry-login.sh), never in $HOME.
    action_steps = load(ACTIONS_DIR / "pulumi-python" / "action.yml")["runs"]["steps"]
    assert action_steps[0]["run"] == 'echo "PULUMI_HOME=$RUNNER_TEMP/pulumi-home" >> "$GITHUB_ENV"'
    drift = step_running(jobs(workflow("drift.yml"))["drift"], "PULUMI_HOME")
    assert 'echo "PULUMI_HOME=$RUNNER_TEMP/pulumi-home" >> "$GITHUB_ENV"' in drift["run"]
    login = "\n".join(line for line in (SCRIPTS_DIR / "registry-login.sh").read_text().splitlines()
                      if not line.startswith("#"))
    assert 'dir="${RUNNER_TEMP:?}/registry-auth"' in login and "HOME" not in login


def test_each_documented_trust_policy_names_the_workflow_and_environment_that_really_assume_the_role():
    from tools.delivery.trust import ROLES

    assumed = {}
    for name, _job_id, job, _ in all_jobs():
        for step in steps(job):
            if action(step) == AWS_ACTION:
                environment = re.sub(r"\$\{\{ (inputs|matrix)\.stack \}\}", "{stack}", job["environment"])
                assumed[(name, environment)] = step["with"]["role-to-assume"]
    assert {(r.workflow, r.environment): f"${{{{ vars.{r.variable} }}}}" for r in ROLES.values()} == assumed
    for role in ROLES.values():
        if role.workflow != "preview-stack.yml":
            assert role.refs == ("refs/heads/main",), f"{role.workflow}: main only"
    # The guide shows each policy as the tool prints it (a change to either fails here).
    guide = (ROOT / "docs" / "delivery.md").read_text()
    for role in sorted(ROLES):
        command = ("python -m tools.delivery trust-policy --repository OWNER/REPO --account 123456789012 "
                   f"--stack prod --role {role}")
        assert command in guide, command
        printed = subprocess.run([sys.executable, "-m", "tools.delivery", "trust-policy", "--repository", "OWNER/REPO",
                                  "--account", "123456789012", "--stack", "prod", "--role", role], cwd=ROOT, check=True,
                                 capture_output=True, text=True, timeout=60).stdout
        assert printed.strip() in guide, f"docs/delivery.md shows a stale {role} trust policy"


def test_pull_requests_that_touch_what_a_stack_runs_deploy_the_local_stack_on_kind():
    pr = jobs(workflow("pull-request.yml"))
    local = pr["local-stack"]
    assert local["uses"] == "./.github/workflows/local-stack.yml" and local["needs"] == ["changes", "checks"]
    assert local["if"] == "needs.changes.outputs.deploy == 'true'"
    assert local["permissions"] == {"contents": "read"}, "no cloud credential, no token"
    assert "python3 -m tools.delivery changes" in runs(pr["changes"])
    assert "local-stack" in pr["required"]["needs"]
    assert step_running(pr["required"], "required-check.sh")["env"]["SKIPPABLE"].startswith(
        "${{ needs.changes.outputs.deploy != 'true' && 'local-stack' || '' }}")
    kind = jobs(workflow("local-stack.yml"))["kind"]
    assert kind["runs-on"] == "ubuntu-24.04" and kind["permissions"] == {"contents": "read"}
    assert not [s for s in steps(kind) if action(s) in (AWS_ACTION, PULUMI_AUTH_ACTION)]
    cluster = next(s for s in steps(kind) if action(s) == "helm/kind-action")
    assert cluster["with"] == {"cluster_name": "gpu-model", "registry": True}
    assert stack_config("local").cluster.kube_context == f"kind-{cluster['with']['cluster_name']}"
    phases = [s["run"] for s in steps(kind) if "local-stack.sh" in s.get("run", "")]
    assert phases == [".github/scripts/local-stack.sh up", ".github/scripts/local-stack.sh check",
                      ".github/scripts/local-stack.sh down"]
    assert steps(kind)[-1]["if"] == "always() && steps.kind.outcome == 'success'", "destroyed even when a check fails"
    script = (SCRIPTS_DIR / "local-stack.sh").read_text()
    for needed in ("pulumi up --stack \"$stack\" --policy-pack policy", "pulumi destroy --stack \"$stack\"",
                   '"$(infer "not-the-key")" = 401', "ModelPodsRestarting", "scales to zero", "woken by a request",
                   'up{namespace="my-ai-model"} == 1', 'PULUMI_BACKEND_URL="file://'):
        assert needed in script, needed


def test_signed_and_attested_images_are_verified_before_any_deploy():
    up = jobs(workflow("stack.yml"))["up"]
    push = step_running(up, "push-image.sh")
    order = [line.strip() for line in push["run"].splitlines() if "image-trust.sh" in line or "push-image.sh" in line]
    assert [o.split()[0 if "push-image" in o else 1] for o in order] == \
        ['image="$(.github/scripts/push-image.sh', 'pushed="$(.github/scripts/push-image.sh', "provenance", "sign",
         "verify"], order
    # ... for each model's repository (a catalogue has several), inside one loop.
    loop = push["run"][push["run"].index("for repository in $(jq -r '.models[].repository' <<< \"$info\"); do"):]
    assert loop.index('pushed="$(') < loop.index("verify") < loop.index("done")
    assert steps(up).index(push) < index_of(up, lambda s: "pulumi-stack.sh up" in s.get("run", ""))
    installer = index_of(up, lambda s: action(s) == "sigstore/cosign-installer")
    assert installer < steps(up).index(push)
    assert up["permissions"] == {"contents": "read", "id-token": "write", "attestations": "read"}
    attest = jobs(workflow("deploy.yml"))["attest"]
    assert attest["runs-on"] == "ubuntu-24.04", "attested on GitHub's runners (verified with --deny-self-hosted-runners)"
    predicates = [s["with"].get("predicate-type") for s in steps(attest) if action(s) == "actions/attest-build-provenance"]
    assert predicates == [None, "https://cyclonedx.org/bom"], "build provenance, then the SBOM"
    for step in steps(attest):
        if action(step) == "actions/attest-build-provenance":
            assert step["with"]["subject-digest"] == "${{ fromJSON(needs.image.outputs.digests)[matrix.variant] }}"
    assert "--format cyclonedx" in (SCRIPTS_DIR / "build-images.sh").read_text()
    for name, job_id, job, _ in all_jobs():
        if (name, job_id) != ("deploy.yml", "attest"):
            assert job.get("permissions", {}).get("attestations") != "write", f"{name}:{job_id}"


def test_a_rollback_checks_the_digest_before_approval_with_the_deployed_commits_program():
    rollback = workflow("rollback.yml")
    inputs = triggers(rollback)["workflow_dispatch"]["inputs"]
    assert inputs["commit"]["required"] is True
    assert "^[0-9a-f]{40}$" in runs(jobs(rollback)["stacks"])
    call = jobs(rollback)["rollback"]
    assert call["with"]["ref"] == "${{ inputs.commit }}"
    stack = jobs(workflow("stack.yml"))
    for job in stack.values():
        checkout = next(s for s in steps(job) if action(s) == "actions/checkout")
        assert checkout["with"]["ref"] == "${{ inputs.ref }}", "the deployed commit's program"
        guard = step_running(job, "deploy-guard.sh")
        assert guard["env"]["MODE"] == "${{ inputs.ref != '' && 'exact' || 'descendant' }}"
    image = step_running(stack["plan"], "push-image.sh")
    held = image["run"].index('held="$(.github/scripts/push-image.sh "$repository" "$DIGEST")"')
    assert image["run"].index("for repository in $(jq -r '.models[].repository' <<< \"$info\"); do") < held
    assert image["run"].index('if [ -z "$ARCHIVES" ]; then') < held < \
        image["run"].index("image-trust.sh provenance") < image["run"].index("image-trust.sh verify")
    assert stack["plan"]["environment"] == "${{ inputs.stack }}-preview", "before the approval, in the up job"


def test_every_threat_model_row_is_backed_by_a_test():
    guide = (ROOT / "docs" / "delivery.md").read_text()
    table = guide.split("## Threat model", 1)[1].split("\n\n", 2)[2].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| actor")
            and not line.startswith("| ---")]
    assert len(rows) >= 7
    actors = {row.split("|")[1].strip() for row in rows}
    assert {"anyone, from a fork", "a branch author (write access)", "a main merge", "a prod approver"} <= actors
    defined = {m for path in (ROOT / "tests").rglob("test_*.py")
               for m in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)}
    for row in rows:
        cited = set(re.findall(r"`(test_\w+)`", row))
        assert cited, f"a row with nothing behind it: {row[:80]}"
        assert cited <= defined, cited - defined


def test_every_pull_request_gets_one_cost_comment_from_a_job_without_credentials():
    pr = jobs(workflow("pull-request.yml"))
    cost, post = pr["cost"], pr["cost-comment"]
    # Computed on GitHub's runners (never a stack's), with no cloud credential and no write token: it runs the
    # pull request's code, a fork's included.
    assert cost["runs-on"] == "ubuntu-24.04" and cost["permissions"] == {"contents": "read"}
    assert "if" not in cost, "a fork's pull request is estimated too"
    assert not [s for s in steps(cost) if action(s) in (AWS_ACTION, PULUMI_AUTH_ACTION)]
    install = step_running(cost, "pip install")
    assert "--require-hashes --no-deps -r requirements.lock" in install["run"]
    estimate = step_running(cost, "cost-comment.sh")
    assert estimate["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert estimate["env"]["STACKS"] == "${{ join(fromJSON(needs.stacks.outputs.stacks).*.stack, ' ') }}"
    assert cost["needs"] == "stacks" and '"$BASE" "$RUNNER_TEMP/cost.md" $STACKS' in estimate["run"]
    checkout = next(s for s in steps(cost) if action(s) == "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0 and checkout["with"]["persist-credentials"] is False
    upload = next(s for s in steps(cost) if action(s) == "actions/upload-artifact")
    # Posted by a job that runs no estimate: only it holds pull-requests: write, and only for this repository's
    # branches (a fork's token cannot write; its estimate stays in the cost job's summary).
    assert post["needs"] == "cost" and post["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert post["permissions"] == {"contents": "read", "pull-requests": "write"}
    download = next(s for s in steps(post) if action(s) == "actions/download-artifact")
    assert upload["with"]["name"] == cost["outputs"]["artifact"] == "cost-comment-${{ github.run_attempt }}"
    assert download["with"]["name"] == "${{ needs.cost.outputs.artifact }}"
    sticky = step_running(post, "sticky-comment.sh")
    marker = sticky["run"].split('"')[1]
    assert marker == "<!-- cost-estimate -->"
    assert f'echo "{marker}"' in (SCRIPTS_DIR / "cost-comment.sh").read_text(), "the comment starts with the marker"
    assert "python -m tools.cost" not in runs(post) and "cost-comment.sh" not in runs(post)
    # Required passes for a fork without the comment, never without the estimate.
    assert {"cost", "cost-comment"} <= set(pr["required"]["needs"])
    skippable = step_running(pr["required"], "required-check.sh")["env"]["SKIPPABLE"]
    assert "github.event.pull_request.head.repo.full_name != github.repository && 'cost-comment' || ''" in skippable
