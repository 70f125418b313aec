"""The delivery workflows' scripts and helpers, run for real against stand-ins for docker, trivy, aws,
skopeo, pulumi and gh (small executables on PATH that record their arguments), with real git, jq and
Python: one build per variant, the gate and the scan wired in, pushes that keep the digest and never
repeat, the ordering guard, saved plans, and the pull request comment on success and on failure."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from tests.needs import tool
from tools.delivery.changes import classify
from tools.delivery.image_gate import gate
from tools.delivery.oci import archive_digest
from tools.delivery.plan_summary import plan_steps, summary_markdown
from tools.delivery.trust import trust_policy

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / ".github" / "scripts"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _require(name: str) -> None:
    tool(name)  # skips on a laptop without it, fails under CI=true (tests/needs.py)


def oci_archive(path: Path, manifests: int = 1, media_type: str = MANIFEST, seed: str = "image") -> str:
    """A minimal OCI image layout archive whose index names `manifests` manifests; returns the first digest."""
    digests = ["sha256:" + hashlib.sha256(f"{seed}-{i}".encode()).hexdigest() for i in range(manifests)]
    index = {"schemaVersion": 2, "manifests": [{"mediaType": media_type, "digest": d, "size": 1} for d in digests]}
    with tarfile.open(path, "w") as archive:
        for name, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return digests[0]


def fake(bin_dir: Path, name: str, body: str) -> None:
    """An executable `name` that logs its arguments to $CALLS/<name>.log, then runs `body` (bash)."""
    script = bin_dir / name
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n"
                      f'printf "%s\\n" "$*" >> "$CALLS/{name}.log"\n{body}\n')
    script.chmod(0o755)


def calls(tmp_path: Path, name: str) -> list[str]:
    log = tmp_path / "calls" / f"{name}.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def sandbox(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "calls").mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
           "GITHUB_OUTPUT": str(tmp_path / "github_output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
           "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_RUN_ID": "42",
           "PYTHONPATH": str(ROOT), "RUNNER_TEMP": str(tmp_path / "runner-temp")}
    for key in ("PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN"):
        env.pop(key, None)
    (tmp_path / "github_output").write_text("")
    return bin_dir, env


def run(script: str, *args: str, env: dict, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPTS / script), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def outputs(tmp_path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp_path / "github_output").read_text().splitlines() if "=" in line)


# --- the OCI digest and the saved plan summary -------------------------------------------------------------

def test_the_digest_of_an_archive_is_its_one_image_manifest(tmp_path):
    digest = oci_archive(tmp_path / "image.tar")
    assert archive_digest(tmp_path / "image.tar") == digest


@pytest.mark.parametrize(("manifests", "media_type", "expected"), [
    (2, MANIFEST, "holds 2 manifests"),
    (1, "application/vnd.oci.image.index.v1+json", "not a single image"),
])
def test_an_archive_of_several_images_or_an_index_is_refused(tmp_path, manifests, media_type, expected):
    oci_archive(tmp_path / "image.tar", manifests, media_type)
    with pytest.raises(ValueError, match=expected):
        archive_digest(tmp_path / "image.tar")


PLAN = {"manifest": {}, "resourcePlans": {
    "urn:pulumi:prod::gpu-model-platform::gpu-model-platform:index:ModelService$kubernetes:apps/v1:Deployment::model-deployment":
        {"goal": {}, "steps": ["update"]},
    "urn:pulumi:prod::gpu-model-platform::aws:ecr/repository:Repository::registry-repository": {"goal": {}, "steps": ["same"]},
    "urn:pulumi:prod::gpu-model-platform::aws:s3/bucket:Bucket::old": {"steps": ["delete"]},
}}


def test_the_plan_summary_lists_what_changes_and_leaves_out_what_does_not(tmp_path):
    assert set(plan_steps(PLAN)) == {k for k, v in PLAN["resourcePlans"].items() if v["steps"] != ["same"]}
    assert plan_steps({"version": 1, "plan": PLAN}) == plan_steps(PLAN)
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    text = summary_markdown(tmp_path / "plan.json", "prod", "abc123", "repo@sha256:" + "a" * 64)
    assert "| update | 1 |" in text and "| delete | 1 |" in text
    assert "kubernetes:apps/v1:Deployment `model-deployment` | update" in text
    assert "registry-repository" not in text
    assert "repo@sha256:" + "a" * 64 in text and "abc123" in text
    with pytest.raises(ValueError, match="not a Pulumi update plan"):
        plan_steps({"steps": []})


# --- the quality gate against a running image ----------------------------------------------------------

class _OipServer(http.server.BaseHTTPRequestHandler):
    """Answers Open Inference Protocol v2 like the model server, predicting `row[0] % 10` for each row."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200 if self.path == "/v2/health/ready" else 404)
        self.end_headers()

    def do_POST(self):  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        [tensor] = request["inputs"]
        rows, width = tensor["shape"]
        data = []
        for r in range(rows):
            data += [1.0 if c == int(tensor["data"][r * width]) % 10 else 0.0 for c in range(10)]
        body = json.dumps({"model_name": self.path.split("/")[3],
                           "outputs": [{"name": "output", "datatype": "FP32", "shape": [rows, 10], "data": data}]})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def oip_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OipServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_gate_passes_a_served_model_that_reaches_the_bar_and_fails_one_that_does_not(oip_server):
    url, _ = oip_server
    rows = [[float(i)] + [0.0] * 63 for i in range(100)]
    right = [i % 10 for i in range(100)]
    wrong = [(i + 1) % 10 for i in range(100)]
    assert gate(url, "gate", rows, right, 0.9) == {"url": url, "rows": 100, "accuracy": 1.0, "min_accuracy": 0.9,
                                                   "passed": True}
    assert gate(url, "gate", rows, wrong, 0.9)["passed"] is False


# --- build-images.sh: one build per variant, gated and scanned --------------------------------------------

def _build_fakes(bin_dir: Path, port: int) -> None:
    fake(bin_dir, "docker", f"""
case "$1 $2" in
  "buildx build")
    dest="$(printf '%s\\n' "$@" | sed -n 's/^type=oci,dest=\\([^,]*\\),.*/\\1/p')"
    target="$(printf '%s\\n' "$@" | sed -n '/^--target$/{{n;p}}')"
    python -c "import sys, pathlib; from tests.test_delivery_scripts import oci_archive
oci_archive(pathlib.Path(sys.argv[1]), seed=sys.argv[2])" "$dest" "$target" ;;
  load*) echo "Loaded image: gpu-model-platform/model:x" ;;
  run*) echo container-1 ;;
  "port container-1") echo "127.0.0.1:{port}" ;;
  *) ;;
esac""")
    fake(bin_dir, "trivy", 'exit "${TRIVY_EXIT:-0}"')


@pytest.fixture
def app_artifacts(sandbox, tmp_path):
    """The trained model's metadata, in a temporary place (the real app/ is the image tests' build context)."""
    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"version": "v-test"}))
    sandbox[1]["MODEL_METADATA"] = str(metadata)
    return "v-test"


def test_each_variant_is_built_once_gated_scanned_and_its_digest_recorded(sandbox, tmp_path, oip_server, app_artifacts):
    _require("jq")
    bin_dir, env = sandbox
    _build_fakes(bin_dir, oip_server[1])
    result = run("build-images.sh", str(tmp_path / "out"), "cpu", "gpu", env={**env, "MIN_ACCURACY": "0.0",
                                                                             "SCAN_SEVERITY": "CRITICAL,HIGH"})
    assert result.returncode == 0, result.stderr
    builds = [c for c in calls(tmp_path, "docker") if c.startswith("buildx build")]
    assert len(builds) == 2, "one build per variant, none again"
    for variant, build in zip(("cpu", "gpu"), builds, strict=True):
        assert f"--target {variant}" in build and "--platform linux/amd64" in build
        assert "--provenance=false --sbom=false" in build, "one manifest per image: nothing else to keep in step"
        assert f"--build-arg MODEL_VERSION={app_artifacts}" in build
    digests = json.loads(outputs(tmp_path)["digests"])
    assert digests == {v: archive_digest(tmp_path / "out" / f"image-{v}.tar") for v in ("cpu", "gpu")}
    assert outputs(tmp_path)["version"] == app_artifacts
    trivy = calls(tmp_path, "trivy")
    scans = [c for c in trivy if "--exit-code 1" in c]
    scanned = [s.split("--input ")[1].split()[0] for s in scans]
    assert scanned == [str(tmp_path / "out" / f"image-{v}.tar") for v in ("cpu", "gpu")]
    assert all("--severity CRITICAL,HIGH" in s for s in scans)
    # Each archive's SBOM, beside it (the archive keeps its one manifest): what deploy.yml attests.
    sboms = [c for c in trivy if "--format cyclonedx" in c]
    assert [c.split("--output ")[1].split()[0] for c in sboms] == \
        [str(tmp_path / "out" / f"sbom-{v}.cdx.json") for v in ("cpu", "gpu")]
    assert [c.split("--input ")[1].split()[0] for c in sboms] == scanned


def test_an_image_below_the_quality_bar_gets_no_digest(sandbox, tmp_path, oip_server, app_artifacts):
    _require("jq")
    bin_dir, env = sandbox
    _build_fakes(bin_dir, oip_server[1])
    result = run("build-images.sh", str(tmp_path / "out"), "cpu", env={**env, "MIN_ACCURACY": "0.99",
                                                                      "SCAN_SEVERITY": "CRITICAL"})
    assert result.returncode != 0 and "failed the quality gate" in result.stderr
    assert "digests" not in outputs(tmp_path)
    assert calls(tmp_path, "trivy") == [], "a failed image is not even scanned"


def test_a_finding_of_the_scan_fails_the_build(sandbox, tmp_path, oip_server, app_artifacts):
    _require("jq")
    bin_dir, env = sandbox
    _build_fakes(bin_dir, oip_server[1])
    result = run("build-images.sh", str(tmp_path / "out"), "cpu", env={**env, "MIN_ACCURACY": "0.0",
                                                                      "SCAN_SEVERITY": "CRITICAL", "TRIVY_EXIT": "1"})
    assert result.returncode != 0 and "digests" not in outputs(tmp_path)


# --- push-image.sh: the digest unchanged, never pushed twice ----------------------------------------------

URI = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model-prod"


def _push_fakes(bin_dir: Path, held: str) -> None:
    # `aws ecr describe-images` answers the digest only once it is "held" (a file the fake skopeo writes).
    fake(bin_dir, "aws", f"""
case "$1 $2" in
  "ecr describe-repositories") echo "{URI}" ;;
  "ecr describe-images") if [ -f "$CALLS/held" ]; then cat "$CALLS/held"; else echo "{held}"; fi ;;
  "ecr get-login-password") echo token ;;
esac""")
    fake(bin_dir, "skopeo", """
if [ "$1" = copy ]; then python -m tools.delivery oci-digest "${5#oci-archive:}" > "$CALLS/held"; fi""")


def test_the_tested_archive_is_pushed_with_its_digest_preserved(sandbox, tmp_path):
    bin_dir, env = sandbox
    digest = oci_archive(tmp_path / "image-gpu.tar")
    _push_fakes(bin_dir, held="None")
    result = run("push-image.sh", "my-ai-model-prod", digest, str(tmp_path / "image-gpu.tar"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{URI}@{digest}"
    [copy] = [c for c in calls(tmp_path, "skopeo") if c.startswith("copy")]
    auth = tmp_path / "runner-temp" / "registry-auth"
    assert copy.startswith(f"copy --authfile {auth}/config.json --preserve-digests "
                           f"oci-archive:{tmp_path / 'image-gpu.tar'} docker://{URI}:git-")
    # The login is in the job's temp directory, readable by this user only, in the docker config format.
    login = json.loads((auth / "config.json").read_text())
    assert login == {"auths": {URI.split("/")[0]: {"auth": base64.b64encode(b"AWS:token").decode()}}}
    assert (auth / "config.json").stat().st_mode & 0o077 == 0


def test_a_digest_the_repository_holds_is_not_pushed_again(sandbox, tmp_path):
    bin_dir, env = sandbox
    digest = oci_archive(tmp_path / "image-gpu.tar")
    _push_fakes(bin_dir, held=digest)
    for archive in (str(tmp_path / "image-gpu.tar"), ""):  # a re-run, and a rollback (no archive)
        result = run("push-image.sh", "my-ai-model-prod", digest, archive, env=env)
        assert result.returncode == 0 and result.stdout.strip() == f"{URI}@{digest}", result.stderr
    assert calls(tmp_path, "skopeo") == []


def test_a_rollback_to_a_digest_the_repository_no_longer_holds_is_refused(sandbox, tmp_path):
    bin_dir, env = sandbox
    _push_fakes(bin_dir, held="None")
    result = run("push-image.sh", "my-ai-model-prod", "sha256:" + "d" * 64, env=env)
    assert result.returncode == 1 and "does not hold" in result.stderr
    assert calls(tmp_path, "skopeo") == []


def test_an_archive_that_is_not_the_tested_digest_is_refused(sandbox, tmp_path):
    bin_dir, env = sandbox
    oci_archive(tmp_path / "image-gpu.tar")
    _push_fakes(bin_dir, held="None")
    result = run("push-image.sh", "my-ai-model-prod", "sha256:" + "e" * 64, str(tmp_path / "image-gpu.tar"), env=env)
    assert result.returncode == 1 and "not the tested" in result.stderr
    assert calls(tmp_path, "skopeo") == []


# --- deploy-guard.sh: never an older commit -----------------------------------------------------------------

@pytest.fixture
def history(tmp_path):
    """A repository with main A-B-C and a side branch D off A; returns (repo, {name: sha})."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    shas = {}
    for name in "ABC":
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", name], check=True)
        shas[name] = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*git, "checkout", "-q", "-b", "side", shas["A"]], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "D"], check=True)
    shas["D"] = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return repo, shas


def _guard(sandbox, repo: Path, deployed: str | None, commit: str) -> subprocess.CompletedProcess:
    bin_dir, env = sandbox
    updates = [{"kind": "refresh", "environment": {}}]
    if deployed is not None:
        updates.append({"kind": "update", "result": "succeeded", "environment": {"git.head": deployed}})
        updates.append({"kind": "update", "result": "succeeded", "environment": {"git.head": "f" * 40}})
    fake(bin_dir, "pulumi", f"echo '{json.dumps(updates)}'")
    return run("deploy-guard.sh", "prod", commit, env=env, cwd=repo)


def test_the_guard_lets_a_newer_commit_or_the_same_one_deploy(sandbox, history):
    _require("jq")
    repo, sha = history
    assert _guard(sandbox, repo, sha["B"], sha["C"]).returncode == 0
    assert _guard(sandbox, repo, sha["C"], sha["C"]).returncode == 0, "a re-run, or a rollback of the image only"
    assert _guard(sandbox, repo, None, sha["A"]).returncode == 0, "a stack's first deploy"


@pytest.mark.parametrize(("deployed", "commit", "why"), [
    ("C", "B", "does not contain"),   # an older commit arrives after a newer one
    ("D", "C", "does not contain"),   # diverged history
])
def test_the_guard_refuses_a_commit_older_than_or_beside_the_deployed_one(sandbox, history, deployed, commit, why):
    _require("jq")
    repo, sha = history
    result = _guard(sandbox, repo, sha[deployed], sha[commit])
    assert result.returncode == 1 and why in result.stderr


def test_the_guard_refuses_when_the_deployed_commit_is_unknown_here(sandbox, history):
    _require("jq")
    repo, sha = history
    result = _guard(sandbox, repo, "1" * 40, sha["C"])
    assert result.returncode == 1 and "does not have" in result.stderr


def test_the_guard_reads_the_latest_update_not_a_refresh(sandbox, history, tmp_path):
    _require("jq")
    repo, sha = history
    _guard(sandbox, repo, sha["B"], sha["C"])
    [history_call] = calls(tmp_path, "pulumi")
    assert history_call == "stack history --stack prod --json --page-size 20"


# --- pulumi-stack.sh: saved plans, applied exactly --------------------------------------------------------

IMAGE = f"{URI}@sha256:" + "a" * 64


def test_a_plan_saves_the_preview_of_the_given_image_with_the_policy_pack(sandbox, tmp_path):
    _require("jq")
    bin_dir, env = sandbox
    _pulumi_with_history(bin_dir, 41, 'echo "pulumi output"')
    result = run("pulumi-stack.sh", "plan", "prod", IMAGE, "v7", str(tmp_path / "plan"), env=env)
    assert result.returncode == 0, result.stderr
    log = calls(tmp_path, "pulumi")
    assert f"config set --stack prod --path gpu-model-platform:model.image {IMAGE} --non-interactive" in log
    assert "config set --stack prod --path gpu-model-platform:model.version v7 --non-interactive" in log
    [preview] = [c for c in log if c.startswith("preview")]
    assert f"--save-plan {tmp_path / 'plan' / 'plan-prod.json'}" in preview
    assert "--stack prod --policy-pack policy" in preview
    assert (tmp_path / "plan" / "prod.txt").read_text().strip() == "pulumi output"
    assert (tmp_path / "plan" / "version-prod").read_text().strip() == "41", "the version the plan was made at"
    assert "stack history --stack prod --json --page-size 1" in log


def test_a_failing_pulumi_fails_the_step_and_keeps_its_output(sandbox, tmp_path):
    bin_dir, env = sandbox
    fake(bin_dir, "pulumi", 'if [ "$1" = preview ]; then echo "policy violation"; exit 255; fi')
    result = run("pulumi-stack.sh", "preview", "dev", IMAGE, "", str(tmp_path / "out"), env=env)
    assert result.returncode == 255
    assert "policy violation" in (tmp_path / "out" / "dev.txt").read_text()


@pytest.mark.parametrize("image", [f"{URI}:v1", f"{URI}@sha256:abc", ""])
def test_an_image_not_given_by_digest_never_reaches_pulumi(sandbox, tmp_path, image):
    bin_dir, env = sandbox
    fake(bin_dir, "pulumi", "true")
    result = run("pulumi-stack.sh", "plan", "dev", image, "", str(tmp_path / "out"), env=env)
    assert result.returncode == 2 and calls(tmp_path, "pulumi") == []


# --- preview-comment.sh: one comment per stack, failures included --------------------------------------

def _gh(bin_dir: Path, existing: str) -> None:
    fake(bin_dir, "gh", f"""
if [ "$1 $2" = "api --paginate" ]; then echo "{existing}"; else
  for arg in "$@"; do case "$arg" in body=@*) cp "${{arg#body=@}}" "$CALLS/body.md" ;; esac; done
fi""")


@pytest.mark.parametrize(("existing", "method"), [("", "POST"), ("987", "PATCH")])
def test_a_failed_preview_replaces_the_stacks_comment_or_adds_one(sandbox, tmp_path, existing, method):
    bin_dir, env = sandbox
    _gh(bin_dir, existing)
    (tmp_path / "out.txt").write_text("error: policy violation\n")
    env = {**env, "GITHUB_REPOSITORY": "acme/gpu", "PR_NUMBER": "12", "RUN_URL": "https://run", "IMAGE": IMAGE}
    result = run("preview-comment.sh", "prod", "failure", str(tmp_path / "out.txt"), env=env)
    assert result.returncode == 0, result.stderr
    [_, write] = calls(tmp_path, "gh")
    assert write.startswith(f"api --method {method}")
    assert ("issues/comments/987" in write) == (method == "PATCH")
    body = (tmp_path / "calls" / "body.md").read_text()
    assert body.startswith("<!-- pulumi-preview:prod -->") and "FAILED (failure)" in body
    assert "error: policy violation" in body


def test_a_passed_preview_says_so_in_the_same_comment(sandbox, tmp_path):
    bin_dir, env = sandbox
    _gh(bin_dir, "987")
    (tmp_path / "out.txt").write_text("+ 1 to update\n")
    env = {**env, "GITHUB_REPOSITORY": "acme/gpu", "PR_NUMBER": "12", "RUN_URL": "https://run", "IMAGE": IMAGE}
    assert run("preview-comment.sh", "prod", "success", str(tmp_path / "out.txt"), env=env).returncode == 0
    body = (tmp_path / "calls" / "body.md").read_text()
    assert "Preview of `prod`: passed" in body and "FAILED" not in body
    [lookup, _] = calls(tmp_path, "gh")
    assert "select(.body | startswith(\"<!-- pulumi-preview:prod -->\"))" in lookup


def _pulumi_with_history(bin_dir: Path, version: int, extra: str = "") -> None:
    """A fake pulumi whose `stack history` says the newest operation is `version` (a file the test can bump)."""
    fake(bin_dir, "pulumi", f"""
if [ "$1 $2" = "stack history" ]; then
  echo "[{{\\"version\\": $(cat "$CALLS/version" 2> /dev/null || echo {version}), \\"kind\\": \\"update\\"}}]"; exit 0
fi
{extra}""")


def test_up_applies_exactly_the_saved_plan_and_runs_its_preview(sandbox, tmp_path):
    _require("jq")
    bin_dir, env = sandbox
    _pulumi_with_history(bin_dir, 41)
    plan = tmp_path / "plan-prod.json"
    plan.write_text("{}")
    (tmp_path / "version-prod").write_text("41\n")
    result = run("pulumi-stack.sh", "up", "prod", IMAGE, "", str(plan), env=env)
    assert result.returncode == 0, result.stderr
    [up] = [c for c in calls(tmp_path, "pulumi") if c.startswith("up")]
    assert f"--plan {plan} --yes" in up and "--policy-pack policy" in up
    assert "--skip-preview" not in up, "the update previews against the plan before it changes anything"
    assert not [c for c in calls(tmp_path, "pulumi") if "model.version" in c], "no version given, none set"


@pytest.mark.parametrize("recorded", ["40", None])
def test_up_refuses_when_the_stack_moved_since_the_plan_and_applies_nothing(sandbox, tmp_path, recorded):
    _require("jq")
    bin_dir, env = sandbox
    _pulumi_with_history(bin_dir, 41)
    plan = tmp_path / "plan-prod.json"
    plan.write_text("{}")
    if recorded is not None:
        (tmp_path / "version-prod").write_text(recorded)
    result = run("pulumi-stack.sh", "up", "prod", IMAGE, "", str(plan), env=env)
    assert result.returncode == (3 if recorded else 2)
    assert ("moved since the plan (version 40 then, 41 now)" if recorded else "does not record the version") \
        in result.stderr
    assert not [c for c in calls(tmp_path, "pulumi") if c.startswith("up")], "nothing applied"


def test_a_failed_up_plan_names_the_fallback_re_plan_and_never_applies_unplanned(sandbox, tmp_path):
    _require("jq")
    bin_dir, env = sandbox
    _pulumi_with_history(bin_dir, 41, 'if [ "$1" = up ]; then echo "error: plan mismatch"; exit 255; fi')
    plan = tmp_path / "plan-prod.json"
    plan.write_text("{}")
    (tmp_path / "version-prod").write_text("41")
    result = run("pulumi-stack.sh", "up", "prod", IMAGE, "", str(plan), env=env)
    assert result.returncode == 255
    assert "re-run the whole workflow: a new plan, a new approval" in result.stderr
    ups = [c for c in calls(tmp_path, "pulumi") if c.startswith("up")]
    assert len(ups) == 1 and "--plan" in ups[0], "no second, unplanned update"
    assert "error: plan mismatch" in (tmp_path / "plan-prod.up.txt").read_text()


def test_the_guard_refuses_a_stack_whose_newest_update_records_no_commit(sandbox, history):
    _require("jq")
    bin_dir, env = sandbox
    repo, sha = history
    updates = [{"kind": "update", "environment": {}}, {"kind": "update", "environment": {"git.head": sha["A"]}}]
    fake(bin_dir, "pulumi", f"echo '{json.dumps(updates)}'")
    result = run("deploy-guard.sh", "prod", sha["C"], env=env, cwd=repo)
    assert result.returncode == 1 and "records no commit" in result.stderr, "fails closed"


def test_a_rollback_deploys_only_the_program_the_stack_runs(sandbox, history):
    _require("jq")
    repo, sha = history
    bin_dir, env = sandbox
    updates = [{"kind": "update", "environment": {"git.head": sha["B"]}}]
    fake(bin_dir, "pulumi", f"echo '{json.dumps(updates)}'")
    assert run("deploy-guard.sh", "prod", sha["B"], "exact", env=env, cwd=repo).returncode == 0
    newer = run("deploy-guard.sh", "prod", sha["C"], "exact", env=env, cwd=repo)
    assert newer.returncode == 1 and "a rollback deploys that commit's program" in newer.stderr, \
        "main's newer program would reach prod without passing dev"
    assert run("deploy-guard.sh", "prod", sha["C"], env=env, cwd=repo).returncode == 0, "a deploy may move forward"
    fake(bin_dir, "pulumi", "echo '[]'")
    never = run("deploy-guard.sh", "prod", sha["A"], "exact", env=env, cwd=repo)
    assert never.returncode == 1 and "nothing to roll back" in never.stderr


# --- deploy-preflight.sh: deploy runners run main's workflows only ------------------------------------------

MAIN_RUN = {"GITHUB_REPOSITORY": "acme/gpu", "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "push",
            "GITHUB_WORKFLOW_REF": "acme/gpu/.github/workflows/deploy.yml@refs/heads/main"}


def test_the_preflight_admits_main_workflows_with_their_tools(sandbox):
    _, env = sandbox
    result = run("deploy-preflight.sh", "git", "bash", env={**env, **MAIN_RUN})
    assert result.returncode == 0, result.stderr
    for event in ("workflow_dispatch", "schedule"):
        assert run("deploy-preflight.sh", env={**env, **MAIN_RUN, "GITHUB_EVENT_NAME": event}).returncode == 0


@pytest.mark.parametrize(("change", "why"), [
    ({"GITHUB_REF": "refs/pull/7/merge"}, "deploy runners run main only"),
    ({"GITHUB_REF": "refs/heads/feature"}, "deploy runners run main only"),
    ({"GITHUB_EVENT_NAME": "pull_request"}, "never run a pull_request event"),
    ({"GITHUB_EVENT_NAME": "pull_request_target"}, "never run a pull_request_target event"),
    ({"GITHUB_WORKFLOW_REF": "acme/gpu/.github/workflows/deploy.yml@refs/heads/feature"}, "is not one of acme/gpu"),
    ({"GITHUB_WORKFLOW_REF": "stranger/fork/.github/workflows/deploy.yml@refs/heads/main"}, "is not one of acme/gpu"),
])
def test_the_preflight_refuses_anything_but_mains_workflows(sandbox, change, why):
    _, env = sandbox
    result = run("deploy-preflight.sh", env={**env, **MAIN_RUN, **change})
    assert result.returncode == 1 and why in result.stderr


def test_the_preflight_names_every_missing_tool(sandbox):
    _, env = sandbox
    result = run("deploy-preflight.sh", "git", "no-such-tool-a", "no-such-tool-b", env={**env, **MAIN_RUN})
    assert result.returncode == 1 and "not installed on this runner: no-such-tool-a no-such-tool-b" in result.stderr


# --- required-check.sh: the one required check ---------------------------------------------------------

def _needs(**results: str) -> str:
    return json.dumps({job: {"result": result, "outputs": {}} for job, result in results.items()})


@pytest.mark.parametrize(("fork", "results", "passes"), [
    (False, {"checks": "success", "image": "success", "stacks": "success", "preview": "success"}, True),
    (True, {"checks": "success", "image": "success", "stacks": "success", "preview": "skipped"}, True),
    (False, {"checks": "success", "image": "success", "stacks": "success", "preview": "skipped"}, False),
    (True, {"checks": "failure", "image": "skipped", "stacks": "success", "preview": "skipped"}, False),
    (False, {"checks": "success", "image": "success", "stacks": "success", "preview": "failure"}, False),
    (True, {"checks": "success", "image": "cancelled", "stacks": "success", "preview": "skipped"}, False),
])
def test_the_required_check_lets_a_fork_pass_without_previews_and_nothing_pass_with_a_failure(
        sandbox, fork, results, passes):
    _require("jq")
    _, env = sandbox
    result = run("required-check.sh", env={**env, "NEEDS": _needs(**results), "FORK": str(fork).lower()})
    assert (result.returncode == 0) == passes, result.stderr
    if not passes:
        assert "required jobs did not pass" in result.stderr


@pytest.mark.parametrize(("fork", "skippable", "cost", "comment", "passes"), [
    # The values pull-request.yml's SKIPPABLE folds to: a fork's names cost-comment, a branch's does not.
    (True, "local-stack cost-comment", "success", "skipped", True),
    (False, "local-stack ", "success", "skipped", False),
    (True, "local-stack cost-comment", "skipped", "skipped", False),   # the estimate itself is never optional
    (True, "local-stack cost-comment", "failure", "skipped", False),
    (False, "local-stack ", "success", "success", True),
])
def test_a_fork_passes_without_the_cost_comment_but_never_without_the_estimate(sandbox, fork, skippable, cost,
                                                                             comment, passes):
    _require("jq")
    _, env = sandbox
    needs = _needs(checks="success", image="success", stacks="success", preview="skipped" if fork else "success",
                   **{"local-stack": "skipped", "cost": cost, "cost-comment": comment})
    result = run("required-check.sh", env={**env, "NEEDS": needs, "FORK": str(fork).lower(), "SKIPPABLE": skippable})
    assert (result.returncode == 0) == passes, result.stderr


# --- image-trust.sh: provenance, signature, verification ---------------------------------------------------

def _trust_fakes(bin_dir: Path) -> None:
    fake(bin_dir, "gh", 'exit "${GH_EXIT:-0}"')
    fake(bin_dir, "cosign", 'exit "${COSIGN_EXIT:-0}"')


def test_provenance_and_sbom_must_come_from_this_repositorys_deploy_workflow_on_main(sandbox, tmp_path):
    bin_dir, env = sandbox
    _trust_fakes(bin_dir)
    env = {**env, "GITHUB_REPOSITORY": "acme/gpu"}
    assert run("image-trust.sh", "provenance", IMAGE, env=env).returncode == 0
    verifications = calls(tmp_path, "gh")
    assert [c.split("--predicate-type ")[1] for c in verifications] == \
        ["https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom"]
    for call in verifications:
        assert call.startswith(f"attestation verify oci://{IMAGE} --repo acme/gpu ")
        assert "--signer-workflow acme/gpu/.github/workflows/deploy.yml --source-ref refs/heads/main" in call
        assert "--deny-self-hosted-runners" in call, "built on GitHub's runners, not one a stranger reached"
    failed = run("image-trust.sh", "provenance", IMAGE, env={**env, "GH_EXIT": "1"})
    assert failed.returncode == 1 and "not built here" in failed.stderr


def test_the_signature_is_keyless_by_digest_and_verified_against_mains_stack_workflow(sandbox, tmp_path):
    bin_dir, env = sandbox
    _trust_fakes(bin_dir)
    env = {**env, "GITHUB_REPOSITORY": "acme/gpu"}
    assert run("image-trust.sh", "sign", IMAGE, env=env).returncode == 0
    assert run("image-trust.sh", "verify", IMAGE, env=env).returncode == 0
    sign, verify = calls(tmp_path, "cosign")
    assert sign == f"sign --yes {IMAGE}", "keyless (no --key), by digest"
    assert verify == (f"verify {IMAGE} --certificate-identity "
                      "https://github.com/acme/gpu/.github/workflows/stack.yml@refs/heads/main "
                      "--certificate-oidc-issuer https://token.actions.githubusercontent.com")
    refused = run("image-trust.sh", "verify", IMAGE, env={**env, "COSIGN_EXIT": "1"})
    assert refused.returncode == 1 and "the cluster would refuse it" in refused.stderr


@pytest.mark.parametrize("image", [f"{URI}:v1", f"{URI}@sha256:abc", ""])
def test_only_an_image_by_digest_is_signed_or_verified(sandbox, tmp_path, image):
    bin_dir, env = sandbox
    _trust_fakes(bin_dir)
    for command in ("sign", "verify", "provenance"):
        assert run("image-trust.sh", command, image, env={**env, "GITHUB_REPOSITORY": "acme/gpu"}).returncode == 2
    assert calls(tmp_path, "cosign") == calls(tmp_path, "gh") == []


# --- undeployed.sh: merged but never deployed ---------------------------------------------------------------

def _commit_file(repo: Path, path: str) -> str:
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(path)
    subprocess.run([*git, "add", path], check=True)
    subprocess.run([*git, "commit", "-q", "-m", path], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize(("path", "undeployed"), [("components/serving/x.py", True), ("app/train.py", True),
                                                  ("docs/delivery.md", False)])
def test_drift_reports_a_merged_change_that_was_never_deployed(sandbox, tmp_path, path, undeployed):
    _require("jq")
    bin_dir, env = sandbox
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "-C", str(repo), "init", "-q", "-b", "main"], check=True)
    deployed = _commit_file(repo, "README.md")
    _commit_file(repo, path)
    fake(bin_dir, "pulumi", f"""echo '[{{"kind": "update", "environment": {{"git.head": "{deployed}"}}}}]'""")
    result = subprocess.run(["bash", str(SCRIPTS / "undeployed.sh"), "prod"], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert (result.returncode == 1) == undeployed, result.stderr
    if undeployed:
        assert "never deployed" in result.stderr


# --- changes.py: deploy only what changed ----------------------------------------------------------------


@pytest.mark.parametrize(("paths", "expected"), [
    (["docs/delivery.md", "README.md", "tests/test_x.py", "bench/loadgen.py"], {"image": False, "deploy": False}),
    (["components/serving/model_service.py"], {"image": False, "deploy": True}),
    (["Pulumi.prod.yaml"], {"image": False, "deploy": True}),
    (["policy/pack.py", "docs/x.md"], {"image": False, "deploy": True}),
    (["app/model_server/server.py"], {"image": True, "deploy": True}),
    (["app/Dockerfile", "components/x.py"], {"image": True, "deploy": True}),
    ([".github/scripts/build-images.sh"], {"image": True, "deploy": True}),
    ([], {"image": False, "deploy": False}),
])
def test_a_push_builds_an_image_only_for_image_inputs_and_deploys_only_what_stacks_run(paths, expected):
    assert classify(paths) == expected
    result = subprocess.run([sys.executable, "-m", "tools.delivery", "changes"], input="\n".join(paths), cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(result.stdout) == expected


def test_without_an_earlier_commit_everything_counts_as_changed():
    result = subprocess.run([sys.executable, "-m", "tools.delivery", "changes", "--all"], input="", cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(result.stdout) == {"image": True, "deploy": True}


# --- trust.py: each CI role trusts one workflow on one ref in one environment ------------------------------


def test_the_deploy_role_trusts_only_mains_stack_workflow_in_the_stacks_environment():
    policy = trust_policy("acme/gpu", "123456789012", "prod", "deploy")
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub":
            "repo:acme/gpu:environment:prod:job_workflow_ref:acme/gpu/.github/workflows/stack.yml@refs/heads/main"}}


def test_the_pull_request_preview_role_trusts_its_environment_from_a_pull_request_or_mains_dispatch():
    [statement] = trust_policy("acme/gpu", "123456789012", "dev", "pr-preview")["Statement"]
    assert statement["Condition"]["StringLike"] == {"token.actions.githubusercontent.com:sub": [
        "repo:acme/gpu:environment:dev-pr-preview:job_workflow_ref:acme/gpu/.github/workflows/preview-stack.yml@refs/pull/*/merge",
        "repo:acme/gpu:environment:dev-pr-preview:job_workflow_ref:acme/gpu/.github/workflows/preview-stack.yml@refs/heads/main"]}
    assert "sub" not in str(statement["Condition"]["StringEquals"]), "the audience is exact, the subject a pattern"


def test_a_repository_with_immutable_subject_claims_is_trusted_by_its_ids_and_its_workflow_path_by_name():
    # GitHub Docs, OpenID Connect reference: immutable claims put OWNER@OWNER-ID/REPO@REPO-ID in `repo`
    # even in a customized template; job_workflow_ref stays the workflow's path.
    [statement] = trust_policy("acme/gpu", "123456789012", "prod", "deploy", ids="123456/456789")["Statement"]
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:acme@123456/gpu@456789:environment:prod:job_workflow_ref:acme/gpu/.github/workflows/stack.yml@refs/heads/main")


@pytest.mark.parametrize("ids", ["123456", "acme/456789", "1/2/3", ""])
def test_immutable_ids_that_are_not_two_numbers_are_refused(ids):
    with pytest.raises(SystemExit, match="expected OWNER-ID/REPO-ID"):
        trust_policy("acme/gpu", "123456789012", "prod", "deploy", ids=ids)


def test_a_trust_policy_for_a_malformed_repository_is_refused():
    with pytest.raises(SystemExit, match="expected OWNER/REPO"):
        trust_policy("acme", "123456789012", "prod", "deploy")


@pytest.mark.parametrize(("skippable", "local_stack", "passes"), [
    ("local-stack", "skipped", True),    # nothing a stack runs changed
    ("", "skipped", False),              # it should have run
    ("", "success", True),
    ("local-stack", "failure", False),   # ran and failed: never excused
])
def test_the_local_stack_may_be_skipped_only_when_nothing_a_stack_runs_changed(sandbox, skippable, local_stack, passes):
    _require("jq")
    _, env = sandbox
    needs = _needs(changes="success", checks="success", image="success", stacks="success", preview="success",
                   **{"local-stack": local_stack})
    result = run("required-check.sh", env={**env, "NEEDS": needs, "FORK": "false", "SKIPPABLE": skippable})
    assert (result.returncode == 0) == passes, result.stderr


def test_the_local_stack_script_refuses_an_unknown_phase(sandbox, tmp_path):
    _, env = sandbox
    (tmp_path / "runner-temp").mkdir()
    result = run("local-stack.sh", "sideways", env=env)
    assert result.returncode == 2 and "usage: local-stack.sh up|check|down" in result.stderr


# ---- the Pulumi CLI, checked before it is unpacked ---------------------------------------------

PULUMI_VERSION = "3.272.0"


def _pulumi_archive(path: Path, version: str) -> str:
    """A stand-in CLI archive laid out as Pulumi's (pulumi/pulumi); returns its sha256."""
    data = f'#!/usr/bin/env bash\necho v{version}\n'.encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("pulumi/pulumi")
        info.size, info.mode = len(data), 0o755
        archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D102 (the test output stays readable)
        pass


def _origin(directory: Path):
    handler = lambda *a, **k: _Quiet(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _install_pulumi(tmp_path: Path, sums_line, cosign_exit: int = 0) -> subprocess.CompletedProcess:
    """Serve the archive and the release's checksums (and their signature bundle) from two loopback origins,
    run install-pulumi.sh with a stand-in cosign that exits `cosign_exit`."""
    _require("curl")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "calls").mkdir(exist_ok=True)
    fake(bin_dir, "cosign", f"exit {cosign_exit}")
    arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}[os.uname().machine]
    name = f"pulumi-v{PULUMI_VERSION}-linux-{arch}.tar.gz"
    downloads, releases = tmp_path / "downloads", tmp_path / "releases" / f"v{PULUMI_VERSION}"
    downloads.mkdir()
    releases.mkdir(parents=True)
    digest = _pulumi_archive(downloads / name, PULUMI_VERSION)
    other = "0" * 64
    (releases / f"pulumi-{PULUMI_VERSION}-checksums.txt").write_text(
        f"{other}  pulumi-v{PULUMI_VERSION}-windows-x64.zip\n" + sums_line(digest, name))
    (releases / f"pulumi-{PULUMI_VERSION}-checksums.txt.sig").write_text('{"bundle": "stand-in"}')
    servers = [_origin(downloads), _origin(tmp_path / "releases")]
    try:
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
               "PULUMI_DOWNLOAD_ORIGIN": f"http://127.0.0.1:{servers[0].server_address[1]}",
               "PULUMI_RELEASE_ORIGIN": f"http://127.0.0.1:{servers[1].server_address[1]}"}
        return subprocess.run([str(SCRIPTS / "install-pulumi.sh"), PULUMI_VERSION, str(tmp_path / "cli")],
                              env=env, capture_output=True, text=True, timeout=60)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_the_pulumi_cli_is_unpacked_when_its_sha256_matches_the_release_checksums(tmp_path):
    result = _install_pulumi(tmp_path, lambda digest, name: f"{digest}  {name}\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(f"v{PULUMI_VERSION}")
    assert (tmp_path / "cli" / "pulumi" / "pulumi").is_file()
    [verify] = calls(tmp_path, "cosign")
    sums = f"pulumi-{PULUMI_VERSION}-checksums.txt"
    assert verify.startswith("verify-blob ") and verify.split()[1].endswith(f"/{sums}")
    assert f"--bundle {verify.split()[1]}.sig" in verify
    assert ("--certificate-identity-regexp ^https://github\\.com/pulumi/pulumi/\\.github/workflows/sign\\.yml@refs/ "
            "--certificate-oidc-issuer https://token.actions.githubusercontent.com") in verify


def test_checksums_without_pulumis_signature_never_unpack_the_cli(tmp_path):
    result = _install_pulumi(tmp_path, lambda digest, name: f"{digest}  {name}\n", cosign_exit=1)
    assert result.returncode != 0
    assert "is not signed by pulumi/pulumi's signing workflow" in result.stdout
    assert not (tmp_path / "cli").exists()


@pytest.mark.parametrize(("case", "sums_line", "says"), [
    ("tampered archive", lambda digest, name: f"{'f' * 64}  {name}\n", "does not match the SHA-256"),
    ("archive not listed", lambda digest, name: "", "has no single SHA-256 line"),
    ("listed twice", lambda digest, name: f"{digest}  {name}\n{'f' * 64}  {name}\n", "has no single SHA-256 line"),
])
def test_a_pulumi_cli_archive_the_release_checksums_do_not_vouch_for_is_never_unpacked(tmp_path, case, sums_line, says):
    result = _install_pulumi(tmp_path, sums_line)
    assert result.returncode != 0, case
    assert says in result.stdout + result.stderr
    assert not (tmp_path / "cli").exists()


def test_the_pulumi_cli_install_refuses_a_version_that_is_not_a_release(tmp_path):
    result = subprocess.run([str(SCRIPTS / "install-pulumi.sh"), "3.272.0 --insecure", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "not a Pulumi release version" in result.stdout


# --- cost-comment.sh and sticky-comment.sh: the pull request's cost comment ------------------------------

def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def _cost_python(bin_dir: Path) -> None:
    """A stand-in for `python -m tools.cost`: --json prints the stack's estimate read from the checkout it runs
    in (cost-<stack> files), --comment prints its arguments and the baseline it was given."""
    fake(bin_dir, "python", """
if [[ " $* " == *" --json "* ]]; then
  stack="${@: -2:1}"; echo "[{\\"stack\\": \\"$stack\\", \\"total\\": {\\"desired\\": $(cat "cost-$stack")}}]"
else
  echo "comment for: $*"; baseline="${@: -1}"; cat "$baseline"
fi""")


def test_the_cost_comment_compares_with_the_base_commits_own_estimates(sandbox, tmp_path):
    _require("jq")
    bin_dir, env = sandbox
    _cost_python(bin_dir)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for name, text in {"Pulumi.dev.yaml": "", "cost-dev": "100", "Pulumi.prod.yaml": "", "cost-prod": "900"}.items():
        (repo / name).write_text(text)
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    (repo / "cost-dev").write_text("150")  # the pull request's change: never read for the baseline
    (repo / "Pulumi.staging.yaml").write_text("")  # a stack the base does not have
    result = run("cost-comment.sh", base, str(tmp_path / "cost.md"), "dev", "prod", "staging", env=env, cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "cost.md").read_text().splitlines()
    assert lines[0] == "<!-- cost-estimate -->"
    assert lines[1].startswith("comment for: -m tools.cost --stack dev --stack prod --stack staging --comment --baseline ")
    baseline = json.loads("\n".join(lines[2:]))
    assert baseline == [{"stack": "dev", "total": {"desired": 100}}, {"stack": "prod", "total": {"desired": 900}}]
    assert _git(repo, "worktree", "list").count("\n") == 0, "the base's worktree is removed"


def test_a_pull_request_without_stacks_to_estimate_is_refused(sandbox, tmp_path):
    _, env = sandbox
    result = run("cost-comment.sh", "abc", str(tmp_path / "cost.md"), env=env)
    assert result.returncode == 2 and "no stack to estimate" in result.stdout + result.stderr


@pytest.mark.parametrize(("existing", "method"), [("", "POST"), ("55", "PATCH")])
def test_the_cost_comment_is_one_comment_edited_in_place(sandbox, tmp_path, existing, method):
    bin_dir, env = sandbox
    _gh(bin_dir, existing)
    (tmp_path / "cost.md").write_text("<!-- cost-estimate -->\n| stack |\n")
    env = {**env, "GITHUB_REPOSITORY": "acme/gpu", "PR_NUMBER": "12"}
    result = run("sticky-comment.sh", "<!-- cost-estimate -->", str(tmp_path / "cost.md"), env=env)
    assert result.returncode == 0, result.stderr
    [lookup, write] = calls(tmp_path, "gh")
    assert 'select(.body | startswith("<!-- cost-estimate -->"))' in lookup and "issues/12/comments" in lookup
    assert write.startswith(f"api --method {method}") and ("issues/comments/55" in write) == (method == "PATCH")
    assert (tmp_path / "calls" / "body.md").read_text() == (tmp_path / "cost.md").read_text()


def test_a_body_without_its_marker_is_never_posted(sandbox, tmp_path):
    bin_dir, env = sandbox
    _gh(bin_dir, "")
    (tmp_path / "cost.md").write_text("| stack |\n")
    result = run("sticky-comment.sh", "<!-- cost-estimate -->", str(tmp_path / "cost.md"), env=env)
    assert result.returncode == 2 and calls(tmp_path, "gh") == []
