"""An 8B instruct model served by vLLM on one 48 GB GPU, its weights mounted from S3, watched and released like any
model of the platform: SLO alerts on errors, time to first token and inter-token latency, a dashboard with tokens
per second and KV-cache use, scaling on waiting requests; in dev it scales to zero, in prod it is an HTTPS endpoint
with an API key whose new versions are canaries judged on TTFT and ITL.

The platform team runs the cluster and the monitoring stack (ServiceMonitor and PrometheusRule CRDs); this program
installs the Mountpoint for Amazon S3 CSI driver beside the model, and KEDA's HTTP add-on (dev) or Argo Rollouts (prod).
"""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from gpu_model_platform import (
    VLLM,
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    CanaryStep,
    GpuNodeGroup,
    GpuNodeGroupArgs,
    KedaHttpAddOn,
    KedaHttpAddOnArgs,
    LlmSizing,
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
    ModelWeights,
    ModelWeightsArgs,
    MountpointS3CsiDriver,
    MountpointS3CsiDriverArgs,
    TokenLatencyObjectives,
)

MODEL = "llama-8b-instruct"
SIZING = LlmSizing(parameters_billions=8, bytes_per_parameter=2, tensor_parallel=1, min_kv_cache_gib=4)
OBJECTIVES = TokenLatencyObjectives(time_to_first_token_p99_seconds=2.0, inter_token_latency_p99_seconds=0.1)

config = pulumi.Config()
stage = config.require("stage")
if stage not in ("dev", "prod"):
    raise ValueError(f"config stage: got {stage!r}; allowed: dev, prod")
instance_type = config.require("instanceType")

aws_opts = pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region=config.require("region"))})
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider(
    "cluster", kubeconfig=config.require_secret("kubeconfig"))})

# The model's GPU nodes: this instance type only, checked against the sizing; a disk for the vLLM image (the weights stream
# from S3 and take no disk).
gpu_nodes = GpuNodeGroup("gpu-nodes", GpuNodeGroupArgs(
    cluster_name=config.require("clusterName"), subnet_ids=config.require_object("subnetIds"),
    instance_types=[instance_type], min_size=0, max_size=2, desired_size=0, disk_size_gib=100,
    # Refused before anything is created when the model does not fit: it would crash-loop after a GPU cold start.
    llm=SIZING), aws_opts)

namespace = k8s.core.v1.Namespace("namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=MODEL, labels={
    "pod-security.kubernetes.io/enforce": "restricted",
    # The load balancer controller gates each rollout step on the new pods being healthy targets.
    "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}), opts=kubernetes)
# The Mountpoint for Amazon S3 CSI driver (once per cluster; no AWS credentials of its own: each model's volume
# reads with the model's role).
s3_driver = MountpointS3CsiDriver("s3-csi-driver", MountpointS3CsiDriverArgs(region=config.require("region")), kubernetes)
weights = ModelWeights("weights", ModelWeightsArgs(
    model_name=MODEL, namespace=namespace.metadata.name, oidc_provider_arn=config.require("oidcProviderArn"),
    digest=config.require("weightsDigest"), driver=s3_driver), pulumi.ResourceOptions.merge(aws_opts, kubernetes))

scales_to_zero = stage == "dev"
service = ModelService(MODEL, ModelServiceArgs.for_runtime(
    VLLM, config.require("image"), MODEL, weights.model_dir,
    namespace=MODEL, create_namespace=False, gpus=SIZING.tensor_parallel, gpu_scheduling=gpu_nodes.scheduling,
    service_account_role_arn=weights.role_arn, volumes=[weights.volume], volume_mounts=[weights.volume_mount],
    # vLLM reads its one accepted key from VLLM_API_KEY (the profile's `api_key_env`): the key goes from this
    # secret config to a Kubernetes Secret, and from there into that variable (`secretKeyRef`).
    api_keys={"primary": config.require_secret("apiKey")},
    # prod: two replicas (and a PodDisruptionBudget), so a node drain never takes the model away.
    replicas=0 if scales_to_zero else 2, replica_owner="keda" if scales_to_zero else None,
    progressive_rollout=not scales_to_zero), kubernetes)

monitoring = ModelMonitoring(f"{MODEL}-monitoring", ModelMonitoringArgs(
    model=service, availability=0.995, latency_p99_seconds=60.0, tokens=OBJECTIVES), kubernetes)

if scales_to_zero:
    keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs(), kubernetes)
    ModelScaleToZero(f"{MODEL}-scale-to-zero", ModelScaleToZeroArgs(model=service, add_on=keda), kubernetes)
else:
    rollouts = ArgoRollouts("argo-rollouts", ArgoRolloutsArgs(), kubernetes)
    canary = ModelCanary(f"{MODEL}-canary", ModelCanaryArgs(
        model=service, rollouts=rollouts, prometheus="http://prometheus-operated.monitoring.svc:9090",
        steps=[CanaryStep(10, pause="10m"), CanaryStep(50, pause="10m")],
        # Judged on errors and token latencies: a request's length is the caller's choice.
        analysis=CanaryAnalysis(max_error_ratio=0.072, max_latency_p99_seconds=60.0, check_request_latency=False,
                                max_time_to_first_token_p99_seconds=2.0, max_inter_token_latency_p99_seconds=0.1)),
        kubernetes)
    endpoint = ModelEndpoint(f"{MODEL}-endpoint", ModelEndpointArgs(
        backend=canary, host=config.require("host"), hosted_zone_id=config.require("hostedZoneId"),
        subnet_ids=config.require_object("subnetIds"), scheme="internet-facing",
        # vLLM's OpenAI routes and its health path (the profile's).
        # Only /v1 is routed: vLLM 0.34.0 checks the key on /v1 but not on /invocations (cli_args.py, `api_key`).
        path_prefix="/v1", readiness_path=VLLM.readiness_path), pulumi.ResourceOptions.merge(aws_opts, kubernetes))
    pulumi.export("url", pulumi.Output.concat("https://", config.require("host"), "/v1/chat/completions"))

pulumi.export("weights_bucket", weights.bucket_name)
pulumi.export("dashboard", monitoring.dashboard_uid)
