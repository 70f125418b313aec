#!/usr/bin/env bash
# The only way the workflows run Pulumi on a stack. The image is always given (`model.image`, by digest),
# so the program builds nothing and a preview shows the image the update will deploy.
#
#   pulumi-stack.sh preview STACK IMAGE VERSION OUT_DIR   preview with the policy pack
#   pulumi-stack.sh plan    STACK IMAGE VERSION OUT_DIR   the same, saving OUT_DIR/plan-STACK.json and the
#                                                         stack's last update version (OUT_DIR/version-STACK)
#   pulumi-stack.sh up      STACK IMAGE VERSION PLAN      refuse if the stack moved since the plan, then apply
#                                                         exactly PLAN (its preview runs and is checked too)
# The command's output goes to OUT_DIR/STACK.txt (or beside PLAN) and to the log; the exit code is Pulumi's,
# or 3 when the stack moved since the plan (nothing was applied: plan again).
# env: PULUMI_BACKEND_URL (empty: Pulumi Cloud, with PULUMI_ACCESS_TOKEN), GITHUB_SHA, GITHUB_RUN_ID
set -euo pipefail

command="$1"
stack="$2"
image="$3"
version="$4"
where="$5"
[[ "$image" =~ @sha256:[0-9a-f]{64}$ ]] || { echo "::error::$stack: image $image is not by digest" >&2; exit 2; }

# The version of the stack's newest operation of any kind (update, refresh, destroy...): every one of them
# changes the state a plan was computed against. 0 for a stack with no history.
last_version() {
  pulumi stack history --stack "$stack" --json --page-size 1 | jq -r '.[0].version // 0'
}

if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
  pulumi login --non-interactive "$PULUMI_BACKEND_URL"
else
  pulumi login --non-interactive
fi
# The CI checkout's copy of the stack file only: nothing is committed. Every model CI builds gets the digest,
# in its own repository (`model.image`, or `models[i].image` of a catalogue; tools/delivery/stacks.py).
python="venv/bin/python"
[ -x "$python" ] || python=python3
assignments="$("$python" -m tools.delivery model-images "$stack" "$image" "$version")"
while IFS=$'\t' read -r key value; do
  [ -n "$key" ] || continue
  pulumi config set --stack "$stack" --path "gpu-model-platform:$key" "$value" --non-interactive
done <<< "$assignments"

common=(--stack "$stack" --policy-pack policy --non-interactive --color never --diff)
case "$command" in
  preview | plan)
    mkdir -p "$where"
    output="$where/$stack.txt"
    extra=()
    if [ "$command" = plan ]; then
      extra=(--save-plan "$where/plan-$stack.json")
      last_version > "$where/version-$stack"
    fi
    set -o pipefail
    pulumi preview "${common[@]}" "${extra[@]}" 2>&1 | tee "$output"
    ;;
  up)
    [ -f "$where" ] || { echo "::error::$stack: no saved plan at $where" >&2; exit 2; }
    planned_at="$(dirname "$where")/version-$stack"
    [ -f "$planned_at" ] || { echo "::error::$stack: the plan does not record the version it was made at" >&2; exit 2; }
    now="$(last_version)"
    if [ "$now" != "$(cat "$planned_at")" ]; then
      echo "::error::$stack moved since the plan (version $(cat "$planned_at") then, $now now): nothing applied; re-run the whole workflow so a new plan is made and approved (docs/delivery.md, when a plan cannot be applied)" >&2
      exit 3
    fi
    output="${where%.json}.up.txt"
    set -o pipefail
    # The update runs its own preview against the plan first (the preview is not skipped), so a change the plan
    # does not hold, or a policy violation, stops it before any resource changes.
    status=0
    pulumi up "${common[@]}" --plan "$where" --yes \
      --message "Deploy ${GITHUB_SHA} image ${image##*@} (run ${GITHUB_RUN_ID})" 2>&1 | tee "$output" || status=$?
    if [ "$status" -ne 0 ]; then
      echo "::error::$stack: pulumi up --plan failed ($status). If the plan no longer matches (the world moved, or the experimental --plan itself fails), re-run the whole workflow: a new plan, a new approval (docs/delivery.md, when a plan cannot be applied)" >&2
    fi
    exit "$status"
    ;;
  *)
    echo "::error::unknown command $command (preview, plan or up)" >&2
    exit 2
    ;;
esac
