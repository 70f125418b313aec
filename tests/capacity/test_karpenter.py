"""Karpenter, per stack: it replaces the GPU node group with a NodePool that carries the GpuScheduling labels
and taint, launches only what config allows up to a GPU limit, handles interruptions, and holds only the
permissions it needs; its custom resources use only fields the pinned CRDs declare."""

from __future__ import annotations

import json

import botocore.session
import pytest

from components.capacity.gpu_scheduling import GPU_RESOURCE
from components.capacity.karpenter import (
    CHART_VERSION,
    DEFAULT_AMI_ALIAS,
    INTERRUPTION_EVENTS,
    KarpenterArgs,
    validate_karpenter_args,
)
from stack_config import ConfigError
from stack_config.component_args import gpu_scheduling
from tests.autoscaling_platform import (
    AWS_STACKS,
    as_list,
    config_of,
    crd_problems,
    is_mutating,
    stack,
    statements,
    unknown_values_keys,
    with_provisioner,
)
from tests.harness import raw_sections, stack_with
from tests.harness import stack as whole_stack

KARPENTER = "karpenter"
PERMISSION_ONLY_ACTIONS = {"iam:PassRole"}  # IAM actions that are not API operations
SERVICE_MODELS = {"autoscaling": "autoscaling", "ec2": "ec2", "eks": "eks", "iam": "iam", "sqs": "sqs", "ssm": "ssm",
                  "pricing": "pricing"}
_BOTOCORE = botocore.session.get_session()


def _k(name: str):
    return stack(name, KARPENTER)


def _spec(name: str, resource: str) -> dict:
    return _k(name).named(resource).inputs["spec"]


def _node_pool(name: str) -> dict:
    return _spec(name, "karpenter-node-pool")


def _node_class(name: str) -> dict:
    return _spec(name, "karpenter-node-class")


def _requirement(pool: dict, key: str) -> dict:
    [found] = [r for r in pool["template"]["spec"]["requirements"] if r["key"] == key]
    return found


# ------------------------------------------------------------------------- one source of truth for GPUs

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_node_pool_labels_and_taints_are_gpu_schedulings(name):
    scheduling = gpu_scheduling(_k(name).config.gpu_node_group)
    pool = _node_pool(name)
    assert pool["template"]["metadata"]["labels"] == scheduling.node_selector()
    assert pool["template"]["spec"]["taints"] == [
        {"key": t.key, "value": t.value, "effect": t.effect} for t in scheduling.taints]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_model_lands_on_karpenter_nodes_with_its_selector_and_tolerations_unchanged(name):
    pool = _node_pool(name)
    [deployment] = _k(name).manifests("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    labels = pool["template"]["metadata"]["labels"]
    assert pod["nodeSelector"].items() <= labels.items()
    for taint in pool["template"]["spec"]["taints"]:
        assert any(t["key"] == taint["key"] and t.get("value") == taint["value"] and t["effect"] == taint["effect"]
                   for t in pod["tolerations"]), taint
    # Identical to the managed node group stack: the provisioner changes nothing in the model.
    [cluster_autoscaled] = stack(name).manifests("Deployment")
    node_side = {k: cluster_autoscaled["spec"]["template"]["spec"][k] for k in ("nodeSelector", "tolerations")}
    assert node_side == {k: pod[k] for k in ("nodeSelector", "tolerations")}


@pytest.mark.parametrize("name", AWS_STACKS)
def test_karpenter_replaces_the_gpu_managed_node_group(name):
    groups = _k(name).of_type("aws:eks/nodeGroup:NodeGroup")
    assert [g.name for g in groups] == ["cluster-system-nodes"]
    assert not _k(name).of_type("gpu-model-platform:index:ClusterAutoscaler")
    assert not [r for r in _k(name).of_type("aws:autoscaling/tag:Tag")]
    # The GPU operators follow the same labels and taint onto Karpenter's nodes.
    plugin = _k(name).named("gpu-operators-device-plugin").inputs["values"]
    assert plugin["nodeSelector"] == gpu_scheduling(_k(name).config.gpu_node_group).node_selector()


# -------------------------------------------------------------------------- what it may launch, and when

@pytest.mark.parametrize("name", AWS_STACKS)
def test_instance_families_and_capacity_types_follow_config(name):
    pool, node_group = _node_pool(name), _k(name).config.gpu_node_group
    families = sorted({t.split(".")[0] for t in node_group.instance_types})
    assert sorted(_requirement(pool, "karpenter.k8s.aws/instance-family")["values"]) == families
    expected = ["spot", "on-demand"] if node_group.capacity_type == "SPOT" else ["on-demand"]
    assert _requirement(pool, "karpenter.sh/capacity-type")["values"] == expected
    assert _requirement(pool, "karpenter.k8s.aws/instance-gpu-manufacturer")["values"] == ["nvidia"]
    assert _requirement(pool, "karpenter.k8s.aws/instance-gpu-count") == {
        "key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Lt", "values": ["2"]}
    assert _requirement(pool, "kubernetes.io/arch")["values"] == ["amd64"]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_pool_is_limited_in_gpus_consolidated_and_disrupted_one_node_at_a_time(name):
    pool, config = _node_pool(name), _k(name).config
    assert pool["limits"] == {GPU_RESOURCE: str(config.autoscaling.karpenter.max_gpus)}
    assert pool["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                  "consolidateAfter": config.autoscaling.scale_down_unneeded_time,
                                  "budgets": [{"nodes": "1"}]}
    assert pool["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": _k(name).components["gpu_nodes"].node_class_name}


def test_idle_nodes_go_sooner_in_dev_than_in_prod():
    assert (_node_pool("dev")["disruption"]["consolidateAfter"], _node_pool("prod")["disruption"]["consolidateAfter"]) == (
        "5m", "30m")


@pytest.mark.parametrize("name", AWS_STACKS)
def test_nodes_require_imdsv2_and_get_encrypted_gp3_volumes_from_a_pinned_ami(name):
    node_class, config = _node_class(name), _k(name).config
    assert node_class["metadataOptions"]["httpTokens"] == "required"
    assert node_class["metadataOptions"]["httpPutResponseHopLimit"] == 1
    [volume] = node_class["blockDeviceMappings"]
    assert volume["ebs"] == {"volumeType": "gp3", "encrypted": True, "deleteOnTermination": True,
                             "volumeSize": f"{config.gpu_node_group.disk_size_gib}Gi"}
    assert node_class["amiSelectorTerms"] == [{"alias": DEFAULT_AMI_ALIAS}] and "latest" not in DEFAULT_AMI_ALIAS


@pytest.mark.parametrize("name", AWS_STACKS)
def test_nodes_launch_in_the_clusters_private_subnets_with_its_security_group_and_our_profile(name):
    k = _k(name)
    node_class = _node_class(name)
    [network] = k.of_type("gpu-model-platform:index:Network")
    assert [t["id"] for t in node_class["subnetSelectorTerms"]] == network.component_outputs["private_subnet_ids"]
    cluster = k.named("cluster-eks").outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert node_class["securityGroupSelectorTerms"] == [{"id": cluster}]
    assert node_class["instanceProfile"] == k.named("karpenter-node-profile").outputs["name"]
    assert "role" not in node_class, "Karpenter would then manage instance profiles, with more IAM rights"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_custom_resources_use_only_fields_and_values_the_pinned_crds_accept(name):
    pool = _node_pool(name)
    # Mocked ids are `<name>-id`; the CRD's id patterns are checked on realistic ones.
    node_class = {**_node_class(name), "subnetSelectorTerms": [{"id": "subnet-0a1b2c3d4e5f60718"}],
                  "securityGroupSelectorTerms": [{"id": "sg-0a1b2c3d4e5f60718"}]}
    assert crd_problems(pool, "karpenter-1.14.1.nodepools.fields.tsv") == []
    assert crd_problems(node_class, "karpenter-1.14.1.ec2nodeclasses.fields.tsv") == []
    # The checker itself refuses what the CRDs refuse.
    bad = {"template": {"spec": {"taints": [{"key": "k", "effect": "Never"}], "nodeClass": "x"}}}
    assert len(crd_problems(bad, "karpenter-1.14.1.nodepools.fields.tsv")) == 2


# ------------------------------------------------------------------------------------------ controller

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_controller_runs_on_system_nodes_never_on_gpu_or_its_own_nodes(name):
    values = _k(name).values("karpenter-controller")
    scheduling = gpu_scheduling(_k(name).config.gpu_node_group)
    [term] = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    expressions = {e["key"]: e for e in term["matchExpressions"]}
    for key, value in scheduling.node_labels.items():
        assert expressions[key] == {"key": key, "operator": "NotIn", "values": [value]}
    assert expressions["karpenter.sh/nodepool"] == {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}
    assert "tolerations" not in values, "the chart's default tolerates only CriticalAddonsOnly, not the GPU taint"
    assert values["replicas"] == 2 and values["podDisruptionBudget"]["maxUnavailable"] == 1


@pytest.mark.parametrize("name", AWS_STACKS)
def test_official_charts_at_one_pinned_version_crds_upgraded_by_their_own_chart(name):
    crds = _k(name).named("karpenter-crds").inputs
    controller = _k(name).named("karpenter-controller").inputs
    assert (crds["chart"], crds["version"]) == ("oci://public.ecr.aws/karpenter/karpenter-crd", CHART_VERSION)
    assert (controller["chart"], controller["version"]) == ("oci://public.ecr.aws/karpenter/karpenter", "1.14.1")
    assert controller["skipCrds"] is True
    assert _k(name).named("karpenter-crds").urn in _k(name).named("karpenter-controller").options["dependencies"]
    assert unknown_values_keys(controller["values"], "karpenter-1.14.1.keys.tsv") == []


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_controller_knows_its_cluster_and_interruption_queue(name):
    k = _k(name)
    settings = k.values("karpenter-controller")["settings"]
    assert settings == {"clusterName": k.config.cluster.name,
                        "interruptionQueue": k.named("karpenter-interruptions").outputs["name"]}


# ------------------------------------------------------------------------------------------------- IAM

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_controller_never_has_a_wildcard_resource_on_a_mutating_action(name):
    k, cluster = _k(name), _k(name).config.cluster.name
    policy = k.policy("karpenter-controller-policy")
    subnets = {t["id"] for t in _node_class(name)["subnetSelectorTerms"]}
    for statement in statements(policy):
        actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
        if not any(is_mutating(a) for a in actions) or actions == ["pricing:GetProducts"]:
            continue
        assert "*" not in resources, statement["Sid"]
        condition = json.dumps(statement.get("Condition", {}))
        scoped_by_tag = f"kubernetes.io/cluster/{cluster}" in condition
        # Without a tag condition: only Amazon's AMIs and snapshots and our own subnets and security group.
        for resource in resources if not scoped_by_tag else []:
            kind, _, ident = resource.rpartition(":")[2].partition("/")
            assert kind in ("image", "snapshot") and ident == "*" or ident in subnets or ident.startswith("sg-") \
                or resource.startswith(("arn:aws:iam::", "arn:aws:sqs:", "arn:aws:eks:")), (statement["Sid"], resource)
    [pass_role] = [s for s in statements(policy) if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == k.named("karpenter-node-role").outputs["arn"]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_only_the_controllers_service_account_can_assume_its_role(name):
    [statement] = _k(name).trust("karpenter-controller-role")["Statement"]
    issuer = statement["Principal"]["Federated"].split(":oidc-provider/", 1)[1]
    account = _k(name).values("karpenter-controller")["serviceAccount"]["name"]
    assert statement["Condition"] == {"StringEquals": {
        f"{issuer}:sub": f"system:serviceaccount:kube-system:{account}", f"{issuer}:aud": "sts.amazonaws.com"}}


@pytest.mark.parametrize("name", AWS_STACKS)
def test_nodes_get_only_the_node_policies_and_join_through_an_access_entry(name):
    k = _k(name)
    attachments = k.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    attached = sorted(r.inputs["policyArn"].rsplit("/", 1)[1] for r in attachments
                      if r.name.startswith("karpenter-node-"))
    assert attached == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy"]
    entry = k.named("karpenter-node-access").inputs
    assert entry["type"] == "EC2_LINUX" and entry["principalArn"] == k.named("karpenter-node-role").outputs["arn"]
    assert k.trust("karpenter-node-role")["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_every_iam_action_exists_in_botocores_api_models():
    actions = set()
    for name in AWS_STACKS:
        actions |= {a for s in statements(_k(name).policy("karpenter-controller-policy")) for a in as_list(s["Action"])}
        actions |= {a for s in statements(stack(name).policy("cluster-autoscaler-policy")) for a in as_list(s["Action"])}
    for action in sorted(actions - PERMISSION_ONLY_ACTIONS):
        service, operation = action.split(":")
        model = _BOTOCORE.get_service_model(SERVICE_MODELS[service])
        assert operation in model.operation_names, action


# ---------------------------------------------------------------------------------------- interruptions

@pytest.mark.parametrize("name", AWS_STACKS)
def test_interruption_events_reach_an_encrypted_tls_only_queue(name):
    k = _k(name)
    queue = k.named("karpenter-interruptions")
    assert queue.inputs["sqsManagedSseEnabled"] is True and queue.inputs["messageRetentionSeconds"] == 300
    attributes = _BOTOCORE.get_service_model("sqs").shape_for("QueueAttributeName").enum
    assert {"SqsManagedSseEnabled", "MessageRetentionPeriod", "Policy"} <= set(attributes)
    rules = {r.name: json.loads(r.inputs["eventPattern"]) for r in k.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert {n.removeprefix("karpenter-"): p for n, p in rules.items()} == INTERRUPTION_EVENTS
    assert {p["detail-type"][0] for p in rules.values()} == {
        "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification", "AWS Health Event"}
    targets = k.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 4 and all(t.inputs["arn"] == queue.outputs["arn"] for t in targets)
    policy = k.policy("karpenter-interruptions-policy")
    allow, deny = statements(policy)
    assert allow["Principal"]["Service"] == ["events.amazonaws.com", "sqs.amazonaws.com"]
    assert allow["Action"] == "sqs:SendMessage" and allow["Resource"] == queue.outputs["arn"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ------------------------------------------------------------------------------------- monitoring

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_monitoring_stack_scrapes_karpenter_and_alerts_on_it(name):
    [monitor] = [m for m in _k(name).manifests("ServiceMonitor") if m["metadata"]["name"] == "karpenter"]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "karpenter",
                                                          "app.kubernetes.io/instance": "karpenter"}
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    [rule] = [m for m in _k(name).manifests("PrometheusRule") if m["metadata"]["name"] == "karpenter-alerts"]
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {"KarpenterDown", "KarpenterGpuLimitReached", "PodsUnschedulable"}
    assert 'nodepool="karpenter-gpu"' in alerts["KarpenterGpuLimitReached"]["expr"]


# --------------------------------------------------------------------------------- config mistakes

def _problems(name: str, **karpenter) -> list[str]:
    sections = with_provisioner(name, KARPENTER)
    sections["autoscaling"]["karpenter"].update(karpenter)
    with pytest.raises(ConfigError) as caught:
        config_of(name, **sections)
    return caught.value.problems


def test_max_gpus_below_one_nodes_gpus_is_refused():
    problems = _problems("dev", maxGpus=4, maxGpusPerNode=8, instanceFamilies=["p4d"])
    assert problems == [("gpu-model-platform:autoscaling.karpenter.maxGpus: got 4; below the GPUs of one node (8): "
                         "Karpenter could never launch a node")]


def test_max_gpus_below_what_the_model_may_ask_for_is_refused():
    [problem] = _problems("prod", maxGpus=4)
    assert problem.startswith("gpu-model-platform:autoscaling.karpenter.maxGpus: got 4; below the 6 GPUs the model")


def test_families_without_a_node_small_enough_are_refused():
    [problem] = _problems("dev", instanceFamilies=["p5"], maxGpusPerNode=4)
    assert problem.startswith("gpu-model-platform:autoscaling.karpenter.maxGpusPerNode: got 4; no instance type of ['p5']")


def test_a_non_gpu_family_is_refused():
    [problem] = _problems("dev", instanceFamilies=["m7i"])
    assert problem.startswith("gpu-model-platform:autoscaling.karpenter.instanceFamilies: got 'm7i'; not a supported "
                              "NVIDIA GPU family")


def test_an_unpinned_ami_is_refused():
    [problem] = _problems("dev", amiAlias="al2023@latest")
    assert problem.startswith("gpu-model-platform:autoscaling.karpenter.amiAlias: got 'al2023@latest'; must match")


def test_bottlerocket_needs_a_pinned_bottlerocket_alias():
    sections = with_provisioner("dev", KARPENTER)
    with pytest.raises(ConfigError) as caught:
        config_of("dev", gpuNodeGroup={"amiType": "BOTTLEROCKET_x86_64_NVIDIA"}, **sections)
    assert caught.value.problems == [("gpu-model-platform:autoscaling.karpenter.amiAlias: got None; required with "
                                      "gpuNodeGroup.amiType BOTTLEROCKET_x86_64_NVIDIA (pin a release, e.g. "
                                      "bottlerocket@v1.2.3)")]


def test_a_cluster_from_a_stack_reference_cannot_use_karpenter():
    sections = with_provisioner("dev", KARPENTER)
    with pytest.raises(ConfigError) as caught:
        config_of("dev", cluster={"mode": "existing", "name": None, "stackReference": {"stack": "acme/infra/dev"},
                                  "enforcesNetworkPolicies": True},
                  network={"create": False, "vpcId": "vpc-0123456789abcdef0",
                           "privateSubnets": [{"id": "subnet-0123456789abcdef0", "availabilityZone": "us-west-2a"},
                                              {"id": "subnet-0123456789abcdef1", "availabilityZone": "us-west-2b"}]},
                  **sections)
    assert any(p.startswith("gpu-model-platform:autoscaling.provisioner: got 'karpenter'; needs the cluster security group")
               for p in caught.value.problems)


def test_the_component_refuses_bad_args_naming_each_field():
    args = KarpenterArgs(cluster_name="c", oidc_provider_arn="arn:aws:iam::1:oidc-provider/x", region="us-west-2",
                         subnet_ids=[], security_group_ids=[], instance_families=["t3"], capacity_types=["reserved"],
                         max_gpus=0, ami_alias="al2023@latest", consolidate_after="soon")
    fields = [p.split(":")[0] for p in validate_karpenter_args(args)]
    # A bad list element is named by its index.
    assert fields == ["instance_families[0]", "capacity_types[0]", "max_gpus", "ami_alias", "consolidate_after"]


# ------------------------------------------------------------------------- the whole program, as deployed

WHOLE = {"ClusterAutoscaler", "Karpenter", "AutoscalerMonitoring", "PrometheusAdapter", "GpuNodeGroup"}


def _components(synthesis) -> list[str]:
    return sorted(r.name for r in synthesis.resources
                  if r.type.startswith("gpu-model-platform:index:") and r.type.rsplit(":", 1)[1] in WHOLE)


@pytest.mark.parametrize("name, expected", [
    ("dev", ["autoscaler-monitoring", "cluster-autoscaler", "gpu-nodes", "gpu-nodes-on-demand"]),
    ("prod", ["autoscaler-monitoring", "cluster-autoscaler", "gpu-nodes", "pod-metrics"]),
    ("local", []),
])
def test_main_wires_each_stacks_autoscaling(name, expected):
    assert _components(whole_stack(name)) == expected


@pytest.mark.parametrize("name", AWS_STACKS)
def test_main_with_karpenter_has_no_gpu_node_group_and_the_same_model_scheduling(name):
    synthesis = stack_with(name, autoscaling=raw_sections(name)["autoscaling"] | with_provisioner(name, KARPENTER)["autoscaling"])
    components = _components(synthesis)
    assert "karpenter" in components and "gpu-nodes" not in components and "cluster-autoscaler" not in components
    def pod(s):
        return next(m for _, m in s.kubernetes_objects(masked=False)
                             if m["kind"] == "Deployment" and m["metadata"]["name"] == "my-ai-model")["spec"]["template"]["spec"]
    assert {k: pod(synthesis)[k] for k in ("nodeSelector", "tolerations")} == \
        {k: pod(whole_stack(name))[k] for k in ("nodeSelector", "tolerations")}


# ------------------------------------------------------------------------- the EC2 Spot service-linked role

def _spot_stack(cloud_roles: tuple[str, ...], spot_role: str = "check"):
    from tests.autoscaling_platform import Autoscaled, program
    from tools.synth import run
    from tools.synth.fakes import FakeCloud

    sections = with_provisioner("dev", KARPENTER)
    sections["autoscaling"]["karpenter"] = {**sections["autoscaling"]["karpenter"], "spotServiceLinkedRole": spot_role}
    config = config_of("dev", **sections)
    components: dict = {}
    synthesis = run(lambda: program(config, components), stack="dev",
                    cloud=FakeCloud(region="us-west-2", service_linked_roles=cloud_roles))
    return Autoscaled(synthesis, config, components)


def test_with_spot_the_account_is_checked_for_the_spot_service_linked_role():
    checked = _spot_stack(("AWSServiceRoleForEC2Spot",))
    assert _requirement(checked.named("karpenter-node-pool").inputs["spec"], "karpenter.sh/capacity-type")[
        "values"] == ["spot", "on-demand"]
    assert not checked.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole"), "checked, not created"
    [component] = [r for r in checked.synthesis.resources if r.type == "gpu-model-platform:index:Karpenter"]
    assert component.component_outputs["spot_service_linked_role"] == "AWSServiceRoleForEC2Spot"


def test_a_fresh_account_without_the_spot_role_stops_the_preview_with_the_fix():
    with pytest.raises(Exception) as caught:
        _spot_stack(())
    message = str(caught.value)
    assert "the AWS account has no AWSServiceRoleForEC2Spot" in message
    assert "autoscaling.karpenter.spotServiceLinkedRole: create" in message
    assert "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com" in message


def test_on_request_the_spot_role_is_created_before_the_node_pool():
    created = _spot_stack((), spot_role="create")
    [role] = created.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert role.inputs["awsServiceName"] == "spot.amazonaws.com"
    assert role.urn in created.named("karpenter-node-pool").options["dependencies"]


def test_on_demand_only_needs_no_spot_role():
    sections = with_provisioner("prod", KARPENTER)
    assert config_of("prod", **sections).autoscaling.karpenter.capacity(config_of("prod").gpu_node_group) == ["on-demand"]
    assert not _k("prod").of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")


def test_a_bad_spot_role_choice_is_refused():
    with pytest.raises(ConfigError) as caught:
        config_of("dev", autoscaling={"provisioner": "karpenter", "spotFirst": False,
                                      "karpenter": {"spotServiceLinkedRole": "maybe"}})
    assert any("autoscaling.karpenter.spotServiceLinkedRole: got 'maybe'" in p for p in caught.value.problems), \
        caught.value.problems


def test_the_prod_karpenter_variant_keeps_one_pool_for_all_zones():
    prod = _k("prod")
    assert len(prod.of_type("kubernetes:karpenter.sh/v1:NodePool")) == 1
    assert not [g for g in prod.of_type("aws:eks/nodeGroup:NodeGroup") if g.name.startswith("gpu-nodes")]
    assert "topology.kubernetes.io/zone" not in json.dumps(_node_pool("prod")), "no zone pinned: any subnet's zone"
