"""GpuOperators: what makes GPU nodes usable and visible: the NVIDIA device plugin and the DCGM exporter (or, where
GPUs are cut into MIG slices, NVIDIA's GPU Operator with its MIG manager: gpu_operator_chart.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import pulumi
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, Problem, checked_args, matches, problems_of
from .._charts import PinnedChart
from ..labels import standard_labels
from .gpu_operator_chart import (
    GPU_OPERATOR_CHART,
    GPU_OPERATOR_CHART_VERSION,
    GPU_OPERATOR_KEYS_FILE,
    GPU_OPERATOR_REPOSITORY,
    OPERATOR_DCGM_POD_LABELS,
    OPERATOR_DCGM_PORT,
    gpu_operator_values,
)
from .gpu_scheduling import GpuScheduling
from .gpu_sharing import DEFAULT_CONFIG
from .mig import MigLayout

# Official charts at pinned versions, read from each project's Chart.yaml at its release tag:
# NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin (tag v0.20.0) and
# NVIDIA/dcgm-exporter deployment/ (tag 4.5.3-4.8.2, chart 4.8.2, image 4.5.3-4.8.2-distroless).
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
DEVICE_PLUGIN_CHART_VERSION = "0.20.0"
DCGM_EXPORTER_CHART = "dcgm-exporter"
DCGM_EXPORTER_REPOSITORY = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_EXPORTER_CHART_VERSION = "4.8.2"
DEVICE_PLUGIN = PinnedChart(DEVICE_PLUGIN_CHART, DEVICE_PLUGIN_REPOSITORY, DEVICE_PLUGIN_CHART_VERSION)
DCGM_EXPORTER = PinnedChart(DCGM_EXPORTER_CHART, DCGM_EXPORTER_REPOSITORY, DCGM_EXPORTER_CHART_VERSION)
GPU_OPERATOR = PinnedChart(GPU_OPERATOR_CHART, GPU_OPERATOR_REPOSITORY, GPU_OPERATOR_CHART_VERSION,
                           GPU_OPERATOR_KEYS_FILE)
# The operator's chart versions are its release tags (v26.7.0).
OperatorChartVersion = Annotated[str, matches(r"v[0-9]+\.[0-9]+\.[0-9]+", "must be an exact GPU Operator release "
                                                                           "such as v26.7.0")]

# The chart labels its Service with `app.kubernetes.io/name: <chart name>` (no nameOverride is set) and
# names its port `metrics`: the monitoring stack's ServiceMonitor selects exactly these.
DCGM_EXPORTER_SERVICE_LABELS = {"app.kubernetes.io/name": DCGM_EXPORTER_CHART}
DCGM_EXPORTER_PORT = 9400
DCGM_EXPORTER_PORT_NAME = "metrics"


@dataclass
class GpuOperatorsArgs:
    """Inputs of `GpuOperators`."""

    scheduling: GpuScheduling
    """The GPU nodes' labels and taints (`GpuNodeGroup.scheduling`): both DaemonSets select and tolerate them."""
    namespace: DnsLabel = "gpu-operators"
    """Namespace created for both releases (the DCGM exporter's ServiceMonitor looks here)."""
    install_device_plugin: bool = True
    """False on Bottlerocket NVIDIA nodes, whose OS ships the device plugin already."""
    device_plugin_chart_version: ChartVersion = DEVICE_PLUGIN_CHART_VERSION
    """Pinned `nvidia-device-plugin` chart version."""
    dcgm_exporter_chart_version: ChartVersion = DCGM_EXPORTER_CHART_VERSION
    """Pinned `dcgm-exporter` chart version."""
    device_plugin_extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the device plugin's (not checked: the project keeps no key
    list for this chart). Anything set here is yours to keep working across chart upgrades."""
    dcgm_exporter_extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the DCGM exporter's (not checked, as above)."""
    device_plugin_configs: dict[str, str] = field(default_factory=dict)
    """The device plugin's named config files (`gpu_sharing.device_plugin_configs`), picked per node by the label
    `nvidia.com/device-plugin.config`; empty: the plugin's defaults. The standalone chart gets them as `config.map`,
    the operator as `devicePlugin.config.data`."""
    mig_layouts: list[MigLayout] = field(default_factory=list)
    """The MIG layouts GPU node groups are cut into (`mig.mig_layout`). Non-empty: NVIDIA's GPU Operator chart is
    installed in place of the two standalone charts, with its MIG manager given exactly these layouts, the
    device plugin's mixed strategy, and driver and toolkit off (the EKS NVIDIA AMI has them)."""
    gpu_operator_chart_version: OperatorChartVersion = GPU_OPERATOR_CHART_VERSION
    """Pinned `gpu-operator` chart version (only with `mig_layouts`)."""
    gpu_operator_extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the operator's, checked against its values keys."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.scheduling.node_labels:
            problems.append(("scheduling.node_labels", "got {}; need at least one label to select GPU nodes by"))
        if self.mig_layouts and not self.install_device_plugin:
            problems.append(("install_device_plugin", "got False; MIG layouts need the operator's device plugin, "
                                                      "which the MIG manager restarts after cutting the GPUs"))
        return problems + _charts.extra_values_problems(
            "gpu_operator_extra_values", self.gpu_operator_extra_values, GPU_OPERATOR.at(self.gpu_operator_chart_version))


def validate_gpu_operators_args(args: GpuOperatorsArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def _node_affinity(scheduling: GpuScheduling) -> dict[str, Any]:
    """Required node affinity on every GPU label (replaces the chart's NFD-based default terms)."""
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(scheduling.node_labels.items())]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": expressions}]}}}


def device_plugin_values(scheduling: GpuScheduling, configs: dict[str, str] | None = None) -> dict[str, Any]:
    """Values of the `nvidia-device-plugin` chart: only on GPU nodes, tolerating their taints, with the named configs
    (chart values `config.map` and `config.default`, NVIDIA/k8s-device-plugin v0.20.0 values.yaml)."""
    config = {"config": {"map": configs, "default": DEFAULT_CONFIG}} if configs else {}
    return {
        "nodeSelector": scheduling.node_selector(),
        "affinity": _node_affinity(scheduling),
        "tolerations": scheduling.tolerations(),
        # Feature discovery (and its NFD dependency) is off: our nodes are labelled by the node group.
        "gfd": {"enabled": False},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    } | config


def dcgm_exporter_values(scheduling: GpuScheduling) -> dict[str, Any]:
    """Values of the `dcgm-exporter` chart: on GPU nodes only, its Service on, its own ServiceMonitor off."""
    return {
        "nodeSelector": scheduling.node_selector(),
        "tolerations": scheduling.tolerations(),
        "service": {"enable": True, "type": "ClusterIP", "port": DCGM_EXPORTER_PORT},
        # The monitoring stack creates the ServiceMonitor once its CRDs exist (and selects it by its labels).
        "serviceMonitor": {"enabled": False},
    }


class GpuOperators(pulumi.ComponentResource):
    """The cluster-side half of GPU nodes.

    Creates a namespace (Pod Security `privileged`: both DaemonSets mount host paths, and DCGM needs
    SYS_ADMIN for profiling metrics) and two Helm releases from NVIDIA's official charts at pinned
    versions: the device plugin, which advertises `nvidia.com/gpu` so GPU pods can schedule, and the
    DCGM exporter, whose Service (`app.kubernetes.io/name: dcgm-exporter`, port `metrics`) the
    monitoring stack scrapes. Both run only on GPU nodes and tolerate their taints. With `mig_layouts`, one release
    of NVIDIA's GPU Operator replaces both (it runs the device plugin, the DCGM exporter, feature discovery and the
    MIG manager), plus a Service over its DCGM exporter with the labels and port name above.
    """

    namespace: pulumi.Output[str]
    """The namespace of both releases."""
    device_plugin_release: pulumi.Output[str] | None
    """The device plugin's Helm release name (None when the OS ships the plugin)."""
    dcgm_exporter_release: pulumi.Output[str]
    """The DCGM exporter's Helm release name (the GPU Operator's, which runs it, with MIG layouts)."""
    gpu_operator_release: pulumi.Output[str] | None
    """The GPU Operator's Helm release name (None without MIG layouts)."""
    dcgm_exporter_service_labels: dict[str, str]
    """Labels that select the DCGM exporter's Service (for a ServiceMonitor's selector)."""
    dcgm_exporter_port_name: str
    """The name of the Service port serving `/metrics`."""

    def __init__(self, name: str, args: GpuOperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        args = checked_args("GpuOperators", name, args, GpuOperatorsArgs)
        operator = bool(args.mig_layouts)
        charts = (GPU_OPERATOR_CHART,) if operator else (DEVICE_PLUGIN_CHART, DCGM_EXPORTER_CHART)
        _claims.claim("GpuOperators", name, opts, [
            _claims.kubernetes("Namespace", args.namespace, field="namespace"),
            *[_claims.helm_release(chart, args.namespace, field="namespace") for chart in charts],
            *([_claims.kubernetes("Service", DCGM_EXPORTER_CHART, args.namespace, field="namespace")] if operator
              else [])])
        super().__init__("gpu-model-platform:index:GpuOperators", name, None, opts)
        self._args = args

        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={
                **standard_labels(args.namespace, "gpu-operators"),
                **{f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")},
            }),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self.device_plugin_release = None
        self.gpu_operator_release: pulumi.Output[str] | None = None
        if operator:
            self.gpu_operator_release = self._release(
                f"{name}-gpu-operator", GPU_OPERATOR.at(args.gpu_operator_chart_version), ns.metadata.name,
                gpu_operator_values(args.scheduling, args.device_plugin_configs, args.mig_layouts),
                args.gpu_operator_extra_values, in_ns)
            self.dcgm_exporter_release = self.gpu_operator_release
            self._dcgm_service(name, ns.metadata.name, in_ns)
        else:
            if args.install_device_plugin:
                self.device_plugin_release = self._release(
                    f"{name}-device-plugin", DEVICE_PLUGIN.at(args.device_plugin_chart_version), ns.metadata.name,
                    device_plugin_values(args.scheduling, args.device_plugin_configs),
                    args.device_plugin_extra_values, in_ns)
            self.dcgm_exporter_release = self._release(
                f"{name}-dcgm-exporter", DCGM_EXPORTER.at(args.dcgm_exporter_chart_version), ns.metadata.name,
                dcgm_exporter_values(args.scheduling), args.dcgm_exporter_extra_values, in_ns)

        self.namespace = ns.metadata.name
        self.dcgm_exporter_service_labels = dict(DCGM_EXPORTER_SERVICE_LABELS)
        self.dcgm_exporter_port_name = DCGM_EXPORTER_PORT_NAME
        self.register_outputs({
            "namespace": self.namespace,
            "device_plugin_release": self.device_plugin_release,
            "dcgm_exporter_release": self.dcgm_exporter_release,
            "gpu_operator_release": self.gpu_operator_release,
            "dcgm_exporter_service_labels": self.dcgm_exporter_service_labels,
            "dcgm_exporter_port_name": self.dcgm_exporter_port_name,
        })

    def _dcgm_service(self, name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        """A Service over the operator's DCGM exporter pods with the labels and port name the monitoring stack
        selects (the operator's own Service is `app: nvidia-dcgm-exporter`, port `gpu-metrics`)."""
        k8s.core.v1.Service(
            f"{name}-dcgm-exporter",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_EXPORTER_CHART, namespace=namespace,
                                                labels=dict(DCGM_EXPORTER_SERVICE_LABELS)),
            spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=dict(OPERATOR_DCGM_POD_LABELS), ports=[
                k8s.core.v1.ServicePortArgs(name=DCGM_EXPORTER_PORT_NAME, port=DCGM_EXPORTER_PORT,
                                            target_port=OPERATOR_DCGM_PORT, protocol="TCP")]),
            opts=opts)

    @staticmethod
    def _release(logical_name: str, chart: PinnedChart, namespace: pulumi.Input[str], values: dict[str, Any],
                 extra_values: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        release = _charts.release(
            logical_name, chart, namespace, values, extra_values, opts,
            # The release name is the chart name: the charts derive object names and the labels the
            # monitoring stack selects on from it, so it must not carry a random suffix.
            name=chart.name,
            # A failed install or upgrade rolls back instead of leaving GPU nodes without their plugin.
            atomic=True,
            cleanup_on_fail=True,
        )
        # `name` is always set on the Release, so its output is never None (the SDK types it Optional).
        return cast(pulumi.Output[str], release.name)
