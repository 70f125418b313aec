"""LogCollection: every container's logs, from every node (GPU nodes included), to CloudWatch Logs or Loki.

The collector is Fluent Bit from its official chart (fluent/helm-charts), one pod per node. It was chosen over
the Amazon CloudWatch Observability EKS add-on because one collector then serves both destinations the project
has -- CloudWatch Logs on AWS and Loki on the local stack, which the add-on cannot reach -- with one tested
configuration; the add-on also brings the CloudWatch agent's Container Insights metrics, which Prometheus
already covers here. The model server's JSON request lines are parsed into fields on the way (the kubernetes
filter's `Merge_Log`), so `status`, `request_id` and `trace_id` are searchable in either store.

On AWS the program creates the log group (KMS-encrypted with a key of its own unless one is given, retention
per stack) and an IRSA role that may write only to it: Fluent Bit never creates groups, so no group lands
unencrypted and without retention. Locally it installs Loki (official chart, single binary, filesystem store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, Union

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, DnsSubdomain, Duration, Problem, checked_args, one_of, problems_of
from .._charts import PinnedChart, extra_values_problems
from ..aws_tags import component_tags
from ..capacity.gpu_scheduling import GpuScheduling
from ..cluster.irsa import controller_role
from ..labels import standard_labels
from .monitoring_stack import VolumeSize, off_gpu_nodes

# fluent/helm-charts tag fluent-bit-0.58.1 (Fluent Bit 5.1.1); keys in charts/fluent-bit-0.58.1.keys.tsv.
FLUENT_BIT = PinnedChart("fluent-bit", "https://fluent.github.io/helm-charts", "0.58.1", "fluent-bit-0.58.1.keys.tsv")
# grafana-community/helm-charts tag loki-18.11.0 (Loki 3.7.6); keys in charts/loki-18.11.0.keys.tsv.
LOKI = PinnedChart("loki", "https://grafana-community.github.io/helm-charts", "18.11.0", "loki-18.11.0.keys.tsv")
LOKI_PORT = 3100

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
"""CloudWatch Logs' allowed retention periods (botocore `logs` model, shape `Days`, botocore 1.44)."""

SERVICE_ACCOUNT = "fluent-bit"
CONTAINER_TAG = "kube.*"
"""Fluent Bit tag of container log records (`kube.var.log.containers.<pod>_<namespace>_<container>-<id>.log`)."""


@dataclass(frozen=True)
class CloudWatchLogs:
    """Send to a CloudWatch Logs group the program creates (AWS stacks)."""

    region: str
    """The cluster's region: given explicitly, pods cannot ask the instance (IMDS hop limit 1)."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider: the role trusts Fluent Bit's service account only."""
    retention_days: Annotated[int, one_of(RETENTION_DAYS)] = 30
    kms_key_arn: Optional[pulumi.Input[str]] = None
    """A KMS key whose policy lets CloudWatch Logs use it; None: the program creates one (rotated yearly)."""
    kind: Literal["cloudwatch"] = "cloudwatch"


@dataclass(frozen=True)
class LokiStore:
    """Run Loki in the cluster and send there (local and dev stacks)."""

    retention: Duration = "168h"
    storage_size: VolumeSize = "10Gi"
    storage_class: Optional[DnsSubdomain] = None
    kind: Literal["loki"] = "loki"


@dataclass
class LogCollectionArgs:
    """Inputs of `LogCollection`."""

    destination: Union[CloudWatchLogs, LokiStore]
    namespace: DnsLabel = "logging"
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """GPU node taints: Fluent Bit tolerates them (GPU nodes are where the model's logs are); Loki stays off them."""
    tags: dict[str, str] = field(default_factory=dict)
    fluent_bit_version: ChartVersion = FLUENT_BIT.version
    loki_version: ChartVersion = LOKI.version
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over Fluent Bit's (checked against the pinned chart's keys)."""

    def _rules(self) -> list[Problem]:
        return extra_values_problems("extra_values", self.extra_values, FLUENT_BIT.at(self.fluent_bit_version))


def validate_log_collection_args(args: LogCollectionArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def _section(name: str, settings: list[tuple[str, str]]) -> str:
    return f"[{name}]\n" + "".join(f"    {key} {value}\n" for key, value in settings)


def pipeline(output: list[tuple[str, str]]) -> dict[str, str]:
    """Fluent Bit's inputs, filters and outputs (classic format) around one output's settings.

    Every key is one its plugin reads in fluent/fluent-bit v5.1.1 (the chart's appVersion): the config maps of
    in_tail, filter_kubernetes, out_cloudwatch_logs and out_loki and the generic input/output properties, listed in
    tests/observability/fluent-bit-5.1.1.config-keys.tsv, which the tests check against. `cri` is a built-in
    multiline parser (src/multiline/flb_ml_parser_cri.c); the kubernetes filter's default `kube_tag_prefix` is
    `kube.var.log.containers.`, what the tail input's `kube.*` tag expands to for files under /var/log/containers.
    """
    inputs = _section("INPUT", [
        ("Name", "tail"), ("Path", "/var/log/containers/*.log"), ("multiline.parser", "cri"),  # containerd
        ("Tag", CONTAINER_TAG), ("Mem_Buf_Limit", "50MB"), ("Skip_Long_Lines", "On")])
    filters = _section("FILTER", [
        ("Name", "kubernetes"), ("Match", CONTAINER_TAG),
        # A JSON line (the model server's request log) becomes fields of the record.
        ("Merge_Log", "On"), ("Keep_Log", "Off"),
        # Pods may opt out with the fluentbit.io/exclude annotation; labels and annotations stay out of records.
        ("K8S-Logging.Exclude", "On"), ("Labels", "Off"), ("Annotations", "Off")])
    return {"inputs": inputs, "filters": filters, "outputs": _section("OUTPUT", [("Match", CONTAINER_TAG), *output])}


def cloudwatch_output(region: str, log_group: str) -> list[tuple[str, str]]:
    """The `cloudwatch_logs` output: one stream per container (the tag names pod, namespace and container)."""
    return [("Name", "cloudwatch_logs"), ("region", region), ("log_group_name", log_group),
            ("log_stream_prefix", "pod."), ("auto_create_group", "Off")]


def loki_output(host: str) -> list[tuple[str, str]]:
    """The `loki` output: streams by namespace and container, the record as JSON."""
    return [("Name", "loki"), ("host", host), ("port", str(LOKI_PORT)),
            ("labels", "job=fluent-bit, namespace=$kubernetes['namespace_name'], "
                       "container=$kubernetes['container_name'], pod=$kubernetes['pod_name']"),
            ("line_format", "json")]


def log_group_policy(log_group_arn: str) -> str:
    """What Fluent Bit may do: write streams of the one log group (it never creates or deletes groups)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        "Resource": [log_group_arn, f"{log_group_arn}:*"]}]}, sort_keys=True)


def kms_key_policy(account_id: str, region: str, partition: str) -> str:
    """The account administers the key; CloudWatch Logs may use it for this account's log groups in `region`."""
    logs_arn = f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchLogsEncrypts", "Effect": "Allow", "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "*", "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arn}}},
    ]}, sort_keys=True)


class LogCollection(pulumi.ComponentResource):
    """Fluent Bit on every node, sending every container's logs to CloudWatch Logs or to an in-cluster Loki.

    Creates the namespace and the Fluent Bit release; with `CloudWatchLogs`, the log group, its KMS key (unless
    given) and Fluent Bit's IRSA role; with `LokiStore`, the Loki release (single binary, filesystem, retention).
    """

    namespace: pulumi.Output[str]
    log_group_name: Optional[pulumi.Output[str]]
    """The CloudWatch Logs group (None with Loki): where Logs Insights queries start."""
    log_group_arn: Optional[pulumi.Output[str]]
    """Its ARN (None with Loki): what Grafana's role may query and its data source names."""
    loki_url: Optional[str]
    """Loki's HTTP URL inside the cluster (None with CloudWatch Logs): Grafana's logs data source."""

    def __init__(self, name: str, args: LogCollectionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("LogCollection", name, args, LogCollectionArgs)
        _claims.claim("LogCollection", name, opts, [_claims.kubernetes("Namespace", args.namespace, field="namespace")])
        super().__init__("gpu-model-platform:index:LogCollection", name, None, opts)
        self._args = args
        ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
            # Fluent Bit reads host paths (/var/log): only `privileged` admits it.
            name=args.namespace, labels={**standard_labels(name, "logging"),
                                         "pod-security.kubernetes.io/enforce": "privileged"}),
            opts=pulumi.ResourceOptions(parent=self))
        self.namespace = ns.metadata.name
        self.log_group_name, self.log_group_arn, self.loki_url = None, None, None
        destination = args.destination
        if isinstance(destination, CloudWatchLogs):
            group, role = self._create_log_group(name, destination)
            self.log_group_name, self.log_group_arn = group.name, group.arn
            output = group.name.apply(lambda g: cloudwatch_output(destination.region, g))
            account: dict[str, Any] = {"annotations": {"eks.amazonaws.com/role-arn": role.arn}}
        else:
            host = self._create_loki(name, destination)
            self.loki_url = f"http://{host}:{LOKI_PORT}"
            output = pulumi.Output.from_input(loki_output(host))
            account = {}
        self._create_fluent_bit(name, output, account)
        self.register_outputs({"namespace": self.namespace, "log_group_name": self.log_group_name,
                               "log_group_arn": self.log_group_arn, "loki_url": self.loki_url})

    def _create_log_group(self, name: str, cw: CloudWatchLogs) -> tuple[aws.cloudwatch.LogGroup, aws.iam.Role]:
        child = pulumi.ResourceOptions(parent=self)
        tags = component_tags("log-collection", name, self._args.tags)
        key_arn = cw.kms_key_arn
        if key_arn is None:
            caller, part = aws.get_caller_identity_output(), aws.get_partition_output()
            key = aws.kms.Key(f"{name}-logs-key", description="CloudWatch Logs of the cluster's containers",
                              enable_key_rotation=True, deletion_window_in_days=30, tags=tags,
                              policy=pulumi.Output.all(caller.account_id, part.partition).apply(
                                  lambda a: kms_key_policy(a[0], cw.region, a[1])), opts=child)
            key_arn = key.arn
        group = aws.cloudwatch.LogGroup(f"{name}-containers", retention_in_days=cw.retention_days,
                                        kms_key_id=key_arn, tags=tags, opts=child)
        role = controller_role(f"{name}-role", f"{name}-policy", description="Fluent Bit (IRSA): container logs",
                               oidc_provider_arn=cw.oidc_provider_arn, namespace=self._args.namespace,
                               service_account=SERVICE_ACCOUNT, policy=group.arn.apply(log_group_policy),
                               tags=tags, parent=self)
        return group, role

    def _create_loki(self, name: str, loki: LokiStore) -> str:
        """Loki's release; its Service's in-cluster host name."""
        a = self._args
        release = f"{name}-loki"
        persistence: dict[str, Any] = {"size": loki.storage_size}
        if loki.storage_class:
            persistence["storageClass"] = loki.storage_class
        values = {
            "fullnameOverride": release, "deploymentMode": "Monolithic",  # one process (the chart's name for it)
            "loki": {
                "auth_enabled": False, "commonConfig": {"replication_factor": 1}, "storage": {"type": "filesystem"},
                "schemaConfig": {"configs": [{"from": "2024-04-01", "store": "tsdb", "object_store": "filesystem",
                                              "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
                "limits_config": {"retention_period": loki.retention},
                "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"}},
            "singleBinary": {"replicas": 1, "persistence": persistence,
                             "tolerations": [], "affinity": off_gpu_nodes(a.gpu_scheduling)},
            "read": {"replicas": 0}, "write": {"replicas": 0}, "backend": {"replicas": 0},
            # The caches and the bundled object store are for the scalable modes.
            "chunksCache": {"enabled": False}, "resultsCache": {"enabled": False}, "minio": {"enabled": False},
            "lokiCanary": {"enabled": False}, "test": {"enabled": False}, "gateway": {"enabled": False},
        }
        _charts.release(f"{name}-loki", LOKI.at(a.loki_version), a.namespace, values, {},
                        pulumi.ResourceOptions(parent=self), name=release, timeout=600)
        return f"{release}.{a.namespace}.svc"

    def _create_fluent_bit(self, name: str, output: pulumi.Output[Any], account: dict[str, Any]) -> None:
        a = self._args
        values = {
            "fullnameOverride": f"{name}-fluent-bit",
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT, **account},
            "tolerations": a.gpu_scheduling.tolerations(),
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "config": output.apply(pipeline),
        }
        _charts.release(f"{name}-fluent-bit", FLUENT_BIT.at(a.fluent_bit_version), a.namespace, values,
                        a.extra_values, pulumi.ResourceOptions(parent=self), name=f"{name}-fluent-bit")


