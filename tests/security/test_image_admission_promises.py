"""ImageAdmission promises the mutation audit (issue 29) found unguarded: the webhook fails closed, the controller's
namespace is restricted, and what the component creates and reports is its own."""

from __future__ import annotations

from components import ImageAdmission, ImageAdmissionArgs
from components.security.image_admission import signer_identity
from tools.synth import run

REPOSITORY = "acme/gpu-model-platform"


def _admission():
    return run(lambda: ImageAdmission("admission", ImageAdmissionArgs(repository=REPOSITORY, namespaces=["models"])))


def test_the_webhook_fails_closed_so_an_unreachable_controller_admits_nothing():
    webhook = _admission().named("admission-release").inputs["values"]["webhook"]
    assert webhook["failurePolicy"] == "Fail"


def test_the_controllers_namespace_enforces_the_restricted_pod_security_standard_at_its_latest_version():
    labels = _admission().named("admission-namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert labels["app.kubernetes.io/component"] == "image-admission"


def test_everything_it_creates_is_its_child_and_the_release_cleans_up_a_failed_upgrade():
    synthesis = _admission()
    [admission] = synthesis.of_type("gpu-model-platform:index:ImageAdmission")
    children = {r.name: r for r in synthesis.resources if r.parent == admission.urn}
    assert set(children) == {"admission-namespace", "admission-release", "admission-policy"}
    release = children["admission-release"].inputs
    assert (release["name"], release["maxHistory"], release["cleanupOnFail"]) == ("policy-controller", 5, True)
    assert synthesis.named("admission-namespace").urn in synthesis.named("admission-release").options["dependencies"]


def test_it_reports_the_policy_it_created_and_the_identity_it_admits():
    synthesis = _admission()
    [admission] = synthesis.of_type("gpu-model-platform:index:ImageAdmission")
    policy = synthesis.named("admission-policy").inputs["metadata"]
    assert admission.component_outputs == {"policy_name": policy["name"], "signer": signer_identity(REPOSITORY)}
    assert policy["name"] == "admission-signed-by-deploy-workflow"
    assert policy["labels"]["app.kubernetes.io/component"] == "image-admission"


def test_admission_refused_for_the_controllers_own_namespace_says_which_one_that_is():
    from components.security.image_admission import validate_image_admission_args

    args = ImageAdmissionArgs(repository=REPOSITORY, namespaces=["models", "signing"], namespace="signing")
    assert validate_image_admission_args(args) == [
        "namespaces: got ['models', 'signing']; not the controller's own 'signing'"]


def test_a_second_admission_in_one_cluster_is_refused_naming_the_namespace_it_would_take_over():
    import pytest

    from components._args import InvalidArgs

    def program() -> None:
        for instance in ("first", "second"):
            ImageAdmission(instance, ImageAdmissionArgs(repository=REPOSITORY, namespaces=["models"]))

    with pytest.raises(InvalidArgs) as caught:
        run(program)
    message = str(caught.value)
    assert message.startswith("ImageAdmission 'second': namespace: Namespace 'cosign-system'"), message
    assert "already created by ImageAdmission 'first'" in message and message.endswith("another namespace")


def test_the_kubernetes_provider_given_to_it_reaches_the_namespace_release_and_policy():
    from tests.harness import components

    synthesis = components(lambda opts: ImageAdmission(
        "admission", ImageAdmissionArgs(repository=REPOSITORY, namespaces=["models"]), opts))
    [provider] = synthesis.of_type("pulumi:providers:kubernetes")
    for child in ("admission-namespace", "admission-release", "admission-policy"):
        assert synthesis.named(child).provider.startswith(provider.urn), child
