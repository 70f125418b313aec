"""Small programs' building blocks for the serving tests: a model set up for a canary or for scale to zero, and the
cluster-wide controllers the components that act on it take."""

from __future__ import annotations

from typing import Any

import pulumi

from components.serving.model_service import ModelService, ModelServiceArgs
from components.serving.progressive_delivery import ArgoRollouts, ArgoRolloutsArgs
from components.serving.scale_to_zero import KedaHttpAddOn, KedaHttpAddOnArgs

DIGEST_IMAGE = "registry.example/model@sha256:" + "0" * 64


def rollouts(opts: pulumi.ResourceOptions | None) -> ArgoRollouts:
    return ArgoRollouts("argo-rollouts", ArgoRolloutsArgs(), opts)


def keda(opts: pulumi.ResourceOptions | None) -> KedaHttpAddOn:
    return KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)


def canary_model(opts: pulumi.ResourceOptions | None, instance: str = "model", **fields: Any) -> ModelService:
    """A model whose pods an Argo Rollout runs."""
    return ModelService(instance, ModelServiceArgs(**{"image": DIGEST_IMAGE, "progressive_rollout": True, **fields}),
                        opts)


def asleep_model(opts: pulumi.ResourceOptions | None, instance: str = "model", **fields: Any) -> ModelService:
    """A model KEDA scales, starting at zero."""
    return ModelService(instance, ModelServiceArgs(**{"image": DIGEST_IMAGE, "replicas": 0, "replica_owner": "keda",
                                                      **fields}), opts)
