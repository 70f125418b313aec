"""MountpointS3CsiDriver: the Mountpoint for Amazon S3 CSI driver, which `ModelWeights` volumes are mounted with.

Installed from the driver's official chart at a pinned version rather than as the EKS add-on: the add-on's
versions (`v2.x.y-eksbuild.N`) are published only through the EKS API (`aws eks describe-addon-versions`), which
cannot be read from here, so a pinned add-on version would be invented; the chart's version is read from its
release tag. Facts from awslabs/mountpoint-s3-csi-driver at tag v2.7.0:
- charts/aws-mountpoint-s3-csi-driver/Chart.yaml: chart `aws-mountpoint-s3-csi-driver` 2.7.0, installed from the
  Helm repository https://awslabs.github.io/mountpoint-s3-csi-driver (the description says so); values.yaml keys
  in components/charts/aws-mountpoint-s3-csi-driver-2.7.0.keys.tsv;
- templates/csidriver.yaml: the CSIDriver is `s3.csi.aws.com` and asks the kubelet for the mounting pod's service
  account token with audience `sts.amazonaws.com` (`tokenRequests`), which is what pod-level identity uses;
- values.yaml: the node DaemonSet runs as `node.serviceAccount.name` (`s3-csi-driver-sa`) and tolerates every taint
  (`node.tolerateAllTaints`), so it runs on the tainted GPU nodes; the Mountpoint pods run in
  `mountpointPod.namespace` (`mount-s3`), created by the chart with the `restricted` Pod Security level;
- docs/CONFIGURATION.md, "Pod-Level Credentials": with the volume attribute `authenticationSource: pod` Mountpoint
  uses the workload pod's own service account (its IRSA role); driver-level credentials (the default source,
  `driver`) come from the driver's service account, a Secret, or the node's instance profile;
- docs/CONFIGURATION.md "Configuring the STS region" and pkg/driver/node/credentialprovider/sts_region.go: pod-level
  credentials come from STS in a region taken from the volume's `stsRegion`, the bucket region of the mount options,
  `AWS_REGION`, or else IMDS, which needs a hop limit of 2. Our nodes allow one hop (cluster/eks_nodes.py) and the
  chart's node pods are not on the host network, so `ModelWeights` sets `stsRegion` from `region` here.

Why the driver gets no AWS role: every `ModelWeights` volume says `authenticationSource: pod`, so each model reads
with its own role, scoped to its own prefix. A driver-level role would have to read every model's weights, and any
PersistentVolume left on the default source would read with it. Nodes require IMDSv2 with one hop
(cluster/eks_nodes.py), so the Mountpoint pods cannot fall back to the node's instance profile either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, Problem, checked_args, problems_of
from .._charts import PinnedChart, extra_values_problems
from ..aws_regions import AwsRegion

CHART = "aws-mountpoint-s3-csi-driver"
CHART_REPOSITORY = "https://awslabs.github.io/mountpoint-s3-csi-driver"
CHART_VERSION = "2.7.0"
PINNED = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
CSI_DRIVER = "s3.csi.aws.com"
"""The CSIDriver the chart installs (templates/csidriver.yaml): what a PersistentVolume's `csi.driver` names."""
NODE_SERVICE_ACCOUNT = "s3-csi-driver-sa"
CONTROLLER_SERVICE_ACCOUNT = "s3-csi-driver-controller-sa"
MOUNTPOINT_NAMESPACE = "mount-s3"
"""Where the Mountpoint pods run: they, not the model's pods, open the connections to S3."""
POD_IDENTITY = "pod"
"""The volume attribute `authenticationSource` that makes Mountpoint use the workload pod's own role."""


@dataclass
class MountpointS3CsiDriverArgs:
    """Inputs of `MountpointS3CsiDriver`."""

    region: AwsRegion
    """The cluster's region: the STS endpoint pod-level credentials come from (the driver's pods cannot reach IMDS to
    find it), set on every `ModelWeights` volume of this driver as `stsRegion`."""
    namespace: DnsLabel = "kube-system"
    """Namespace of the driver's node DaemonSet and controller."""
    system_node_selector: dict[str, str] = field(default_factory=dict)
    """Labels of the system nodes: the controller runs there (it tolerates no taint, so never on GPU nodes)."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `aws-mountpoint-s3-csi-driver` chart version."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the chart's (checked against its pinned keys). Anything set
    here is yours to keep secure and working across chart upgrades."""

    def _rules(self) -> list[Problem]:
        problems = extra_values_problems("extra_values", self.extra_values, PINNED.at(self.chart_version))
        annotations = [f"extra_values.{part}.serviceAccount.annotations" for part in ("node", "controller")
                       if (self.extra_values.get(part) or {}).get("serviceAccount", {}).get("annotations")]
        problems += [(path, "the driver holds no AWS credentials: each ModelWeights volume reads with its model's "
                            "own role (authenticationSource: pod)") for path in annotations]
        return problems


def validate_mountpoint_s3_csi_driver_args(args: MountpointS3CsiDriverArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def driver_values(args: MountpointS3CsiDriverArgs) -> dict[str, Any]:
    """The chart values (keys from the pinned values.yaml). What the platform relies on is set, not defaulted."""
    return {
        "node": {"serviceAccount": {"create": True, "name": NODE_SERVICE_ACCOUNT},
                 # Weights are mounted on GPU nodes, which are tainted: the node plugin must run there.
                 "tolerateAllTaints": True},
        "controller": {"serviceAccount": {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT},
                       "nodeSelector": dict(args.system_node_selector)},
        "mountpointPod": {"namespace": MOUNTPOINT_NAMESPACE, "createNamespace": True},
    }


class MountpointS3CsiDriver(pulumi.ComponentResource):
    """The Mountpoint for Amazon S3 CSI driver (v2), once per cluster, from its official chart at a pinned version.

    Creates one Helm release: the CSIDriver `s3.csi.aws.com`, the node plugin on every node (GPU nodes included), the
    controller on system nodes, and the `mount-s3` namespace its Mountpoint pods run in. It holds no AWS
    credentials: `ModelWeights` volumes use the model pod's own IRSA role.
    """

    driver_name: str
    """The CSIDriver's name (`ModelWeights`' PersistentVolumes name it)."""
    mountpoint_namespace: str
    """Where the Mountpoint pods (the S3 clients) run."""
    node_service_account: str
    """The node plugin's service account (in `namespace`): no role annotation."""
    namespace: str
    """Namespace of the release."""
    release_name: pulumi.Output[str]
    """The Helm release."""
    release: k8s.helm.v3.Release
    """The release itself: what a volume of the driver waits for."""
    region: str
    """The STS region of pod-level credentials (`stsRegion` of the volumes)."""

    def __init__(self, name: str, args: MountpointS3CsiDriverArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("MountpointS3CsiDriver", name, args, MountpointS3CsiDriverArgs)
        _claims.claim("MountpointS3CsiDriver", name, opts, [
            _claims.helm_release(CHART, args.namespace, field="namespace"),
            _claims.kubernetes("CSIDriver", CSI_DRIVER), _claims.kubernetes("Namespace", MOUNTPOINT_NAMESPACE)])
        super().__init__("gpu-model-platform:index:MountpointS3CsiDriver", name, None, opts)
        self.release = release = _charts.release(
            f"{name}-release", PINNED.at(args.chart_version), args.namespace, driver_values(args), args.extra_values,
            pulumi.ResourceOptions(parent=self),
            # The chart names its objects itself; a fixed release name keeps one driver per cluster recognisable.
            name=CHART, atomic=True, cleanup_on_fail=True, max_history=5)
        self.driver_name = CSI_DRIVER
        self.region = args.region
        self.mountpoint_namespace = MOUNTPOINT_NAMESPACE
        self.node_service_account = NODE_SERVICE_ACCOUNT
        self.namespace = args.namespace
        # `name` is always set on the Release, so its output is never None (the SDK types it Optional).
        self.release_name = cast(pulumi.Output[str], release.name)
        self.register_outputs({"driver_name": self.driver_name, "mountpoint_namespace": self.mountpoint_namespace,
                               "node_service_account": self.node_service_account, "namespace": self.namespace,
                               "region": self.region, "release_name": self.release_name})

