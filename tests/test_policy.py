"""The policy pack (policy/): every policy both ways, the runtime path, and the real programs.

Policies are driven through pulumi_policy's own argument types (`ResourceValidationArgs`,
`StackValidationArgs`, `PolicyResource`), with properties behind its unknown-checking proxy
exactly as the analyzer hands them over.
"""

from __future__ import annotations

import copy
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_policy
import pulumi_policy.policy as analyzer
import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto, rpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy.platform_policies import PACK_NAME, all_policies
from policy.platform_policies._runtime import (
    deserialize_keeping_secrets,
    keep_secrets_visible,
)
from policy.platform_policies.availability import production_availability
from policy.platform_policies.cluster import eks_endpoint_not_public_to_world
from policy.platform_policies.containers import (
    containers_have_resource_limits,
    containers_run_as_non_root,
)
from policy.platform_policies.gpu import (
    gpu_node_groups_are_tainted,
    gpu_pods_tolerate_gpu_taint,
    gpu_taints_and_tolerations_match,
)
from policy.platform_policies.images import (
    ecr_tags_immutable_and_scanned,
    images_pinned_by_digest,
)
from policy.platform_policies.nodes import (
    launch_templates_encrypt_ebs,
    launch_templates_require_imdsv2,
    node_groups_use_launch_template,
)
from policy.platform_policies.secrets import is_sensitive_name, no_plaintext_secrets

ROOT = Path(__file__).resolve().parents[1]
POLICY_DIR = ROOT / "policy"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "ab" * 32
APP_LABELS = {"app.kubernetes.io/name": "my-ai-model"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


# ---- pulumi_policy argument builders ---------------------------------------------------------

def _options(parent: str | None = None, ignore_changes: list[str] | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=list(ignore_changes or []), delete_before_replace=None,
                                 aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=parent)


def _urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::gpu-model-platform::{resource_type}::{name}"


def resource_args(resource_type: str, props: dict, name: str = "subject",
                  config: dict | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(copy.deepcopy(props)),
                                  _urn(resource_type, name), name, _options(), None, config)


def violations(policy: ResourceValidationPolicy, resource_type: str, props: dict, name: str = "subject") -> list[str]:
    found: list[str] = []
    policy.validate(resource_args(resource_type, props, name), lambda message, urn=None: found.append(message))
    return found


def policy_resource(resource_type: str, name: str, props: dict,
                    ignore_changes: list[str] | None = None) -> PolicyResource:
    return PolicyResource(resource_type, unknown_checking_proxy(copy.deepcopy(props)), _urn(resource_type, name),
                          name, _options(ignore_changes=ignore_changes), None, None, [], {})


def stack_violations(policy: StackValidationPolicy, resources: list[tuple[str, str, dict]],
                     config: dict | None = None) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    args = StackValidationArgs([policy_resource(*r) for r in resources], config)
    policy.validate(args, lambda message, urn=None: found.append((message, urn)))
    return found


# ---- compliant resources, changed per test ---------------------------------------------------

def pod_spec(**changes: Any) -> dict:
    spec = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
        "containers": [{
            "name": "server",
            "image": DIGEST_IMAGE,
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        }],
    }
    spec.update(changes)
    return spec


def gpu_pod_spec(**changes: Any) -> dict:
    spec = pod_spec(**{"tolerations": [GPU_TOLERATION], **changes})
    for section in ("requests", "limits"):
        spec["containers"][0]["resources"][section]["nvidia.com/gpu"] = "1"
    return spec


def deployment(spec: dict | None = None, replicas: int | None = 2, name: str = "my-ai-model",
               namespace: str = "my-ai-model", labels: dict | None = None) -> dict:
    labels = labels or APP_LABELS
    body: dict = {"selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": spec or pod_spec()}}
    if replicas is not None:
        body["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": body}


def disruption_budget(namespace: str = "my-ai-model", labels: dict | None = None) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "my-ai-model", "namespace": namespace},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels or APP_LABELS}}}


def ecr_repository(**changes: Any) -> dict:
    return {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True},
            "encryptionConfigurations": [{"encryptionType": "KMS"}], **changes}


def gpu_node_group(**changes: Any) -> dict:
    return {"amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["g5.xlarge"], "capacityType": "SPOT",
            "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
            "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"},
            "scalingConfig": {"minSize": 0, "maxSize": 2, "desiredSize": 0}, **changes}


def launch_template(**changes: Any) -> dict:
    return {"metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled", "httpPutResponseHopLimit": 1},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                     "ebs": {"volumeSize": 100, "volumeType": "gp3", "encrypted": "true"}}],
            **changes}


def eks_cluster(**vpc_changes: Any) -> dict:
    vpc = {"subnetIds": ["subnet-1", "subnet-2"], "endpointPrivateAccess": True, "endpointPublicAccess": True,
           "publicAccessCidrs": ["203.0.113.0/24"], **vpc_changes}
    return {"name": "gpu-dev", "version": "1.33", "vpcConfig": vpc}


# ---- images and registry -----------------------------------------------------------------------

def test_images_pinned_by_digest_passes_a_digest_reference():
    assert violations(images_pinned_by_digest, DEPLOYMENT, deployment()) == []


@pytest.mark.parametrize("image", ["my-ai-model:latest", "registry.example.com/my-ai-model:1.2.0", "my-ai-model",
                                   "my-ai-model@sha256:short"])
def test_images_pinned_by_digest_reports_a_tag_naming_the_resource_and_container(image):
    spec = pod_spec()
    spec["containers"][0]["image"] = image
    [message] = violations(images_pinned_by_digest, DEPLOYMENT, deployment(spec), name="model-deployment")
    assert "Deployment 'model-deployment'" in message
    assert "'server'" in message and repr(image) in message
    assert "@sha256:" in message


@pytest.mark.parametrize("resource_type, wrap", [
    ("kubernetes:core/v1:Pod", lambda spec: {"spec": spec}),
    ("kubernetes:apps/v1:StatefulSet", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("kubernetes:apps/v1:DaemonSet", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("kubernetes:batch/v1:Job", lambda spec: {"spec": {"template": {"spec": spec}}}),
    ("kubernetes:batch/v1:CronJob", lambda spec: {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
])
def test_images_pinned_by_digest_reads_every_workload_kind_including_init_containers(resource_type, wrap):
    spec = pod_spec(initContainers=[{"name": "fetch", "image": "busybox:1.36"}])
    assert violations(images_pinned_by_digest, resource_type, wrap(pod_spec())) == []
    [message] = violations(images_pinned_by_digest, resource_type, wrap(spec))
    assert "initContainers[0] 'fetch'" in message


def test_images_pinned_by_digest_leaves_an_image_still_being_built_to_the_update():
    spec = pod_spec()
    spec["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    assert violations(images_pinned_by_digest, DEPLOYMENT, deployment(spec)) == []


def test_ecr_repository_with_immutable_tags_and_scan_on_push_passes():
    assert violations(ecr_tags_immutable_and_scanned, "aws:ecr/repository:Repository", ecr_repository()) == []


def test_ecr_repository_with_mutable_tags_or_no_scanning_is_reported_with_the_fix():
    found = violations(ecr_tags_immutable_and_scanned, "aws:ecr/repository:Repository",
                       {"imageScanningConfiguration": {"scanOnPush": False}}, name="registry-repository")
    assert len(found) == 2
    assert all("ECR repository 'registry-repository'" in m for m in found)
    assert any("imageTagMutability is MUTABLE (the default)" in m and "IMMUTABLE" in m for m in found)
    assert any("scanOnPush is False" in m and "set it to true" in m for m in found)


# ---- containers --------------------------------------------------------------------------------

def test_containers_with_a_non_root_pod_security_context_pass():
    assert violations(containers_run_as_non_root, DEPLOYMENT, deployment()) == []


def test_a_container_that_may_run_as_root_is_reported():
    spec = pod_spec(securityContext={})
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec), name="model-deployment")
    assert "Deployment 'model-deployment'" in message and "runAsNonRoot: true" in message


def test_a_container_running_as_uid_0_is_reported_even_when_the_pod_says_non_root():
    spec = pod_spec()
    spec["containers"][0]["securityContext"] = {"runAsUser": 0}
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec))
    assert "runAsUser: 0" in message


def test_containers_with_cpu_and_memory_limits_pass():
    assert violations(containers_have_resource_limits, DEPLOYMENT, deployment()) == []


def test_a_container_without_limits_is_reported_naming_what_is_missing():
    spec = pod_spec()
    spec["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    [message] = violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec), name="model-deployment")
    assert "Deployment 'model-deployment'" in message and "no memory limit" in message
    assert "resources.limits.memory" in message


# ---- GPU scheduling ----------------------------------------------------------------------------

def test_a_gpu_pod_with_the_gpu_toleration_passes_and_a_cpu_pod_needs_none():
    assert violations(gpu_pods_tolerate_gpu_taint, DEPLOYMENT, deployment(gpu_pod_spec())) == []
    assert violations(gpu_pods_tolerate_gpu_taint, DEPLOYMENT, deployment(pod_spec())) == []


@pytest.mark.parametrize("tolerations", [
    [],
    [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}],
    [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
])
def test_a_gpu_pod_without_the_gpu_toleration_is_reported(tolerations):
    [message] = violations(gpu_pods_tolerate_gpu_taint, DEPLOYMENT,
                           deployment(gpu_pod_spec(tolerations=tolerations)), name="model-deployment")
    assert "Deployment 'model-deployment'" in message
    assert "nvidia.com/gpu:NoSchedule" in message and "toleration" in message


def test_a_gpu_node_group_carrying_the_taint_passes():
    assert violations(gpu_node_groups_are_tainted, "aws:eks/nodeGroup:NodeGroup", gpu_node_group()) == []


@pytest.mark.parametrize("changes", [
    {"taints": []},
    {"amiType": "AL2_x86_64_GPU", "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_EXECUTE"}]},
    {"amiType": "CUSTOM", "taints": None},  # a GPU instance type gives it away without an NVIDIA AMI type
])
def test_a_gpu_node_group_without_the_taint_is_reported(changes):
    [message] = violations(gpu_node_groups_are_tainted, "aws:eks/nodeGroup:NodeGroup", gpu_node_group(**changes),
                           name="gpu-nodes-node-group")
    assert "EKS node group 'gpu-nodes-node-group'" in message and "NO_SCHEDULE" in message


def test_a_cpu_node_group_needs_no_gpu_taint():
    cpu = gpu_node_group(amiType="AL2023_x86_64_STANDARD", instanceTypes=["m7i.large"], taints=[])
    assert violations(gpu_node_groups_are_tainted, "aws:eks/nodeGroup:NodeGroup", cpu) == []


def test_gpu_pods_must_tolerate_the_exact_taint_their_node_groups_carry():
    node_group = ("aws:eks/nodeGroup:NodeGroup", "gpu-nodes", gpu_node_group())
    assert stack_violations(gpu_taints_and_tolerations_match,
                            [node_group, (DEPLOYMENT, "model", deployment(gpu_pod_spec()))]) == []
    wrong_value = dict(GPU_TOLERATION, value="yes")
    [(message, urn)] = stack_violations(
        gpu_taints_and_tolerations_match,
        [node_group, (DEPLOYMENT, "model", deployment(gpu_pod_spec(tolerations=[wrong_value])))])
    assert "Deployment 'model'" in message and "nvidia.com/gpu=true:NoSchedule" in message
    assert urn == _urn(DEPLOYMENT, "model")


# ---- production availability -------------------------------------------------------------------

PROD = production_availability(current_stack=lambda: "prod")


def test_prod_deployment_with_two_replicas_and_a_matching_budget_passes():
    resources = [(DEPLOYMENT, "model", deployment(replicas=2)),
                 ("kubernetes:policy/v1:PodDisruptionBudget", "model-pdb", disruption_budget())]
    assert stack_violations(PROD, resources) == []


def test_prod_deployment_with_one_replica_and_no_budget_is_reported_twice():
    found = stack_violations(PROD, [(DEPLOYMENT, "model-deployment", deployment(replicas=1))])
    messages = [m for m, _ in found]
    assert len(messages) == 2
    assert any("runs 1 replica(s) in production stack 'prod'" in m and "at least 2" in m for m in messages)
    assert any("no PodDisruptionBudget" in m for m in messages)
    assert all("Deployment 'model-deployment'" in m for m in messages)
    assert {urn for _, urn in found} == {_urn(DEPLOYMENT, "model-deployment")}


def test_a_budget_in_another_namespace_or_for_other_pods_does_not_count():
    for budget in (disruption_budget(namespace="other"), disruption_budget(labels={"app": "other"})):
        found = stack_violations(PROD, [(DEPLOYMENT, "model", deployment()),
                                        ("kubernetes:policy/v1:PodDisruptionBudget", "pdb", budget)])
        assert [m for m, _ in found if "no PodDisruptionBudget" in m], budget


def test_an_autoscaler_owns_the_replica_floor():
    hpa = {"metadata": {"namespace": "my-ai-model"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "my-ai-model"}, "minReplicas": 1}}
    found = stack_violations(PROD, [(DEPLOYMENT, "model", deployment(replicas=3)),
                                    ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa", hpa),
                                    ("kubernetes:policy/v1:PodDisruptionBudget", "pdb", disruption_budget())])
    assert [m for m, _ in found] and "runs 1 replica(s)" in found[0][0]


def test_availability_rules_apply_to_production_stacks_only_and_are_configurable():
    single = [(DEPLOYMENT, "model", deployment(replicas=1))]
    assert stack_violations(production_availability(current_stack=lambda: "dev"), single) == []
    assert stack_violations(production_availability(current_stack=lambda: "dev"), single,
                            config={"productionStacks": ["dev"]})


def test_the_production_policy_reads_the_engines_stack_by_default(monkeypatch):
    monkeypatch.setattr(pulumi.runtime.settings.SETTINGS, "stack", "prod")
    found = stack_violations(production_availability(), [(DEPLOYMENT, "model", deployment(replicas=1))])
    assert found


# ---- nodes and cluster -------------------------------------------------------------------------

def test_node_groups_with_a_launch_template_pass_and_without_one_are_reported():
    assert violations(node_groups_use_launch_template, "aws:eks/nodeGroup:NodeGroup", gpu_node_group()) == []
    without = gpu_node_group(launchTemplate=None, diskSize=100)
    [message] = violations(node_groups_use_launch_template, "aws:eks/nodeGroup:NodeGroup", without, name="gpu-ng")
    assert "EKS node group 'gpu-ng'" in message and "httpTokens=required" in message


def test_launch_templates_requiring_imdsv2_pass_and_optional_tokens_are_reported():
    lt = "aws:ec2/launchTemplate:LaunchTemplate"
    assert violations(launch_templates_require_imdsv2, lt, launch_template()) == []
    for metadata in ({"httpTokens": "optional"}, {}):
        [message] = violations(launch_templates_require_imdsv2, lt, launch_template(metadataOptions=metadata),
                               name="gpu-lt")
        assert "EC2 launch template 'gpu-lt'" in message and 'set it to "required"' in message


def test_launch_templates_with_encrypted_volumes_pass_and_unencrypted_or_unmapped_are_reported():
    lt = "aws:ec2/launchTemplate:LaunchTemplate"
    assert violations(launch_templates_encrypt_ebs, lt, launch_template()) == []
    unencrypted = launch_template()
    unencrypted["blockDeviceMappings"][0]["ebs"]["encrypted"] = "false"
    [message] = violations(launch_templates_encrypt_ebs, lt, unencrypted, name="gpu-lt")
    assert "EC2 launch template 'gpu-lt'" in message and "/dev/xvda" in message and "encrypted" in message
    [message] = violations(launch_templates_encrypt_ebs, lt, launch_template(blockDeviceMappings=[]))
    assert "no blockDeviceMappings" in message


def test_an_eks_endpoint_limited_to_listed_cidrs_or_private_passes():
    cluster = "aws:eks/cluster:Cluster"
    assert violations(eks_endpoint_not_public_to_world, cluster, eks_cluster()) == []
    assert violations(eks_endpoint_not_public_to_world, cluster,
                      eks_cluster(endpointPublicAccess=False, publicAccessCidrs=None)) == []


@pytest.mark.parametrize("vpc, shown", [
    ({"publicAccessCidrs": ["0.0.0.0/0"]}, "0.0.0.0/0"),
    ({"publicAccessCidrs": ["203.0.113.0/24", "::/0"]}, "::/0"),
    ({"publicAccessCidrs": None}, "0.0.0.0/0 (the default)"),
    ({"endpointPublicAccess": None, "publicAccessCidrs": None}, "0.0.0.0/0 (the default)"),
])
def test_an_eks_endpoint_open_to_the_world_is_reported(vpc, shown):
    [message] = violations(eks_endpoint_not_public_to_world, "aws:eks/cluster:Cluster", eks_cluster(**vpc),
                           name="cluster-eks")
    assert "EKS cluster 'cluster-eks'" in message and f"open to {shown}" in message
    assert "publicAccessCidrs" in message


# ---- secrets -----------------------------------------------------------------------------------

SECRET_TYPE = "kubernetes:core/v1:Secret"
HELM = "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize("name, sensitive", [
    ("adminPassword", True), ("routing_key", True), ("apiKey", True), ("slack_api_url", True), ("token", True),
    ("passwordKey", False), ("existingSecret", False), ("bearerTokenFile", False), ("secretKeyRef", False),
    ("automountServiceAccountToken", True), ("username", False),
])
def test_credential_names_are_told_from_names_that_point_at_one(name, sensitive):
    assert is_sensitive_name(name) is sensitive


def test_a_kubernetes_secret_whose_data_are_pulumi_secrets_passes():
    props = {"type": "Opaque", "stringData": {"API_TOKEN": Secret("s3cr3t")}, "data": Secret({"a": "YQ=="})}
    assert violations(no_plaintext_secrets, SECRET_TYPE, props) == []


def test_a_kubernetes_secret_with_plain_text_data_is_reported_per_key():
    props = {"stringData": {"API_TOKEN": "s3cr3t", "OK": Secret("x")}, "data": {"b": "Yg=="}}
    found = violations(no_plaintext_secrets, SECRET_TYPE, props, name="model-env")
    assert len(found) == 2
    assert all("Secret 'model-env'" in m and "Output.secret" in m for m in found)
    assert any("stringData.API_TOKEN" in m for m in found) and any("data.b" in m for m in found)
    assert not any("s3cr3t" in m for m in found), "a violation message must not print the secret"


def test_helm_values_with_a_plain_text_password_are_reported_and_references_pass():
    ok = {"values": {"grafana": {"admin": {"existingSecret": "grafana-admin", "passwordKey": "admin-password"},
                                 "adminPassword": Secret("from-config")},
                     "alertmanager": {"config": {"receivers": [{"pagerduty_configs": [
                         {"routing_key": Secret("k")}]}]}}}}
    assert violations(no_plaintext_secrets, HELM, ok) == []
    bad = {"values": {"grafana": {"adminPassword": "prom-operator"},
                      "alertmanager": {"config": {"receivers": [{"pagerduty_configs": [{"routing_key": "k"}]}]}}}}
    found = violations(no_plaintext_secrets, HELM, bad, name="monitoring-kube-prometheus-stack")
    assert len(found) == 2
    assert all("Helm release 'monitoring-kube-prometheus-stack'" in m and "existingSecret" in m for m in found)
    assert {"values.grafana.adminPassword", "values.alertmanager.config.receivers[0].pagerduty_configs[0].routing_key"} \
        == {m.split(": ")[1].split(" holds")[0] for m in found}
    assert not any("prom-operator" in m for m in found)


def test_a_credential_in_pod_env_or_a_config_map_is_reported():
    spec = pod_spec()
    spec["containers"][0]["env"] = [{"name": "HF_TOKEN", "value": "hf_abc"}, {"name": "PORT", "value": "8080"},
                                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]
    [message] = violations(no_plaintext_secrets, DEPLOYMENT, deployment(spec), name="model-deployment")
    assert "Deployment 'model-deployment'" in message and "HF_TOKEN" in message and "secretKeyRef" in message
    [message] = violations(no_plaintext_secrets, "kubernetes:core/v1:ConfigMap", {"data": {"apiKey": "x"}},
                           name="settings")
    assert "ConfigMap 'settings'" in message and "data.apiKey" in message


# ---- the analyzer at run time ------------------------------------------------------------------

def _analyze(resource_type: str, properties: dict, policies: list) -> list[str]:
    """Run pulumi_policy's own analyzer servicer on a request shaped as the engine sends it."""
    servicer = analyzer._PolicyAnalyzerServicer(PACK_NAME, "0.1.0", policies, EnforcementLevel.MANDATORY)
    request = proto.AnalyzeRequest(type=resource_type, urn=_urn(resource_type, "subject"), name="subject",
                                   properties=json_format.ParseDict(properties, struct_pb2.Struct()))
    return [d.message for d in servicer.Analyze(request, None).diagnostics]


def _engine_secret(value: Any) -> dict:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


@pytest.fixture
def restore_analyzer(monkeypatch):
    """Whatever a test does to the analyzer's deserializer is undone afterwards."""
    monkeypatch.setattr(analyzer, "deserialize_properties", analyzer.deserialize_properties)


def test_pulumi_policy_alone_hides_which_properties_are_secret(restore_analyzer):
    """Why `keep_secrets_visible` exists: without it a secret looks like plain text to every policy."""
    found = _analyze(SECRET_TYPE, {"stringData": {"token": _engine_secret("s3cr3t")}}, [no_plaintext_secrets])
    assert found, "pulumi-policy now keeps secrets visible by itself: drop policy/platform_policies/_runtime.py"


def test_with_secrets_kept_visible_the_analyzer_tells_secret_from_plain_text(restore_analyzer):
    keep_secrets_visible()
    assert analyzer.deserialize_properties is deserialize_keeping_secrets
    assert _analyze(SECRET_TYPE, {"stringData": {"token": _engine_secret("s3cr3t")}}, [no_plaintext_secrets]) == []
    [message] = _analyze(SECRET_TYPE, {"stringData": {"token": "s3cr3t"}}, [no_plaintext_secrets])
    assert "stringData.token is not a Pulumi secret" in message


def test_an_unknown_image_during_preview_is_not_a_violation_and_a_tag_is(restore_analyzer):
    keep_secrets_visible()
    unknown = deployment()
    unknown["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    assert _analyze(DEPLOYMENT, unknown, [images_pinned_by_digest, containers_run_as_non_root]) == []
    tagged = deployment()
    tagged["spec"]["template"]["spec"]["containers"][0]["image"] = "my-ai-model:latest"
    [message] = _analyze(DEPLOYMENT, tagged, [images_pinned_by_digest])
    assert "not pinned by digest" in message


# ---- the pack ----------------------------------------------------------------------------------

def test_the_pack_entry_point_builds_one_mandatory_pack_of_every_policy(monkeypatch, restore_analyzer):
    built: dict = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    monkeypatch.syspath_prepend(str(POLICY_DIR))
    for module in [m for m in sys.modules if m == "platform_policies" or m.startswith("platform_policies.")]:
        monkeypatch.delitem(sys.modules, module)
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    assert built["name"] == PACK_NAME
    assert built["enforcement_level"] is EnforcementLevel.MANDATORY
    names = [p.name for p in built["policies"]]
    assert names == [p.name for p in all_policies()] and len(set(names)) == len(names) == 25
    assert analyzer.deserialize_properties.__name__ == "deserialize_keeping_secrets"


def test_the_pack_project_file_runs_python_from_its_own_virtualenv_with_pinned_dependencies():
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    pins = {}
    for path in (ROOT / "requirements.txt", ROOT / "requirements-dev.txt"):
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                pins[name.strip().lower()] = version.strip()
    for line in (POLICY_DIR / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert pins.get(name.lower()) == version, f"policy/requirements.txt pins {line}; the project tests {pins}"


# ---- the real programs ---------------------------------------------------------------------------

def _engine_view(value: Any) -> Any:
    """Synth's recorded inputs as the analyzer hands them over: secrets as `pulumi_policy.Secret`."""
    if rpc.is_rpc_secret(value):
        return Secret(_engine_view(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _engine_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_view(v) for v in value]
    return value


def final_state(r) -> dict:
    """What `AnalyzeStack` sees of a resource: its outputs (a bridged resource's include its id), or a component's
    registered outputs."""
    if not r.custom:
        return _engine_view(r.component_outputs or {})
    return {**_engine_view(r.outputs), "id": r.id}


def pack_violations(synthesis, stack: str, policies: list | None = None, mutate=None,
                    config: dict | None = None, pack_config: dict | None = None) -> list[str]:
    """Run the whole pack over a synthesized program, as `pulumi preview --policy-pack policy` would.

    Resource policies see each resource's inputs; stack policies see every resource's final state. `mutate`
    may change that state first (name, type, properties) to reintroduce a defect. `config` goes to every stack
    policy; `pack_config` is a `--policy-pack-config` file's content, each policy getting its own entry.
    """
    found: list[str] = []
    policies = policies if policies is not None else all_policies(current_stack=lambda: stack)
    resources = []
    for r in synthesis.resources:
        props = _engine_view(r.raw_inputs)
        if r.type.startswith("kubernetes:") and isinstance(props.get("metadata"), dict):
            props["metadata"].setdefault("name", (r.outputs.get("metadata") or {}).get("name"))
        state = final_state(r)
        if mutate is not None:
            mutate(r.name, r.type, state)
        resources.append(policy_resource(r.type, r.name, state, r.options.get("ignoreChanges")))
        for policy in policies:
            if isinstance(policy, ResourceValidationPolicy):
                policy.validate(resource_args(r.type, props, r.name),
                                lambda m, urn=None, p=policy.name: found.append(f"[{p}] {m}"))
    for policy in policies:
        if isinstance(policy, StackValidationPolicy):
            own = config if pack_config is None else pack_config.get(policy.name)
            policy.validate(StackValidationArgs(resources, own),
                            lambda m, urn=None, p=policy.name: found.append(f"[{p}] {m}"))
    return found


def test_the_model_service_component_passes_the_pack_and_one_prod_replica_does_not():
    from components import GpuNodeGroup, GpuNodeGroupArgs, GpuScheduling, ModelService, ModelServiceArgs
    from tests.harness import components

    def build(replicas: int):
        def program(opts: pulumi.ResourceOptions) -> None:
            scheduling = GpuScheduling()
            # The GPU capacity the model's pods land on (a team bringing its own cluster adds just this).
            GpuNodeGroup("gpu", GpuNodeGroupArgs(cluster_name="team", subnet_ids=["subnet-a", "subnet-b"],
                                                 scheduling=scheduling))
            ModelService("model", ModelServiceArgs(image=DIGEST_IMAGE, gpus=1, gpu_scheduling=scheduling,
                                                   replicas=replicas, secret_env={"API_TOKEN": "s3cr3t"}), opts)
        return components(program)

    # The team's own cluster enforces NetworkPolicies: stated in the pack's config, as no Cluster component does.
    stated = {"clusterEnforcesNetworkPolicies": True}
    assert pack_violations(build(2), "prod", config=stated) == []
    found = pack_violations(build(1), "prod", config=stated)
    assert found and all(m.startswith("[production-replicas-and-disruption-budget]") for m in found), found
    assert any("Deployment 'model-deployment'" in m for m in found)


def test_the_registry_component_passes_the_pack_and_without_scanning_it_does_not():
    from components.serving.model_registry import ModelRegistry, ModelRegistryArgs
    from tools.synth import run

    assert pack_violations(run(lambda: ModelRegistry("registry", ModelRegistryArgs(name="my-ai-model"))), "prod") == []
    found = pack_violations(run(lambda: ModelRegistry("registry", ModelRegistryArgs(name="my-ai-model",
                                                                                     scan_on_push=False))), "dev")
    assert len(found) == 1 and found[0].startswith("[ecr-tags-immutable-and-scanned] ECR repository"), found


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_synthesized_dev_prod_and_local_programs_pass_the_whole_pack(stack):
    from tests.harness import stack as synthesized

    found = pack_violations(synthesized(stack), stack)
    assert found == [], f"{stack}: {len(found)} policy violation(s):\n" + "\n".join(found)


def test_the_dev_program_judged_by_the_production_rules_is_reported():
    """The synthesized program is really seen by the pack: dev's single replica fails prod's rules."""
    from tests.harness import stack as synthesized

    found = pack_violations(synthesized("dev"), "prod")
    assert found and all(m.startswith("[production-replicas-and-disruption-budget] Deployment") for m in found), found
