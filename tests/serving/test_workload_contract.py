"""docs/workload-contract.md says what a model server must do; the code holds ModelService and the
monitoring to exactly that, through the names in components/serving/server_contract.py."""

from __future__ import annotations

import json
import re
import sys

import pytest

from components import ModelService, ModelServiceArgs
from components.observability.model_monitoring import ModelMonitoringArgs, model_rules, model_target
from components.observability.monitoring_dashboards import model_dashboard
from components.serving import server_contract
from components.serving.model_service import ServedModel
from components.serving.pod_autoscaling import PrometheusAdapterArgs
from tests.harness import components, container
from tests.monitoring.promql import metric_names
from tools.synth import PROJECT_DIR

DOC = (PROJECT_DIR / "docs" / "workload-contract.md").read_text()
IMAGE = "registry.example/m@sha256:" + "0" * 64
# Series the platform reads that a model server does not expose (Prometheus's own, kube-state-metrics').
NOT_THE_SERVERS = {"up", "kube_pod_container_status_restarts_total", "kube_deployment_status_replicas_available",
                   "kube_deployment_spec_replicas"}


def _server_metrics_read() -> set[str]:
    args = ModelMonitoringArgs(model=ServedModel("m"))
    exprs = [r["expr"] for g in model_rules(args) for r in g["rules"]]
    dashboard = model_dashboard("uid", model_target(args), 0.999, 0.5)
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = {n for e in exprs for n in metric_names(e)} - NOT_THE_SERVERS
    names = {re.sub(r"_(bucket|sum|count)$", "", n) for n in names if not n.startswith("model:")}
    return names | set(PrometheusAdapterArgs(prometheus_url="http://p").metrics)


def test_every_server_metric_the_platform_reads_is_in_the_contract():
    assert _server_metrics_read() == set(server_contract.MODEL_METRICS)


@pytest.mark.parametrize("metric", server_contract.MODEL_METRICS)
def test_the_doc_lists_every_metric_of_the_contract(metric):
    assert f"`{metric}`" in DOC, metric


def test_the_doc_lists_every_variable_the_deployment_sets_by_default():
    deployment = next(r for r in components(lambda opts: ModelService("m", ModelServiceArgs(
        image=IMAGE, model_version="v1", api_keys={"primary": "k"}), opts)).resources
        if r.type == "kubernetes:apps/v1:Deployment")
    names = {e["name"] for e in container(deployment)["env"]}
    assert names == set(server_contract.MANAGED_ENV) | {server_contract.ENV_DRAIN_TIMEOUT_SECONDS}
    for name in names:
        assert f"`{name}`" in DOC, name


def test_the_doc_gives_the_default_ports_paths_and_user():
    for value in (server_contract.DEFAULT_HTTP_PORT, server_contract.DEFAULT_GRPC_PORT,
                  server_contract.DEFAULT_ADMIN_PORT, server_contract.RUN_AS_USER):
        assert f"{value}" in DOC, value
    for name in (server_contract.HTTP_PORT_NAME, server_contract.GRPC_PORT_NAME, server_contract.ADMIN_PORT_NAME,
                 server_contract.METRICS_SERVICE_PORT_NAME, server_contract.READY_PATH, server_contract.LIVE_PATH,
                 server_contract.METRICS_PATH):
        assert f"`{name}`" in DOC, name


def test_the_contract_metrics_are_the_ones_the_servers_own_docs_promise():
    readme = (PROJECT_DIR / "app" / "README.md").read_text()
    for metric in server_contract.MODEL_METRICS:
        assert f"`{metric}`" in readme, f"app/README.md's metrics contract lacks {metric}"


def test_every_overridable_part_of_the_contract_is_named_in_the_doc():
    fields = ("container_port", "service_port", "grpc_port", "admin_port", "extra_ports", "command", "container_args",
              "probes", "run_as_user", "run_as_group", "volumes", "volume_mounts", "image_pull_secrets", "env",
              "secret_env", "drain_timeout_seconds", "pre_stop_seconds", "termination_grace_period_seconds",
              "egress_rules", "service_account_role_arn", "rollout_timeout_minutes")
    assert json.dumps([f for f in fields if not re.search(rf"`{f}[`=]", DOC)]) == "[]"
    assert set(fields) <= set(ModelServiceArgs.__dataclass_fields__)


def test_this_repositorys_server_reads_every_variable_and_serves_the_contracts_ports_and_paths():
    app_dir = str(PROJECT_DIR / "app")
    if app_dir not in sys.path:  # app/ runs from its own directory: its package is top-level (tests/app/conftest.py)
        sys.path.insert(0, app_dir)
    from model_server import config

    c = server_contract
    sets = (set(c.MANAGED_ENV) - {c.ENV_ORT_DISABLE_TELEMETRY}) | {c.ENV_DRAIN_TIMEOUT_SECONDS, c.ENV_DRAIN_DELAY_SECONDS}
    assert sets <= set(config.ENV_VARS), f"the server reads none of {sorted(sets - set(config.ENV_VARS))}"
    defaults = config.Settings()
    assert (defaults.port, defaults.grpc_port, defaults.admin_port) == (
        c.DEFAULT_HTTP_PORT, c.DEFAULT_GRPC_PORT, c.DEFAULT_ADMIN_PORT)
    source = "".join(p.read_text() for p in (PROJECT_DIR / "app" / "model_server").glob("*.py"))
    for path in (c.READY_PATH, c.LIVE_PATH, c.METRICS_PATH):
        assert f'"{path}"' in source, path
