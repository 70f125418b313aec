"""LoadBalancerController: the AWS Load Balancer Controller, which turns `alb` Ingresses into ALBs.

One per cluster. `ModelEndpoint` objects (Ingresses of class `alb`) are what it serves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, PositiveInt, Problem, checked_args, got, matches, problems_of
from .._charts import PinnedChart, extra_values_problems
from ..aws_regions import AwsRegion
from ..aws_tags import component_tags
from ..capacity.cluster_autoscaler import off_gpu_node_affinity
from ..capacity.gpu_scheduling import GpuScheduling
from ..cluster.irsa import controller_role

# The official chart (aws/eks-charts, stable/aws-load-balancer-controller at commit 52396092,
# "aws-load-balancer-controller: v3.5.0 (#1354)"): chart 3.5.0 deploys controller v3.5.0 (its
# appVersion and the image tag of its values.yaml). Every values key used below is in that values.yaml.
# Helm installs the chart's CRDs (TargetGroupBinding, IngressClassParams) on first install only: when
# CHART_VERSION moves, apply the new chart's crds/ first (the controller's upgrade instructions say the same).
CHART = "aws-load-balancer-controller"
CHART_REPOSITORY = "https://aws.github.io/eks-charts"
CHART_VERSION = "3.5.0"
APP_VERSION = "v3.5.0"
PINNED_CHART = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
INGRESS_CLASS = "alb"
"""The IngressClass the chart creates and the controller serves."""
# The controller's IAM policy exactly as published for that release: kubernetes-sigs/aws-load-balancer-controller,
# docs/install/iam_policy.json at tag v3.5.0 (commit 11eb202c, git blob 761d0e73), kept byte for byte.
IAM_POLICY_FILE = Path(__file__).with_name("load_balancer_controller_iam_policy.json")
IAM_POLICY_SOURCE = ("kubernetes-sigs/aws-load-balancer-controller", "v3.5.0", "docs/install/iam_policy.json",
                     "761d0e733c41089c91ea009dd29faf71918085e5")
"""(repository, tag, path, git blob id) of `IAM_POLICY_FILE`."""
# ELB security policy for HTTPS listeners: the one AWS recommends and the console's default (Elastic Load
# Balancing user guide, "Security policies for your Application Load Balancer"): TLS 1.3 and 1.2 with
# forward-secret ciphers only, and hybrid post-quantum key exchange for clients that offer it.
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
SSL_POLICY_RE = re.compile(r"^ELBSecurityPolicy-TLS13-1-[23]-[A-Za-z0-9-]+$")
"""ELB security policies with TLS 1.3 whose lowest version is TLS 1.2 or 1.3."""
# The published policy is written for the `aws` partition; China and GovCloud have their own documents.
_OTHER_PARTITION_REGION = re.compile(r"^(cn|us-gov|us-iso[a-z]*|eu-isoe)-")
SslPolicy = Annotated[str, matches(SSL_POLICY_RE.pattern.strip("^$"), "an ELBSecurityPolicy-TLS13-1-2-... or -1-3-... "
                                                                     "policy (TLS 1.2 at least)")]


def published_iam_policy() -> dict[str, Any]:
    """The controller's IAM policy document as published for `APP_VERSION`."""
    return cast(dict[str, Any], json.loads(IAM_POLICY_FILE.read_text()))


@dataclass
class LoadBalancerControllerArgs:
    """Inputs of `LoadBalancerController`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster (the controller tags what it creates with it and finds the node security group by it)."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider (IRSA): the role trusts the controller's service account only."""
    region: AwsRegion
    """AWS region of the cluster. Given explicitly: with an IMDS hop limit of 1 pods cannot ask the instance."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC, also given explicitly for the same reason."""
    gpu_scheduling: GpuScheduling = field(default_factory=GpuScheduling)
    """The GPU node labels: the controller never runs on a node carrying them."""
    system_node_selector: dict[str, str] = field(default_factory=dict)
    """Labels of the system node group, when it has some (a created cluster's `workload: system`)."""
    resource_tags: dict[str, str] = field(default_factory=dict)
    """Tags of every load balancer, target group and security group the controller creates (the AWS
    provider's default tags do not reach resources created by a controller)."""
    namespace: DnsLabel = "kube-system"
    """Namespace of the release."""
    replicas: PositiveInt = 2
    """Replicas (one leads; the other takes over and keeps serving the webhooks); a PodDisruptionBudget keeps one up."""
    ssl_policy: SslPolicy = DEFAULT_SSL_POLICY
    """Security policy of HTTPS listeners whose Ingress names none."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `aws-load-balancer-controller` chart version."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags of the IAM role."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the ones this component builds (checked against the pinned
    chart's keys). Anything set here is yours to keep secure and working across chart upgrades."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        if _OTHER_PARTITION_REGION.match(self.region):
            problems.append(("region", got(self.region, "the bundled IAM policy is the `aws` partition's (China, "
                                                        "GovCloud and ISO regions have their own published documents)")))
        return problems + extra_values_problems("extra_values", self.extra_values, PINNED_CHART.at(self.chart_version))


def validate_load_balancer_controller_args(args: LoadBalancerControllerArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class LoadBalancerController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller from its official chart, with the IAM policy published for its version.

    Creates an IAM role for the controller's service account (IRSA) carrying the policy the project
    publishes for the pinned release, and the chart: two replicas on system nodes (never GPU nodes)
    behind a PodDisruptionBudget, region and VPC given explicitly, the `alb` IngressClass, IP targets
    and a current TLS policy by default. It does not claim Services of type LoadBalancer (its service
    webhook is off): it serves Ingresses of class `alb`, which `ModelEndpoint` creates.
    """

    role_arn: pulumi.Output[str]
    """The controller's IAM role."""
    service_account: str
    """The controller's Kubernetes service account (in `namespace`), the only subject the role trusts."""
    namespace: str
    """Namespace of the release."""
    release_name: pulumi.Output[str]
    """The Helm release (also the Deployment's name)."""
    ingress_class: str
    """The IngressClass it serves (`alb`)."""

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("LoadBalancerController", name, args, LoadBalancerControllerArgs)
        # The chart's IngressClass is cluster-wide and named `alb`: one controller per cluster serves it.
        _claims.claim("LoadBalancerController", name, opts, [
            _claims.kubernetes("networking.k8s.io/IngressClass", INGRESS_CLASS),
            _claims.helm_release(name, args.namespace)])
        super().__init__("gpu-model-platform:index:LoadBalancerController", name, None, opts)
        self._args = args
        self.namespace = args.namespace
        # The release, its Deployment and its service account are all named after the component.
        self._release = self.service_account = name
        self.ingress_class = INGRESS_CLASS
        role = self._create_role(name)
        release = self._create_release(name, role)

        self.role_arn = role.arn
        # `name` is always set on the Release, so its output is never None (the SDK types it Optional).
        self.release_name = cast(pulumi.Output[str], release.name)
        self.register_outputs({"role_arn": self.role_arn, "service_account": self.service_account,
                               "namespace": self.namespace, "release_name": self.release_name,
                               "ingress_class": self.ingress_class})

    def _create_role(self, name: str) -> aws.iam.Role:
        a = self._args
        return controller_role(
            f"{name}-role", f"{name}-policy",
            description="AWS Load Balancer Controller (IRSA): ALBs for the cluster's Ingresses",
            oidc_provider_arn=a.oidc_provider_arn, namespace=a.namespace, service_account=self.service_account,
            policy=json.dumps(published_iam_policy(), separators=(",", ":")),
            tags=component_tags("load-balancer-controller", name, a.tags), parent=self)

    def _values(self, role_arn: pulumi.Input[str]) -> dict[str, Any]:
        """The chart values (keys from the pinned chart's values.yaml)."""
        a = self._args
        return {
            "clusterName": a.cluster_name,
            "region": a.region,
            "vpcId": a.vpc_id,
            "fullnameOverride": self._release,
            "replicaCount": a.replicas,
            "serviceAccount": {"create": True, "name": self.service_account,
                               "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
            "podDisruptionBudget": {"maxUnavailable": 1},
            "nodeSelector": dict(a.system_node_selector),
            # A custom affinity replaces the chart's default anti-affinity, so it is restated here.
            "affinity": {
                **off_gpu_node_affinity(a.gpu_scheduling),
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100, "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": self._release}}}}]},
            },
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "podSecurityContext": {"fsGroup": 65534, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": {"readOnlyRootFilesystem": True, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
            "ingressClass": INGRESS_CLASS,
            "createIngressClassResource": True,
            # Pods get their own VPC addresses (VPC CNI): the ALB sends to them directly and sees their readiness.
            "defaultTargetType": "ip",
            "defaultSSLPolicy": a.ssl_policy,
            "defaultTags": dict(a.resource_tags),
            # Leaves Services of type LoadBalancer to whoever owns them; this controller is here for Ingresses.
            "enableServiceMutatorWebhook": False,
            # The webhook certificate is generated at install; upgrades keep it instead of rotating it under
            # the API server (which would fail pod admissions until the new CA bundle lands).
            "keepTLSSecret": True,
        }

    def _create_release(self, name: str, role: aws.iam.Role) -> k8s.helm.v3.Release:
        a = self._args
        return _charts.release(
            f"{name}-release", PINNED_CHART.at(a.chart_version), a.namespace, self._values(role.arn), a.extra_values,
            pulumi.ResourceOptions(parent=self), name=self._release, max_history=5,
            # A failed upgrade rolls back rather than leaving the Ingress webhooks without a server.
            atomic=True, cleanup_on_fail=True)
