"""A platform team's program: two ML teams on a cluster it already runs, one shared monitoring stack.

The fraud team serves a GPU model released as a canary: Argo Rollouts shifts requests to a new image in steps, each
judged on the model's own error ratio and latency in Prometheus. The churn team serves a CPU model that scales to
zero when idle: KEDA's HTTP interceptor holds the first request while the model wakes, and the HTTPS endpoint sends
to the interceptor. Each component takes the ones it acts on, so namespaces, Services, ports, owners of the replica
count, network openings and timeouts follow from the objects; each team's alerts reach its own Slack channel.
"""

import pulumi
import pulumi_kubernetes as k8s
from gpu_model_platform import (
    AlertReceiver,
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    CanaryStep,
    GpuScheduling,
    KedaHttpAddOn,
    KedaHttpAddOnArgs,
    LoadBalancerController,
    LoadBalancerControllerArgs,
    ModelCanary,
    ModelCanaryArgs,
    ModelEndpoint,
    ModelEndpointArgs,
    ModelMonitoring,
    ModelMonitoringArgs,
    ModelScaleToZero,
    ModelScaleToZeroArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
)

config = pulumi.Config()
cluster = k8s.Provider("shared-cluster", kubeconfig=config.require_secret("kubeconfig"))
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster})

# --- shared by every team: monitoring, the canary controller, scale to zero, the load balancer controller ---------
monitoring = MonitoringStack("monitoring", MonitoringStackArgs(
    grafana_admin_password=config.require_secret("grafanaAdminPassword"),
    receivers=[AlertReceiver(name=f"{team}-slack", type="slack", severities=("critical", "warning"),
                             url=config.require_secret(f"{team}SlackWebhook"), channel=f"#{team}-alerts",
                             teams=(team,)) for team in ("fraud", "churn")]), kubernetes)
rollouts = ArgoRollouts("argo-rollouts", ArgoRolloutsArgs(monitoring_namespace=monitoring.namespace_name),
                        pulumi.ResourceOptions.merge(kubernetes, pulumi.ResourceOptions(depends_on=[monitoring])))
keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs(monitoring=monitoring, longest_hold_seconds=300,
                                               load_balancer_subnet_ids=config.require_object("subnetIds")),
                     kubernetes)
load_balancers = LoadBalancerController("load-balancer-controller", LoadBalancerControllerArgs(
    cluster_name=config.require("clusterName"), oidc_provider_arn=config.require("oidcProviderArn"),
    region=config.require("region"), vpc_id=config.require("vpcId")), kubernetes)

# --- the fraud team: a GPU model, new versions as a canary -------------------------------------------------------
fraud = ModelService("fraud-detector", ModelServiceArgs(
    image=config.require("fraudImage"), namespace="fraud", team="fraud", gpus=1, gpu_scheduling=GpuScheduling(),
    replicas=2, api_keys={"primary": config.require_secret("fraudApiKey")}, progressive_rollout=True), kubernetes)
fraud_canary = ModelCanary("fraud-detector-canary", ModelCanaryArgs(
    model=fraud, rollouts=rollouts, prometheus=monitoring,
    analysis=CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5),
    steps=[CanaryStep(10, pause="5m"), CanaryStep(50, pause="5m")]), kubernetes)
ModelMonitoring("fraud-detector-monitoring", ModelMonitoringArgs(model=fraud, monitoring=monitoring,
                                                                 rollout=fraud_canary), kubernetes)

# --- the churn team: a CPU model asleep when idle, behind an HTTPS endpoint ------------------------------------------
churn = ModelService("churn-predictor", ModelServiceArgs(
    image=config.require("churnImage"), namespace="churn", team="churn", replicas=0, replica_owner="keda",
    api_keys={"primary": config.require_secret("churnApiKey")}), kubernetes)
churn_asleep = ModelScaleToZero("churn-predictor-scale-to-zero", ModelScaleToZeroArgs(
    model=churn, add_on=keda, hosts=[config.require("churnHost")], max_wait_seconds=300), kubernetes)
churn_endpoint = ModelEndpoint("churn-predictor-endpoint", ModelEndpointArgs(
    backend=churn_asleep, host=config.require("churnHost"), hosted_zone_id=config.require("hostedZoneId"),
    hosted_zone_name=config.require("hostedZoneName"), subnet_ids=config.require_object("subnetIds")),
    pulumi.ResourceOptions.merge(kubernetes, pulumi.ResourceOptions(depends_on=[load_balancers])))
ModelMonitoring("churn-predictor-monitoring", ModelMonitoringArgs(model=churn, monitoring=monitoring,
                                                                  scale_to_zero=churn_asleep), kubernetes)

pulumi.export("churnUrl", churn_endpoint.url)
pulumi.export("fraudRollout", fraud_canary.rollout_name)
