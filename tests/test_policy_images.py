"""The image policies at their edges (issue 29's mutation audit): what counts as a digest, what a registry must say,
and what a value unknown until apply skips."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.images import ecr_tags_immutable_and_scanned, images_pinned_by_digest
from tests.test_policy import DEPLOYMENT, deployment, pod_spec, violations

REPOSITORY = "aws:ecr/repository:Repository"
DIGEST = "@sha256:" + "ab" * 32


def _images(*images: object) -> dict:
    spec = pod_spec()
    spec["containers"] = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return deployment(spec)


@pytest.mark.parametrize("image, pinned", [
    (f"registry.example/model{DIGEST}", True),
    (f"registry.example/model:1.2{DIGEST}", True),               # a tag beside the digest: the digest decides
    ("registry.example/model@sha256:" + "ab" * 31 + "a", False),  # 63 hex digits
    ("registry.example/model@sha256:" + "AB" * 32, False),        # Docker digests are lower-case
    (f"registry.example/model{DIGEST}:latest", False),            # the digest must end the reference
    ("registry.example/model:latest", False),
    (None, False),
])
def test_only_a_reference_ending_in_a_sha256_digest_is_pinned(image, pinned):
    found = violations(images_pinned_by_digest, DEPLOYMENT, _images(image), name="m")
    assert (found == []) is pinned, found
    assert all(m.startswith("Deployment 'm': containers[0] 'c0' uses image") for m in found)
    # The remedy is a command to copy: it must stay one docker knows.
    assert all("`docker buildx imagetools inspect <image>`" in m for m in found)


def test_an_image_unknown_until_apply_skips_only_its_own_container():
    [message] = violations(images_pinned_by_digest, DEPLOYMENT, _images(UNKNOWN_STRING_VALUE, "model:latest"))
    assert "containers[1] 'c1' uses image 'model:latest'" in message


@pytest.mark.parametrize("props, expected", [
    ({"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}}, []),
    ({"imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": True}},
     ["imageTagMutability is MUTABLE;"]),
    ({"imageScanningConfiguration": {"scanOnPush": True}}, ["imageTagMutability is MUTABLE (the default);"]),
    ({"imageTagMutability": "IMMUTABLE"}, ["scanOnPush is None;"]),
    ({"imageTagMutability": UNKNOWN_STRING_VALUE, "imageScanningConfiguration": {"scanOnPush": False}},
     ["scanOnPush is False;"]),
    ({"imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": UNKNOWN_STRING_VALUE}},
     ["imageTagMutability is MUTABLE;"]),
])
def test_a_registry_must_say_immutable_and_scan_on_push_and_each_unknown_is_skipped_alone(props, expected):
    found = violations(ecr_tags_immutable_and_scanned, REPOSITORY, props, name="registry")
    assert len(found) == len(expected), found
    for message, words in zip(found, expected, strict=True):
        assert message.startswith("ECR repository 'registry': ") and words in message, message
