"""MonitoringStack's promises that a mutation audit (issue 29) found unguarded: each pod's own resources, the
retention kept under the volume in every unit, the rule evaluation interval, the dashboards' folders, the
namespaces' Pod Security levels, the DCGM scrape, the Helm timeout, and the receivers' routing warnings."""

from __future__ import annotations

import functools
import json

import pulumi
import pytest

from components._args import InvalidArgs
from components.observability.grafana_aws import GrafanaAwsAccess
from components.observability.managed_prometheus import PROMETHEUS_SERVICE_ACCOUNT, RemoteWrite
from components.observability.monitoring_alertmanager import AlertReceiver
from components.observability.monitoring_dashboards import FOLDER, FOLDER_ANNOTATION
from components.observability.monitoring_stack import (
    MonitoringResources,
    MonitoringStack,
    MonitoringStackArgs,
    PodResources,
    routes_no_model_has,
    validate_monitoring_stack_args,
)
from tests.harness import components, only
from tools.synth import Synthesis

RELEASE = "kubernetes:helm.sh/v3:Release"
# One distinct size per pod, so a pod given another pod's resources shows.
RESOURCES = MonitoringResources(
    prometheus=PodResources("1", "1Gi", "2Gi"), alertmanager=PodResources("2", "2Gi", "3Gi"),
    grafana=PodResources("3", "3Gi", "4Gi"), operator=PodResources("4", "4Gi", "5Gi"),
    kube_state_metrics=PodResources("5", "5Gi", "6Gi"), node_exporter=PodResources("6", "6Gi", "7Gi"))


def _stack(**changes) -> Synthesis:
    args = MonitoringStackArgs(**{"grafana_admin_password": pulumi.Output.secret("long-enough"), **changes})
    return components(lambda opts: MonitoringStack("mon", args, opts))


@functools.cache
def _custom() -> Synthesis:
    """A stack whose every setting differs from the defaults."""
    return _stack(resources=RESOURCES, scrape_interval="17s", storage_size="100Mi", storage_class="fast",
                  alertmanager_storage_size="3Gi", namespace="observe", ready_timeout_minutes=7)


def _values(synthesis: Synthesis) -> dict:
    return only(synthesis.of_type(RELEASE)).inputs["values"]


def _object(synthesis: Synthesis, kind: str, name_part: str) -> dict:
    found = [m for r, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == kind and name_part in r.name]
    return only(found, f"{kind} {name_part}")


# ------------------------------------------------------------------------------------------- resources

def test_each_pod_of_the_stack_gets_its_own_requests_and_memory_limit():
    values = _values(_custom())
    sections = {"prometheus": values["prometheus"]["prometheusSpec"],
                "alertmanager": values["alertmanager"]["alertmanagerSpec"], "grafana": values["grafana"],
                "operator": values["prometheusOperator"], "kube_state_metrics": values["kube-state-metrics"],
                "node_exporter": values["prometheus-node-exporter"]}
    for pod, section in sections.items():
        wanted: PodResources = getattr(RESOURCES, pod)
        assert section["resources"] == {"requests": {"cpu": wanted.cpu, "memory": wanted.memory},
                                         "limits": {"memory": wanted.memory_limit}}, pod
        assert "cpu" not in section["resources"]["limits"], "a CPU limit throttles the TSDB"
    assert values["prometheusOperator"]["admissionWebhooks"]["patch"]["resources"] == \
        values["prometheusOperator"]["resources"]


@pytest.mark.parametrize(("limit", "refused"), [("1Gi", True), ("2047Mi", True), ("2Gi", False), ("3Gi", False)])
def test_a_memory_limit_below_the_memory_request_is_refused_at_its_exact_bound(limit, refused):
    args = MonitoringStackArgs(grafana_admin_password="long-enough", resources=MonitoringResources(
        grafana=PodResources("100m", "2Gi", limit)))
    problems = validate_monitoring_stack_args(args)
    assert any("memory_limit" in p and repr(limit) in p and "must be >= memory (2Gi)" in p
               for p in problems) is refused, problems


# ------------------------------------------------------------------------------------------- Prometheus

@pytest.mark.parametrize(("size", "retention"), [("100Mi", "85MB"), ("1Gi", "1GB"), ("20Gi", "17GB"),
                                                 ("2Ti", "1TB"), ("10Ti", "8TB")])
def test_retention_size_keeps_85_percent_of_the_volume_in_its_own_unit_and_at_least_one(size, retention):
    spec = _values(_stack(storage_size=size))["prometheus"]["prometheusSpec"]
    assert spec["retentionSize"] == retention
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == size


def test_rules_are_evaluated_as_often_as_targets_are_scraped():
    spec = _values(_custom())["prometheus"]["prometheusSpec"]
    assert (spec["scrapeInterval"], spec["evaluationInterval"]) == ("17s", "17s")


def test_both_volumes_are_read_write_once_claims_of_the_given_class_and_size():
    values = _values(_custom())
    prometheus = values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    alertmanager = values["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]
    assert prometheus == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "100Mi"}},
                          "storageClassName": "fast"}
    assert alertmanager == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "3Gi"}},
                            "storageClassName": "fast"}


def test_the_charts_default_rules_are_kept():
    assert _values(_custom())["defaultRules"] == {"create": True}


# ------------------------------------------------------------------------------------------- Grafana

def test_grafana_files_dashboards_in_the_folder_their_annotation_names():
    dashboards = _values(_custom())["grafana"]["sidecar"]["dashboards"]
    assert dashboards["folderAnnotation"] == FOLDER_ANNOTATION
    assert dashboards["provider"] == {"foldersFromFilesStructure": True}
    config_map = _object(_custom(), "ConfigMap", "gpu-dashboard")
    assert config_map["metadata"]["annotations"] == {FOLDER_ANNOTATION: FOLDER}


def test_grafana_provisions_extra_data_sources_only_when_given():
    assert "additionalDataSources" not in _values(_custom())["grafana"]
    source = {"name": "Logs", "type": "loki", "url": "http://loki:3100"}
    assert _values(_stack(grafana_data_sources=[source]))["grafana"]["additionalDataSources"] == [source]


def test_both_secrets_are_opaque_in_the_stacks_namespace_and_grafanas_admin_user_is_admin():
    grafana, alertmanager = _object(_custom(), "Secret", "grafana-admin"), _object(_custom(), "Secret", "alertmanager")
    assert grafana["stringData"]["admin-user"] == "admin"
    for secret in (grafana, alertmanager):
        assert secret["type"] == "Opaque" and secret["metadata"]["namespace"] == "observe"


def test_the_gpu_dashboard_carries_the_uid_the_stack_reports():
    component = only(_custom().of_type("gpu-model-platform:index:MonitoringStack"))
    dashboard = json.loads(_object(_custom(), "ConfigMap", "gpu-dashboard")["data"]["gpus.json"])
    assert dashboard["uid"] == component.component_outputs["gpu_dashboard_uid"]


# ------------------------------------------------------------------------------------------- namespaces

def test_both_namespaces_audit_and_warn_one_level_above_what_they_enforce_at_the_latest_version():
    namespaces = {m["metadata"]["name"]: m["metadata"]["labels"] for _, m in _custom().kubernetes_objects()
                  if m["kind"] == "Namespace"}
    levels = {name: {k.rsplit("/", 1)[-1]: v for k, v in labels.items() if k.startswith("pod-security")}
              for name, labels in namespaces.items()}
    assert levels == {
        "observe": {"enforce": "baseline", "enforce-version": "latest", "audit": "restricted", "warn": "restricted"},
        "observe-node-exporter": {"enforce": "privileged", "enforce-version": "latest", "audit": "baseline",
                                  "warn": "baseline"}}
    assert _values(_custom())["prometheus-node-exporter"]["namespaceOverride"] == "observe-node-exporter"


# ------------------------------------------------------------------------------------------- the release and gates

def test_helm_waits_15_minutes_for_a_first_install():
    assert only(_custom().of_type(RELEASE)).inputs["timeout"] == 900


def test_the_readiness_gates_wait_as_long_as_configured():
    gates = [r for r in _custom().resources if r.type.endswith("Patch")]
    assert len(gates) == 2
    assert all(g.options["customTimeouts"] == {"create": "7m", "update": "7m"} for g in gates)


# ------------------------------------------------------------------------------------------- DCGM scrape

def test_the_dcgm_exporter_is_scraped_at_the_stacks_interval_with_its_node_kept():
    endpoint = only(_object(_custom(), "ServiceMonitor", "dcgm")["spec"]["endpoints"])
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "17s"
    assert endpoint["relabelings"] == [
        {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"},
        {"action": "labeldrop", "regex": "namespace|pod|container"}]
    assert _object(_custom(), "ServiceMonitor", "dcgm")["spec"]["jobLabel"] == "app.kubernetes.io/name"


# ------------------------------------------------------------------------------------------- routing warnings

def _receiver(name: str, *teams: str) -> AlertReceiver:
    return AlertReceiver(name, "webhook", ("critical",), url=pulumi.Output.secret("http://x"), teams=teams)


def test_a_receiver_routing_a_team_no_model_has_is_named_with_the_teams_there_are():
    problems = routes_no_model_has([_receiver("a", "ml"), _receiver("b", "frud", "ml")], {"ml", "fraud", None})
    assert problems == [
        "receivers[1].teams: routes 'frud', which no model watched with this stack has (theirs: fraud, ml), so the "
        "route never matches; fix the team, or ignore this if models of another program use this stack"]


def test_no_routing_warning_without_a_model_or_when_every_team_is_routed():
    assert routes_no_model_has([_receiver("a", "ml")], set()) == []
    assert routes_no_model_has([_receiver("a", "ml")], {"ml"}) == []
    assert "(theirs: no team)" in only(routes_no_model_has([_receiver("a", "ml")], {None}))


def _warnings(build, monkeypatch) -> list[str]:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    components(build)
    return [w for w in warned if w.startswith("MonitoringStack ")]


def test_a_team_a_watched_model_lacks_is_warned_about_naming_the_stack(monkeypatch):
    def build(opts):
        stack = MonitoringStack("mon", MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("long-enough"),
                                                           receivers=[_receiver("a", "frud")]), opts)
        stack.record_model_team("fraud")

    assert _warnings(build, monkeypatch) == [
        "MonitoringStack 'mon': receivers[0].teams: routes 'frud', which no model watched with this stack has "
        "(theirs: fraud), so the route never matches; fix the team, or ignore this if models of another program use "
        "this stack"]


def test_the_stack_reports_the_teams_its_receivers_route_or_none_when_one_takes_every_team():
    stacks: dict[str, MonitoringStack] = {}

    def build(opts):
        for name, receivers in (("by-team", [_receiver("a", "ml"), _receiver("b", "fraud", "ml")]),
                                ("catch-all", [_receiver("c", "ml"), _receiver("d")]), ("nobody", [])):
            stacks[name] = MonitoringStack(name, MonitoringStackArgs(
                grafana_admin_password=pulumi.Output.secret("long-enough"), namespace=name, receivers=receivers), opts)

    components(build)
    assert stacks["by-team"].routed_teams == frozenset({"ml", "fraud"})
    assert stacks["catch-all"].routed_teams is None and stacks["nobody"].routed_teams is None
    assert stacks["by-team"].namespace_name == "by-team"


# ------------------------------------------------------------------------------------------- placement of children

def test_every_kubernetes_object_of_the_stack_goes_through_the_given_provider():
    objects = [r for r in _custom().resources if r.custom and r.type.startswith("kubernetes:")
               and not r.type.startswith("pulumi:providers")]
    assert len(objects) >= 8
    assert all(r.provider_urn.endswith("::test-kubernetes") for r in objects), \
        [r.name for r in objects if not r.provider_urn.endswith("::test-kubernetes")]


def test_the_gpu_rules_live_in_the_stacks_namespace_with_its_labels():
    rule = _object(_custom(), "PrometheusRule", "gpu-rules")
    monitor = _object(_custom(), "ServiceMonitor", "dcgm")
    for manifest in (rule, monitor):
        assert manifest["metadata"]["namespace"] == "observe"
        assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "monitoring"


def test_a_second_stack_on_the_same_namespace_is_refused_naming_the_namespace_field():
    def build(opts):
        for name in ("one", "two"):
            MonitoringStack(name, MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("long-enough")),
                            opts)

    with pytest.raises(InvalidArgs) as error:
        components(build)
    assert str(error.value).startswith("MonitoringStack 'two': namespace: Namespace 'monitoring'")


# ------------------------------------------------------------------------------------------- AWS

def test_remote_write_runs_prometheus_as_the_service_account_its_role_trusts():
    remote = RemoteWrite("https://aps.example/api/v1/remote_write", "eu-west-1", "arn:aws:iam::1:role/amp")
    prometheus = _values(_stack(remote_write=remote))["prometheus"]
    assert prometheus["serviceAccount"] == {"create": True, "name": PROMETHEUS_SERVICE_ACCOUNT, "annotations": {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/amp"}}
    assert prometheus["prometheusSpec"]["remoteWrite"] == [remote.spec()]
    assert "serviceAccount" not in _values(_custom())["prometheus"]


def test_grafanas_reader_role_carries_the_stacks_tags():
    oidc = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    synthesis = _stack(grafana_aws=GrafanaAwsAccess(oidc, None, reads_traces=True))
    role = only(synthesis.of_type("aws:iam/role:Role"))
    assert {k: role.inputs["tags"][k] for k in ("component", "component-name")} == {
        "component": "monitoring-stack", "component-name": "mon"}
