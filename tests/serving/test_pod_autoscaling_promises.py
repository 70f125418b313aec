"""PrometheusAdapter promises the mutation audit (issue 29) found unguarded: what the chart is given that its keys
check cannot see (free-form maps such as `resources`)."""

from __future__ import annotations

from components import PrometheusAdapter, PrometheusAdapterArgs
from components._args import quantity_value
from tools.synth import run


def _values(**fields) -> dict:
    synthesis = run(lambda: PrometheusAdapter("adapter", PrometheusAdapterArgs(prometheus_url="http://p", **fields)))
    return synthesis.named("adapter-release").inputs["values"]


def test_the_adapters_memory_is_bounded_by_a_limit_no_lower_than_its_request():
    resources = _values()["resources"]
    request, limit = (quantity_value(resources[k]["memory"]) for k in ("requests", "limits"))
    assert request is not None and limit is not None and limit >= request, resources
    assert quantity_value(resources["requests"]["cpu"]) is not None, resources


def test_a_misspelt_adapter_chart_value_is_refused_naming_its_key_and_a_real_one_passes():
    from components.serving.pod_autoscaling import validate_prometheus_adapter_args

    def problems(extra: dict) -> list[str]:
        return validate_prometheus_adapter_args(PrometheusAdapterArgs(prometheus_url="http://p", extra_values=extra))

    assert [p.split(":")[0] for p in problems({"podDisruptionBudget": {"maxUnavaliable": 0}})] == [
        "extra_values.podDisruptionBudget.maxUnavaliable"]
    assert problems({"podDisruptionBudget": {"maxUnavailable": 0}}) == []


def test_the_release_is_the_adapters_child_keeps_five_revisions_and_cleans_up_a_failed_upgrade():
    synthesis = run(lambda: PrometheusAdapter("adapter", PrometheusAdapterArgs(prometheus_url="http://p")))
    [adapter] = synthesis.of_type("gpu-model-platform:index:PrometheusAdapter")
    release = synthesis.named("adapter-release")
    assert release.parent == adapter.urn
    assert (release.inputs["name"], release.inputs["maxHistory"], release.inputs["cleanupOnFail"]) == ("adapter", 5, True)


def test_a_second_adapter_in_one_cluster_is_refused_for_the_api_service_only_one_can_register():
    import pytest

    from components._args import InvalidArgs

    def program() -> None:
        for instance in ("first", "second"):
            PrometheusAdapter(instance, PrometheusAdapterArgs(prometheus_url="http://p"))

    with pytest.raises(InvalidArgs) as caught:
        run(program)
    message = str(caught.value)
    assert message.startswith("PrometheusAdapter 'second': name: apiregistration.k8s.io/APIService "
                              "'v1beta1.custom.metrics.k8s.io'"), message
    assert "already created by PrometheusAdapter 'first'" in message


def test_the_adapter_registers_the_metrics_it_serves_and_its_release():
    synthesis = run(lambda: PrometheusAdapter("adapter", PrometheusAdapterArgs(prometheus_url="http://p",
                                                                               metrics=["queue_depth"])))
    [adapter] = synthesis.of_type("gpu-model-platform:index:PrometheusAdapter")
    assert adapter.component_outputs == {"metric_names": ["queue_depth"], "release_name": "adapter"}


def test_a_keda_trigger_reads_the_given_prometheus_over_the_given_window():
    """KEDA's prometheus scaler reads `serverAddress`, `query` and `threshold` (kedacore/keda
    pkg/scalers/prometheus_scaler.go, `prometheusMetadata`)."""
    from components.observability.model_monitoring import ModelMonitoringArgs, model_target
    from components.serving.model_service import ServedModel
    from components.serving.pod_autoscaling import keda_prometheus_trigger
    from components.serving.runtimes import VLLM

    target = model_target(ModelMonitoringArgs(model=ServedModel("llama", namespace="llm", runtime=VLLM)))
    assert VLLM.signals.queue_depth is not None
    trigger = keda_prometheus_trigger(target, VLLM.signals.queue_depth, 2.5, "http://prom:9090", window="5m")
    assert trigger["metadata"]["serverAddress"] == "http://prom:9090"
    assert trigger["metadata"]["threshold"] == "2.5"
    assert trigger["metadata"]["query"].endswith('model_name="llama"}[5m]))')
