"""The digest of an image exported as an OCI archive (`docker buildx build --output type=oci`).

The manifest the archive's index names is the image: pushing the archive with its manifest bytes
unchanged (`skopeo copy --preserve-digests`) gives the registry this very digest, so the digest
recorded at build time is the one every stack deploys.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_SINGLE_IMAGE = {"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"}


def archive_digest(path: Path) -> str:
    """`sha256:<hex>` of the one image manifest in the archive; an index, or several images, are refused
    (ECR's lifecycle rule expires untagged images fast, which is only safe for single manifests)."""
    with tarfile.open(path) as archive:
        member = archive.extractfile("index.json")
        if member is None:
            raise ValueError(f"{path}: no index.json; not an OCI image layout archive")
        index = json.load(member)
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise ValueError(f"{path}: holds {len(manifests)} manifests; build one platform without attestations "
                         "(--provenance=false --sbom=false)")
    [manifest] = manifests
    if manifest.get("mediaType") not in _SINGLE_IMAGE:
        raise ValueError(f"{path}: the manifest is a {manifest.get('mediaType')}, not a single image")
    digest = manifest.get("digest", "")
    if not _DIGEST_RE.match(digest):
        raise ValueError(f"{path}: manifest digest {digest!r} is not sha256:<64 hex>")
    return digest
