#!/usr/bin/env bash
# Merged but not deployed: main has commits that change what the stack runs (tools/delivery/changes.py)
# after the commit of the stack's newest update. Drift's other half: the cloud matches the state, but the
# state is not main's.
#
#   undeployed.sh STACK         (in a full-history checkout of main; exit 1 when something is undeployed)
set -euo pipefail

stack="$1"
deployed="$(pulumi stack history --stack "$stack" --json --page-size 20 \
  | jq -r '[.[] | select(.kind == "update")][0].environment["git.head"] // empty')"
head="$(git rev-parse HEAD)"
if [ -z "$deployed" ]; then
  echo "::error::$stack's newest update records no commit: cannot tell what it runs" >&2
  exit 1
fi
if [ "$deployed" = "$head" ]; then
  echo "$stack runs main's head $head"
  exit 0
fi
git cat-file -e "$deployed^{commit}" 2> /dev/null || {
  echo "::error::$stack runs $deployed, which main does not have" >&2
  exit 1
}
needs="$(git diff --name-only "$deployed" "$head" | python3 -m tools.delivery changes | jq -r .deploy)"
if [ "$needs" = true ]; then
  echo "::error::$stack runs $deployed; main ($head) has merged changes to what it runs that were never deployed (a failed or skipped deploy?)" >&2
  exit 1
fi
echo "$stack runs $deployed; main's later commits change nothing it runs"
