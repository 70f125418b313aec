"""LLM weights from S3: a versioned, encrypted bucket, a role reading exactly the model's folder, and a read-only
Mountpoint volume at one digest, followed link by link from the pod to the S3 prefix."""

from __future__ import annotations

import json

import botocore.session
import pulumi
import pulumi_kubernetes as k8s
import pytest

from components._args import InvalidArgs
from components.capacity.gpu_scheduling import GpuScheduling
from components.serving.model_service import ModelService, ModelServiceArgs
from components.serving.model_weights import (
    CSI_DRIVER,
    LIST_ACTION,
    READ_ACTIONS,
    ModelWeights,
    ModelWeightsArgs,
    weights_key_prefix,
)
from components.serving.runtimes import VLLM
from tests.harness import components, only

DIGEST = "sha256-" + "ab" * 32
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
MODEL, NAMESPACE = "llama", "llm"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm@sha256:" + "c" * 64


def _args(**overrides) -> ModelWeightsArgs:
    return ModelWeightsArgs(**{"model_name": MODEL, "namespace": NAMESPACE, "oidc_provider_arn": OIDC,
                               "digest": DIGEST, "region": "us-east-1", **overrides})


def _synth(build):
    return components(build)


def _llm_program(opts: pulumi.ResourceOptions) -> None:
    namespace = k8s.core.v1.Namespace("ns", metadata={"name": NAMESPACE}, opts=opts)
    weights = ModelWeights("weights", _args(namespace=namespace.metadata.name), opts)
    ModelService("llm", ModelServiceArgs.for_runtime(
        VLLM, IMAGE, MODEL, weights.model_dir, namespace=NAMESPACE, create_namespace=False, gpus=1,
        gpu_scheduling=GpuScheduling(),
        service_account_role_arn=weights.role_arn, volumes=[weights.volume], volume_mounts=[weights.volume_mount]),
        opts)


def test_a_created_bucket_is_versioned_encrypted_private_and_tls_only():
    synthesis = _synth(lambda opts: ModelWeights("weights", _args(), opts))
    versioning = only(synthesis.of_type("aws:s3/bucketVersioning:BucketVersioning")).inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    encryption = only(synthesis.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")).inputs
    rule = only(encryption["rules"])
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms" and rule["bucketKeyEnabled"]
    block = only(synthesis.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")).inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    policy = json.loads(only(synthesis.of_type("aws:s3/bucketPolicy:BucketPolicy")).inputs["policy"])
    deny = only(policy["Statement"])
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_a_given_bucket_is_used_as_it_is():
    synthesis = _synth(lambda opts: ModelWeights("weights", _args(bucket="team-models"), opts))
    assert synthesis.of_type("aws:s3/bucket:Bucket") == []
    pv = only(synthesis.of_type("kubernetes:core/v1:PersistentVolume")).inputs
    assert pv["spec"]["csi"]["volumeAttributes"]["bucketName"] == "team-models"


def test_the_chain_from_the_pod_to_the_s3_prefix_holds_link_by_link():
    synthesis = _synth(_llm_program)
    deployment = only(synthesis.of_type("kubernetes:apps/v1:Deployment")).inputs
    pod = deployment["spec"]["template"]["spec"]
    # 1. the pod runs as the model's service account, which carries the weights role
    account = only(synthesis.of_type("kubernetes:core/v1:ServiceAccount")).inputs
    assert pod["serviceAccountName"] == account["metadata"]["name"] == MODEL
    role = only(synthesis.of_type("aws:iam/role:Role"))
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    # 2. the role trusts exactly that service account, through the cluster's OIDC provider
    trust = json.loads(role.inputs["assumeRolePolicy"])
    condition = only(trust["Statement"])["Condition"]["StringEquals"]
    assert condition["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"] == f"system:serviceaccount:{NAMESPACE}:{MODEL}"
    # 3. the pod mounts the claim read-only where the server loads the model from
    volume = only([v for v in pod["volumes"] if v["name"] == "weights"])
    claim = only(synthesis.of_type("kubernetes:core/v1:PersistentVolumeClaim")).inputs
    assert volume["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"], "readOnly": True}
    server = only(pod["containers"])
    assert only([m for m in server["volumeMounts"] if m["name"] == "weights"])["readOnly"] is True
    assert server["args"][0] == "/models"
    # 4. the claim binds the volume, which claims it back (no other claim may take it)
    pv = only(synthesis.of_type("kubernetes:core/v1:PersistentVolume")).inputs
    assert claim["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pv["spec"]["claimRef"] == {"namespace": NAMESPACE, "name": claim["metadata"]["name"]}
    assert claim["spec"]["accessModes"] == pv["spec"]["accessModes"] == ["ReadOnlyMany"]
    # 5. the volume is Mountpoint's, with the pod's own identity, read-only, at exactly the digest's folder
    assert pv["spec"]["csi"]["driver"] == CSI_DRIVER
    assert pv["spec"]["csi"]["volumeAttributes"]["authenticationSource"] == "pod"
    prefix = f"models/{MODEL}/{DIGEST}"
    assert "read-only" in pv["spec"]["mountOptions"] and f"prefix {prefix}/" in pv["spec"]["mountOptions"]
    # 6. the role reads that folder of that bucket (every version of this model) and nothing else
    bucket = only(synthesis.of_type("aws:s3/bucket:Bucket")).id
    assert pv["spec"]["csi"]["volumeAttributes"]["bucketName"] == bucket
    policy = json.loads(only(synthesis.of_type("aws:iam/rolePolicy:RolePolicy")).inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadTheModel"]["Resource"] == f"arn:aws:s3:::{bucket}/models/{MODEL}/*"
    assert prefix.startswith(f"models/{MODEL}/")
    assert statements["ListTheModel"]["Resource"] == f"arn:aws:s3:::{bucket}"
    assert statements["ListTheModel"]["Condition"] == {"StringLike": {"s3:prefix": [f"models/{MODEL}/*"]}}
    assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in policy["Statement"])
    # 7. the network: the model's pods open no connection to S3 (Mountpoint's pod in mount-s3 does); with IRSA they
    #    may reach DNS and HTTPS only, as for any AWS API.
    policy_k8s = only(synthesis.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")).inputs
    ports = {p["port"] for rule in policy_k8s["spec"]["egress"] for p in rule.get("ports", [])}
    assert ports <= {53, 443}, ports


def test_the_iam_actions_authorize_operations_s3_has():
    s3 = botocore.session.get_session().get_service_model("s3")
    operations = set(s3.operation_names)
    # s3:ListBucket authorizes ListObjectsV2 (with Prefix); s3:GetObject GetObject; s3:GetObjectVersion GetObject
    # with a VersionId (the service authorization reference's mapping).
    assert {"ListObjectsV2", "GetObject"} <= operations
    assert "Prefix" in s3.operation_model("ListObjectsV2").input_shape.members
    assert "VersionId" in s3.operation_model("GetObject").input_shape.members
    assert LIST_ACTION == "s3:ListBucket" and set(READ_ACTIONS) == {"s3:GetObject", "s3:GetObjectVersion"}


def test_the_deployed_version_is_a_content_digest_in_the_key():
    assert weights_key_prefix(_args()) == f"models/{MODEL}/{DIGEST}"
    with pytest.raises(InvalidArgs, match=r"digest: got 'v1'.*sha256-<64 hex digits>"):
        _synth(lambda opts: ModelWeights("weights", _args(digest="v1"), opts))
    with pytest.raises(InvalidArgs, match=r"prefix: got '/models/'"):
        _synth(lambda opts: ModelWeights("weights", _args(prefix="/models/"), opts))


def test_the_llm_programs_builtin_objects_pass_strict_schema_validation():
    from kubernetes_validate import utils as kubernetes_validate

    from components.cluster.eks_versions import DEFAULT_KUBERNETES_VERSION

    checked = 0
    for _, manifest in _synth(_llm_program).kubernetes_objects(masked=False):
        kubernetes_validate.validate(manifest, f"{DEFAULT_KUBERNETES_VERSION}.0", strict=True)
        checked += 1
    assert checked >= 7  # namespace, PV, PVC, service account, deployment, service, network policy


@pytest.mark.parametrize("region", ["us east 1", "us_east_1", "eu-west-1/"])
def test_a_region_that_is_not_an_aws_region_name_is_refused_naming_the_field(region: str) -> None:
    with pytest.raises(InvalidArgs, match=r"region: got .*must be an AWS region such as us-east-1"):
        _synth(lambda opts: ModelWeights("weights", _args(region=region), opts))
