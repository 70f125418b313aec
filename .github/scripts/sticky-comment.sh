#!/usr/bin/env bash
# One comment on the pull request per MARKER, edited in place on every push (never a new one per push).
#
#   sticky-comment.sh MARKER BODY_FILE      BODY_FILE's first line must be MARKER
# env: GH_TOKEN (pull-requests: write), GITHUB_REPOSITORY, PR_NUMBER
set -euo pipefail

marker="$1"
body="$2"
[ "$(head -n 1 "$body")" = "$marker" ] || { echo "::error::$body does not start with $marker" >&2; exit 2; }
existing="$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)"
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" -F "body=@$body" > /dev/null
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" -F "body=@$body" > /dev/null
fi
