#!/usr/bin/env bash
# The one check branch protection requires on pull requests. Every job it needs must have passed, except
# the previews, which are skipped (never failed) for a fork: a fork's code never runs where a cluster is
# reachable, so a maintainer previews it on demand (the Preview workflow). Any failure or cancellation fails.
#
#   required-check.sh        env: NEEDS (the `needs` context as JSON), FORK (true for a fork's pull request),
#                            SKIPPABLE (jobs that may be skipped: the local stack when nothing a stack runs changed)
set -euo pipefail

failed="$(jq -r --argjson fork "${FORK:-false}" --arg skippable " ${SKIPPABLE:-} " '
  to_entries[]
  | .key as $job
  | select(.value.result != "success")
  | select(.value.result == "skipped" and (($fork and ($job | startswith("preview")))
                                           or ($skippable | contains(" " + $job + " "))) | not)
  | "\(.key): \(.value.result)"' <<< "$NEEDS")"
if [ -n "$failed" ]; then
  echo "::error::required jobs did not pass: $(tr '\n' ' ' <<< "$failed")" >&2
  exit 1
fi
if [ "${FORK:-false}" = true ]; then
  echo "checks and image passed; previews are a maintainer's call for a fork (Actions, Preview, this pull request's head commit)"
else
  echo "checks, image and every preview passed"
fi
