"""ModelRegistry: the ECR repository's guarantees, its lifecycle policy, and the local stack's absence of AWS."""

from __future__ import annotations

import gc
import json

import botocore.loaders
import pulumi
import pulumi_aws as aws
import pytest

from components.serving.model_registry import ModelRegistry, ModelRegistryArgs, lifecycle_policy
from stack_config import ConfigError, RawConfig, StackConfig, load, read_stack_file
from stack_config.component_args import registry_args
from tests.harness import AWS_STACKS, TEST_SECRETS, only, stack_config, stack_file
from tools.synth import Synthesis, run

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
KEY = "aws:kms/key:Key"

ECR_SHAPES = botocore.loaders.Loader().load_service_model("ecr", "service-2")["shapes"]


@pytest.fixture(autouse=True)
def collect_garbage_after_each_test():
    """Mocked runs leave unclosed event loops and coroutines behind. Collecting them at this safe point
    keeps their finalizers out of a later `ast.parse`, which CPython 3.11.7 does not survive
    ("AST constructor recursion depth mismatch", python/cpython#106905, fixed in 3.11.8)."""
    yield
    gc.collect()


def _enum(shape: str) -> list[str]:
    return ECR_SHAPES[shape]["enum"]


def _registry(args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> Synthesis:
    return run(lambda: ModelRegistry("registry", args, opts))


def _default() -> Synthesis:
    return _registry(ModelRegistryArgs(name="my-ai-model"))


def config_with(stack: str, section: str, **changes) -> StackConfig:
    """A stack file's config with some keys of one section changed (validated like the real thing)."""
    raw = read_stack_file(stack_file(stack), TEST_SECRETS)
    sections = {**raw.sections, section: {**raw.sections.get(section, {}), **changes}}
    return load(RawConfig(sections=sections, secret_paths=raw.secret_paths))


def _policy(synthesis: Synthesis) -> dict:
    return json.loads(only(synthesis.of_type(LIFECYCLE), "lifecycle policy").inputs["policy"])


# --- the repository ------------------------------------------------------------------------------------

def test_tags_are_immutable_so_a_version_always_names_the_same_image():
    repository = only(_default().of_type(REPOSITORY), "repository")
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE", repository.name
    assert repository.inputs["imageTagMutability"] in _enum("ImageTagMutability")


@pytest.mark.parametrize("scan", [True, False])
def test_scan_on_push_follows_the_args(scan):
    repository = only(_registry(ModelRegistryArgs(name="my-ai-model", scan_on_push=scan)).of_type(REPOSITORY))
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": scan}, repository.name


def test_images_are_encrypted_with_a_rotating_customer_managed_key():
    synthesis = _default()
    repository = only(synthesis.of_type(REPOSITORY), "repository")
    key = only(synthesis.of_type(KEY), "KMS key")
    [encryption] = repository.inputs["encryptionConfigurations"]
    assert encryption == {"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}, repository.name
    assert encryption["encryptionType"] in _enum("EncryptionType")
    assert key.inputs["enableKeyRotation"] is True, key.name
    assert 7 <= key.inputs["deletionWindowInDays"] <= 30, key.name


def test_each_stack_names_its_repository_after_the_model_and_the_stack_so_one_account_holds_both():
    names = {}
    for stack in AWS_STACKS:
        repository = only(_registry(registry_args(stack_config(stack), stack)).of_type(REPOSITORY))
        names[stack] = repository.inputs["name"]
        assert names[stack] == f"my-ai-model-{stack}", repository.name
        assert repository.outputs["repositoryUrl"].endswith(f".amazonaws.com/my-ai-model-{stack}")
    assert len(set(names.values())) == len(names), f"two stacks claim one ECR repository: {names}"


def test_a_configured_repository_name_is_used_as_given():
    config = config_with("dev", "registry", name="shared-models")
    repository = only(_registry(registry_args(config, "dev")).of_type(REPOSITORY))
    assert repository.inputs["name"] == "shared-models"


def test_the_program_names_the_repository_after_the_running_stack():
    assert registry_args(stack_config("dev"), "Prod").name == "my-ai-model-prod"
    assert run(lambda: pulumi.export("name", registry_args(stack_config("dev")).name), stack="dev").stack_outputs == \
        {"name": "my-ai-model-dev"}


# --- lifecycle ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_lifecycle_policy_keeps_the_configured_number_of_images(name):
    config = stack_config(name)
    synthesis = _registry(registry_args(config, name))
    policy = _policy(synthesis)
    [keep] = [r for r in policy["rules"] if r["selection"]["tagStatus"] == "any"]
    assert keep["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan",
                                 "countNumber": config.registry.keep_images}
    assert keep["action"] == {"type": "expire"}
    policy_resource = only(synthesis.of_type(LIFECYCLE))
    assert policy_resource.inputs["repository"] == config.registry_name_for(name)


def test_untagged_images_expire_after_a_day():
    [untagged] = [r for r in _policy(_default())["rules"] if r["selection"]["tagStatus"] == "untagged"]
    assert untagged["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                     "countUnit": "days", "countNumber": 1}


@pytest.mark.parametrize("keep", [1, 10, 50, 1000])
def test_the_lifecycle_policy_is_one_ecr_accepts(keep):
    rules = json.loads(lifecycle_policy(keep))["rules"]
    priorities = [r["rulePriority"] for r in rules]
    assert len(set(priorities)) == len(priorities) and all(p >= 1 for p in priorities)
    # ECR rejects a policy whose `any` rule is not the one evaluated last.
    assert max(rules, key=lambda r: r["rulePriority"])["selection"]["tagStatus"] == "any"
    for rule in rules:
        assert rule["selection"]["tagStatus"].upper() in _enum("TagStatus")
        assert rule["action"]["type"].upper() in _enum("ImageActionType")
        assert rule["selection"]["countNumber"] >= 1


# --- lifecycle of the registry itself --------------------------------------------------------------------

def test_the_prod_registry_is_protected_and_never_force_deleted():
    config = stack_config("prod")
    assert config.registry.force_delete is False
    synthesis = _registry(registry_args(config, "prod"))
    repository = only(synthesis.of_type(REPOSITORY))
    assert repository.inputs["forceDelete"] is False
    for r in (repository, only(synthesis.of_type(KEY))):
        assert r.options["protect"] is True, f"{r.type} {r.name} must survive a mistaken destroy"


def test_the_dev_registry_can_be_destroyed_with_its_images():
    config = stack_config("dev")
    assert config.registry.force_delete is True
    synthesis = _registry(registry_args(config, "dev"))
    repository = only(synthesis.of_type(REPOSITORY))
    assert repository.inputs["forceDelete"] is True
    assert not any(r.options["protect"] for r in synthesis.resources), [r.name for r in synthesis.resources]


def test_the_local_stack_creates_no_aws_resource_and_points_at_the_local_registry():
    config = stack_config("local")
    synthesis = _registry(registry_args(config, "local"))
    assert [r.type for r in synthesis.resources] == ["gpu-model-platform:index:ModelRegistry"]
    outputs = only(synthesis.resources).component_outputs
    assert outputs["repository_url"] == f"{config.registry.local_address}/{config.registry_name}"
    assert outputs["registry_server"] == config.registry.local_address
    assert outputs.get("repository_arn") is None and outputs.get("registry_id") is None


def test_every_aws_resource_is_a_child_using_the_given_provider():
    def program():
        provider = aws.Provider("aws-test", region="eu-west-1")
        ModelRegistry("registry", ModelRegistryArgs(name="my-ai-model"), pulumi.ResourceOptions(providers={"aws": provider}))

    synthesis = run(program)
    component = only(synthesis.of_type("gpu-model-platform:index:ModelRegistry"))
    provider = only(synthesis.of_type("pulumi:providers:aws"))
    children = [r for r in synthesis.resources if r.type.startswith("aws:")]
    assert {r.type for r in children} == {REPOSITORY, LIFECYCLE, KEY}
    for r in children:
        assert r.parent == component.urn, r.name
        assert r.provider_urn == provider.urn, f"{r.type} {r.name} uses {r.provider!r}"


def test_component_outputs_are_registered():
    synthesis = _default()
    component = only(synthesis.of_type("gpu-model-platform:index:ModelRegistry"))
    repository = only(synthesis.of_type(REPOSITORY))
    outputs = component.component_outputs
    assert outputs["repository_url"] == repository.outputs["repositoryUrl"]
    assert outputs["repository_arn"] == repository.outputs["arn"]
    assert outputs["registry_server"] == repository.outputs["repositoryUrl"].split("/")[0]
    assert outputs["registry_id"] == "123456789012"


# --- validation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, expected", [
    ({"name": "My_Model"}, "name: got 'My_Model'"),
    ({"name": "x"}, "name: got 'x'"),
    ({"keep_images": 0}, "keep_images: got 0"),
    ({"untagged_expiry_days": 0}, "untagged_expiry_days: got 0"),
    ({"kms_key_deletion_window_days": 3}, "kms_key_deletion_window_days: got 3"),
    ({"mode": "dockerhub"}, "mode: got 'dockerhub'"),
    ({"mode": "local", "local_address": "http://localhost:5001"}, "local_address: got 'http://localhost:5001'"),
])
def test_bad_args_are_refused_naming_the_field_before_anything_is_registered(changes, expected):
    with pytest.raises(ValueError, match="ModelRegistry 'registry'") as caught:
        _registry(ModelRegistryArgs(**{"name": "my-ai-model", **changes}))
    assert expected in str(caught.value)
    assert caught.value.registered_resources == []


def test_a_local_address_that_is_not_host_and_port_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        config_with("local", "registry", localAddress="localhost")
    assert any(p.startswith("gpu-model-platform:registry.localAddress: got 'localhost'")
               for p in caught.value.problems), caught.value.problems
