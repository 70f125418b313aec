"""What the chart helpers promise beyond tests/test_charts.py: every mistaken key of the escape hatch is reported,
nested keys named by their whole path, none lost behind a key that passes; a release carries the merged values and
every setting the component gives it. Checked against keda's pinned values keys (components/charts/)."""

from __future__ import annotations

import pulumi

from components._charts import PinnedChart, chart_keys, extra_values_problems, free_form, release, unknown_keys
from components.serving.scale_to_zero import KEDA_PINNED
from tests.harness import components

KEDA = "keda 2.20.2"


def test_every_mistaken_key_is_reported_once_even_after_keys_that_pass():
    extra = {"podDisruptionBudgte": {"minAvailable": 1, "maxUnavailable": 1},  # two leaves under one unknown key
             "podDisruptionBudget": {"zzqqxxyy": {"k": 1}},  # unknown, no near twin: possibly passed through
             "nonsense": 1}
    problems = extra_values_problems("keda_extra_values", extra, KEDA_PINNED)
    assert problems == [
        ("keda_extra_values.podDisruptionBudgte",
         f"got 'podDisruptionBudgte'; not a values key of {KEDA}: did you mean podDisruptionBudget?"),
        ("keda_extra_values.nonsense",
         f"got 'nonsense'; not a values key of {KEDA}: top-level keys: additionalAnnotations, additionalLabels, "
         "affinity, asciiArt, certificates, clusterDomain, clusterName, crds, customManagedBy, enableServiceLinks, "
         "env, extraArgs, ..."),
    ]


def test_a_misspelt_nested_key_is_named_by_its_whole_path_with_its_siblings_as_hints():
    assert extra_values_problems("x", {"podDisruptionBudget": {"minAvalable": 1}}, KEDA_PINNED) == [
        ("x.podDisruptionBudget.minAvalable", f"got 'minAvalable'; not a values key of {KEDA}: did you mean "
                                              "minAvailable?")]
    assert extra_values_problems("x", {"podDisruptionBudget": {"operator": {"maxUnavailable": 1}}}, KEDA_PINNED) == []


def test_the_check_of_a_values_map_goes_on_past_keys_that_pass():
    values = {"upgradeStrategy": {"operator": {"type": "Recreate"}},  # below a free-form map
              "podDisruptionBudget": {"operator": {"somethingElse": 1}},  # below a listed map, no near twin
              "podDisruptionBudget.x": 1, "nonsense": 1}
    assert unknown_keys(values, KEDA_PINNED.keys_file) == ["podDisruptionBudget.x", "nonsense"]


def test_an_empty_map_with_keys_listed_below_it_is_not_free_form_but_one_without_is():
    free = free_form(chart_keys(KEDA_PINNED.keys_file), ("empty-map",))
    assert "upgradeStrategy.operator" in free
    assert "podDisruptionBudget.operator" not in free and "podDisruptionBudget" not in free


def test_the_chart_at_another_version_is_the_same_chart_without_values_keys():
    assert KEDA_PINNED.at("9.9.9") == PinnedChart(KEDA_PINNED.name, KEDA_PINNED.repository, "9.9.9")
    assert KEDA_PINNED.at("9.9.9").keys_file is None


def test_a_release_gets_the_merged_values_and_every_setting_the_component_gives():
    def build(opts: pulumi.ResourceOptions) -> None:
        release("r", PinnedChart("c", "https://charts.example", "1.0.0"), "ns", {"a": {"b": 1}, "d": 1},
                {"a": {"c": 2}}, opts, name="fixed-name", atomic=True)

    inputs = components(build).named("r").inputs
    assert inputs["values"] == {"a": {"b": 1, "c": 2}, "d": 1}
    assert inputs["name"] == "fixed-name" and inputs["atomic"] is True
    assert inputs["version"] == "1.0.0" and inputs["namespace"] == "ns"
