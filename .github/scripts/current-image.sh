#!/usr/bin/env bash
# The image a stack runs now (its `image` output, by digest) and the model version that image carries
# (its org.opencontainers.image.version label): what a deploy of a program-only change keeps running.
#
#   current-image.sh STACK          prints image=<repo>@sha256:... and version=<label> (GITHUB_OUTPUT lines)
# env: DOCKER_CONFIG (registry-login.sh), PULUMI_BACKEND_URL
set -euo pipefail

stack="$1"
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
  pulumi login --non-interactive "$PULUMI_BACKEND_URL" > /dev/null
else
  pulumi login --non-interactive > /dev/null
fi
image="$(pulumi stack output image --stack "$stack" 2> /dev/null || true)"
[[ "$image" =~ ^[^@]+@sha256:[0-9a-f]{64}$ ]] || {
  echo "::error::$stack records no image by digest (got '${image}'): deploy a built image first (a push that changes app/)" >&2
  exit 1
}
version="$(skopeo inspect --authfile "$DOCKER_CONFIG/config.json" "docker://$image" \
  | jq -r '.Labels["org.opencontainers.image.version"] // empty')"
echo "image=$image"
echo "version=$version"
