#!/usr/bin/env bash
# Who made an image, checked by digest before any stack runs it, and the signature the cluster admits.
#
#   image-trust.sh provenance IMAGE   the build provenance and SBOM attestations of IMAGE (repo@sha256:...)
#                                     were signed by this repository's deploy workflow on main (gh attestation)
#   image-trust.sh sign IMAGE         keyless cosign signature of IMAGE by digest (this job's GitHub OIDC identity)
#   image-trust.sh verify IMAGE       the signature was made by this repository's stack workflow on main: the
#                                     identity the cluster's admission policy admits (ImageAdmission)
# env: GITHUB_REPOSITORY, GH_TOKEN (provenance), DOCKER_CONFIG (registry login for cosign, outside $HOME)
set -euo pipefail

command="$1"
image="$2"
[[ "$image" =~ ^[^@]+@sha256:[0-9a-f]{64}$ ]] || { echo "::error::$image is not an image by digest" >&2; exit 2; }
# Issuer and identity of a GitHub Actions keyless signature: docs.sigstore.dev "OIDC Usage in Fulcio" and
# sigstore/fulcio config/identity/config.yaml (SAN = https://github.com/<job_workflow_ref>: the called
# reusable workflow, stack.yml), read 2026-12-07; the same values as components/security/image_admission.py.
issuer=https://token.actions.githubusercontent.com
signer="https://github.com/$GITHUB_REPOSITORY/.github/workflows/stack.yml@refs/heads/main"

case "$command" in
  provenance)
    for predicate in https://slsa.dev/provenance/v1 https://cyclonedx.org/bom; do
      gh attestation verify "oci://$image" --repo "$GITHUB_REPOSITORY" \
        --signer-workflow "$GITHUB_REPOSITORY/.github/workflows/deploy.yml" --source-ref refs/heads/main \
        --deny-self-hosted-runners --predicate-type "$predicate" > /dev/null || {
        echo "::error::$image has no $predicate attestation from $GITHUB_REPOSITORY's deploy workflow on main: not built here" >&2
        exit 1
      }
    done
    echo "$image: provenance and SBOM attested by $GITHUB_REPOSITORY's deploy workflow on main"
    ;;
  sign)
    cosign sign --yes "$image"
    ;;
  verify)
    cosign verify "$image" --certificate-identity "$signer" --certificate-oidc-issuer "$issuer" > /dev/null || {
      echo "::error::$image is not signed by $signer: the cluster would refuse it" >&2
      exit 1
    }
    echo "$image: signed by $signer"
    ;;
  *)
    echo "::error::unknown command $command (provenance, sign or verify)" >&2
    exit 2
    ;;
esac
