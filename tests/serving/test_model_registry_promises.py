"""ModelRegistry promises the mutation audit (issue 29) found unguarded: one ECR repository has one owner per AWS
account and region (the claim names it and the provider it goes through), and the key's ARN reaches the outputs."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components._args import InvalidArgs
from components.serving.model_registry import ModelRegistry, ModelRegistryArgs
from tests.harness import only
from tools.synth import run


def test_two_registries_of_one_repository_through_one_provider_fail_naming_the_repository_and_the_provider():
    def program() -> None:
        regional = aws.Provider("eu", region="eu-west-1")
        for instance in ("a", "b"):
            ModelRegistry(instance, ModelRegistryArgs(name="fraud"), pulumi.ResourceOptions(providers={"aws": regional}))

    with pytest.raises(InvalidArgs) as caught:
        run(program)
    assert str(caught.value).startswith("ModelRegistry 'b': name: ECR repository 'fraud' (through provider 'eu') "
                                        "already created by ModelRegistry 'a'")


def test_one_repository_name_in_two_regions_or_accounts_is_two_repositories():
    def program() -> None:
        ModelRegistry("here", ModelRegistryArgs(name="fraud"))
        ModelRegistry("there", ModelRegistryArgs(name="fraud"),
                      pulumi.ResourceOptions(providers={"aws": aws.Provider("eu", region="eu-west-1")}))

    assert len(run(program).of_type("aws:ecr/repository:Repository")) == 2


def test_a_local_registry_claims_no_ecr_repository():
    run(lambda: [ModelRegistry(n, ModelRegistryArgs(name="fraud", mode="local")) for n in ("a", "b")])


def test_the_key_encrypting_the_images_is_a_registered_output():
    synthesis = run(lambda: ModelRegistry("registry", ModelRegistryArgs(name="my-ai-model")))
    key = only(synthesis.of_type("aws:kms/key:Key"))
    outputs = only(synthesis.of_type("gpu-model-platform:index:ModelRegistry")).component_outputs
    assert outputs["kms_key_arn"] == key.outputs["arn"]
