"""ClusterAutoscaler promises the mutation audit (issue 29) found unguarded: what it reports, its release's history
and rollback, the hardened pod, the flags that let idle GPU nodes go and zones grow evenly, the tier count at its
bound, and AutoscalerMonitoring's objects, labels and alerts."""

from __future__ import annotations

import pytest

from components.capacity.cluster_autoscaler import (
    AutoscalerMonitoring,
    AutoscalerMonitoringArgs,
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    aws_account_of,
    validate_cluster_autoscaler_args,
)
from tests.harness import components

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/X"


def _args(**changes) -> ClusterAutoscalerArgs:
    return ClusterAutoscalerArgs(**{"cluster_name": "c", "oidc_provider_arn": OIDC, "region": "us-west-2", **changes})


def _autoscaler(runbook: str | None = "docs/runbooks.md", monitoring: dict | None = None, **changes):
    def build(opts):
        autoscaler = ClusterAutoscaler("ca", _args(**changes), opts)
        AutoscalerMonitoring("mon", AutoscalerMonitoringArgs(
            metrics=autoscaler.metrics, rules=autoscaler.alert_rules(runbook), **(monitoring or {})), opts)

    return components(build)


def _values(synthesis) -> dict:
    return synthesis.named("ca-release").inputs["values"]


def test_it_reports_its_role_service_account_namespace_and_release_and_owns_them():
    synthesis = _autoscaler(namespace="autoscaling")
    [component] = synthesis.of_type("gpu-model-platform:index:ClusterAutoscaler")
    assert component.component_outputs == {"role_arn": synthesis.named("ca-role").outputs["arn"],
                                           "service_account": "ca", "namespace": "autoscaling", "release_name": "ca"}
    assert {r.name for r in synthesis.resources if r.parent == component.urn} == {"ca-role", "ca-policy", "ca-release"}


def test_the_release_keeps_five_revisions_and_cleans_up_a_failed_upgrade():
    release = _autoscaler().named("ca-release").inputs
    assert (release["name"], release["maxHistory"], release["cleanupOnFail"]) == ("ca", 5, True)


def test_the_autoscaler_pod_is_non_root_read_only_without_capabilities_and_bounded():
    values = _values(_autoscaler())
    assert values["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                         "fsGroup": 65534, "seccompProfile": {"type": "RuntimeDefault"}}
    assert values["containerSecurityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                  "capabilities": {"drop": ["ALL"]}}
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}}
    assert values["tolerations"] == []


def test_scratch_storage_never_pins_an_idle_gpu_node_and_similar_zones_grow_evenly():
    extra = _values(_autoscaler(scale_down_unneeded_time="3m", scale_down_delay_after_add="7m"))["extraArgs"]
    assert extra == {"expander": "least-waste", "scale-down-unneeded-time": "3m", "scale-down-delay-after-add": "7m",
                     "skip-nodes-with-local-storage": False, "balance-similar-node-groups": True}


def test_replicas_spread_over_hosts_and_the_chart_discovers_this_clusters_groups_on_aws():
    values = _values(_autoscaler(replicas=3, system_node_selector={"workload": "system"}))
    assert (values["cloudProvider"], values["awsRegion"], values["autoDiscovery"]) == (
        "aws", "us-west-2", {"clusterName": "c"})
    assert values["replicaCount"] == 3 and values["fullnameOverride"] == "ca"
    assert values["nodeSelector"] == {"workload": "system"}
    assert values["affinity"]["podAntiAffinity"] == {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                           "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "ca"}}}}]}


def test_five_preference_tiers_are_accepted_and_six_refused():
    tiers = [[f"group-{i}"] for i in range(6)]
    assert validate_cluster_autoscaler_args(_args(priority_tiers=tiers[:5])) == []
    assert validate_cluster_autoscaler_args(_args(priority_tiers=tiers)) == ["priority_tiers: got 6; at most 5 tiers"]


def test_the_account_and_partition_are_read_from_the_oidc_provider_arn():
    assert aws_account_of("arn:aws-cn:iam::210987654321:oidc-provider/x") == ("aws-cn", "210987654321")


def test_the_service_monitor_scrapes_the_charts_service_in_its_namespace_at_the_configured_interval():
    synthesis = _autoscaler(namespace="autoscaling", monitoring={"scrape_interval": "15s", "labels": {"release": "kps"},
                                                                 "namespace": "observability"})
    monitor = synthesis.named("mon-service-monitor").inputs
    assert monitor["metadata"]["name"] == "ca" and monitor["metadata"]["namespace"] == "observability"
    assert monitor["spec"] == {
        "namespaceSelector": {"matchNames": ["autoscaling"]},
        "selector": {"matchLabels": {"app.kubernetes.io/instance": "ca", "app.kubernetes.io/name": "aws-cluster-autoscaler"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}]}
    for name in ("mon-service-monitor", "mon-rules"):
        labels = synthesis.named(name).inputs["metadata"]["labels"]
        assert labels["release"] == "kps" and labels["app.kubernetes.io/component"] == "autoscaler", name


def test_the_rules_hold_its_alerts_and_pods_unschedulable_with_runbook_links():
    synthesis = _autoscaler(monitoring={"unschedulable_for": "20m"})
    rules = synthesis.named("mon-rules").inputs
    assert rules["metadata"]["name"] == "ca-alerts"
    [group] = rules["spec"]["groups"]
    assert group["name"] == "ca"
    by_name = {r["alert"]: r for r in group["rules"]}
    assert list(by_name) == ["ClusterAutoscalerDown", "ClusterAutoscalerScaleUpFailing", "PodsUnschedulable"]
    assert by_name["ClusterAutoscalerDown"]["expr"] == 'absent(up{job="ca", namespace="kube-system"} == 1)'
    assert by_name["ClusterAutoscalerDown"]["for"] == "10m"
    assert by_name["ClusterAutoscalerScaleUpFailing"]["expr"] == \
        "sum(increase(cluster_autoscaler_failed_scale_ups_total[30m])) > 0"
    assert by_name["PodsUnschedulable"]["for"] == "20m"
    assert {r["labels"]["severity"] for r in group["rules"]} == {"warning"}
    assert by_name["ClusterAutoscalerScaleUpFailing"]["annotations"]["runbook_url"] == \
        "docs/runbooks.md#clusterautoscalerscaleupfailing"
    [component] = synthesis.of_type("gpu-model-platform:index:AutoscalerMonitoring")
    assert component.component_outputs == {"alert_names": list(by_name)}


def test_without_a_runbook_base_no_alert_links_one():
    rules = _autoscaler(runbook=None).named("mon-rules").inputs["spec"]["groups"][0]["rules"]
    assert [r for r in rules if "runbook_url" in r["annotations"]] == []



def _policy() -> dict:
    from components.capacity.cluster_autoscaler import cluster_autoscaler_policy
    return cluster_autoscaler_policy("c", "aws", "123456789012", "us-west-2")


def test_every_policy_statement_uses_only_the_iam_grammars_elements_and_allows():
    # Statement elements as the IAM policy grammar spells them (IAM User Guide, "Grammar of the IAM JSON policy
    # language", read 2026-12-08).
    elements = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                "Condition"}
    for statement in _policy()["Statement"]:
        assert set(statement) <= elements and statement["Effect"] == "Allow", statement


def test_every_action_the_autoscaler_may_call_is_an_operation_of_botocores_model_for_its_service():
    import botocore.session

    session = botocore.session.get_session()
    for statement in _policy()["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            service, operation = action.split(":", 1)
            assert operation in session.get_service_model(service).operation_names, action


def test_the_role_carries_the_components_tags():
    tags = _autoscaler(tags={"team": "ml"}).named("ca-role").inputs["tags"]
    assert {"component": "cluster-autoscaler", "component-name": "ca", "team": "ml"}.items() <= tags.items()


def test_the_monitoring_objects_are_its_children_at_the_prometheus_operators_api_version():
    synthesis = _autoscaler()
    [component] = synthesis.of_type("gpu-model-platform:index:AutoscalerMonitoring")
    for name, kind in (("mon-service-monitor", "ServiceMonitor"), ("mon-rules", "PrometheusRule")):
        resource = synthesis.named(name)
        assert resource.parent == component.urn, name
        assert (resource.inputs["apiVersion"], resource.inputs["kind"]) == ("monitoring.coreos.com/v1", kind)


def test_a_second_monitoring_of_the_same_autoscaler_is_refused_naming_the_field_and_both_objects():
    from components.capacity.cluster_autoscaler import MetricsEndpoint

    metrics = MetricsEndpoint(namespace="kube-system", service_labels={"app": "ca"}, port="http", job="ca")
    with pytest.raises(ValueError) as caught:
        components(lambda opts: [AutoscalerMonitoring(n, AutoscalerMonitoringArgs(metrics=metrics), opts)
                                 for n in ("one", "two")])
    assert str(caught.value).startswith(
        "AutoscalerMonitoring 'two': metrics: monitoring.coreos.com/ServiceMonitor 'ca' in namespace 'monitoring', "
        "monitoring.coreos.com/PrometheusRule 'ca-alerts' in namespace 'monitoring'"), str(caught.value)


def test_a_bad_scrape_interval_is_refused_naming_the_component_and_the_field():
    from components.capacity.cluster_autoscaler import MetricsEndpoint

    metrics = MetricsEndpoint(namespace="kube-system", service_labels={"app": "ca"}, port="http", job="ca")
    with pytest.raises(ValueError) as caught:
        components(lambda opts: AutoscalerMonitoring("mon", AutoscalerMonitoringArgs(metrics=metrics,
                                                                                     scrape_interval="soon"), opts))
    assert str(caught.value).startswith("AutoscalerMonitoring 'mon': scrape_interval: got 'soon'")
