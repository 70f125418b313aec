#!/usr/bin/env bash
# Put the tested image into this stack's ECR repository, digest unchanged, and never twice: the same
# manifest bytes (skopeo --preserve-digests) give the same digest in every registry, and a digest the
# repository already holds (a re-run, a rollback, one repository shared by stacks) is not pushed again,
# so an immutable tag is never written twice.
#
#   push-image.sh REPOSITORY DIGEST [ARCHIVE]
# Prints the image reference `<repository uri>@<digest>`. Without ARCHIVE the digest must already be there.
set -euo pipefail

repository="$1"
digest="$2"
archive="${3:-}"
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "::error::not a digest: $digest" >&2; exit 2; }

uri="$(aws ecr describe-repositories --repository-names "$repository" \
  --query 'repositories[0].repositoryUri' --output text)" || {
  echo "::error::ECR repository $repository not found: bootstrap the stack first (docs/delivery.md, first deploy)" >&2
  exit 1
}
held() {
  aws ecr describe-images --repository-name "$repository" --image-ids "imageDigest=$digest" \
    --query 'imageDetails[0].imageDigest' --output text 2> /dev/null
}

if [ "$(held || true)" = "$digest" ]; then
  echo "$repository already holds $digest: nothing pushed" >&2
elif [ -z "$archive" ]; then
  echo "::error::$repository does not hold $digest, and no archive was given to push (a rollback deploys only an image the repository still holds)" >&2
  exit 1
else
  actual="$(python -m tools.delivery oci-digest "$archive")"
  [ "$actual" = "$digest" ] || { echo "::error::$archive is $actual, not the tested $digest" >&2; exit 1; }
  # The login lives in the job's temp directory, not the runner's home (registry-login.sh).
  auth="$("$(dirname "$0")/registry-login.sh" "${uri%%/*}")"
  # The tag is for people; the deploy names the digest. Commit + variant never repeats for another image.
  skopeo copy --authfile "$auth/config.json" --preserve-digests "oci-archive:$archive" \
    "docker://$uri:git-${GITHUB_SHA:0:12}-${digest:7:12}"
  [ "$(held)" = "$digest" ] || { echo "::error::$repository does not report $digest after the push" >&2; exit 1; }
fi
echo "$uri@$digest"
