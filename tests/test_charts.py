"""The escape hatch into the charts' values: deep-merged over the components' own values, checked against
the pinned chart's keys where the package ships them (components/charts/*.keys.tsv)."""

from __future__ import annotations

import pulumi
import pytest

from components import (
    GpuOperators,
    GpuOperatorsArgs,
    GpuScheduling,
    InvalidArgs,
    MonitoringStack,
    MonitoringStackArgs,
    PrometheusAdapter,
    PrometheusAdapterArgs,
)
from components._charts import KEYS_DIR, PinnedChart, chart_keys, extra_values_problems, merged, unknown_keys
from components.observability.monitoring_stack import PINNED_CHART
from components.serving.scale_to_zero import KEDA_PINNED
from tests.harness import components


def _stack_values(extra: dict) -> dict:
    synthesis = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough"), extra_values=extra), opts))
    [release] = synthesis.of_type("kubernetes:helm.sh/v3:Release")
    return release.inputs["values"]


def test_mappings_merge_key_by_key_and_anything_else_replaces():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merged(base, {"a": {"c": [3], "e": True}, "f": 1}) == {"a": {"b": 1, "c": [3], "e": True}, "d": "x", "f": 1}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}, "the component's own values are not modified"


def test_extra_values_reach_the_release_merged_over_the_components_own():
    values = _stack_values({"prometheus": {"prometheusSpec": {"replicas": 2, "retention": "90d"}},
                            "grafana": {"grafana.ini": {"auth.anonymous": {"enabled": False}}}})
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == 2 and spec["retention"] == "90d"
    assert spec["storageSpec"], "what the escape hatch does not name stays as the component built it"
    assert values["grafana"]["grafana.ini"] == {"auth.anonymous": {"enabled": False}}
    assert values["grafana"]["admin"]["existingSecret"], "and the secrets stay out of the values"


@pytest.mark.parametrize(("extra", "problem"), [
    ({"promethues": {"enabled": True}}, "extra_values.promethues: got 'promethues'; not a values key of "
                                        "kube-prometheus-stack 88.5.3: did you mean prometheus?"),
    ({"prometheus": {"prometheusSpec": {"retentionSise": "40GB"}}},
     "extra_values.prometheus.prometheusSpec.retentionSise: got 'retentionSise'; not a values key of "
     "kube-prometheus-stack 88.5.3: did you mean retentionSize, retention?"),
    ({"nonsense": 1}, "extra_values.nonsense: got 'nonsense'; not a values key of kube-prometheus-stack 88.5.3: "
                      "top-level keys:"),
])
def test_a_key_the_pinned_chart_does_not_have_is_refused_with_the_closest_ones(extra, problem):
    with pytest.raises(InvalidArgs) as caught:
        _stack_values(extra)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert caught.value.registered_resources[-1].type == "pulumi:providers:kubernetes", "nothing else registered"


def test_keys_below_free_form_maps_and_unknown_keys_without_a_near_twin_pass():
    chart = PINNED_CHART
    assert extra_values_problems("x", {"prometheus": {"prometheusSpec": {"podMetadata": {"labels": {"a": "b"}}}}},
                                 chart) == []
    assert extra_values_problems("x", {"grafana": {"grafana.ini": {"server": {"root_url": "https://g"}}}}, chart) == []


def test_a_chart_version_other_than_the_pinned_one_is_not_checked_against_its_keys():
    assert extra_values_problems("x", {"nonsense": 1}, PINNED_CHART.at("89.0.0")) == []
    assert PINNED_CHART.at(PINNED_CHART.version) is PINNED_CHART


def _pinned_charts() -> list[PinnedChart]:
    """Every chart a component module pins (module-level `PinnedChart` values), found by walking the package."""
    import importlib
    import pkgutil

    import components

    found: dict[str, PinnedChart] = {}
    for module in pkgutil.walk_packages(components.__path__, "components."):
        if ".testing" in module.name:
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, PinnedChart) and value.keys_file is not None:  # charts with values keys checked
                found[value.keys_file] = value
    return list(found.values())


def test_every_pinned_charts_keys_ship_in_the_package():
    pinned = _pinned_charts()
    assert PINNED_CHART in pinned and len(pinned) >= 8, pinned
    for chart in pinned:
        assert chart.keys_file == f"{chart.name}-{chart.version}.keys.tsv" and chart_keys(chart.keys_file), chart
    assert {p.name for p in KEYS_DIR.glob("*.keys.tsv")} == {c.keys_file for c in pinned}


def test_the_gpu_operators_charts_take_extra_values_unchecked():
    synthesis = components(lambda opts: GpuOperators("gpu", GpuOperatorsArgs(
        scheduling=GpuScheduling(), dcgm_exporter_extra_values={"arguments": ["-f", "/etc/dcgm/counters.csv"]},
        device_plugin_extra_values={"priorityClassName": "system-node-critical"}), opts))
    values = {r.inputs["chart"]: r.inputs["values"] for r in synthesis.of_type("kubernetes:helm.sh/v3:Release")}
    assert values["dcgm-exporter"]["arguments"] == ["-f", "/etc/dcgm/counters.csv"]
    assert values["dcgm-exporter"]["serviceMonitor"] == {"enabled": False}
    assert values["nvidia-device-plugin"]["priorityClassName"] == "system-node-critical"


def test_the_adapter_checks_its_extra_values_too():
    with pytest.raises(InvalidArgs, match=r"PrometheusAdapter 'a': extra_values.replicaz: got 'replicaz'; .*did you "
                                          r"mean replicas"):
        components(lambda opts: PrometheusAdapter("a", PrometheusAdapterArgs(
            prometheus_url="http://p", extra_values={"replicaz": 3}), opts))


def test_an_oci_chart_is_referenced_by_its_url_and_a_plain_one_by_repository():
    from components._charts import release

    def build(opts: pulumi.ResourceOptions) -> None:
        release("oci", PinnedChart("karpenter", "oci://public.ecr.aws/karpenter", "1.14.1"), "ns", {}, {}, opts)
        release("https", PinnedChart("c", "https://charts.example", "1.0.0"), "ns", {"a": 1}, {}, opts)

    synthesis = components(build)
    oci, https = synthesis.named("oci").inputs, synthesis.named("https").inputs
    assert oci["chart"] == "oci://public.ecr.aws/karpenter/karpenter" and "repositoryOpts" not in oci
    assert "values" not in oci, "no values: none sent (an empty map would show as a change)"
    assert https["chart"] == "c" and https["repositoryOpts"] == {"repo": "https://charts.example"}


def test_argo_rollouts_checks_its_extra_values_and_merges_them():
    from components import ArgoRollouts, ArgoRolloutsArgs
    from components.serving.progressive_delivery import validate_argo_rollouts_args
    problems = validate_argo_rollouts_args(ArgoRolloutsArgs(extra_values={"controler": {"replicas": 3}}))
    assert problems and problems[0].startswith("extra_values.controler: got 'controler'") and "controller" in problems[0]
    synthesis = components(lambda opts: ArgoRollouts("rollouts", ArgoRolloutsArgs(
        extra_values={"controller": {"replicas": 3}}), opts))
    [release] = synthesis.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["values"]["controller"]["replicas"] == 3
    assert release.inputs["values"]["controller"]["pdb"]["enabled"] is True, "merged, not replaced"


def test_keys_the_templates_read_below_an_empty_map_are_checked_there():
    misspelt = {"podDisruptionBudget": {"operator": {"maxUnavaliable": 1}}}
    assert unknown_keys(misspelt, KEDA_PINNED.keys_file) == ["podDisruptionBudget.operator.maxUnavaliable"]
    assert extra_values_problems("keda_extra_values", misspelt, KEDA_PINNED) == [(
        "keda_extra_values.podDisruptionBudget.operator.maxUnavaliable",
        "got 'maxUnavaliable'; not a values key of keda 2.20.2: did you mean maxUnavailable?")]
    right = {"podDisruptionBudget": {part: {"maxUnavailable": 1, "minAvailable": 1}
                                     for part in ("operator", "metricServer", "webhooks")}}
    assert unknown_keys(right, KEDA_PINNED.keys_file) == [] == extra_values_problems("x", right, KEDA_PINNED)
    # An empty map with nothing listed below it stays free-form.
    assert unknown_keys({"upgradeStrategy": {"operator": {"type": "Recreate"}}}, KEDA_PINNED.keys_file) == []
