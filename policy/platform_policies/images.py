"""Images by digest only, from registries that keep tags immutable and scan every push."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._common import (
    ECR_REPOSITORY,
    WORKLOADS,
    containers,
    label,
    pod_spec,
    resource_policy,
)
from ._values import UNKNOWN, get

# A tag can be moved to other content after review; a digest cannot.
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _check_digests(resource_type: str, name: str, props: dict) -> Iterator[str]:
    for where, container in containers(pod_spec(resource_type, props)):
        image = get(container, "image")
        if image is UNKNOWN:
            continue  # an image still being built: its digest is checked at the update
        if not isinstance(image, str) or not _DIGEST.search(image):
            yield (f"{label(resource_type, name)}: {where} uses image {image!r}, which is not pinned by digest; "
                   "reference it as <repository>@sha256:<64 hex digits> (the ModelImage component's digest "
                   "output, or `docker buildx imagetools inspect <image>` for a third-party image)")


images_pinned_by_digest = resource_policy(
    name="images-pinned-by-digest",
    description="Workload containers reference images by digest (@sha256:...), never by a tag alone.",
    types=WORKLOADS,
    check=_check_digests,
    remediation_steps="Use the image's repo digest (repository@sha256:...) instead of a tag.",
)


def _check_repository(resource_type: str, name: str, props: dict) -> Iterator[str]:
    mutability = get(props, "imageTagMutability")
    if mutability is not UNKNOWN and mutability != "IMMUTABLE":
        shown = mutability if mutability is not None else "MUTABLE (the default)"
        yield (f"{label(resource_type, name)}: imageTagMutability is {shown}; set it to IMMUTABLE so a pushed "
               "tag can never point at other content")
    scan = get(props, "imageScanningConfiguration", "scanOnPush")
    if scan is not UNKNOWN and scan is not True:
        yield (f"{label(resource_type, name)}: imageScanningConfiguration.scanOnPush is {scan!r}; set it to true "
               "so every pushed image is scanned for vulnerabilities")


ecr_tags_immutable_and_scanned = resource_policy(
    name="ecr-tags-immutable-and-scanned",
    description="ECR repositories keep tags immutable and scan every image on push.",
    types=(ECR_REPOSITORY,),
    check=_check_repository,
    remediation_steps="Set imageTagMutability=IMMUTABLE and imageScanningConfiguration.scanOnPush=true.",
)
