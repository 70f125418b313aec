#!/usr/bin/env bash
# The pull request's cost comment: each stack's monthly estimate and its change against the base commit's
# (python -m tools.cost, offline: the program under Pulumi mocks, no cloud credential).
#
#   cost-comment.sh BASE_SHA OUT_FILE STACK...
# The base's estimates come from the base commit's own program and stack files (a worktree), one stack at a
# time: a stack the base does not have is a "new stack". OUT_FILE starts with the sticky comment's marker.
set -euo pipefail

base="$1"
out="$2"
shift 2
[ "$#" -gt 0 ] || { echo "::error::no stack to estimate" >&2; exit 2; }
work="$(mktemp -d)"
trap 'git worktree remove --force "$work/base" > /dev/null 2>&1 || true; rm -rf "$work"' EXIT

git worktree add --detach "$work/base" "$base" > /dev/null
baselines=()
for stack in "$@"; do
  if [ -f "$work/base/Pulumi.$stack.yaml" ]; then
    (cd "$work/base" && python -m tools.cost --stack "$stack" --json) > "$work/base-$stack.json"
    baselines+=("$work/base-$stack.json")
  fi
done
if [ "${#baselines[@]}" -gt 0 ]; then
  jq -s 'add' "${baselines[@]}" > "$work/baseline.json"
else
  echo '[]' > "$work/baseline.json"
fi

stacks=()
for stack in "$@"; do stacks+=(--stack "$stack"); done
{
  echo "<!-- cost-estimate -->"
  python -m tools.cost "${stacks[@]}" --comment --baseline "$work/baseline.json"
} > "$out"
