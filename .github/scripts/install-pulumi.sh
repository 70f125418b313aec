#!/usr/bin/env bash
# install-pulumi.sh VERSION DEST: the Pulumi CLI VERSION into DEST/pulumi, checked before it is unpacked.
#
# The archive comes from Pulumi's download site and its SHA-256 from the checksums file of the same
# version's GitHub release, a second origin: a tampered archive needs both origins subverted. That
# checksums file must carry Pulumi's keyless cosign signature (its bundle `<file>.sig`, a release asset),
# made by pulumi/pulumi's signing workflow: `cosign sign-blob --bundle` in .github/workflows/sign.yml, with
# cosign-installer v4.1.2 as here. No digest is pinned in this repository because no source reachable when
# it was written published the checksums of this version (docs/delivery.md, "Pulumi CLI"). Names as pulumi/pulumi's release builds them
# (.goreleaser.yml archives `pulumi-v<version>-<os>-<arch>`, .github/workflows/sign.yml
# `pulumi-<version>-checksums.txt`, pulumi/pulumi@1b5949891b; the download site's URLs as pulumi/docs
# data/versions.json lists them, `https://get.pulumi.com/releases/sdk/pulumi-v<version>-linux-x64.tar.gz`;
# read 2026-12-07).
set -euo pipefail

version="${1:?usage: install-pulumi.sh VERSION DEST}"
dest="${2:?usage: install-pulumi.sh VERSION DEST}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "::error::not a Pulumi release version: $version"; exit 1; }
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "::error::no Pulumi CLI build for $(uname -m)"; exit 1 ;;
esac
# The origins are overridable for the tests only (tests/test_delivery_scripts.py serves both on loopback).
downloads="${PULUMI_DOWNLOAD_ORIGIN:-https://get.pulumi.com/releases/sdk}"
releases="${PULUMI_RELEASE_ORIGIN:-https://github.com/pulumi/pulumi/releases/download}"
archive="pulumi-v${version}-linux-${arch}.tar.gz"
sums="pulumi-${version}-checksums.txt"
proto='=https'
[[ -z "${PULUMI_DOWNLOAD_ORIGIN:-}${PULUMI_RELEASE_ORIGIN:-}" ]] || proto='=http,https'

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 --proto "$proto" -o "$work/$archive" "$downloads/$archive"
curl -fsSL --retry 3 --proto "$proto" -o "$work/$sums" "$releases/v${version}/$sums"
curl -fsSL --retry 3 --proto "$proto" -o "$work/$sums.sig" "$releases/v${version}/$sums.sig"
# Signed by pulumi/pulumi's sign.yml (Fulcio's SAN is https://github.com/<job_workflow_ref>), GitHub's issuer.
cosign verify-blob "$work/$sums" --bundle "$work/$sums.sig" \
  --certificate-identity-regexp '^https://github\.com/pulumi/pulumi/\.github/workflows/sign\.yml@refs/' \
  --certificate-oidc-issuer https://token.actions.githubusercontent.com > /dev/null \
  || { echo "::error::$sums is not signed by pulumi/pulumi's signing workflow"; exit 1; }
# Exactly one line for this archive, in sha256sum's own format; anything else is refused.
if ! grep -E "^[0-9a-f]{64}  ${archive//./\\.}\$" "$work/$sums" > "$work/expected" \
    || [[ "$(wc -l < "$work/expected")" -ne 1 ]]; then
  echo "::error::$sums has no single SHA-256 line for $archive"
  exit 1
fi
(cd "$work" && sha256sum --check --strict --quiet expected) \
  || { echo "::error::$archive does not match the SHA-256 of the v$version release's $sums"; exit 1; }

mkdir -p "$dest"
tar -xzf "$work/$archive" -C "$dest"
"$dest/pulumi/pulumi" version
