"""The resource policies' rules at their exact edges: each violation is raised on exactly the wrong resource, names
the container, device or CIDR at fault and the field to set, and is absent on the compliant neighbour -- including
a value still unknown at preview, which is left to the update. Builders come from tests/test_policy.py."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.cluster import eks_endpoint_not_public_to_world
from policy.platform_policies.containers import containers_have_resource_limits, containers_run_as_non_root
from policy.platform_policies.gpu import (
    gpu_node_groups_are_tainted,
    gpu_pods_tolerate_gpu_taint,
    gpu_taints_and_tolerations_match,
)
from policy.platform_policies.images import ecr_tags_immutable_and_scanned, images_pinned_by_digest
from policy.platform_policies.nodes import launch_templates_encrypt_ebs, launch_templates_require_imdsv2
from tests.test_policy import (
    DEPLOYMENT,
    DIGEST_IMAGE,
    GPU_TOLERATION,
    deployment,
    ecr_repository,
    eks_cluster,
    gpu_node_group,
    launch_template,
    pod_spec,
    stack_violations,
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


# ---- GPU taints and tolerations ------------------------------------------------------------------

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _gpu_spec(tolerations: object, section: str = "limits", amount: object = "1", where: str = "containers") -> dict:
    spec = pod_spec(tolerations=tolerations)
    if where == "containers":
        spec["containers"][0]["resources"][section]["nvidia.com/gpu"] = amount
    else:
        spec[where] = [{"name": "warm", "image": DIGEST_IMAGE, "resources": {section: {"nvidia.com/gpu": amount}}}]
    return spec


@pytest.mark.parametrize(("section", "amount", "where", "gpu"), [
    ("limits", "1", "containers", True),
    ("requests", 1, "containers", True),
    ("limits", "1", "initContainers", True),
    ("limits", "1", "ephemeralContainers", False),  # a debug container cannot hold a GPU
    ("limits", "0", "containers", False),
    ("limits", 0, "containers", False),
    ("limits", UNKNOWN_STRING_VALUE, "containers", False),
])
def test_a_pod_is_a_gpu_pod_when_a_regular_or_init_container_asks_for_a_nonzero_gpu(
        section: str, amount: object, where: str, gpu: bool) -> None:
    found = violations(gpu_pods_tolerate_gpu_taint, DEPLOYMENT, deployment(_gpu_spec([], section, amount, where)))
    assert len(found) == (1 if gpu else 0)


@pytest.mark.parametrize(("toleration", "tolerated"), [
    ({"operator": "Exists"}, True),  # tolerates every taint
    ({"key": "", "operator": "Exists", "effect": ""}, True),
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
    ({"key": "nvidia.com/gpu", "value": "anything", "effect": "NoSchedule"}, True),  # Equal is the default operator
    ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "true"}, True),  # no effect: every effect
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "PreferNoSchedule"}, False),
    ({"key": "nvidia.com/gpux", "operator": "Exists"}, False),
    ({"key": "dedicated", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, False),
    ({"key": "nvidia.com/gpu", "operator": "Lt", "value": "1"}, False),
    ("nvidia.com/gpu", False),
])
def test_a_gpu_pod_passes_with_any_toleration_of_the_gpu_taint_and_only_with_one(toleration: object,
                                                                                   tolerated: bool) -> None:
    found = violations(gpu_pods_tolerate_gpu_taint, DEPLOYMENT, deployment(_gpu_spec([toleration])))
    assert found == [] if tolerated else len(found) == 1 and "nvidia.com/gpu:NoSchedule" in found[0]


def test_gpu_tolerations_still_unknown_are_left_to_the_update() -> None:
    assert violations(gpu_pods_tolerate_gpu_taint, DEPLOYMENT, deployment(_gpu_spec(UNKNOWN_STRING_VALUE))) == []


@pytest.mark.parametrize(("changes", "gpu"), [
    ({"amiType": "BOTTLEROCKET_x86_64_NVIDIA", "instanceTypes": ["m7i.large"]}, True),
    ({"amiType": "AL2_x86_64_GPU", "instanceTypes": ["m7i.large"]}, True),
    ({"amiType": "CUSTOM", "instanceTypes": ["m7i.large", "p5.48xlarge"]}, True),
    ({"amiType": "CUSTOM", "instanceTypes": ["g6e.xlarge"]}, True),
    ({"amiType": "AL2_x86_64", "instanceTypes": ["m7i.large", "c7g.xlarge"]}, False),
    ({"amiType": None, "instanceTypes": None}, False),
])
def test_a_node_group_is_a_gpu_one_by_its_nvidia_or_gpu_ami_or_a_gpu_instance_family(changes: dict,
                                                                                      gpu: bool) -> None:
    found = violations(gpu_node_groups_are_tainted, NODE_GROUP, gpu_node_group(taints=[], **changes))
    assert len(found) == (1 if gpu else 0)


@pytest.mark.parametrize(("taints", "tainted"), [
    ([{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}], True),
    ([{"key": "nvidia.com/gpu", "effect": "NoSchedule"}], True),  # already in Kubernetes' spelling
    ([{"key": "nvidia.com/gpu", "value": "true", "effect": "PREFER_NO_SCHEDULE"}], False),
    ([{"key": "dedicated", "value": "gpu", "effect": "NO_SCHEDULE"}], False),
    ([{"key": "nvidia.com/gpu", "value": "true"}], False),  # no effect: not a taint that keeps pods off
    (UNKNOWN_STRING_VALUE, True),  # unknown until the update: not judged now
])
def test_a_gpu_node_group_needs_the_gpu_key_with_the_noschedule_effect(taints: object, tainted: bool) -> None:
    found = violations(gpu_node_groups_are_tainted, NODE_GROUP, gpu_node_group(taints=taints), name="gpu-ng")
    assert found == [] if tainted else len(found) == 1 and "'AL2023_x86_64_NVIDIA'" in found[0]


def _stack(taints: list[dict], tolerations: object, *, gpu_pod: bool = True, ami: str = "AL2023_x86_64_NVIDIA",
           instance: str = "g5.xlarge") -> list[tuple[str, str, dict]]:
    spec = _gpu_spec(tolerations) if gpu_pod else pod_spec(tolerations=tolerations)
    return [(NODE_GROUP, "gpu-nodes", gpu_node_group(taints=taints, amiType=ami, instanceTypes=[instance])),
            (DEPLOYMENT, "model", deployment(spec)),
            ("kubernetes:core/v1:Service", "model-svc", {"spec": {"tolerations": []}})]


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


@pytest.mark.parametrize(("toleration", "matches"), [
    ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, True),
    ({"key": "nvidia.com/gpu", "value": "true"}, True),  # Equal by default, every effect
    ({"operator": "Exists"}, True),
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": ""}, True),
    ({"key": "nvidia.com/gpu", "value": "yes", "effect": "NoSchedule"}, False),
    ({"key": "nvidia.com/gpu", "value": "true", "effect": "NoExecute"}, False),
    ({"key": "other", "operator": "Exists"}, False),
    ({"key": "nvidia.com/gpu", "operator": "Gt", "value": "true"}, False),
])
def test_a_gpu_pod_must_tolerate_the_node_groups_exact_taint_as_kubernetes_matches_it(toleration: dict,
                                                                                        matches: bool) -> None:
    found = stack_violations(gpu_taints_and_tolerations_match, _stack([GPU_TAINT], [toleration]))
    assert len(found) == (0 if matches else 1)
    if not matches:
        assert "nvidia.com/gpu=true:NoSchedule" in found[0][0] and "Deployment 'model'" in found[0][0]


def test_a_valueless_taint_is_matched_by_a_valueless_toleration_and_each_gpu_taint_is_checked() -> None:
    bare = {"key": "nvidia.com/gpu", "effect": "NO_SCHEDULE"}
    assert stack_violations(gpu_taints_and_tolerations_match,
                            _stack([bare], [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])) == []
    two = [GPU_TAINT, {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_EXECUTE"},
           {"key": "dedicated", "value": "x", "effect": "NO_SCHEDULE"}]  # not the GPU key: not required
    found = stack_violations(gpu_taints_and_tolerations_match, _stack(two, [dict(GPU_TOLERATION)]))
    assert [m.split("taint ")[1].split(";")[0] for m, _ in found] == ["nvidia.com/gpu=true:NoExecute"]


def test_taints_of_cpu_node_groups_cpu_pods_and_unknown_tolerations_are_not_matched() -> None:
    cpu_group = _stack([dict(GPU_TAINT, value="cpu")], [GPU_TOLERATION], ami="AL2023_x86_64_STANDARD",
                       instance="m7i.large")
    assert stack_violations(gpu_taints_and_tolerations_match, cpu_group) == []
    assert stack_violations(gpu_taints_and_tolerations_match, _stack([GPU_TAINT], [], gpu_pod=False)) == []
    assert stack_violations(gpu_taints_and_tolerations_match,
                            _stack([GPU_TAINT], [GPU_TOLERATION, UNKNOWN_STRING_VALUE])) == []


def test_a_container_still_unknown_does_not_hide_a_root_container_after_it() -> None:
    spec = pod_spec(securityContext={})
    spec["containers"] = [
        {"name": "pending", "image": DIGEST_IMAGE, "securityContext": {"runAsNonRoot": UNKNOWN_STRING_VALUE}},
        {"name": "rooted", "image": DIGEST_IMAGE, "securityContext": {"runAsNonRoot": False, "runAsUser": 1000}},
    ]
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec))
    assert "containers[1] 'rooted'" in message
    assert "securityContext.runAsNonRoot: true" in message and "non-zero runAsUser" in message


def test_an_untainted_gpu_node_group_is_named_with_its_ami_type() -> None:
    [message] = violations(gpu_node_groups_are_tainted, NODE_GROUP, gpu_node_group(taints=[]), name="gpu-ng")
    assert "EKS node group 'gpu-ng'" in message and "(amiType 'AL2023_x86_64_NVIDIA')" in message


def test_an_image_still_being_built_does_not_hide_a_tagged_image_after_it() -> None:
    spec = pod_spec()
    spec["containers"] = [dict(spec["containers"][0], image=UNKNOWN_STRING_VALUE),
                          dict(spec["containers"][0], name="sidecar", image="busybox:1.36")]
    [message] = violations(images_pinned_by_digest, DEPLOYMENT, deployment(spec))
    assert "containers[1] 'sidecar'" in message and "'busybox:1.36'" in message
    assert "`docker buildx imagetools inspect <image>`" in message  # the command that finds a digest


def test_a_repository_set_to_mutable_is_shown_as_set_not_as_the_default() -> None:
    [message] = violations(ecr_tags_immutable_and_scanned, REPOSITORY, ecr_repository(imageTagMutability="MUTABLE"))
    assert "imageTagMutability is MUTABLE;" in message and "set it to IMMUTABLE" in message


def test_a_template_without_volumes_or_with_an_unencrypted_one_is_named_with_the_field_to_set() -> None:
    [message] = violations(launch_templates_encrypt_ebs, LAUNCH_TEMPLATE, launch_template(blockDeviceMappings=[]),
                           name="gpu-lt")
    assert "EC2 launch template 'gpu-lt'" in message and "ebs.encrypted=true" in message
    template = launch_template()
    template["blockDeviceMappings"][0]["ebs"]["encrypted"] = "false"
    [message] = violations(launch_templates_encrypt_ebs, LAUNCH_TEMPLATE, template, name="gpu-lt")
    assert 'set ebs.encrypted="true"' in message and "kmsKeyId" in message
