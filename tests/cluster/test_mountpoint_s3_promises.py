"""The Mountpoint S3 CSI driver component, alone under mocks (issue 29): every chart value it must set, the release
it owns, what it reports, the objects only one driver per cluster may create, and the credentials it refuses."""

from __future__ import annotations

import pulumi
import pytest

from components._args import InvalidArgs
from components.cluster.mountpoint_s3 import MountpointS3CsiDriver, MountpointS3CsiDriverArgs
from tests.harness import components, only

COMPONENT = "gpu-model-platform:index:MountpointS3CsiDriver"
NO_CREDENTIALS = ("the driver holds no AWS credentials: each ModelWeights volume reads with its model's own role "
                  "(authenticationSource: pod)")
SINGLETONS = ("name: CSIDriver 's3.csi.aws.com', Namespace 'mount-s3' (through provider 'test-kubernetes') already "
              "created by MountpointS3CsiDriver 'a'; two instances would overwrite each other's objects: give this one "
              "another instance name")


def _driver(**changes):
    return components(lambda opts: MountpointS3CsiDriver("s3-csi", MountpointS3CsiDriverArgs(
        **{"region": "us-east-1", **changes}), opts))


def test_the_chart_gets_both_service_accounts_the_tainted_node_plugin_the_system_controller_and_mount_namespace():
    values = only(_driver(system_node_selector={"workload": "system"}).of_type(
        "kubernetes:helm.sh/v3:Release")).inputs["values"]
    assert values == {
        "node": {"serviceAccount": {"create": True, "name": "s3-csi-driver-sa"}, "tolerateAllTaints": True},
        "controller": {"serviceAccount": {"create": True, "name": "s3-csi-driver-controller-sa"},
                       "nodeSelector": {"workload": "system"}},
        "mountpointPod": {"namespace": "mount-s3", "createNamespace": True},
    }


def test_the_component_owns_one_atomic_release_with_a_fixed_name_that_cleans_up_a_failed_upgrade():
    synthesis = _driver()
    component = only(synthesis.of_type(COMPONENT))
    release = only(synthesis.of_type("kubernetes:helm.sh/v3:Release"))
    assert release.name == "s3-csi-release" and release.parent == component.urn
    assert (release.inputs["name"], release.inputs["atomic"], release.inputs["cleanupOnFail"],
            release.inputs["maxHistory"], release.inputs["version"]) == ("aws-mountpoint-s3-csi-driver", True, True,
                                                                         5, "2.7.0")


def test_the_component_reports_the_names_a_weights_volume_relies_on():
    component = only(_driver(namespace="storage", region="eu-west-1").of_type(COMPONENT))
    assert component.component_outputs == {
        "driver_name": "s3.csi.aws.com", "mountpoint_namespace": "mount-s3", "node_service_account": "s3-csi-driver-sa",
        "namespace": "storage", "region": "eu-west-1", "release_name": "aws-mountpoint-s3-csi-driver"}


def _twice(namespace: str):
    def build(opts: pulumi.ResourceOptions) -> None:
        MountpointS3CsiDriver("a", MountpointS3CsiDriverArgs(region="us-east-1"), opts)
        MountpointS3CsiDriver("b", MountpointS3CsiDriverArgs(region="us-east-1", namespace=namespace), opts)
    return build


def test_a_second_driver_is_refused_naming_the_csi_driver_and_mount_namespace_only_one_may_create():
    with pytest.raises(InvalidArgs) as caught:
        components(_twice("storage"))
    assert str(caught.value) == f"MountpointS3CsiDriver 'b': {SINGLETONS}"


def test_a_second_driver_in_the_same_namespace_is_told_its_release_clashes_through_the_namespace_field():
    with pytest.raises(InvalidArgs) as caught:
        components(_twice("kube-system"))
    assert str(caught.value) == (
        "MountpointS3CsiDriver 'b': namespace: Helm release 'aws-mountpoint-s3-csi-driver' in namespace 'kube-system' "
        "(through provider 'test-kubernetes') already created by MountpointS3CsiDriver 'a'; two instances would "
        f"overwrite each other's objects: give this one another namespace; {SINGLETONS}")


@pytest.mark.parametrize("part", ["node", "controller"])
def test_a_role_annotation_on_either_service_account_is_refused(part):
    with pytest.raises(InvalidArgs) as caught:
        _driver(extra_values={part: {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}}}})
    assert f"extra_values.{part}.serviceAccount.annotations: {NO_CREDENTIALS}" in str(caught.value)


def test_extra_values_without_service_account_settings_are_accepted():
    values = only(_driver(extra_values={"node": {"tolerateAllTaints": True}, "controller": {}}).of_type(
        "kubernetes:helm.sh/v3:Release")).inputs["values"]
    assert values["node"]["tolerateAllTaints"] is True


def test_a_misspelt_extra_value_is_refused_naming_the_field_it_came_from():
    with pytest.raises(InvalidArgs) as caught:
        _driver(extra_values={"node": {"tolerateAllTaint": False}})
    assert str(caught.value).startswith("MountpointS3CsiDriver 's3-csi': extra_values.node.tolerateAllTaint")
