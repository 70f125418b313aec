"""ModelRegistry: where model images live: an ECR repository on AWS, a local registry otherwise."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

import pulumi
import pulumi_aws as aws

from .. import _claims
from .._args import Constraint, Problem, between, checked_args, got, problems_of

# ECR's own repository name rule (CreateRepository API reference), 2..256 characters.
_ECR_NAME_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
LOCAL_ADDRESS_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$")
EcrName = Annotated[str, Constraint("must be 2..256 lowercase letters, digits and . _ - / separators (an ECR "
                                    "repository name)", lambda v: 2 <= len(v) <= 256 and bool(_ECR_NAME_RE.match(v))
                                    ).validator()]


@dataclass
class ModelRegistryArgs:
    """Inputs of `ModelRegistry`. Defaults are the safe ones: scanned, immutable, protected."""

    name: EcrName
    """Repository name, also the last part of every image reference (e.g. `my-ai-model`)."""
    mode: Literal["ecr", "local"] = "ecr"
    """`ecr` creates an AWS repository; `local` creates nothing and points at `local_address`."""
    keep_images: Annotated[int, between(1, 10000)] = 30
    """How many images the lifecycle policy keeps (the newest, tagged or not)."""
    untagged_expiry_days: Annotated[int, between(1, 3650)] = 1
    """Untagged images (left behind by failed or superseded pushes) expire after this many days."""
    scan_on_push: bool = True
    """Scan every pushed image for known vulnerabilities."""
    force_delete: bool = False
    """Let a destroy delete a repository that still holds images. When false the repository and
    its key are also protected, so a mistaken `pulumi destroy` stops before touching them."""
    kms_key_deletion_window_days: Annotated[int, between(7, 30)] = 30
    """Waiting period before a deleted encryption key is gone (7..30 days); images are unreadable after."""
    local_address: str = "localhost:5001"
    """`host:port` of the local registry (mode `local`)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags on the repository and key (the provider's default tags apply anyway)."""

    def _rules(self) -> list[Problem]:
        if self.mode == "local" and not LOCAL_ADDRESS_RE.match(self.local_address):
            return [("local_address", got(self.local_address, "must be host:port such as localhost:5001"))]
        return []


def validate_model_registry_args(args: ModelRegistryArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def lifecycle_policy(keep_images: int, untagged_expiry_days: int = 1) -> str:
    """The ECR lifecycle policy document: untagged images go fast, then only the newest `keep_images` stay.

    ECR requires the `tagStatus: any` rule to carry the highest `rulePriority` (it is evaluated last).
    Expiring untagged images fast is safe because each push is one single-platform manifest: there is
    no image index whose untagged children the rule would delete (aws/containers-roadmap#1466).
    """
    rules = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images {untagged_expiry_days} day(s) after push",
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                          "countUnit": "days", "countNumber": untagged_expiry_days},
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep only the {keep_images} most recent images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
            "action": {"type": "expire"},
        },
    ]
    return json.dumps({"rules": rules}, sort_keys=True)


class ModelRegistry(pulumi.ComponentResource):
    """The image registry of one model.

    Mode `ecr`: a customer-managed KMS key with yearly rotation, an ECR repository with immutable
    tags, scan on push and that key, and a lifecycle policy. Mode `local`: no resource at all; the
    outputs point at the local registry (`<local_address>/<name>`), which kind or k3d runs.
    """

    repository_url: pulumi.Output[str]
    """Where images are pushed and pulled: `<registry_server>/<name>`."""
    registry_server: pulumi.Output[str]
    """The registry host (`<account>.dkr.ecr.<region>.amazonaws.com`, or `local_address`)."""
    repository_arn: Optional[pulumi.Output[str]]
    """The ECR repository ARN (None in mode `local`)."""
    registry_id: Optional[pulumi.Output[str]]
    """The AWS account id owning the registry, for ECR login (None in mode `local`)."""
    kms_key_arn: Optional[pulumi.Output[str]]
    """The key encrypting the images (None in mode `local`)."""

    def __init__(self, name: str, args: ModelRegistryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelRegistry", name, args, ModelRegistryArgs)
        if args.mode == "ecr":
            # The repository name is the image address people pull by: one repository, one owner.
            _claims.claim("ModelRegistry", name, opts, [_claims.Claim("aws", "ECR repository", args.name, field="name")])
        super().__init__("gpu-model-platform:index:ModelRegistry", name, None, opts)
        self._args = args

        if args.mode == "ecr":
            self._create_repository(name)
        else:
            self.repository_url = pulumi.Output.from_input(f"{args.local_address}/{args.name}")
            self.registry_server = pulumi.Output.from_input(args.local_address)
            self.repository_arn = self.registry_id = self.kms_key_arn = None

        self.register_outputs({
            "repository_url": self.repository_url,
            "registry_server": self.registry_server,
            "repository_arn": self.repository_arn,
            "registry_id": self.registry_id,
            "kms_key_arn": self.kms_key_arn,
        })

    def _create_repository(self, name: str) -> None:
        a = self._args
        # Without force delete the images are the only copy of what prod runs: refuse to destroy them.
        keep = pulumi.ResourceOptions(parent=self, protect=not a.force_delete)
        tags = {"model-registry": a.name, **a.tags}
        # A customer-managed key rather than the AWS-managed `aws/ecr`: the image carries the trained
        # model, so its key policy, CloudTrail trail and the power to disable it belong to us; the cost
        # is $1 a month. Encryption settings are immutable on a repository: changing them replaces it.
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the images of the {a.name} model repository",
            enable_key_rotation=True,
            deletion_window_in_days=a.kms_key_deletion_window_days,
            tags=tags,
            opts=keep,
        )
        # The repository name is the image address people and CI pull by, so it is set, not auto-named.
        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=a.name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=a.scan_on_push),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=key.arn)],
            force_delete=a.force_delete,
            tags=tags,
            opts=keep,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(a.keep_images, a.untagged_expiry_days),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.repository_url = repository.repository_url
        self.registry_server = repository.repository_url.apply(lambda url: url.split("/", 1)[0])
        self.repository_arn = repository.arn
        self.registry_id = repository.registry_id
        self.kms_key_arn = key.arn
