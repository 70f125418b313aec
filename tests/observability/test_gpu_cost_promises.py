"""GpuCostDashboard's promises that a mutation audit (issue 29) found unguarded: the panels' titles, units, kinds
and places on a two-column grid, each query's grouping and legend, and the ConfigMap the Grafana sidecar loads
(its name, namespace, labels, folder) with the uid the component reports."""

from __future__ import annotations

import json

import pytest

from components import InvalidArgs
from components.observability.gpu_cost import (
    GpuCostDashboard,
    GpuCostDashboardArgs,
    cost_dashboard,
    cost_queries,
)
from components.observability.monitoring_dashboards import FOLDER, FOLDER_ANNOTATION
from tests.harness import components, only

PRICES = {"nvidia_com_gpu": 1.006, "nvidia_com_gpu_shared": None}
TITLES = ["GPUs requested, by model", "GPU-hours this range, by namespace", "Cost this range (US$), by namespace",
          "Cost this range (US$), by model"]


def test_the_panels_sit_two_per_row_with_their_units_and_only_the_first_over_time():
    board = cost_dashboard("gpu-cost-x", {"nvidia_com_gpu": 2.5})
    assert board["uid"] == "gpu-cost-x" and board["title"] == "GPU hours and cost" and "cost" in board["tags"]
    panels = board["panels"]
    assert [p["title"] for p in panels] == TITLES
    assert [p["type"] for p in panels] == ["timeseries", "bargauge", "bargauge", "bargauge"]
    assert [p["fieldConfig"]["defaults"]["unit"] for p in panels] == ["short", "h", "currencyUSD", "currencyUSD"]
    assert [p["gridPos"] for p in panels] == [{"x": 0, "y": 0, "w": 12, "h": 8}, {"x": 12, "y": 0, "w": 12, "h": 8},
                                              {"x": 0, "y": 8, "w": 12, "h": 8}, {"x": 12, "y": 8, "w": 12, "h": 8}]


def test_each_resource_is_requested_by_model_and_counted_and_priced_by_namespace_and_model():
    queries = cost_queries(PRICES)
    assert list(queries) == TITLES
    requested = queries["GPUs requested, by model"]
    assert [legend for _, legend in requested] == ["{{namespace}}/{{model}} nvidia_com_gpu",
                                                   "{{namespace}}/{{model}} nvidia_com_gpu_shared"]
    assert requested[0][0] == (
        'sum by (namespace, model) (label_replace(kube_pod_container_resource_requests{resource="nvidia_com_gpu"}, '
        '"model", "$1", "pod", "(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}"))')
    hours = queries["GPU-hours this range, by namespace"]
    assert [legend for _, legend in hours] == ["{{namespace}} nvidia_com_gpu", "{{namespace}} nvidia_com_gpu_shared"]
    assert hours[0][0].startswith("sum by (namespace) (sum_over_time((sum by (namespace) (label_replace(")
    assert hours[0][0].endswith("[$__range:1h]))")
    [(by_namespace, legend)] = queries["Cost this range (US$), by namespace"]
    assert by_namespace == f"{hours[0][0]} * 1.006" and legend == "{{namespace}} nvidia_com_gpu"
    [(by_model, legend)] = queries["Cost this range (US$), by model"]
    assert by_model.startswith("sum by (namespace, model) (sum_over_time((sum by (namespace, model) (label_replace(")
    assert 'resource="nvidia_com_gpu"' in by_model and by_model.endswith(" * 1.006")
    assert legend == "{{namespace}}/{{model}} nvidia_com_gpu"


def test_the_dashboard_is_a_config_map_the_grafana_sidecar_loads_into_the_platforms_folder():
    made: list[GpuCostDashboard] = []
    synthesis = components(lambda opts: made.append(GpuCostDashboard("cost", GpuCostDashboardArgs(
        namespace="observe", hourly_prices={"nvidia_com_gpu": 1.0}), opts)))
    component = only(synthesis.of_type("gpu-model-platform:index:GpuCostDashboard"))
    config_map = only(synthesis.of_type("kubernetes:core/v1:ConfigMap"))
    metadata = config_map.inputs["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("cost-dashboard", "observe")
    assert metadata["labels"]["grafana_dashboard"] == "1" and metadata["labels"]["app.kubernetes.io/name"] == "cost"
    assert metadata["annotations"] == {FOLDER_ANNOTATION: FOLDER}
    assert config_map.parent == component.urn
    board = json.loads(config_map.inputs["data"]["cost.json"])
    assert component.component_outputs == {"dashboard_uid": board["uid"]} and made[0].dashboard_uid == board["uid"]
    assert board["uid"] == "gpu-cost-cost"


def test_a_refusal_names_the_component_and_its_instance():
    with pytest.raises(InvalidArgs, match="^GpuCostDashboard 'cost'"):
        components(lambda opts: GpuCostDashboard("cost", GpuCostDashboardArgs(namespace="Not A Label"), opts))


def test_the_dashboard_goes_to_the_cluster_of_the_kubernetes_provider_given():
    synthesis = components(lambda opts: GpuCostDashboard("cost", GpuCostDashboardArgs(namespace="observe"), opts))
    provider = only(synthesis.of_type("pulumi:providers:kubernetes"))
    assert only(synthesis.of_type("kubernetes:core/v1:ConfigMap")).provider_urn == provider.urn
