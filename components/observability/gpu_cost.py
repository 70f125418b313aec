"""GpuCostDashboard: GPU-hours and their cost per model and per namespace (a team's, with per-team namespaces).

From kube-state-metrics alone (`kube_pod_container_resource_requests`, in the pinned v2.20.0's metric list),
which reports each container's requests of every resource, extended ones under their name with `.` and `/`
as `_` (`nvidia.com/gpu` -> `nvidia_com_gpu`, as the platform's GPU alerts query it; a time-sliced share
`nvidia.com/gpu.shared` -> `nvidia_com_gpu_shared`). A model is its pods' name less the ReplicaSet and pod
suffixes. Cost is requested units x hours x a price per unit-hour the program gives (an instance's hourly
price over the units it offers): what the GPUs held cost, whether busy or not. Chosen over the OpenCost chart:
no extra chart, no cloud billing access, and the same price table `python -m tools.cost` uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from .._args import DnsLabel, checked_args, problems_of
from ..labels import standard_labels
from .monitoring_dashboards import DASHBOARD_LABEL, FOLDER, FOLDER_ANNOTATION, _dashboard, _panel, dashboard_uid

# A pod of a Deployment (or a Rollout's ReplicaSet) is `<name>-<pod-template-hash>-<5 characters>`.
_MODEL_FROM_POD = r"(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}"


@dataclass
class GpuCostDashboardArgs:
    """Inputs of `GpuCostDashboard`."""

    namespace: DnsLabel
    """The monitoring stack's namespace (its Grafana sidecar picks the dashboard up there)."""
    hourly_prices: Mapping[str, Optional[float]] = field(default_factory=lambda: {"nvidia_com_gpu": None})
    """US dollars per unit-hour by resource as kube-state-metrics names it; None: GPU-hours only, no cost."""


def validate_gpu_cost_dashboard_args(args: GpuCostDashboardArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def _requests(resource: str, by: str) -> str:
    series = f'kube_pod_container_resource_requests{{resource="{resource}"}}'
    return f'sum by ({by}) (label_replace({series}, "model", "$1", "pod", "{_MODEL_FROM_POD}"))'


def _hours(resource: str, by: str) -> str:
    """Unit-hours over the dashboard's range: requests sampled hourly, summed."""
    return f"sum by ({by}) (sum_over_time(({_requests(resource, f'{by}')})[$__range:1h]))"


def cost_queries(hourly_prices: Mapping[str, Optional[float]]) -> dict[str, list[tuple[str, str]]]:
    """Each panel's (expression, legend) pairs, by panel title."""
    panels: dict[str, list[tuple[str, str]]] = {"GPUs requested, by model": [], "GPU-hours this range, by namespace": [],
                                                "Cost this range (US$), by namespace": [],
                                                "Cost this range (US$), by model": []}
    for resource, price in hourly_prices.items():
        panels["GPUs requested, by model"].append((_requests(resource, "namespace, model"),
                                                   f"{{{{namespace}}}}/{{{{model}}}} {resource}"))
        panels["GPU-hours this range, by namespace"].append((_hours(resource, "namespace"),
                                                             f"{{{{namespace}}}} {resource}"))
        if price is not None:
            panels["Cost this range (US$), by namespace"].append((f"{_hours(resource, 'namespace')} * {price:g}",
                                                                   f"{{{{namespace}}}} {resource}"))
            panels["Cost this range (US$), by model"].append((f"{_hours(resource, 'namespace, model')} * {price:g}",
                                                               f"{{{{namespace}}}}/{{{{model}}}} {resource}"))
    return {title: targets for title, targets in panels.items() if targets}


def cost_dashboard(uid: str, hourly_prices: Mapping[str, Optional[float]]) -> dict[str, Any]:
    """The dashboard: what each model holds now, and the range's GPU-hours and cost per namespace and model."""
    panels = []
    for index, (title, targets) in enumerate(cost_queries(hourly_prices).items()):
        unit = "currencyUSD" if title.startswith("Cost") else ("h" if "hours" in title else "short")
        kind = "timeseries" if index == 0 else "bargauge"
        panels.append(_panel(title, targets, unit, (12 * (index % 2), 8 * (index // 2), 12, 8), kind=kind))
    return _dashboard(uid, "GPU hours and cost", ["cost"], panels)


class GpuCostDashboard(pulumi.ComponentResource):
    """A Grafana dashboard of GPU-hours and their cost per model and namespace, in a ConfigMap the sidecar loads."""

    dashboard_uid: str
    """The dashboard's uid."""

    def __init__(self, name: str, args: GpuCostDashboardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("GpuCostDashboard", name, args, GpuCostDashboardArgs)
        super().__init__("gpu-model-platform:index:GpuCostDashboard", name, None, opts)
        self.dashboard_uid = dashboard_uid("gpu-cost", name)
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-dashboard", namespace=args.namespace,
                labels=standard_labels(name, "dashboard") | DASHBOARD_LABEL, annotations={FOLDER_ANNOTATION: FOLDER}),
            data={f"{name}.json": json.dumps(cost_dashboard(self.dashboard_uid, args.hourly_prices), indent=1)},
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"dashboard_uid": self.dashboard_uid})
