#!/usr/bin/env bash
# One comment per stack on the pull request, edited in place on every push, saying whether the preview
# passed or FAILED: a failed preview replaces the last good one, so a stale diff never stands.
#
#   preview-comment.sh STACK OUTCOME OUTPUT_FILE       (OUTCOME: success or anything else)
# env: GH_TOKEN, GITHUB_REPOSITORY, PR_NUMBER, RUN_URL, IMAGE
set -euo pipefail

stack="$1"
outcome="$2"
output="$3"
marker="<!-- pulumi-preview:$stack -->"
body="$(mktemp)"
{
  echo "$marker"
  if [ "$outcome" = success ]; then
    echo "### Preview of \`$stack\`: passed"
  else
    echo "### Preview of \`$stack\`: FAILED ($outcome)"
    echo
    echo "An error or a policy violation: merging is blocked until a push previews cleanly."
  fi
  echo
  echo "Image: \`${IMAGE:-none}\` (built, gated and scanned in this run; merging builds and deploys its own digest)."
  echo "Run: $RUN_URL"
  echo
  echo '```'
  if [ -s "$output" ]; then tail -c 60000 "$output"; else echo "(no output: the job failed before Pulumi ran)"; fi
  echo '```'
} > "$body"

"$(dirname "$0")/sticky-comment.sh" "$marker" "$body"
cat "$body" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
