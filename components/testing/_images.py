"""Fakes for the model image path: ECR repository and lifecycle policy, its KMS key, the ECR login
token, and the Docker image build and push."""

from __future__ import annotations

import base64
import posixpath
from typing import Any

from ._registry import FakeCloud, fake_call, fake_resource


def _registry_host(cloud: FakeCloud) -> str:
    return f"{cloud.account_id}.dkr.ecr.{cloud.region}.amazonaws.com"


@fake_resource("aws:ecr/repository:Repository")
def ecr_repository(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    repository = inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}"
    return {
        "name": repository,
        "arn": cloud.arn("ecr", f"repository/{repository}"),
        "registryId": cloud.account_id,
        "repositoryUrl": f"{_registry_host(cloud)}/{repository}",
        "tagsAll": dict(inputs.get("tags") or {}),
    }


@fake_resource("aws:ecr/lifecyclePolicy:LifecyclePolicy")
def ecr_lifecycle_policy(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"registryId": cloud.account_id}


@fake_resource("aws:kms/key:Key")
def kms_key(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    h = cloud.digest("kms", name)
    key_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return {
        "keyId": key_id,
        "arn": cloud.arn("kms", f"key/{key_id}"),
        "keyUsage": inputs.get("keyUsage", "ENCRYPT_DECRYPT"),
        "customerMasterKeySpec": inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
        "isEnabled": inputs.get("isEnabled", True),
        "rotationPeriodInDays": inputs.get("rotationPeriodInDays", 365 if inputs.get("enableKeyRotation") else 0),
        "tagsAll": dict(inputs.get("tags") or {}),
    }


@fake_call("aws:ecr/getAuthorizationToken:getAuthorizationToken")
def ecr_authorization_token(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    registry_id = args.get("registryId") or cloud.account_id
    password = f"fake-ecr-token-{cloud.digest('ecr-token', registry_id)[:32]}"
    return {
        "id": cloud.region,
        "registryId": registry_id,
        "userName": "AWS",
        "password": password,
        "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
        "proxyEndpoint": f"https://{registry_id}.dkr.ecr.{cloud.region}.amazonaws.com",
        "expiresAt": "2030-01-01T12:00:00Z",
    }


@fake_resource("docker:index/image:Image")
def docker_image(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    image_name = inputs["imageName"]
    repository, _, _ = image_name.rpartition(":") if ":" in image_name.rsplit("/", 1)[-1] else (image_name, "", "")
    build = inputs.get("build") or {}
    context = build.get("context", ".")
    # The digest follows what is built (name with its tag, build settings), never the credentials.
    digest = cloud.digest("image", image_name, sorted((build.get("args") or {}).items()), build.get("target"),
                          build.get("platform"), context, build.get("dockerfile"))
    return {
        "baseImageName": image_name,
        "context": context,
        "dockerfile": posixpath.relpath(build.get("dockerfile") or f"{context}/Dockerfile", context),
        "platform": build.get("platform"),
        "registryServer": repository.split("/", 1)[0],
        "repoDigest": f"{repository}@sha256:{digest}",
    }
