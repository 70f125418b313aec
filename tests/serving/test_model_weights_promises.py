"""ModelWeights promises the mutation audit (issue 29) found unguarded: policies IAM and S3 accept as written, the
tags that say whose bucket and role these are, the component's children and outputs, and the read-only volume."""

from __future__ import annotations

import json

from tests.harness import only
from tests.serving.test_model_weights import MODEL, NAMESPACE, ModelWeights, _args, _synth

COMPONENT = "gpu-model-platform:index:ModelWeights"


def _weights(**overrides):
    return _synth(lambda opts: ModelWeights("weights", _args(**overrides), opts))


def test_both_policies_use_the_policy_language_version_with_variables_and_deny_every_principal_without_tls():
    # "2012-10-17" is the current IAM policy language version (IAM User Guide, "Version" element); without it IAM
    # falls back to 2008-10-17.
    synthesis = _weights()
    tls = json.loads(only(synthesis.of_type("aws:s3/bucketPolicy:BucketPolicy")).inputs["policy"])
    read = json.loads(only(synthesis.of_type("aws:iam/rolePolicy:RolePolicy")).inputs["policy"])
    assert tls["Version"] == read["Version"] == "2012-10-17"
    deny = only(tls["Statement"])
    # A bucket policy statement without a principal is refused; "*" makes the TLS rule hold for everyone.
    assert (deny["Principal"], deny["Action"]) == ("*", "s3:*")


def test_the_bucket_and_the_role_are_tagged_with_the_component_instance_and_the_callers_tags():
    synthesis = _weights(tags={"team": "llm", "component": "mine"})
    for type_token in ("aws:s3/bucket:Bucket", "aws:iam/role:Role"):
        tags = only(synthesis.of_type(type_token)).inputs["tags"]
        assert tags["component-name"] == "weights", type_token
        # The caller's tags win over the component's own.
        assert (tags["team"], tags["component"]) == ("llm", "mine"), type_token
    assert only(synthesis.of_type("aws:s3/bucket:Bucket")).inputs["tags"] == only(
        synthesis.of_type("aws:iam/role:Role")).inputs["tags"]
    assert only(_weights().of_type("aws:iam/role:Role")).inputs["tags"]["component"] == "ModelWeights"


def test_the_bucket_settings_apply_to_the_created_bucket_and_the_role_belongs_to_the_component():
    synthesis = _weights()
    bucket = only(synthesis.of_type("aws:s3/bucket:Bucket"))
    for type_token in ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketPolicy:BucketPolicy",
                       "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                       "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        assert only(synthesis.of_type(type_token)).inputs["bucket"] == bucket.id, type_token
    component = only(synthesis.of_type(COMPONENT))
    role = only(synthesis.of_type("aws:iam/role:Role"))
    assert role.parent == component.urn and bucket.parent == component.urn


def test_the_component_registers_the_outputs_a_model_service_is_wired_with():
    synthesis = _weights()
    outputs = only(synthesis.of_type(COMPONENT)).component_outputs
    claim = only(synthesis.of_type("kubernetes:core/v1:PersistentVolumeClaim"))
    assert outputs == {"bucket_name": only(synthesis.of_type("aws:s3/bucket:Bucket")).id,
                       "role_arn": only(synthesis.of_type("aws:iam/role:Role")).outputs["arn"],
                       "claim_name": claim.inputs["metadata"]["name"], "model_dir": "/models"}


def test_the_volume_is_read_only_at_the_driver_too_and_its_claim_asks_for_the_volumes_storage():
    synthesis = _weights()
    pv = only(synthesis.of_type("kubernetes:core/v1:PersistentVolume")).inputs
    claim = only(synthesis.of_type("kubernetes:core/v1:PersistentVolumeClaim")).inputs
    assert pv["spec"]["csi"]["readOnly"] is True
    # A claim binds a volume only if the volume's capacity covers the claim's request (same resource, same size).
    assert pv["spec"]["capacity"] == claim["spec"]["resources"]["requests"] == {"storage": "1Gi"}
    # The claim carries the model's labels like every other object of the model.
    assert claim["metadata"]["labels"] == pv["metadata"]["labels"]
    assert claim["metadata"]["labels"]["app.kubernetes.io/name"] == MODEL
    assert claim["metadata"]["namespace"] == NAMESPACE
