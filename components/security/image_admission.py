"""ImageAdmission: the model's namespaces admit only images this repository's deploy workflow signed.

Sigstore's policy-controller from its official chart, with one ClusterImagePolicy: every image of a pod in
the listed namespaces must carry a keyless cosign signature whose Fulcio certificate names the GitHub OIDC
issuer and the workflow identity that signs at deploy time (`.github/workflows/stack.yml` on main, see
.github/scripts/image-trust.sh). An image built anywhere else (a laptop, a fork, a branch), or pushed by
hand, is refused at admission. The chart's webhooks select namespaces by label; here by the name label
the API server sets on every namespace (`kubernetes.io/metadata.name`), so the model's namespace needs no
change. Given the stack's ECR `ModelRegistry` objects, the webhook's service account gets an IRSA role that reads
exactly those repositories (the signatures are stored beside the images), so it can verify them.

Facts read from the pinned sources (sigstore/helm-charts, charts/policy-controller at tag
policy-controller-0.10.6, commit 3d19e1d, app v0.13.1): values.yaml keys (charts/policy-controller-0.10.6
.keys.tsv); templates/_helpers.tpl: `webhook.namespaceSelector` is the webhooks' namespace selector (default
`policy.sigstore.dev/include: "true"`); templates/webhook/configmap-policy-controller.yaml: `webhook.configData`
is the data of `config-policy-controller`; templates/crds/clusterimagepolicy.yaml: the ClusterImagePolicy
schema (group policy.sigstore.dev, v1alpha1 stored, v1beta1 served; tests/security/policy-controller-0.10.6
.crds.json). sigstore/policy-controller pkg/apis/config/store.go: `no-match-policy` is `deny`, `allow` or `warn`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, Problem, checked_args, got, non_empty, problems_of
from .._charts import PinnedChart, extra_values_problems
from ..aws_tags import component_tags
from ..cluster.irsa import ROLE_ARN_ANNOTATION, controller_role
from ..labels import standard_labels
from ..serving.model_registry import ModelRegistry

CHART, CHART_VERSION = "policy-controller", "0.10.6"
CHART_REPOSITORY = "https://sigstore.github.io/helm-charts"
PINNED = PinnedChart(CHART, CHART_REPOSITORY, CHART_VERSION, f"{CHART}-{CHART_VERSION}.keys.tsv")
# Sources, read 2026-12-07. The issuer and the certificate identity a GitHub Actions keyless signature
# carries: docs.sigstore.dev "OIDC Usage in Fulcio" (certificate-oidc-issuer
# https://token.actions.githubusercontent.com, certificate-identity https://github.com/OWNER/REPO/.github/
# workflows/WORKFLOW@refs/heads/BRANCH), and sigstore/fulcio config/identity/config.yaml (commit 001376a):
# the GitHub SAN template is `{{ .url }}/{{ .job_workflow_ref }}` with url https://github.com, so a job of a
# reusable workflow is named by the called file (stack.yml here), not the caller. The public-good
# instances: sigstore/cosign cmd/cosign/cli/options/fulcio.go `DefaultFulcioURL` and rekor.go
# `DefaultRekorURL`; policy-controller 0.10.6's CRD describes the ctlog default as the public rekor.sigstore.dev.
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
FULCIO_URL = "https://fulcio.sigstore.dev"
REKOR_URL = "https://rekor.sigstore.dev"
# The workflow that signs images (image-trust.sh `sign`, run by stack.yml's `up` job on main).
SIGNING_WORKFLOW = ".github/workflows/stack.yml"
SIGNING_REF = "refs/heads/main"
_NAME_LABEL = "kubernetes.io/metadata.name"
# The webhook's service account, named rather than left to the chart's default (`<fullname>-webhook`,
# templates/_helpers.tpl `webhook.serviceAccountName`) so the IRSA role can trust exactly it.
WEBHOOK_SERVICE_ACCOUNT = "policy-controller-webhook"
# ECR read for the webhook: the policy-controller resolves registry credentials with go-containerregistry's
# k8schain, which carries amazon-ecr-credential-helper (sigstore/policy-controller go.mod), i.e. the AWS SDK's
# IRSA credentials. What a pull needs (AWS managed policy AmazonEC2ContainerRegistryPullOnly; "Private
# repository policies in Amazon ECR": GetAuthorizationToken only through an IAM policy, on "*", read
# 2026-12-07): the token, then each image's and signature's manifest and layers, in the model registries only.
ECR_TOKEN_ACTION = "ecr:GetAuthorizationToken"
ECR_READ_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
_REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


def signer_identity(repository: str) -> str:
    """The Fulcio certificate subject of a signature made by `repository`'s signing workflow on main."""
    return f"https://github.com/{repository}/{SIGNING_WORKFLOW}@{SIGNING_REF}"


@dataclass
class ImageAdmissionArgs:
    """Inputs of `ImageAdmission`."""

    repository: Annotated[str, non_empty()]
    """The GitHub repository (`OWNER/REPO`) whose deploy workflow on main signs the images."""
    namespaces: Annotated[Sequence[DnsLabel], non_empty()]
    """Namespaces where every pod's images must be signed by that workflow (the model's)."""
    namespace: DnsLabel = "cosign-system"
    """Namespace of the policy-controller."""
    chart_version: ChartVersion = CHART_VERSION
    """Pinned `policy-controller` chart version."""
    registries: Sequence[ModelRegistry] = ()
    """The model registries the admitted images (and their signatures, stored beside them) come from: the webhook
    gets read access to each ECR one through an IRSA role (a local registry needs none)."""
    oidc_provider_arn: Optional[pulumi.Input[str]] = None
    """The cluster's IAM OIDC provider (IRSA): required when a registry is ECR; the role trusts the webhook's
    service account only."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags of the IAM role."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the chart's (checked against its pinned keys)."""

    def _rules(self) -> list[Problem]:
        problems = extra_values_problems("extra_values", self.extra_values, PINNED.at(self.chart_version))
        if ecr_registries(self.registries) and self.oidc_provider_arn is None:
            problems.append(("oidc_provider_arn", got(None, "the cluster's IAM OIDC provider: the webhook reads "
                                                            "signatures from ECR through an IRSA role")))
        if not re.match(_REPOSITORY_PATTERN, self.repository or ""):
            problems.append(("repository", got(self.repository, "OWNER/REPO, as GitHub spells it")))
        if self.namespace in self.namespaces:
            problems.append(("namespaces", got(list(self.namespaces), f"not the controller's own {self.namespace!r}")))
        return problems


def validate_image_admission_args(args: ImageAdmissionArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def ecr_registries(registries: Sequence[ModelRegistry]) -> list[ModelRegistry]:
    """The registries that are ECR repositories (a local registry has no ARN)."""
    return [r for r in registries if r.repository_arn is not None]


def ecr_read_policy(repository_arns: Sequence[str]) -> str:
    """The webhook's IAM policy: a registry token, and reading images and signatures of these repositories only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "RegistryToken", "Effect": "Allow", "Action": [ECR_TOKEN_ACTION], "Resource": "*"},
        {"Sid": "ReadModelImagesAndSignatures", "Effect": "Allow", "Action": list(ECR_READ_ACTIONS),
         "Resource": sorted(repository_arns)}]}, sort_keys=True, separators=(",", ":"))


def chart_values(namespaces: Sequence[str], role_arn: Optional[pulumi.Input[str]] = None) -> dict[str, Any]:
    """The chart's values: its webhooks select exactly `namespaces`; an image no policy matches is refused; the
    webhook's service account is named, and carries the IRSA role when there is one."""
    account: dict[str, Any] = {"create": True, "name": WEBHOOK_SERVICE_ACCOUNT}
    if role_arn is not None:
        account["annotations"] = {ROLE_ARN_ANNOTATION: role_arn}
    return {"webhook": {
        "namespaceSelector": {"matchExpressions": [{"key": _NAME_LABEL, "operator": "In", "values": list(namespaces)}]},
        "configData": {"no-match-policy": "deny"},
        "failurePolicy": "Fail",
        "serviceAccount": account}}


def image_policy_spec(repository: str) -> dict[str, Any]:
    """The ClusterImagePolicy spec: every image, signed keyless by the repository's signing workflow on main."""
    return {
        "images": [{"glob": "**"}],
        "authorities": [{
            "name": "deploy-workflow",
            "keyless": {"url": FULCIO_URL,
                        "identities": [{"issuer": GITHUB_ISSUER, "subject": signer_identity(repository)}]},
            "ctlog": {"url": REKOR_URL}}],
        "mode": "enforce",
    }


class ImageAdmission(pulumi.ComponentResource):
    """Sigstore policy-controller and the policy that only this repository's signed images run in `namespaces`.

    Creates the controller's namespace (Pod Security `restricted`), the official chart at its pinned version
    (its webhooks selecting `namespaces` by name, no-match refused, failing closed) and one ClusterImagePolicy.
    Pods created before the controller is ready are not re-checked: install it before the first signed deploy.
    """

    policy_name: pulumi.Output[str]
    """The ClusterImagePolicy."""
    signer: str
    """The certificate identity admitted."""
    role_arn: Optional[pulumi.Output[str]]
    """The webhook's IRSA role reading the ECR registries (None without one)."""

    def __init__(self, name: str, args: ImageAdmissionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ImageAdmission", name, args, ImageAdmissionArgs)
        _claims.claim("ImageAdmission", name, opts, [_claims.kubernetes("Namespace", args.namespace, field="namespace")])
        super().__init__("gpu-model-platform:index:ImageAdmission", name, None, opts)
        self.signer = signer_identity(args.repository)
        labels = standard_labels(name, "image-admission")
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={
                **labels, "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}),
            opts=pulumi.ResourceOptions(parent=self))
        role = self._ecr_reader(name, args)
        self.role_arn = role.arn if role is not None else None
        release = _charts.release(
            f"{name}-release", PINNED.at(args.chart_version), args.namespace, chart_values(args.namespaces, self.role_arn),
            args.extra_values, pulumi.ResourceOptions(parent=self, depends_on=[ns]), name=CHART, max_history=5,
            cleanup_on_fail=True)
        policy_name = f"{name}-signed-by-deploy-workflow"
        policy = k8s.apiextensions.CustomResource(
            f"{name}-policy", api_version="policy.sigstore.dev/v1beta1", kind="ClusterImagePolicy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, labels=labels),
            spec=image_policy_spec(args.repository),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release]))
        # Known once the policy exists.
        self.policy_name = policy.urn.apply(lambda _: policy_name)
        self.register_outputs({"policy_name": self.policy_name, "signer": self.signer, "role_arn": self.role_arn})

    def _ecr_reader(self, name: str, args: ImageAdmissionArgs) -> Optional[aws.iam.Role]:
        """The webhook's role: ECR read on exactly the given ECR registries (none: no role)."""
        registries = ecr_registries(args.registries)
        if not registries:
            return None
        assert args.oidc_provider_arn is not None  # the args refuse otherwise
        arns = pulumi.Output.all(*[r.repository_arn for r in registries])
        return controller_role(
            f"{name}-ecr-reader", f"{name}-ecr-read",
            description="Sigstore policy-controller webhook (IRSA): reads the model images' signatures in ECR",
            oidc_provider_arn=args.oidc_provider_arn, namespace=args.namespace,
            service_account=WEBHOOK_SERVICE_ACCOUNT, policy=arns.apply(ecr_read_policy),
            tags=component_tags("image-admission", name, args.tags), parent=self)
