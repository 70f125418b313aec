#!/usr/bin/env bash
# Build each image variant ONCE, as an OCI archive, then prove that archive: run it, score the held-out
# digits through its own server (the quality gate, against what ships), and scan it. The archive's
# manifest digest is what every stack deploys: pushes preserve it (push-image.sh).
#
#   build-images.sh OUT_DIR VARIANT...
# Also writes OUT_DIR/sbom-VARIANT.cdx.json, the CycloneDX SBOM of each archive (trivy).
# env: MIN_ACCURACY (gate bar), SCAN_SEVERITY (trivy severities that fail the build), GITHUB_SHA,
#      GITHUB_OUTPUT (receives digests={"<variant>":"sha256:..."} and version=<model version>),
#      MODEL_METADATA (default app/artifacts/metadata.json, the trained model's)
set -euo pipefail

out="$1"
shift
[ "$#" -gt 0 ] || { echo "::error::no image variant to build" >&2; exit 2; }
mkdir -p "$out"
version="$(jq -er .version "${MODEL_METADATA:-app/artifacts/metadata.json}")"
digests='{}'
for variant in "$@"; do
  archive="$out/image-$variant.tar"
  echo "::group::build $variant"
  # One platform, no attestations inside: the archive holds exactly one image manifest (tools/delivery/oci.py);
  # provenance and the SBOM are attested for its digest by deploy.yml instead.
  docker buildx build app --file app/Dockerfile --target "$variant" --platform linux/amd64 \
    --provenance=false --sbom=false \
    --build-arg "MODEL_VERSION=$version" --build-arg "GIT_REVISION=$GITHUB_SHA" \
    --output "type=oci,dest=$archive,name=gpu-model-platform/model:$variant"
  digest="$(python -m tools.delivery oci-digest "$archive")"
  echo "::endgroup::"

  echo "::group::test $variant ($digest)"
  image="$(docker load --input "$archive" | sed -n 's/^Loaded image[^:]*: //p' | tail -n 1)"
  [ -n "$image" ] || { echo "::error::docker load named no image for $archive" >&2; exit 1; }
  container="$(docker run --detach --rm --publish 127.0.0.1::8080 --env MODEL_NAME=gate "$image")"
  port="$(docker port "$container" 8080/tcp | head -n 1 | sed 's/.*://')"
  status=0
  python -m tools.delivery image-gate --url "http://127.0.0.1:$port" --model gate \
    --min-accuracy "$MIN_ACCURACY" || status=$?
  docker logs "$container" > "$out/server-$variant.log" 2>&1 || true
  docker stop "$container" > /dev/null || true
  [ "$status" -eq 0 ] || { echo "::error::image $variant failed the quality gate (server log: server-$variant.log)" >&2; exit "$status"; }
  echo "::endgroup::"

  echo "::group::scan $variant"
  trivy image --input "$archive" --exit-code 1 --ignore-unfixed --severity "$SCAN_SEVERITY" --no-progress
  # The SBOM rides beside the image, not inside it (an attestation manifest would change the digest and make
  # the archive an index): deploy.yml attests it for the digest, signed by GitHub's OIDC identity.
  trivy image --input "$archive" --format cyclonedx --output "$out/sbom-$variant.cdx.json" --no-progress
  echo "::endgroup::"

  digests="$(jq -c --arg variant "$variant" --arg digest "$digest" '. + {($variant): $digest}' <<< "$digests")"
  echo "$variant: $digest" >> "$out/digests.txt"
done
{
  echo "digests=$digests"
  echo "version=$version"
} >> "$GITHUB_OUTPUT"
