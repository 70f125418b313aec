"""A classic model served by NVIDIA Triton from a model repository in S3: Triton's own metrics give it the
platform's error-budget and p99 alerts, its dashboard, and pod autoscaling on Triton's pending requests.

The repository (`config.pbtxt` and versions) lives in an existing bucket under `models/<model>/<digest>/`; Triton
reads it read-only through the Mountpoint for Amazon S3 CSI driver, at exactly the configured digest.
"""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from gpu_model_platform import (
    TRITON,
    GpuNodeGroup,
    GpuNodeGroupArgs,
    HorizontalAutoscaling,
    ModelMonitoring,
    ModelMonitoringArgs,
    ModelService,
    ModelServiceArgs,
    ModelWeights,
    ModelWeightsArgs,
    MountpointS3CsiDriver,
    MountpointS3CsiDriverArgs,
    PodsMetric,
)

MODEL = "detector"

config = pulumi.Config()
aws_opts = pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region=config.require("region"))})
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider(
    "cluster", kubeconfig=config.require_secret("kubeconfig"))})

gpu_nodes = GpuNodeGroup("gpu-nodes", GpuNodeGroupArgs(
    cluster_name=config.require("clusterName"), subnet_ids=config.require_object("subnetIds"),
    instance_types=["g6.xlarge"], max_size=3), aws_opts)
namespace = k8s.core.v1.Namespace("namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=MODEL, labels={
    "pod-security.kubernetes.io/enforce": "restricted"}), opts=kubernetes)
s3_driver = MountpointS3CsiDriver("s3-csi-driver", MountpointS3CsiDriverArgs(region=config.require("region")), kubernetes)
repository = ModelWeights("repository", ModelWeightsArgs(
    model_name=MODEL, namespace=namespace.metadata.name, oidc_provider_arn=config.require("oidcProviderArn"),
    bucket=config.require("bucket"), digest=config.require("repositoryDigest"), driver=s3_driver),
    pulumi.ResourceOptions.merge(aws_opts, kubernetes))

service = ModelService(MODEL, ModelServiceArgs.for_runtime(
    TRITON, config.require("image"), MODEL, repository.model_dir,
    namespace=MODEL, create_namespace=False, gpus=1, gpu_scheduling=gpu_nodes.scheduling, replicas=2,
    service_account_role_arn=repository.role_arn, volumes=[repository.volume],
    volume_mounts=[repository.volume_mount],
    # Triton's queue (nv_inference_pending_request_count), served by the PrometheusAdapter of the platform.
    autoscaling=HorizontalAutoscaling(min_replicas=2, max_replicas=3, pods_metric=PodsMetric(
        name="nv_inference_pending_request_count", target_average_value="8"))), kubernetes)

monitoring = ModelMonitoring(f"{MODEL}-monitoring", ModelMonitoringArgs(
    model=service, availability=0.999, latency_p99_seconds=0.2), kubernetes)

pulumi.export("dashboard", monitoring.dashboard_uid)
