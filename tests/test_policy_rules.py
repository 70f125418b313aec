"""The resource policies' rules at their exact edges: each violation is raised on exactly the wrong resource, names
the container, device or CIDR at fault and the field to set, and is absent on the compliant neighbour -- including
a value still unknown at preview, which is left to the update. Builders come from tests/test_policy.py."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.cluster import eks_endpoint_not_public_to_world
from policy.platform_policies.containers import containers_have_resource_limits, containers_run_as_non_root
from policy.platform_policies.images import ecr_tags_immutable_and_scanned, images_pinned_by_digest
from policy.platform_policies.nodes import launch_templates_encrypt_ebs, launch_templates_require_imdsv2
from tests.test_policy import (
    DEPLOYMENT,
    DIGEST_IMAGE,
    deployment,
    ecr_repository,
    eks_cluster,
    launch_template,
    pod_spec,
    violations,
)

CLUSTER = "aws:eks/cluster:Cluster"
REPOSITORY = "aws:ecr/repository:Repository"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
DIGEST = "@sha256:" + "ab" * 32


# ---- the EKS endpoint ----------------------------------------------------------------------------

@pytest.mark.parametrize("vpc", [
    {"endpointPublicAccess": UNKNOWN_STRING_VALUE, "publicAccessCidrs": None},
    {"publicAccessCidrs": UNKNOWN_STRING_VALUE},
    {"publicAccessCidrs": ["0.0.0.0/0", UNKNOWN_STRING_VALUE]},
    {"publicAccessCidrs": ["10.0.0.0/8", "0.0.0.1/32"]},
])
def test_an_endpoint_still_unknown_or_open_only_to_listed_networks_is_not_reported(vpc: dict) -> None:
    assert violations(eks_endpoint_not_public_to_world, CLUSTER, eks_cluster(**vpc)) == []


def test_an_endpoint_open_to_both_worlds_names_both() -> None:
    [message] = violations(eks_endpoint_not_public_to_world, CLUSTER,
                           eks_cluster(publicAccessCidrs=["0.0.0.0/0", "10.0.0.0/8", "::/0"]))
    assert "open to 0.0.0.0/0, ::/0;" in message and "endpointPublicAccess=false" in message


# ---- containers ----------------------------------------------------------------------------------

def _with_container(**container: object) -> dict:
    spec = pod_spec()
    spec["containers"][0].update(container)
    return spec


def test_a_container_setting_overrides_the_pods_either_way() -> None:
    allowed = pod_spec(securityContext={})
    allowed["containers"][0]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000}
    assert violations(containers_run_as_non_root, DEPLOYMENT, deployment(allowed)) == []
    refused = _with_container(securityContext={"runAsNonRoot": False})
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, deployment(refused))
    assert "containers[0] 'server'" in message and "securityContext.runAsNonRoot: true" in message
    root_pod = pod_spec(securityContext={"runAsNonRoot": True, "runAsUser": 0})
    root_pod["containers"][0]["securityContext"] = {"runAsUser": 1000}
    assert violations(containers_run_as_non_root, DEPLOYMENT, deployment(root_pod)) == []


@pytest.mark.parametrize("context", [{"runAsNonRoot": UNKNOWN_STRING_VALUE}, {"runAsUser": UNKNOWN_STRING_VALUE}])
def test_a_security_setting_still_unknown_is_left_to_the_update(context: dict) -> None:
    spec = _with_container(securityContext={"runAsNonRoot": False, "runAsUser": 0} | context)
    assert violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec)) == []


def test_runasnonroot_must_be_true_itself_not_a_truthy_string() -> None:
    spec = pod_spec(securityContext={"runAsNonRoot": "true", "runAsUser": 1000})
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec))
    assert "may run as root" in message


def test_every_container_list_is_checked_for_root_and_each_container_is_named() -> None:
    spec = pod_spec(securityContext={})
    spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000}
    spec["initContainers"] = [{"name": "fetch", "image": DIGEST_IMAGE, "securityContext": {"runAsUser": 0},
                               "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]
    spec["ephemeralContainers"] = [{"name": "debug", "image": DIGEST_IMAGE, "securityContext": {"runAsUser": 0}}]
    found = violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec))
    assert len(found) == 2
    assert "initContainers[0] 'fetch'" in found[0] and "ephemeralContainers[0] 'debug'" in found[1]
    assert all("runAsUser: 0" in m for m in found)
    # an ephemeral (debug) container cannot have resources: its missing limits are not reported
    assert violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec)) == []


def test_missing_cpu_and_memory_limits_are_both_named_and_an_empty_limit_counts_as_missing() -> None:
    spec = _with_container(resources={"limits": {"cpu": "", "nvidia.com/gpu": "1"}})
    [message] = violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec))
    assert "no cpu or memory limit" in message
    assert "resources.limits.cpu and resources.limits.memory" in message
    spec = _with_container(resources={"limits": {"memory": "1Gi"}})
    [message] = violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec))
    assert "no cpu limit" in message and "resources.limits.cpu so" in message


def test_limits_still_unknown_are_left_to_the_update_and_an_init_container_needs_them_too() -> None:
    spec = _with_container(resources={"limits": UNKNOWN_STRING_VALUE})
    assert violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec)) == []
    spec = pod_spec(initContainers=[{"name": "fetch", "image": DIGEST_IMAGE}])
    [message] = violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec))
    assert "initContainers[0] 'fetch'" in message and "no cpu or memory limit" in message


# ---- images --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "pinned"), [
    ("repo" + DIGEST, True),
    ("repo:1.0" + DIGEST, True),
    ("repo@sha256:" + "ab" * 31 + "a", False),  # 63 hex digits
    ("repo@sha256:" + "AB" * 32, False),  # a digest is lower-case hex
    ("repo" + DIGEST + "x", False),  # the digest must end the reference
    ("repo@sha512:" + "ab" * 32, False),
])
def test_only_a_reference_ending_in_a_sha256_digest_of_64_hex_digits_is_pinned(image: str, pinned: bool) -> None:
    found = violations(images_pinned_by_digest, DEPLOYMENT, deployment(_with_container(image=image)))
    assert found == [] if pinned else len(found) == 1 and repr(image) in found[0]


def test_a_container_without_an_image_string_is_not_pinned() -> None:
    [message] = violations(images_pinned_by_digest, DEPLOYMENT, deployment(_with_container(image=None)))
    assert "containers[0] 'server'" in message and "uses image None" in message


@pytest.mark.parametrize(("changes", "expected"), [
    ({"imageTagMutability": None}, ["MUTABLE (the default)"]),
    ({"imageTagMutability": "MUTABLE"}, ["imageTagMutability is MUTABLE"]),
    ({"imageScanningConfiguration": {"scanOnPush": False}}, ["scanOnPush is False"]),
    ({"imageScanningConfiguration": None}, ["scanOnPush is None"]),
    ({"imageTagMutability": "MUTABLE", "imageScanningConfiguration": None},
     ["imageTagMutability is MUTABLE", "scanOnPush is None"]),
    ({"imageTagMutability": UNKNOWN_STRING_VALUE, "imageScanningConfiguration": {"scanOnPush": UNKNOWN_STRING_VALUE}},
     []),
])
def test_a_repository_is_reported_once_per_setting_it_gets_wrong(changes: dict, expected: list[str]) -> None:
    found = violations(ecr_tags_immutable_and_scanned, REPOSITORY, ecr_repository(**changes), name="models")
    assert len(found) == len(expected)
    for message, shown in zip(found, expected, strict=True):
        assert shown in message and "ECR repository 'models'" in message


# ---- launch templates ----------------------------------------------------------------------------

def test_imds_tokens_still_unknown_are_left_to_the_update_and_optional_is_shown() -> None:
    assert violations(launch_templates_require_imdsv2, LAUNCH_TEMPLATE,
                      launch_template(metadataOptions={"httpTokens": UNKNOWN_STRING_VALUE})) == []
    [message] = violations(launch_templates_require_imdsv2, LAUNCH_TEMPLATE,
                           launch_template(metadataOptions={"httpTokens": "optional"}))
    assert "httpTokens is 'optional'" in message


@pytest.mark.parametrize("encrypted", ["true", "True", True])
def test_a_volume_encrypted_in_any_spelling_of_true_passes(encrypted: object) -> None:
    template = launch_template()
    template["blockDeviceMappings"][0]["ebs"]["encrypted"] = encrypted
    assert violations(launch_templates_encrypt_ebs, LAUNCH_TEMPLATE, template) == []


def test_each_unencrypted_volume_is_named_by_index_and_device_and_unknowns_and_non_ebs_mappings_pass() -> None:
    template = launch_template()
    template["blockDeviceMappings"] += [
        {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"},  # an instance store: no EBS to encrypt
        {"deviceName": "/dev/sdc", "ebs": {"volumeSize": 10}},  # encryption unset
        {"deviceName": "/dev/sdd", "ebs": {"encrypted": UNKNOWN_STRING_VALUE}},
    ]
    [message] = violations(launch_templates_encrypt_ebs, LAUNCH_TEMPLATE, template, name="gpu-lt")
    assert "blockDeviceMappings[2] (/dev/sdc) is not encrypted" in message
    assert violations(launch_templates_encrypt_ebs, LAUNCH_TEMPLATE,
                      launch_template(blockDeviceMappings=UNKNOWN_STRING_VALUE)) == []
