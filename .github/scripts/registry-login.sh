#!/usr/bin/env bash
# Log in to an ECR registry for skopeo and cosign in a file under $RUNNER_TEMP (which the runner wipes after
# the job), never in $HOME: registry credentials do not outlive the job on a runner.
#
#   registry-login.sh REGISTRY_HOST     prints the directory to export as DOCKER_CONFIG (config.json inside,
#                                       also skopeo's --authfile)
set -euo pipefail

host="$1"
dir="${RUNNER_TEMP:?}/registry-auth"
mkdir -p "$dir"
chmod 700 "$dir"
token="$(aws ecr get-login-password)"
umask 077
jq -n --arg host "$host" --arg auth "$(printf 'AWS:%s' "$token" | base64 -w0)" '{auths: {($host): {auth: $auth}}}' \
  > "$dir/config.json"
echo "$dir"
