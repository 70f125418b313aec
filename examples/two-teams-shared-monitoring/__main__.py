"""Two ML teams on one cluster the platform team already runs, sharing one monitoring stack.

The fraud team serves a GPU model, the churn team a CPU model. Each team's namespace exists already
(the platform team made it, with its quotas and access), so the services use it and create none.
Both servers are the teams' own builds: they follow the workload contract (docs/workload-contract.md)
but answer health checks on `/healthz/...` instead of the default paths. Every alert of a model
carries its team, and each team's Slack receiver takes only its own team's alerts.
"""

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from gpu_model_platform import (
    AlertReceiver,
    GpuScheduling,
    HealthProbes,
    ModelMonitoring,
    ModelMonitoringArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
)


@dataclass(frozen=True)
class Team:
    name: str  # also the team's existing namespace and the `team` label its alerts carry
    model: str
    gpus: int
    image_key: str
    slack_key: str


TEAMS = (Team("fraud", model="fraud-detector", gpus=1, image_key="fraudImage", slack_key="fraudSlackWebhook"),
         Team("churn", model="churn-predictor", gpus=0, image_key="churnImage", slack_key="churnSlackWebhook"))
# The teams' servers expose the contract's ports, but health on their own paths.
PROBES = HealthProbes(readiness_path="/healthz/ready", liveness_path="/healthz/live")

config = pulumi.Config()
cluster = k8s.Provider("shared-cluster", kubeconfig=config.require_secret("kubeconfig"))
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster})
runbooks = config.require("runbookBaseUrl")

monitoring = MonitoringStack("monitoring", MonitoringStackArgs(
    grafana_admin_password=config.require_secret("grafanaAdminPassword"),
    # One receiver per team: critical and warning alerts of that team's models, nothing else.
    receivers=[AlertReceiver(name=f"{team.name}-slack", type="slack", severities=("critical", "warning"),
                             url=config.require_secret(team.slack_key), channel=f"#{team.name}-alerts",
                             teams=(team.name,)) for team in TEAMS],
    runbook_url=runbooks), kubernetes)
after_monitoring = pulumi.ResourceOptions.merge(kubernetes, pulumi.ResourceOptions(depends_on=[monitoring]))

for team in TEAMS:
    service = ModelService(team.model, ModelServiceArgs(
        image=config.require(team.image_key),
        namespace=team.name,
        create_namespace=False,
        team=team.name,
        gpus=team.gpus,
        gpu_scheduling=GpuScheduling() if team.gpus else None,  # the GPU nodes' default labels and taint
        probes=PROBES), kubernetes)
    ModelMonitoring(f"{team.model}-monitoring", ModelMonitoringArgs(
        model=service, monitoring=monitoring, runbook_url=runbooks), after_monitoring)
    pulumi.export(f"{team.model}-service", pulumi.Output.concat(service.namespace, "/", service.service_name))
