#!/usr/bin/env bash
# Refuse to deploy a commit older than the one the stack already runs. Pulumi records the commit of
# every update (`git.head` in the update's environment, `pulumi stack history --json`); this commit
# must be that one or a descendant of it. Deploys run in per-stack concurrency groups, but a run joins
# its group only when its earlier jobs finish, so an older commit can arrive after a newer one.
#
#   deploy-guard.sh STACK [COMMIT]     (COMMIT defaults to HEAD; needs the full history: fetch-depth 0)
set -euo pipefail

stack="$1"
commit="$(git rev-parse "${2:-HEAD}")"
deployed="$(pulumi stack history --stack "$stack" --json --page-size 20 \
  | jq -r '[.[] | select(.kind == "update")][0].environment["git.head"] // empty')"

if [ -z "$deployed" ]; then
  echo "$stack: no earlier update records a commit; deploying $commit"
elif [ "$deployed" = "$commit" ]; then
  echo "$stack: already at $commit (a re-run, or a rollback of the image only)"
elif ! git cat-file -e "$deployed^{commit}" 2> /dev/null; then
  echo "::error::$stack runs $deployed, which this repository does not have: refusing to deploy $commit blind" >&2
  exit 1
elif git merge-base --is-ancestor "$deployed" "$commit"; then
  echo "$stack: $commit is newer than the deployed $deployed"
else
  echo "::error::$stack already runs $deployed, which $commit does not contain (older or diverged): refusing to deploy it" >&2
  exit 1
fi
