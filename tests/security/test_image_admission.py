"""ImageAdmission: the model's namespace admits only images this repository's deploy workflow signed.

The policy-controller cannot run here (no API server), and its own policy tester is on none of the registries
this project installs from (PyPI, npm, Debian). So: the ClusterImagePolicy is checked strictly against the
pinned chart's CRD schema, the chart values against its values keys, and the policy's identity rule is run
by Sigstore's own verification code (sigstore-python's `Identity` policy, the same check of a Fulcio
certificate's SAN and OIDC-issuer extension) against certificates shaped as Fulcio issues them to GitHub
Actions: the signing workflow on main is admitted; another workflow, a branch, a fork, another issuer, or
no signature at all, are not.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import botocore.session
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sigstore.errors import VerificationError
from sigstore.verify.policy import Identity

from components import _charts
from components.security.image_admission import (
    CHART,
    CHART_REPOSITORY,
    CHART_VERSION,
    ECR_READ_ACTIONS,
    ECR_TOKEN_ACTION,
    GITHUB_ISSUER,
    PINNED,
    WEBHOOK_SERVICE_ACCOUNT,
    ImageAdmission,
    ImageAdmissionArgs,
    chart_values,
    image_policy_spec,
    signer_identity,
)
from components.serving.model_registry import ModelRegistry, ModelRegistryArgs
from stack_config import ConfigError
from tests.catalogue.fixture import config as catalogue_config
from tests.catalogue.fixture import example as catalogue_example
from tests.harness import AWS_STACKS, components, only, stack, stack_config
from tests.monitoring.crds import _strict
from tests.serving.test_model_registry import config_with

CRDS = json.loads((Path(__file__).parent / "policy-controller-0.10.6.crds.json").read_text())["crds"]
POLICY = "kubernetes:policy.sigstore.dev/v1beta1:ClusterImagePolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
REPOSITORY = "acme/gpu-model-platform"
# Fulcio's OIDC issuer extension (v1: the raw string), sigstore-python's _OIDC_ISSUER_OID.
OIDC_ISSUER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")


def problems(policy: dict, version: str = "v1beta1") -> list[str]:
    schema = _strict(CRDS["ClusterImagePolicy"]["versions"][version])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(policy)]


def fulcio_like_certificate(san: str, issuer: str) -> x509.Certificate:
    """A short-lived code-signing certificate as Fulcio issues one to a GitHub Actions job (SAN URI = the
    job's workflow ref, the OIDC issuer in its extension); self-signed, since only the identity rule runs."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=True)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_OID, issuer.encode()), critical=False)
            .sign(key, hashes.SHA256()))


def admits(policy_spec: dict, certificate: x509.Certificate | None) -> bool:
    """Whether some authority's keyless identity accepts the signing certificate (None: an unsigned image)."""
    if certificate is None:
        return False
    for authority in policy_spec["authorities"]:
        for identity in authority["keyless"]["identities"]:
            try:
                Identity(identity=identity["subject"], issuer=identity["issuer"]).verify(certificate)
                return True
            except VerificationError:
                continue
    return False


# --- the policy's rule, run by Sigstore's verification code ------------------------------------------------

def test_an_image_signed_by_the_deploy_workflow_on_main_is_admitted():
    spec = image_policy_spec(REPOSITORY)
    signed = fulcio_like_certificate(
        f"https://github.com/{REPOSITORY}/.github/workflows/stack.yml@refs/heads/main", GITHUB_ISSUER)
    assert admits(spec, signed)


@pytest.mark.parametrize(("san", "issuer", "who"), [
    (f"https://github.com/{REPOSITORY}/.github/workflows/stack.yml@refs/heads/feature", GITHUB_ISSUER, "a branch"),
    (f"https://github.com/{REPOSITORY}/.github/workflows/stack.yml@refs/pull/7/merge", GITHUB_ISSUER, "a pull request"),
    ("https://github.com/stranger/gpu-model-platform/.github/workflows/stack.yml@refs/heads/main", GITHUB_ISSUER,
     "a fork's copy of the workflow"),
    (f"https://github.com/{REPOSITORY}/.github/workflows/pull-request.yml@refs/heads/main", GITHUB_ISSUER,
     "another workflow of the repository"),
    (f"https://github.com/{REPOSITORY}/.github/workflows/stack.yml@refs/heads/main", "https://accounts.google.com",
     "the same name from another issuer"),
])
def test_an_image_signed_by_anyone_else_is_refused(san, issuer, who):
    assert not admits(image_policy_spec(REPOSITORY), fulcio_like_certificate(san, issuer)), who


def test_an_unsigned_image_is_refused():
    spec = image_policy_spec(REPOSITORY)
    assert not admits(spec, None)
    assert [a for a in spec["authorities"] if "static" in a] == [], "no authority admits without a signature"
    assert spec["mode"] == "enforce" and spec["images"] == [{"glob": "**"}], "every image of the namespace"


def test_the_admitted_identity_is_the_one_the_deploy_job_signs_and_verifies_with():
    script = (Path(__file__).parents[2] / ".github" / "scripts" / "image-trust.sh").read_text()
    assert 'signer="https://github.com/$GITHUB_REPOSITORY/.github/workflows/stack.yml@refs/heads/main"' in script
    assert signer_identity("OWNER/REPO") == "https://github.com/OWNER/REPO/.github/workflows/stack.yml@refs/heads/main"
    assert f"issuer={GITHUB_ISSUER}" in script


# --- the declaration: pinned chart, strict schema, only the model's namespace --------------------------------

@pytest.mark.parametrize("name", AWS_STACKS)
def test_each_ci_stack_installs_the_pinned_policy_controller_for_its_models_namespace(name):
    synthesis = stack(name)
    config = stack_config(name)
    release = only([r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == CHART])
    assert release.inputs["version"] == CHART_VERSION == "0.10.6"
    assert release.inputs["repositoryOpts"] == {"repo": CHART_REPOSITORY}
    assert release.inputs["namespace"] == "cosign-system"
    selector = release.inputs["values"]["webhook"]["namespaceSelector"]
    assert selector == {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                              "values": [config.model_namespace]}]}
    assert release.inputs["values"]["webhook"]["configData"] == {"no-match-policy": "deny"}
    policy = only(synthesis.of_type(POLICY))
    assert problems({"spec": policy.inputs["spec"]}) == [], "the pinned CRD schema, strictly"
    assert problems({"spec": policy.inputs["spec"]}, "v1alpha1") == [], "and the stored version's"
    [identity] = policy.inputs["spec"]["authorities"][0]["keyless"]["identities"]
    assert identity == {"issuer": GITHUB_ISSUER, "subject": signer_identity(config.delivery.repository)}
    assert release.urn in policy.options["dependencies"], "the CRD comes with the chart"


def test_the_local_stack_admits_its_own_unsigned_images():
    synthesis = stack("local")
    assert synthesis.of_type(POLICY) == [] and not [r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == CHART]


def test_the_strict_schema_refuses_a_misspelt_policy_field():
    spec = image_policy_spec(REPOSITORY)
    spec["authorities"][0]["keyless"]["identitys"] = spec["authorities"][0]["keyless"].pop("identities")
    assert any("identitys" in p for p in problems({"spec": spec}))


def test_every_chart_value_is_a_key_of_the_pinned_chart():
    assert _charts.unknown_keys(chart_values(["my-ai-model"]), PINNED.keys_file) == []
    assert _charts.unknown_keys({"webhook": {"namespaceSelectr": {}}}, PINNED.keys_file) == ["webhook.namespaceSelectr"]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"repository": "not-a-repo"}, "repository: got 'not-a-repo'"),
    ({"namespaces": []}, "namespaces: got []"),
    ({"namespaces": ["cosign-system"]}, "namespaces: got ['cosign-system']"),
    ({"extra_values": {"webhook": {"namespaceSelectr": {}}}}, "extra_values.webhook.namespaceSelectr"),
])
def test_bad_image_admission_args_are_refused_naming_the_field(changes, expected):
    args = {"repository": REPOSITORY, "namespaces": ["my-ai-model"], **changes}
    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        components(lambda opts: ImageAdmission("image-admission", ImageAdmissionArgs(**args), opts))


def test_signed_images_only_needs_the_repository_that_signs():
    with pytest.raises(ConfigError) as error:
        config_with("prod", "delivery", repository=None)
    assert any(p.endswith("delivery.repository: got None; required with signedImagesOnly: the OWNER/REPO whose "
                          "deploy workflow signs the images the cluster admits") for p in error.value.problems)
    assert config_with("prod", "delivery", repository=None, signedImagesOnly=False).delivery.repository is None


# --- the webhook reads the signatures in ECR: an IRSA role scoped to the model registries -------------------

ROLE, ROLE_POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
ECR_REPOSITORY = "aws:ecr/repository:Repository"


def _ecr_reader(synthesis):
    role = only([r for r in synthesis.of_type(ROLE) if r.name == "image-admission-ecr-reader"], "ECR reader role")
    policy = only([p for p in synthesis.of_type(ROLE_POLICY) if p.name == "image-admission-ecr-read"], "its policy")
    return role, json.loads(policy.inputs["policy"])


def _release(synthesis):
    return only([r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == CHART])


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_webhooks_service_account_assumes_a_role_reading_only_the_models_registry(name):
    synthesis = stack(name)
    role, policy = _ecr_reader(synthesis)
    [oidc] = synthesis.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = oidc.outputs["arn"].split(":oidc-provider/", 1)[1]
    # Link 1: the role trusts exactly the webhook's service account, through the cluster's OIDC provider.
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Federated": oidc.outputs["arn"]}
    assert trust["Condition"]["StringEquals"] == {
        f"{issuer}:sub": f"system:serviceaccount:cosign-system:{WEBHOOK_SERVICE_ACCOUNT}",
        f"{issuer}:aud": "sts.amazonaws.com"}
    # Link 2: the chart creates that service account, by that name, annotated with the role.
    account = _release(synthesis).inputs["values"]["webhook"]["serviceAccount"]
    assert account == {"create": True, "name": WEBHOOK_SERVICE_ACCOUNT,
                       "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]}}
    # Link 3: the role reads the stack's model repository, and nothing else but the registry token.
    [repository] = synthesis.of_type(ECR_REPOSITORY)
    token, read = policy["Statement"]
    assert token == {"Sid": "RegistryToken", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}
    assert read["Action"] == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert read["Resource"] == [repository.outputs["arn"]]


def test_a_catalogue_of_several_models_lets_the_webhook_read_each_models_registry_and_no_other():
    synthesis = catalogue_example()
    _, policy = _ecr_reader(synthesis)
    arns = sorted(r.outputs["arn"] for r in synthesis.of_type(ECR_REPOSITORY))
    assert len(arns) == len(catalogue_config().catalogue()) > 1
    assert policy["Statement"][1]["Resource"] == arns


def test_the_roles_ecr_actions_are_operations_of_botocores_ecr_model():
    operations = set(botocore.session.get_session().get_service_model("ecr").operation_names)
    actions = [ECR_TOKEN_ACTION, *ECR_READ_ACTIONS]
    assert all(a.startswith("ecr:") for a in actions)
    assert {a.split(":", 1)[1] for a in actions} <= operations
    # The repository-scoped ones take the repository they act on (the policy's Resource is its ARN).
    for action in ECR_READ_ACTIONS:
        assert "repositoryName" in botocore.session.get_session().get_service_model("ecr").operation_model(
            action.split(":", 1)[1]).input_shape.required_members


def test_the_service_account_values_are_keys_of_the_pinned_chart():
    role = "arn:aws:iam::123456789012:role/x"
    values = chart_values(["my-ai-model"], role)
    assert values["webhook"]["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert _charts.unknown_keys(values, PINNED.keys_file) == []


def _registry(opts, mode="ecr", name="my-ai-model-prod"):
    return ModelRegistry(f"registry-{name}", ModelRegistryArgs(name=name, mode=mode), opts)


def test_an_ecr_registry_without_the_clusters_oidc_provider_is_refused_naming_the_field():
    def build(opts):
        ImageAdmission("image-admission", ImageAdmissionArgs(
            repository=REPOSITORY, namespaces=["my-ai-model"], registries=[_registry(opts)]), opts)
    with pytest.raises(ValueError, match=r"oidc_provider_arn: got None; .*IRSA role"):
        components(build)


def test_a_local_registry_needs_no_role_and_the_webhook_keeps_its_named_account():
    def build(opts):
        ImageAdmission("image-admission", ImageAdmissionArgs(
            repository=REPOSITORY, namespaces=["my-ai-model"], registries=[_registry(opts, mode="local")]), opts)
    synthesis = components(build)
    assert synthesis.of_type(ROLE) == []
    assert _release(synthesis).inputs["values"]["webhook"]["serviceAccount"] == {
        "create": True, "name": WEBHOOK_SERVICE_ACCOUNT}


def test_two_ecr_registries_are_both_readable_and_only_they():
    def build(opts):
        registries = [_registry(opts, name="a-prod"), _registry(opts, name="b-prod")]
        ImageAdmission("image-admission", ImageAdmissionArgs(
            repository=REPOSITORY, namespaces=["a", "b"], registries=registries,
            oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X"), opts)
    synthesis = components(build)
    _, policy = _ecr_reader(synthesis)
    assert policy["Statement"][1]["Resource"] == sorted(r.outputs["arn"] for r in synthesis.of_type(ECR_REPOSITORY))
    assert len(policy["Statement"][1]["Resource"]) == 2
