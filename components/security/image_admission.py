"""ImageAdmission: the model's namespaces admit only images this repository's deploy workflow signed.

Sigstore's policy-controller from its official chart, with one ClusterImagePolicy: every image of a pod in
the listed namespaces must carry a keyless cosign signature whose Fulcio certificate names the GitHub OIDC
issuer and the workflow identity that signs at deploy time (`.github/workflows/stack.yml` on main, see
.github/scripts/image-trust.sh). An image built anywhere else (a laptop, a fork, a branch), or pushed by
hand, is refused at admission. The chart's webhooks select namespaces by label; here by the name label
the API server sets on every namespace (`kubernetes.io/metadata.name`), so the model's namespace needs no
change.

Facts read from the pinned sources (sigstore/helm-charts, charts/policy-controller at tag
policy-controller-0.10.6, commit 3d19e1d, app v0.13.1): values.yaml keys (charts/policy-controller-0.10.6
.keys.tsv); templates/_helpers.tpl: `webhook.namespaceSelector` is the webhooks' namespace selector (default
`policy.sigstore.dev/include: "true"`); templates/webhook/configmap-policy-controller.yaml: `webhook.configData`
is the data of `config-policy-controller`; templates/crds/clusterimagepolicy.yaml: the ClusterImagePolicy
schema (group policy.sigstore.dev, v1alpha1 stored, v1beta1 served; tests/security/policy-controller-0.10.6
.crds.json). sigstore/policy-controller pkg/apis/config/store.go: `no-match-policy` is `deny`, `allow` or `warn`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import _charts, _claims
from .._args import ChartVersion, DnsLabel, Problem, checked_args, got, non_empty, problems_of
from .._charts import PinnedChart, extra_values_problems
from ..labels import standard_labels

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
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Escape hatch: Helm values deep-merged over the chart's (checked against its pinned keys), e.g. the webhook
    service account's IRSA annotation for reading signatures from a private registry."""

    def _rules(self) -> list[Problem]:
        problems = extra_values_problems("extra_values", self.extra_values, PINNED.at(self.chart_version))
        if not re.match(_REPOSITORY_PATTERN, self.repository or ""):
            problems.append(("repository", got(self.repository, "OWNER/REPO, as GitHub spells it")))
        if self.namespace in self.namespaces:
            problems.append(("namespaces", got(list(self.namespaces), f"not the controller's own {self.namespace!r}")))
        return problems


def validate_image_admission_args(args: ImageAdmissionArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def chart_values(namespaces: Sequence[str]) -> dict[str, Any]:
    """The chart's values: its webhooks select exactly `namespaces`; an image no policy matches is refused."""
    return {"webhook": {
        "namespaceSelector": {"matchExpressions": [{"key": _NAME_LABEL, "operator": "In", "values": list(namespaces)}]},
        "configData": {"no-match-policy": "deny"},
        "failurePolicy": "Fail"}}


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
        release = _charts.release(
            f"{name}-release", PINNED.at(args.chart_version), args.namespace, chart_values(args.namespaces),
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
        self.register_outputs({"policy_name": self.policy_name, "signer": self.signer})
