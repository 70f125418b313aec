#!/usr/bin/env bash
# The only way the workflows run Pulumi on a stack. The image is always given (`model.image`, by digest),
# so the program builds nothing and a preview shows the image the update will deploy.
#
#   pulumi-stack.sh preview STACK IMAGE VERSION OUT_DIR   preview with the policy pack
#   pulumi-stack.sh plan    STACK IMAGE VERSION OUT_DIR   the same, saving OUT_DIR/plan-STACK.json
#   pulumi-stack.sh up      STACK IMAGE VERSION PLAN      apply exactly PLAN (fails if the world moved)
# The command's output goes to OUT_DIR/STACK.txt (or beside PLAN) and to the log; the exit code is Pulumi's.
# env: PULUMI_BACKEND_URL (empty: Pulumi Cloud, with PULUMI_ACCESS_TOKEN), GITHUB_SHA, GITHUB_RUN_ID
set -euo pipefail

command="$1"
stack="$2"
image="$3"
version="$4"
where="$5"
[[ "$image" =~ @sha256:[0-9a-f]{64}$ ]] || { echo "::error::$stack: image $image is not by digest" >&2; exit 2; }

if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
  pulumi login --non-interactive "$PULUMI_BACKEND_URL"
else
  pulumi login --non-interactive
fi
# The CI checkout's copy of the stack file only: nothing is committed.
pulumi config set --stack "$stack" --path 'gpu-model-platform:model.image' "$image" --non-interactive
if [ -n "$version" ]; then
  pulumi config set --stack "$stack" --path 'gpu-model-platform:model.version' "$version" --non-interactive
fi

common=(--stack "$stack" --policy-pack policy --non-interactive --color never --diff)
case "$command" in
  preview | plan)
    mkdir -p "$where"
    output="$where/$stack.txt"
    extra=()
    [ "$command" = plan ] && extra=(--save-plan "$where/plan-$stack.json")
    set -o pipefail
    pulumi preview "${common[@]}" "${extra[@]}" 2>&1 | tee "$output"
    ;;
  up)
    [ -f "$where" ] || { echo "::error::$stack: no saved plan at $where" >&2; exit 2; }
    output="${where%.json}.up.txt"
    set -o pipefail
    pulumi up "${common[@]}" --plan "$where" --yes --skip-preview \
      --message "Deploy ${GITHUB_SHA} image ${image##*@} (run ${GITHUB_RUN_ID})" 2>&1 | tee "$output"
    ;;
  *)
    echo "::error::unknown command $command (preview, plan or up)" >&2
    exit 2
    ;;
esac
