"""LoadBalancerController: the official chart at a pinned version, the IAM policy published for that release
(byte for byte, every action a real AWS API), IRSA for its service account only, on system nodes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import botocore.loaders
import pytest

from components._charts import KEYS_DIR
from components.capacity.gpu_scheduling import GpuScheduling
from components.cluster.eks_cluster import SYSTEM_NODE_LABELS
from components.serving.load_balancer_controller import (
    APP_VERSION,
    CHART_VERSION,
    IAM_POLICY_FILE,
    IAM_POLICY_SOURCE,
    LoadBalancerController,
    LoadBalancerControllerArgs,
    published_iam_policy,
    validate_load_balancer_controller_args,
)
from tests.autoscaling_platform import as_list, unknown_values_keys
from tests.harness import AWS_STACKS, raw_sections, stack, stack_config, stack_with
from tools.synth import run

RELEASE = "load-balancer-controller-release"
ROLE = "load-balancer-controller-role"
DATA = Path(__file__).parents[1] / "endpoint"
KEYS_FILE = KEYS_DIR / f"aws-load-balancer-controller-{CHART_VERSION}.keys.tsv"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"
# Actions IAM knows that are no API operation of their own (Service Authorization Reference, Elastic Load
# Balancing V2: SetWebAcl is "permission only", checked when a web ACL is associated with a load balancer).
PERMISSION_ONLY = {"elasticloadbalancing:SetWebAcl"}


def _values(name: str) -> dict:
    return stack(name).named(RELEASE).inputs["values"]


# ------------------------------------------------------------------------------------------- the chart

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_official_chart_at_the_pinned_version_deploys_the_release_its_values_were_read_from(name):
    release = stack(name).named(RELEASE).inputs
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == (
        "aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts")
    assert release["atomic"] is True
    # The chart's own image tag is the controller release the IAM policy was published for.
    assert "image" not in _values(name)
    assert f"aws-load-balancer-controller {CHART_VERSION}, app {APP_VERSION}" in KEYS_FILE.read_text()


@pytest.mark.parametrize("name", AWS_STACKS)
def test_every_values_key_exists_in_the_pinned_chart(name):
    assert unknown_values_keys(_values(name), str(KEYS_FILE)) == []


def test_the_values_key_check_catches_a_misspelt_key():
    assert unknown_values_keys({"clusterName": "x", "regoin": "us-west-2", "serviceAccount": {"nmae": "x"}},
                               str(KEYS_FILE)) == ["regoin", "serviceAccount.nmae"]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_region_and_vpc_are_given_so_the_controller_never_asks_the_instance_metadata(name):
    values = _values(name)
    assert values["region"] == stack_config(name).aws.region
    [vpc] = stack(name).of_type("aws:ec2/vpc:Vpc")
    assert values["vpcId"] == vpc.id
    assert values["clusterName"] == stack_config(name).cluster.name


@pytest.mark.parametrize("name", AWS_STACKS)
def test_it_runs_twice_on_system_nodes_never_on_gpu_nodes_behind_a_disruption_budget(name):
    values = _values(name)
    assert values["nodeSelector"] == SYSTEM_NODE_LABELS
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    gpu_labels = GpuScheduling(node_labels=dict(stack_config(name).gpu_node_group.labels)).node_labels
    avoided = {e["key"]: e["values"] for e in terms[0]["matchExpressions"] if e["operator"] == "NotIn"}
    assert all(avoided.get(k) == [v] for k, v in gpu_labels.items()), avoided
    assert values["replicaCount"] == 2 and values["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert values["securityContext"]["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("name", AWS_STACKS)
def test_it_serves_the_alb_class_with_ip_targets_and_leaves_load_balancer_services_alone(name):
    values = _values(name)
    assert (values["ingressClass"], values["createIngressClassResource"], values["defaultTargetType"]) == (
        "alb", True, "ip")
    assert values["enableServiceMutatorWebhook"] is False
    assert values["defaultTags"] == stack_config(name).aws.default_tags


# ------------------------------------------------------------------------------------------------ IAM

def test_the_policy_file_is_the_published_one_byte_for_byte():
    """The git blob id of the file equals that of docs/install/iam_policy.json at the release tag."""
    data = IAM_POLICY_FILE.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    repository, tag, path, published_blob = IAM_POLICY_SOURCE
    assert (repository, tag, path) == ("kubernetes-sigs/aws-load-balancer-controller", APP_VERSION,
                                       "docs/install/iam_policy.json")
    assert blob == published_blob


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_role_carries_exactly_the_published_policy(name):
    [policy] = [r for r in stack(name).of_type("aws:iam/rolePolicy:RolePolicy")
                if r.name == "load-balancer-controller-policy"]
    assert json.loads(policy.inputs["policy"]) == published_iam_policy()
    assert policy.inputs["role"] == stack(name).named(ROLE).id
    # IAM's limit on a role's inline policies (whitespace not counted): the compact document fits.
    assert len(policy.inputs["policy"]) < 10240


def test_every_action_of_the_published_policy_is_an_operation_of_a_real_aws_api():
    loader = botocore.loaders.Loader()
    operations: dict[str, set[str]] = {}
    for service in loader.list_available_services("service-2"):
        metadata = loader.load_service_model(service, "service-2")["metadata"]
        names = set(loader.load_service_model(service, "service-2")["operations"])
        for prefix in {metadata.get("signingName"), metadata.get("endpointPrefix")} - {None}:
            operations.setdefault(prefix, set()).update(names)
    actions = {a for s in published_iam_policy()["Statement"] for a in as_list(s["Action"])}
    assert len(actions) > 50
    unknown = sorted(a for a in actions - PERMISSION_ONLY
                     if a.split(":", 1)[1] not in operations.get(a.split(":", 1)[0], set()))
    assert unknown == []


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_role_trusts_only_the_controllers_service_account_which_names_it(name):
    s = stack(name)
    role = s.named(ROLE)
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    [oidc] = s.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = oidc.outputs["arn"].split(":oidc-provider/", 1)[1]
    account = _values(name)["serviceAccount"]
    assert statement["Principal"] == {"Federated": oidc.outputs["arn"]}
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": f"system:serviceaccount:kube-system:{account['name']}", f"{issuer}:aud": "sts.amazonaws.com"}
    assert account["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}


# -------------------------------------------------------------------------------------- configuration

def test_a_cluster_that_already_runs_the_controller_gets_none_and_the_endpoint_still_works():
    model = raw_sections("dev")["model"]
    model["endpoint"]["installController"] = False
    synthesis = stack_with("dev", model=model)
    assert synthesis.of_type("gpu-model-platform:index:LoadBalancerController") == []
    ingress = synthesis.named("model-endpoint-ingress")
    assert ingress.inputs["spec"]["ingressClassName"] == "alb"


def _args(**changes) -> LoadBalancerControllerArgs:
    fields = {"cluster_name": "c", "oidc_provider_arn": OIDC, "region": "us-west-2", "vpc_id": "vpc-0123456789abcdef0"}
    return LoadBalancerControllerArgs(**{**fields, **changes})


@pytest.mark.parametrize("changes, expected", [
    ({"region": "cn-north-1"}, "region: got 'cn-north-1'; the bundled IAM policy is the `aws` partition's"),
    ({"region": "us-gov-west-1"}, "region: got 'us-gov-west-1'"),
    ({"chart_version": "^3.5.0"}, "chart_version: got '^3.5.0'; must be an exact chart version"),
    ({"replicas": 0}, "replicas: got 0; must be >= 1"),
    ({"ssl_policy": "ELBSecurityPolicy-2016-08"}, "ssl_policy: got 'ELBSecurityPolicy-2016-08'"),
])
def test_bad_args_are_refused_by_field_before_anything_is_registered(changes, expected):
    assert any(expected in p for p in validate_load_balancer_controller_args(_args(**changes)))
    with pytest.raises(ValueError, match="LoadBalancerController 'lbc'") as caught:
        run(lambda: LoadBalancerController("lbc", _args(**changes)))
    assert expected in str(caught.value)
    assert caught.value.registered_resources == []


def test_valid_args_have_no_problems():
    assert validate_load_balancer_controller_args(_args()) == []
