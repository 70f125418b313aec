"""The Mountpoint for Amazon S3 CSI driver: its pinned chart, the names a weights volume relies on, and no AWS
credentials of its own (each model reads with its own role). Facts from the chart's source at its release tag:
tests/cluster/mountpoint-s3-csi-driver-v2.7.0.json."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from components._args import InvalidArgs
from components._charts import unknown_keys
from components.cluster.irsa import ROLE_ARN_ANNOTATION, TOKEN_AUDIENCE
from components.cluster.mountpoint_s3 import (
    PINNED,
    MountpointS3CsiDriver,
    MountpointS3CsiDriverArgs,
)
from components.serving.model_weights import ModelWeights, ModelWeightsArgs
from tests.harness import components, only

FACTS = json.loads((Path(__file__).parent / "mountpoint-s3-csi-driver-v2.7.0.json").read_text())
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
DIGEST = "sha256-" + "cd" * 32


def _driver(**overrides) -> object:
    return components(lambda opts: MountpointS3CsiDriver("s3-csi", MountpointS3CsiDriverArgs(
        **{"region": "us-east-1", **overrides}), opts))


def _weights_on(opts: pulumi.ResourceOptions) -> None:
    driver = MountpointS3CsiDriver("s3-csi", MountpointS3CsiDriverArgs(region="eu-west-1"), opts)
    ModelWeights("weights", ModelWeightsArgs(model_name="llama", namespace="llm", oidc_provider_arn=OIDC,
                                             digest=DIGEST, bucket="team-models", driver=driver), opts)


def test_the_driver_is_the_official_chart_at_its_pinned_version_from_its_repository():
    release = only(_driver().of_type("kubernetes:helm.sh/v3:Release")).inputs
    assert (release["chart"], release["version"]) == (FACTS["chart"]["name"], FACTS["chart"]["version"])
    assert release["repositoryOpts"] == {"repo": FACTS["chart"]["repository"]}
    assert release["namespace"] == "kube-system" and release["atomic"] is True


def test_every_value_the_component_sets_is_a_key_of_the_pinned_chart():
    values = only(_driver(system_node_selector={"workload": "system"}).of_type(
        "kubernetes:helm.sh/v3:Release")).inputs["values"]
    assert unknown_keys(values, PINNED.keys_file) == []
    assert values["controller"]["nodeSelector"] == {"workload": "system"}


def test_the_names_a_weights_volume_relies_on_are_the_charts():
    values = only(_driver().of_type("kubernetes:helm.sh/v3:Release")).inputs["values"]
    chart = FACTS["values"]
    assert values["node"]["serviceAccount"]["name"] == chart["node.serviceAccount.name"]
    assert values["controller"]["serviceAccount"]["name"] == chart["controller.serviceAccount.name"]
    assert values["mountpointPod"]["namespace"] == chart["mountpointPod.namespace"]
    # Weights are mounted on GPU nodes, which are tainted: the node plugin tolerates them.
    assert values["node"]["tolerateAllTaints"] is True


def test_a_weights_volume_names_the_charts_csi_driver_and_waits_for_its_release():
    synthesis = components(_weights_on)
    pv = only(synthesis.of_type("kubernetes:core/v1:PersistentVolume"))
    release = only(synthesis.of_type("kubernetes:helm.sh/v3:Release"))
    assert pv.inputs["spec"]["csi"]["driver"] == FACTS["csiDriver"]["name"]
    assert release.urn in pv.options["dependencies"], "the volume waits for the driver's release"


def test_pod_identity_works_because_the_csi_driver_asks_for_the_irsa_audience():
    # authenticationSource: pod hands Mountpoint the model pod's projected token; the kubelet issues it for the
    # audiences the CSIDriver lists, and IRSA's trust policies accept only `sts.amazonaws.com`.
    synthesis = components(_weights_on)
    pv = only(synthesis.of_type("kubernetes:core/v1:PersistentVolume")).inputs
    assert pv["spec"]["csi"]["volumeAttributes"]["authenticationSource"] == "pod"
    assert TOKEN_AUDIENCE in FACTS["csiDriver"]["tokenRequestAudiences"]


def test_the_driver_holds_no_aws_credentials():
    synthesis = _driver()
    assert synthesis.of_type("aws:iam/role:Role") == []
    values = only(synthesis.of_type("kubernetes:helm.sh/v3:Release")).inputs["values"]
    assert "annotations" not in values["node"]["serviceAccount"]
    with pytest.raises(InvalidArgs, match=r"MountpointS3CsiDriver 's3-csi': extra_values.node.serviceAccount."
                                          r"annotations: the driver holds no AWS credentials"):
        _driver(extra_values={"node": {"serviceAccount": {"annotations": {ROLE_ARN_ANNOTATION: "arn"}}}})


def test_a_misspelt_extra_value_is_refused_naming_the_charts_key():
    with pytest.raises(InvalidArgs, match=r"extra_values.node.tolerateAllTaint.*tolerateAllTaints"):
        _driver(extra_values={"node": {"tolerateAllTaint": False}})


def test_two_drivers_in_one_cluster_are_refused():
    def twice(opts: pulumi.ResourceOptions) -> None:
        MountpointS3CsiDriver("a", MountpointS3CsiDriverArgs(region="us-east-1"), opts)
        MountpointS3CsiDriver("b", MountpointS3CsiDriverArgs(region="us-east-1", namespace="storage"), opts)

    with pytest.raises(Exception, match=r"CSIDriver"):
        components(twice)


def test_the_volume_names_the_sts_region_the_driver_cannot_look_up():
    # The driver's node pods are on the pod network and the nodes allow IMDS one hop: without `stsRegion` (or the
    # bucket's region in the mount options, or AWS_REGION) pod-level credentials fail (sts_region.go, v2.7.0).
    from components.cluster.eks_nodes import IMDS_HOP_LIMIT

    assert IMDS_HOP_LIMIT < 2
    pv = only(components(_weights_on).of_type("kubernetes:core/v1:PersistentVolume")).inputs
    assert pv["spec"]["csi"]["volumeAttributes"]["stsRegion"] == "eu-west-1"
    assert "region eu-west-1" in pv["spec"]["mountOptions"]  # the bucket, created in the cluster's region
    with pytest.raises(InvalidArgs, match=r"ModelWeights 'w': region: got None and no driver"):
        components(lambda opts: ModelWeights("w", ModelWeightsArgs(model_name="m", namespace="n",
                                                                  oidc_provider_arn=OIDC, digest=DIGEST), opts))
