"""ModelWeights: a model's weights in S3, mounted read-only into its pods by the Mountpoint for Amazon S3 CSI driver.

Why Mountpoint and not an init container copying to the node: an 8B model is 15 GiB and a 70B one 130 GiB; a copy
must finish before the server starts (and lands on every new node again), while Mountpoint streams the files as the
server reads them once into GPU memory, with no node disk to size and nothing to clean up. The server reads weights
sequentially at load, which is what Mountpoint serves best; a server that re-reads small files at random would
rather have the copy. docs/runtimes.md gives the cold-start and cost numbers.

What is created: optionally the bucket (versioned, SSE-KMS with a bucket key, public access blocked, TLS only); an
IAM role for the model's service account (IRSA) that may list the model's prefix and read its objects (and their
versions) and nothing else; a PersistentVolume of the driver (`s3.csi.aws.com`, v2: the Mountpoint process runs in a
pod of its own and uses the model pod's identity, `authenticationSource: pod`) mounted `--read-only` at exactly the
deployed version's prefix; and the PersistentVolumeClaim binding it in the model's namespace.

The deployed version is a content digest in the key: `<prefix>/<model>/<digest>/` is written once and never
changed (the bucket keeps every object version besides). A new version is a new prefix, so a canary's pods mount the
new digest and the stable's keep theirs, and a rollback mounts exactly what was tested. The CSI driver itself is
`MountpointS3CsiDriver` (components/cluster/mountpoint_s3.py, its chart pinned; driver facts:
awslabs/mountpoint-s3-csi-driver v2.7.0, docs/CONFIGURATION.md,
examples/kubernetes/static_provisioning/pod_level_identity.yaml, pkg/mountpoint/args.go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .._args import DnsLabel, Problem, checked_args, children_wait_for_checks, got, matches, problems_of
from ..aws_tags import component_tags
from ..cluster.irsa import irsa_trust_policy
from ..cluster.mountpoint_s3 import (
    CSI_DRIVER,
    MOUNTPOINT_NAMESPACE,  # noqa: F401 (re-exported)
    POD_IDENTITY,
    MountpointS3CsiDriver,
)
from ..labels import standard_labels

READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
LIST_ACTION = "s3:ListBucket"

Digest = Annotated[str, matches(r"sha256-[0-9a-f]{64}", "must be sha256-<64 hex digits>, the weights' content digest")]
KeyPrefix = Annotated[str, matches(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*",
                                   "must be an S3 key prefix without leading or trailing slash")]


@dataclass
class ModelWeightsArgs:
    """Inputs of `ModelWeights`."""

    model_name: DnsLabel
    """The model (`ModelServiceArgs.name`): its service account, and the folder of its weights."""
    namespace: pulumi.Input[DnsLabel]
    """The model's namespace (pass the Namespace's name output so the claim waits for it)."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's OIDC provider (`Cluster.oidc_provider_arn`): the role trusts the model's service account."""
    digest: Digest
    """The version to deploy: `sha256-<hex>` of the weights, the last folder of their keys."""
    bucket: Optional[pulumi.Input[str]] = None
    """An existing bucket (versioned and encrypted by its owner); None creates one."""
    prefix: KeyPrefix = "models"
    """Folder of every model's weights in the bucket: keys are `<prefix>/<model_name>/<digest>/...`."""
    region: Optional[str] = None
    """The bucket's region (Mountpoint's `region` option). Without a `driver`, also the STS region of the pod's
    credentials, and then required: the driver's pods cannot reach IMDS to find it (components/cluster/mountpoint_s3.py)."""
    mount_path: Annotated[str, matches(r"/[^\s]*", "must be an absolute path")] = "/models"
    """Where the server sees the weights (`ModelWeights.model_dir` adds the model's name)."""
    run_as_user: int = 10001
    run_as_group: int = 10001
    """The server's user and group: the files are theirs (Mountpoint `--uid`/`--gid`)."""
    driver: Optional[MountpointS3CsiDriver] = None
    """The cluster's Mountpoint driver: the volume names its CSIDriver and waits for its release. None: the driver
    is installed some other way (then it must be the `s3.csi.aws.com` driver, v2)."""
    force_destroy: bool = False
    """Let a destroy delete a created bucket that still holds weights (otherwise it is protected)."""
    tags: dict[str, str] = field(default_factory=dict)

    def _rules(self) -> list[Problem]:
        if self.region is not None and not self.region.replace("-", "").isalnum():
            return [("region", got(self.region, "must be an AWS region such as us-east-1"))]
        if self.region is None and self.driver is None:
            return [("region", "got None and no driver; pass the MountpointS3CsiDriver (its region) or the region: "
                               "pod-level credentials need the STS region, which the driver cannot look up")]
        return []


def bucket_region(args: ModelWeightsArgs) -> str:
    """The bucket's region: the given one, else the cluster's (the driver's), where a created bucket lives."""
    return str(args.region) if args.region is not None else sts_region(args)


def sts_region(args: ModelWeightsArgs) -> str:
    """Where the pod's credentials come from: the driver's (cluster's) region, else the given one."""
    return args.driver.region if args.driver is not None else str(args.region)


def validate_model_weights_args(args: ModelWeightsArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def weights_key_prefix(args: ModelWeightsArgs) -> str:
    """The deployed version's folder: `<prefix>/<model>/<digest>`."""
    return f"{args.prefix}/{args.model_name}/{args.digest}"


def read_policy(bucket: str, model_prefix: str) -> str:
    """List the model's folder and read its objects (any version): every version of this model, nothing else."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ListTheModel", "Effect": "Allow", "Action": LIST_ACTION, "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{model_prefix}/*"]}}},
        {"Sid": "ReadTheModel", "Effect": "Allow", "Action": list(READ_ACTIONS),
         "Resource": f"arn:aws:s3:::{bucket}/{model_prefix}/*"},
    ]}, sort_keys=True)


def mount_options(args: ModelWeightsArgs) -> list[str]:
    """Mountpoint flags: read-only, the version's folder only, the server's user owns the files."""
    options = ["read-only", f"prefix {weights_key_prefix(args)}/", f"uid={args.run_as_user}",
               f"gid={args.run_as_group}", "allow-other"]
    # Named, not detected: Mountpoint's pod, like the driver's, cannot reach IMDS through the nodes' one hop.
    return options + [f"region {bucket_region(args)}"]


class ModelWeights(pulumi.ComponentResource):
    """A model's weights in a versioned, encrypted S3 bucket, mounted read-only at one digest into its pods."""

    bucket_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    """For `ModelServiceArgs.service_account_role_arn`."""
    claim_name: pulumi.Output[str]
    volume: k8s.core.v1.VolumeArgs
    """For `ModelServiceArgs.volumes`."""
    volume_mount: k8s.core.v1.VolumeMountArgs
    """For `ModelServiceArgs.volume_mounts` (read-only)."""
    model_dir: str
    """The path the server loads the model from (`ModelServiceArgs.for_runtime(model_dir=...)`)."""

    def __init__(self, name: str, args: ModelWeightsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelWeights", name, args, ModelWeightsArgs)
        super().__init__("gpu-model-platform:index:ModelWeights", name, None, children_wait_for_checks(args, opts))
        self._args = args
        self._tags = component_tags("ModelWeights", name, args.tags)
        bucket = self._create_bucket(name) if args.bucket is None else pulumi.Output.from_input(args.bucket)
        self.bucket_name = bucket
        self.role_arn = self._create_role(name, bucket)
        claim = self._create_volume(name, bucket)
        self.claim_name = claim.metadata.name
        self.volume = k8s.core.v1.VolumeArgs(
            name="weights", persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=self.claim_name, read_only=True))
        self.volume_mount = k8s.core.v1.VolumeMountArgs(name="weights", mount_path=args.mount_path, read_only=True)
        self.model_dir = args.mount_path
        self.register_outputs({"bucket_name": self.bucket_name, "role_arn": self.role_arn,
                               "claim_name": self.claim_name, "model_dir": self.model_dir})

    def _create_bucket(self, name: str) -> pulumi.Output[str]:
        a = self._args
        keep = pulumi.ResourceOptions(parent=self, protect=not a.force_destroy)
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=a.force_destroy, tags=self._tags, opts=keep)
        child = pulumi.ResourceOptions(parent=bucket)
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id,
                                  versioning_configuration={"status": "Enabled"}, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}, "bucket_key_enabled": True}],
            opts=child)
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                       opts=child)
        aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket.id, policy=bucket.arn.apply(_tls_only), opts=child)
        return bucket.id  # the bucket's name

    def _create_role(self, name: str, bucket: pulumi.Output[str]) -> pulumi.Output[str]:
        a = self._args
        model_prefix = f"{a.prefix}/{a.model_name}"
        trust = pulumi.Output.all(a.oidc_provider_arn, a.namespace).apply(
            lambda v: irsa_trust_policy(v[0], v[1], a.model_name))
        role = aws.iam.Role(f"{name}-role", description=f"Reads the weights of {a.model_name} (IRSA)",
                            assume_role_policy=trust, tags=self._tags, opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(f"{name}-read", role=role.id, policy=bucket.apply(lambda b: read_policy(b, model_prefix)),
                           opts=pulumi.ResourceOptions(parent=role))
        return role.arn

    def _create_volume(self, name: str, bucket: pulumi.Output[str]) -> k8s.core.v1.PersistentVolumeClaim:
        a = self._args
        labels = standard_labels(a.model_name, "weights")
        volume_name = f"{a.model_name}-weights-{a.digest[7:19]}"
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-volume",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=volume_name, labels=labels),
            spec=k8s.core.v1.PersistentVolumeSpecArgs(
                capacity={"storage": "1Gi"},  # required by the API, ignored by the driver
                access_modes=["ReadOnlyMany"], storage_class_name="", mount_options=mount_options(a),
                persistent_volume_reclaim_policy="Retain",
                claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=a.namespace, name=volume_name),
                csi=k8s.core.v1.CSIPersistentVolumeSourceArgs(
                    driver=a.driver.driver_name if a.driver else CSI_DRIVER, volume_handle=volume_name,
                    read_only=True,
                    volume_attributes=bucket.apply(lambda b: {"bucketName": b, "authenticationSource": POD_IDENTITY,
                                                              "stsRegion": sts_region(a)}))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[a.driver.release] if a.driver else []))
        return k8s.core.v1.PersistentVolumeClaim(
            f"{name}-claim",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=volume_name, namespace=a.namespace, labels=labels),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadOnlyMany"], storage_class_name="", volume_name=volume.metadata.name,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": "1Gi"})),
            opts=pulumi.ResourceOptions(parent=self))


def _tls_only(bucket_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
        sort_keys=True)
