"""ManagedPrometheus: an Amazon Managed Service for Prometheus workspace the in-cluster Prometheus remote-writes to.

For fleets of clusters or retention beyond one volume: each cluster's Prometheus keeps scraping and evaluating
(a short local retention), and sends every sample to the workspace, signed with SigV4 by an IRSA role that may
only write there. Rules stay evaluated in the cluster and alerts go through the cluster's Alertmanager: paging
has one source, the same one the alert tests exercise, and the workspace is where dashboards and long-range
queries read (Amazon Managed Grafana, or the in-cluster Grafana with the workspace as a data source). No
workspace rule groups or Alertmanager are created, so nothing pages twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

import pulumi
import pulumi_aws as aws

from .._args import DnsLabel, Problem, at_least, checked_args, got, problems_of
from ..aws_tags import component_tags
from ..cluster.irsa import controller_role

PROMETHEUS_SERVICE_ACCOUNT = "prometheus"
"""The service account MonitoringStack gives Prometheus when it remote-writes (the role trusts only it)."""


@dataclass(frozen=True)
class QueueSettings:
    """Remote write queue (Prometheus operator `RemoteWriteSpec.queueConfig`). Throughput is about
    max_shards x max_samples_per_send per send round trip; larger batches mean fewer signed requests."""

    max_samples_per_send: Annotated[int, at_least(1)] = 1000
    capacity: Annotated[int, at_least(1)] = 5000
    """Samples buffered per shard: 3 to 5 times a batch (Prometheus remote write tuning guide), so a slow send
    does not stall reading the WAL."""
    max_shards: Annotated[int, at_least(1)] = 50
    batch_send_deadline: str = "5s"

    def spec(self) -> dict[str, Any]:
        """The `queueConfig` of a remote write entry."""
        return {"maxSamplesPerSend": self.max_samples_per_send, "capacity": self.capacity,
                "maxShards": self.max_shards, "batchSendDeadline": self.batch_send_deadline,
                # AMP answers 429 when a workspace's ingestion quota is reached: retry instead of dropping.
                "retryOnRateLimit": True}

    def _rules(self) -> list[Problem]:
        if self.capacity < 3 * self.max_samples_per_send:
            return [("capacity", got(self.capacity, f"must be at least 3 x max_samples_per_send "
                                                    f"({3 * self.max_samples_per_send})"))]
        return []


@dataclass(frozen=True)
class RemoteWrite:
    """Where and how Prometheus remote-writes (what `MonitoringStackArgs.remote_write` takes)."""

    url: pulumi.Input[str]
    region: str
    role_arn: pulumi.Input[str]
    queue: QueueSettings = field(default_factory=QueueSettings)

    def spec(self) -> dict[str, Any]:
        """One `prometheusSpec.remoteWrite` entry: SigV4 with the pod's IRSA credentials (no keys anywhere)."""
        return {"url": self.url, "sigv4": {"region": self.region}, "queueConfig": self.queue.spec()}


@dataclass
class ManagedPrometheusArgs:
    """Inputs of `ManagedPrometheus`."""

    region: str
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider: the role trusts Prometheus's service account only."""
    monitoring_namespace: DnsLabel = "monitoring"
    """The `MonitoringStack`'s namespace (where Prometheus's service account lives)."""
    alias: Optional[str] = None
    """The workspace's alias; defaults to the component name."""
    kms_key_arn: Optional[pulumi.Input[str]] = None
    """A customer managed key for the workspace; None: AWS owned encryption."""
    queue: QueueSettings = field(default_factory=QueueSettings)
    tags: dict[str, str] = field(default_factory=dict)
    # No `_rules` of its own: `problems_of` runs the queue's `_rules` under `queue.` (a second one reported it twice).


def validate_managed_prometheus_args(args: ManagedPrometheusArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def remote_write_policy(workspace_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": workspace_arn}]}, sort_keys=True)


class ManagedPrometheus(pulumi.ComponentResource):
    """An AMP workspace and the IRSA role Prometheus remote-writes to it with; pass `remote_write` to the
    `MonitoringStack`."""

    workspace_arn: pulumi.Output[str]
    prometheus_endpoint: pulumi.Output[str]
    """The workspace's Prometheus-compatible endpoint (query: `<endpoint>api/v1/query`), for Grafana."""
    remote_write: RemoteWrite

    def __init__(self, name: str, args: ManagedPrometheusArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ManagedPrometheus", name, args, ManagedPrometheusArgs)
        super().__init__("gpu-model-platform:index:ManagedPrometheus", name, None, opts)
        tags = component_tags("managed-prometheus", name, args.tags)
        workspace = aws.amp.Workspace(f"{name}-workspace", alias=args.alias or name, kms_key_arn=args.kms_key_arn,
                                      tags=tags, opts=pulumi.ResourceOptions(parent=self))
        role = controller_role(f"{name}-role", f"{name}-policy", description="Prometheus remote write (IRSA) to AMP",
                               oidc_provider_arn=args.oidc_provider_arn, namespace=args.monitoring_namespace,
                               service_account=PROMETHEUS_SERVICE_ACCOUNT,
                               policy=workspace.arn.apply(remote_write_policy), tags=tags, parent=self)
        self.workspace_arn = workspace.arn
        self.prometheus_endpoint = workspace.prometheus_endpoint
        # The endpoint ends with "/" (botocore `amp` WorkspaceDescription.prometheusEndpoint).
        url = workspace.prometheus_endpoint.apply(lambda e: f"{e.rstrip('/')}/api/v1/remote_write")
        self.remote_write = RemoteWrite(url=url, region=args.region, role_arn=role.arn, queue=args.queue)
        self.register_outputs({"workspace_arn": self.workspace_arn, "prometheus_endpoint": self.prometheus_endpoint,
                               "remote_write_url": url, "role_arn": role.arn})
