#!/usr/bin/env bash
# First step of every job on a stack's deploy runners (plan, up, drift): refuse unless the run comes from
# main's own workflows, then check the runner has the tools the job needs. The runner group admits only
# main's workflows too (docs/delivery.md, runners); this is the same rule, visible in the log and tested.
#
#   deploy-preflight.sh TOOL...
# env: GITHUB_REPOSITORY, GITHUB_REF, GITHUB_EVENT_NAME, GITHUB_WORKFLOW_REF (set by Actions)
set -euo pipefail

[ "${GITHUB_REF:-}" = refs/heads/main ] || {
  echo "::error::deploy runners run main only, not ${GITHUB_REF:-no ref}" >&2
  exit 1
}
case "${GITHUB_EVENT_NAME:-}" in
  push | workflow_dispatch | schedule) ;;
  *)
    echo "::error::deploy runners never run a ${GITHUB_EVENT_NAME:-missing} event (push, workflow_dispatch or schedule on main)" >&2
    exit 1
    ;;
esac
case "${GITHUB_WORKFLOW_REF:-}" in
  "$GITHUB_REPOSITORY/.github/workflows/"*.yml@refs/heads/main) ;;
  *)
    echo "::error::workflow ${GITHUB_WORKFLOW_REF:-unknown} is not one of $GITHUB_REPOSITORY's workflows on main" >&2
    exit 1
    ;;
esac
missing=()
for tool in "$@"; do
  command -v "$tool" > /dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "::error::not installed on this runner: ${missing[*]} (docs/delivery.md, runners)" >&2
  exit 1
fi
echo "main's ${GITHUB_WORKFLOW_REF}, ${GITHUB_EVENT_NAME}; tools present: $*"
