#!/usr/bin/env bash
# Refuse to deploy a commit older than the one the stack already runs. Pulumi records the commit of
# every update (`git.head` in the update's environment, `pulumi stack history --json`); this commit
# must be that one or a descendant of it. Deploys of a stack share one concurrency group, but a run joins
# it only when its earlier jobs finish, so an older commit can arrive after a newer one.
#
#   deploy-guard.sh STACK [COMMIT] [MODE]   (COMMIT defaults to HEAD; needs the full history: fetch-depth 0)
# MODE `descendant` (default): COMMIT is the deployed commit or newer. `exact`: COMMIT is the deployed commit
# (a rollback changes the image only, with the program the stack runs, never one dev has not run).
# Fails closed: a stack whose newest update records no commit is refused (only a stack with no update at
# all, its first deploy, passes without one).
set -euo pipefail

stack="$1"
commit="$(git rev-parse "${2:-HEAD}")"
mode="${3:-descendant}"
updates="$(pulumi stack history --stack "$stack" --json --page-size 20 | jq -c '[.[] | select(.kind == "update")]')"
deployed="$(jq -r '.[0].environment["git.head"] // empty' <<< "$updates")"

if [ "$(jq length <<< "$updates")" -eq 0 ]; then
  [ "$mode" = descendant ] || { echo "::error::$stack has never been deployed: nothing to roll back" >&2; exit 1; }
  echo "$stack: no earlier update; deploying $commit (first deploy)"
elif [ -z "$deployed" ]; then
  echo "::error::$stack's newest update records no commit (git.head; an update from outside CI?): refusing to deploy $commit blind; deploy from a git checkout of the running commit first" >&2
  exit 1
elif [ "$deployed" = "$commit" ]; then
  echo "$stack: already at $commit (a re-run, or a rollback of the image only)"
elif [ "$mode" = exact ]; then
  echo "::error::$stack runs $deployed: a rollback deploys that commit's program, not $commit" >&2
  exit 1
elif ! git cat-file -e "$deployed^{commit}" 2> /dev/null; then
  echo "::error::$stack runs $deployed, which this repository does not have: refusing to deploy $commit blind" >&2
  exit 1
elif git merge-base --is-ancestor "$deployed" "$commit"; then
  echo "$stack: $commit is newer than the deployed $deployed"
else
  echo "::error::$stack already runs $deployed, which $commit does not contain (older or diverged): refusing to deploy it" >&2
  exit 1
fi
