"""Karpenter promises the mutation audit (issue 29) found unguarded: what the component reports, its releases'
history and rollback, each interruption rule feeding the queue, the Bottlerocket data volume, the limits at their
exact bounds, and its alerts pointing at the runbook."""

from __future__ import annotations

import json

import botocore.session
import pytest

from components._args import InvalidArgs
from components.capacity.karpenter import Karpenter, KarpenterArgs, validate_karpenter_args
from tests.harness import components

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/X"


def _args(**changes) -> KarpenterArgs:
    return KarpenterArgs(**{"cluster_name": "c", "oidc_provider_arn": OIDC, "region": "us-west-2",
                            "subnet_ids": ["subnet-a", "subnet-b"], "security_group_ids": ["sg-1"], **changes})


def _karpenter(**changes):
    built: dict = {}

    def build(opts):
        built["karpenter"] = Karpenter("karpenter", _args(**changes), opts)

    return components(build), built["karpenter"]


def test_it_reports_its_roles_profile_queue_pool_and_service_account_and_owns_what_it_creates():
    synthesis, _ = _karpenter()
    [component] = synthesis.of_type("gpu-model-platform:index:Karpenter")
    outputs = component.component_outputs
    assert outputs == {
        "controller_role_arn": synthesis.named("karpenter-controller-role").outputs["arn"],
        "node_role_arn": synthesis.named("karpenter-node-role").outputs["arn"],
        "node_role_name": synthesis.named("karpenter-node-role").outputs["name"],
        "instance_profile_name": synthesis.named("karpenter-node-profile").outputs["name"],
        "interruption_queue_name": synthesis.named("karpenter-interruptions").outputs["name"],
        "node_pool_name": "karpenter-gpu", "node_class_name": "karpenter-gpu", "service_account": "karpenter"}
    owned = {r.name for r in synthesis.resources if r.parent == component.urn}
    assert {"karpenter-node-role", "karpenter-node-profile", "karpenter-node-access", "karpenter-interruptions",
            "karpenter-interruptions-policy", "karpenter-rebalance", "karpenter-rebalance-target", "karpenter-crds",
            "karpenter-controller", "karpenter-node-class", "karpenter-node-pool"} <= owned


def test_both_releases_keep_five_revisions_and_the_controller_cleans_up_a_failed_upgrade():
    synthesis, _ = _karpenter()
    crds, controller = synthesis.named("karpenter-crds").inputs, synthesis.named("karpenter-controller").inputs
    assert (crds["name"], crds["namespace"], crds["maxHistory"]) == ("karpenter-crd", "kube-system", 5)
    assert (controller["name"], controller["maxHistory"], controller["cleanupOnFail"]) == ("karpenter", 5, True)


def test_the_controller_has_bounded_resources_and_a_named_budget_and_account_with_its_role():
    synthesis, _ = _karpenter(replicas=3, namespace="karpenter")
    values = synthesis.named("karpenter-controller").inputs["values"]
    assert values["controller"]["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"},
                                                 "limits": {"memory": "1Gi"}}
    assert values["podDisruptionBudget"] == {"name": "karpenter", "maxUnavailable": 1}
    assert values["fullnameOverride"] == "karpenter" and values["replicas"] == 3
    assert values["serviceAccount"] == {
        "name": "karpenter",
        "annotations": {"eks.amazonaws.com/role-arn": synthesis.named("karpenter-controller-role").outputs["arn"]}}
    assert values["affinity"]["podAntiAffinity"] == {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname"}]}
    assert synthesis.named("karpenter-controller").inputs["namespace"] == "karpenter"


def test_each_interruption_rule_sends_to_the_queue_through_its_own_target():
    synthesis, _ = _karpenter()
    rules = {r.name: r for r in synthesis.of_type("aws:cloudwatch/eventRule:EventRule")}
    for target in synthesis.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        rule = rules[target.name.removesuffix("-target")]
        assert target.inputs["rule"] == rule.outputs["name"]
        assert target.inputs["targetId"] == "KarpenterInterruptionQueueTarget"
        assert rule.inputs["tags"]["component"] == "karpenter"
    assert synthesis.named("karpenter-interruptions").inputs["tags"]["component-name"] == "karpenter"


def test_nodes_join_as_ec2_linux_with_the_instance_profile_of_their_role():
    synthesis, _ = _karpenter()
    role = synthesis.named("karpenter-node-role")
    access = synthesis.named("karpenter-node-access").inputs
    assert (access["type"], access["clusterName"], access["principalArn"]) == ("EC2_LINUX", "c", role.outputs["arn"])
    assert synthesis.named("karpenter-node-profile").inputs["role"] == role.outputs["name"]


def test_the_cni_policy_is_attached_to_the_node_role_only_when_asked():
    def policies(**changes):
        synthesis, _ = _karpenter(**changes)
        return sorted(a.inputs["policyArn"] for a in synthesis.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                      if a.name.startswith("karpenter-node-"))

    assert policies() == ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
                          "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"]
    assert "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy" in policies(attach_cni_policy=True)


def test_bottlerocket_nodes_get_the_size_on_their_data_volume_not_the_root():
    synthesis, _ = _karpenter(ami_alias="bottlerocket@v1.30.0", disk_size_gib=200)
    spec = synthesis.named("karpenter-node-class").inputs["spec"]
    assert spec["blockDeviceMappings"] == [{"deviceName": "/dev/xvdb", "rootVolume": False, "ebs": {
        "volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}]
    assert spec["amiSelectorTerms"] == [{"alias": "bottlerocket@v1.30.0"}]
    al2023 = _karpenter()[0].named("karpenter-node-class").inputs["spec"]["blockDeviceMappings"][0]
    assert (al2023["deviceName"], al2023["rootVolume"]) == ("/dev/xvda", True)


def test_the_node_class_tags_every_node_as_a_gpu_node_of_the_component_and_the_pool_names_its_class():
    synthesis, _ = _karpenter(tags={"team": "ml"})
    spec = synthesis.named("karpenter-node-class").inputs["spec"]
    assert {"node-group": "gpu", "team": "ml", "component": "karpenter"}.items() <= spec["tags"].items()
    assert spec["metadataOptions"] == {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                       "httpTokens": "required", "httpPutResponseHopLimit": 1}
    pool = synthesis.named("karpenter-node-pool")
    assert pool.inputs["metadata"]["name"] == "karpenter-gpu"
    assert pool.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "autoscaler"
    assert synthesis.named("karpenter-node-class").urn in pool.options["dependencies"]
    assert synthesis.named("karpenter-controller").urn in pool.options["dependencies"]


def test_the_pool_takes_nodes_up_to_max_gpus_per_node_and_expires_them_as_configured():
    synthesis, _ = _karpenter(max_gpus=8, max_gpus_per_node=8, expire_after="Never", disruption_budget="10%")
    spec = synthesis.named("karpenter-node-pool").inputs["spec"]
    [count] = [r for r in spec["template"]["spec"]["requirements"] if r["key"] == "karpenter.k8s.aws/instance-gpu-count"]
    assert count["values"] == ["9"]
    assert spec["template"]["spec"]["expireAfter"] == "Never"
    assert spec["disruption"]["budgets"] == [{"nodes": "10%"}]
    assert {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]} in spec["template"]["spec"]["requirements"]


def test_eight_gpu_nodes_are_accepted_when_the_limit_allows_them_and_refused_one_above():
    assert validate_karpenter_args(_args(max_gpus=8, max_gpus_per_node=8)) == []
    assert validate_karpenter_args(_args(max_gpus=7, max_gpus_per_node=8)) == [
        "max_gpus: got 7; must be >= max_gpus_per_node (8)"]


@pytest.mark.parametrize("family, expected", [
    ("m5", "instance_families[0]: got 'm5'; allowed: "),
    ("p3", "instance_families[0]: got 'p3'; refused: V100 (Volta)"),
])
def test_a_family_that_is_not_a_supported_gpu_family_is_refused_with_the_reason(family, expected):
    [problem] = validate_karpenter_args(_args(instance_families=[family]))
    assert problem.startswith(expected), problem


def test_its_alerts_name_its_job_namespace_and_pool_and_link_the_runbook():
    _, karpenter = _karpenter(namespace="karpenter")
    down, limit = karpenter.alert_rules("https://runbooks.example/karpenter")
    assert down["alert"] == "KarpenterDown" and down["expr"] == 'absent(up{job="karpenter", namespace="karpenter"} == 1)'
    assert (down["for"], down["labels"]["severity"]) == ("10m", "warning")
    assert limit["alert"] == "KarpenterGpuLimitReached" and limit["for"] == "15m"
    assert 'karpenter_nodepools_usage{nodepool="karpenter-gpu", resource_type="nvidia.com/gpu"}' in limit["expr"]
    assert ">= on (nodepool, resource_type) karpenter_nodepools_limit{" in limit["expr"]
    assert [a["annotations"]["runbook_url"] for a in (down, limit)] == [
        "https://runbooks.example/karpenter#karpenterdown", "https://runbooks.example/karpenter#karpentergpulimitreached"]


# The statement elements of the IAM policy grammar, spelt as it spells them (IAM User Guide, "Grammar of the IAM
# JSON policy language", docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html, read 2026-12-08).
IAM_STATEMENT_ELEMENTS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                          "Condition"}


def _controller_policy() -> dict:
    from components.capacity.karpenter import karpenter_controller_policy
    return karpenter_controller_policy(
        "c", "aws", "123456789012", "us-west-2", node_role_arn="arn:aws:iam::123456789012:role/node",
        instance_profile_arn="arn:aws:iam::123456789012:instance-profile/p",
        queue_arn="arn:aws:sqs:us-west-2:123456789012:q", subnet_ids=["subnet-a"], security_group_ids=["sg-1"])


def _statement(sid: str) -> dict:
    [found] = [s for s in _controller_policy()["Statement"] if s.get("Sid") == sid]
    return found


def test_every_controller_statement_uses_only_the_iam_grammars_elements_and_a_unique_sid():
    statements = _controller_policy()["Statement"]
    for statement in statements:
        assert set(statement) <= IAM_STATEMENT_ELEMENTS, statement
    sids = [s["Sid"] for s in statements]
    assert len(set(sids)) == len(sids) == len(statements)


def test_what_run_instances_and_create_fleet_create_is_allowed_and_tagged_only_for_this_clusters_pools():
    launched = sorted(f"arn:aws:ec2:us-west-2:*:{kind}/*" for kind in (
        "fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"))
    for sid in ("AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging"):
        statement = _statement(sid)
        assert sorted(statement["Resource"]) == launched, sid
        assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes.io/cluster/c"] == "owned", sid
        assert statement["Condition"]["StringLike"] == {"aws:RequestTag/karpenter.sh/nodepool": "*"}, sid


def test_retagging_an_instance_may_not_name_another_cluster():
    statement = _statement("AllowScopedResourceTagging")
    assert statement["Condition"]["StringEqualsIfExists"] == {"aws:RequestTag/eks:eks-cluster-name": "c"}
    assert statement["Condition"]["ForAllValues:StringEquals"] == {
        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]}
    assert statement["Resource"] == "arn:aws:ec2:us-west-2:*:instance/*"


# Karpenter's reference controller policy names its statements so (karpenter.py cites the source); ours keeps them.
CONTROLLER_SIDS = [
    "AllowScopedEC2InstanceAccessActions", "AllowScopedEC2LaunchTemplateAccessActions",
    "AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging", "AllowScopedResourceTagging",
    "AllowScopedDeletion", "AllowPassingInstanceRole", "AllowInstanceProfileReadActions",
    "AllowAPIServerEndpointDiscovery", "AllowInterruptionQueueActions", "AllowRegionalReadActions",
    "AllowSSMReadActions", "AllowPricingReadActions", "AllowUnscopedInstanceProfileListAction"]
# IAM permissions that are no API operation of their service (botocore has no model operation for them).
PERMISSION_ONLY_ACTIONS = {"iam:PassRole"}


def _rendered_controller_policy() -> tuple[dict, str]:
    synthesis, _ = _karpenter()
    text = synthesis.named("karpenter-controller-policy").inputs["policy"]
    return json.loads(text), text


def test_every_controller_statement_allows_and_keeps_the_reference_policys_sid():
    policy, _ = _rendered_controller_policy()
    assert [s["Sid"] for s in policy["Statement"]] == CONTROLLER_SIDS
    assert {s["Effect"] for s in policy["Statement"]} == {"Allow"}


def test_every_controller_action_is_an_operation_of_its_services_api_model_spelt_exactly():
    session = botocore.session.get_session()
    policy, _ = _rendered_controller_policy()
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    for action in sorted(actions - PERMISSION_ONLY_ACTIONS):
        service, operation = action.split(":")
        assert operation in session.get_service_model(service).operation_names, action


def test_created_resources_may_be_tagged_only_by_the_calls_that_create_them():
    statement = _statement("AllowScopedResourceCreationTagging")
    assert statement["Condition"]["StringEquals"]["ec2:CreateAction"] == [
        "RunInstances", "CreateFleet", "CreateLaunchTemplate"]


def test_the_controller_role_renders_its_policy_with_sorted_keys_and_says_what_it_is_for():
    _, text = _rendered_controller_policy()
    assert text == json.dumps(json.loads(text), sort_keys=True), "the same text on every run: no diff to review"
    synthesis, _ = _karpenter()
    assert synthesis.named("karpenter-controller-role").inputs["description"] == (
        "Karpenter controller (IRSA): launch and remove this cluster's GPU nodes")


def test_the_interruption_queue_takes_events_from_eventbridge_and_nothing_without_tls():
    synthesis, _ = _karpenter()
    queue_arn = synthesis.named("karpenter-interruptions").outputs["arn"]
    policy = json.loads(synthesis.named("karpenter-interruptions-policy").inputs["policy"])
    assert policy == {"Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": [
        {"Sid": "AllowEventBridge", "Effect": "Allow",
         "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
         "Action": "sqs:SendMessage", "Resource": queue_arn},
        {"Sid": "DenyHTTP", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def test_nodes_assume_their_role_as_ec2_and_every_policy_and_the_profile_attach_to_it():
    synthesis, _ = _karpenter(tags={"team": "ml"})
    role = synthesis.named("karpenter-node-role")
    assert json.loads(role.inputs["assumeRolePolicy"]) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    attachments = [a for a in synthesis.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if a.name.startswith("karpenter-node-")]
    assert attachments and all(a.inputs["role"] == role.outputs["name"] for a in attachments)
    assert synthesis.named("karpenter-node-profile").inputs["tags"]["team"] == "ml"


def test_the_node_class_is_an_ec2_node_class_named_as_the_pool_refers_to_it():
    synthesis, _ = _karpenter()
    node_class = synthesis.named("karpenter-node-class").inputs
    ref = synthesis.named("karpenter-node-pool").inputs["spec"]["template"]["spec"]["nodeClassRef"]
    assert (node_class["kind"], node_class["metadata"]["name"]) == ("EC2NodeClass", "karpenter-gpu")
    assert ref == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "karpenter-gpu"}


def test_the_pool_asks_only_for_the_allowed_families_nvidia_gpus_under_the_node_limit_on_amd64_linux():
    synthesis, _ = _karpenter(instance_families=["g6e"], max_gpus=8, max_gpus_per_node=4)
    requirements = synthesis.named("karpenter-node-pool").inputs["spec"]["template"]["spec"]["requirements"]
    assert requirements == [
        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g6e"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]},
        {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Lt", "values": ["5"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]


def test_bad_args_are_refused_naming_the_karpenter_instance():
    with pytest.raises(InvalidArgs) as caught:
        _karpenter(max_gpus=7, max_gpus_per_node=8)
    assert str(caught.value) == "Karpenter 'karpenter': max_gpus: got 7; must be >= max_gpus_per_node (8)"


def test_the_node_class_waits_for_the_controller_and_the_nodes_access_entry_like_the_pool():
    # The controller waits for the CRD chart: before it, the EC2NodeClass kind may not exist yet and the apply fails;
    # before the access entry, the class's nodes could not join.
    synthesis, _ = _karpenter()
    waits_for = synthesis.named("karpenter-node-class").options["dependencies"]
    assert synthesis.named("karpenter-controller").urn in waits_for
    assert synthesis.named("karpenter-node-access").urn in waits_for
