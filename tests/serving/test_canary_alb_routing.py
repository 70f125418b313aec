"""A canary split at the load balancer, end to end as far as it can be checked without the controllers.

Prod's Rollout (Argo Rollouts v1.9.0) names the endpoint's Ingress, the model's Service as its root and a canary
and a stable Service; the Ingress's rule sends to that root Service's `use-annotation` action, declared 100% stable
in the very bytes Argo writes at rest, which Pulumi then leaves to Argo. Everything is checked against what the
pinned versions define: the Rollout against the chart's CRD, the Ingress with kubernetes-validate (strict), the
annotation names against the controller's docs, the action as the AWS Load Balancer Controller v3.5.0 decodes and
validates it. Neither controller runs here (no cluster): what they would do with these objects at runtime (write
the weights, register targets) is not exercised; docs/delivery.md says what the operator then sees.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from kubernetes_validate import utils as kubernetes_validate

from components import (
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    GpuScheduling,
    InvalidArgs,
    ModelCanary,
    ModelCanaryArgs,
    ModelEndpoint,
    ModelEndpointArgs,
    ModelService,
    ModelServiceArgs,
)
from components.serving.model_endpoint import ANNOTATION_PREFIX, forward_action
from policy.platform_policies.canary_routing import canary_alb_routing_is_wired
from stack_config import ConfigError
from tests.aws_platform import config_of
from tests.harness import components, raw_sections, stack, stack_config, stack_with
from tests.progressive_delivery import crd_problems
from tests.test_policy import pack_violations

ACTION_TYPES = json.loads((Path(__file__).parents[1] / "endpoint" /
                           "aws-load-balancer-controller-v3.5.0.action-types.json").read_text())
DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "ab" * 32
INGRESS, ROLLOUT = "model-endpoint-ingress", "model-canary-rollout"
ACTION = f"{ANNOTATION_PREFIX}actions.my-ai-model"
# Argo Rollouts v1.9.0 utils/ingress/ingress.go: its own bookkeeping annotation on the Ingress (never declared here).
ARGO_MANAGED = "rollouts.argoproj.io/managed-alb-annotations"


def _manifests(synthesis) -> dict[tuple[str, str], dict]:
    return {(m["kind"], m["metadata"]["name"]): m for _, m in synthesis.kubernetes_objects(masked=False)}


@functools.cache
def _prod() -> dict[tuple[str, str], dict]:
    return _manifests(stack("prod"))


def _canary(manifests) -> dict:
    return manifests[("Rollout", "my-ai-model")]["spec"]["strategy"]["canary"]


# -------------------------------------------------------------------- decoding as the load balancer controller does

def _go_field(struct: dict[str, str], key: str) -> str | None:
    """The struct field encoding/json puts `key` in: exact json tag first, else one equal ignoring case."""
    return key if key in struct else next((tag for tag in struct if tag.lower() == key.lower()), None)


def _decode(value: Any, type_name: str) -> Any:
    """`value` decoded into the controller's type; raises on a key the controller would silently drop."""
    structs = ACTION_TYPES["structs"]
    if type_name.startswith("[]"):
        assert isinstance(value, list), f"{type_name}: got {value!r}"
        return [_decode(v, type_name[2:]) for v in value]
    if type_name not in structs:
        return value
    assert isinstance(value, dict), f"{type_name}: got {value!r}"
    decoded = {}
    for key, item in value.items():
        tag = _go_field(structs[type_name], key)
        assert tag is not None, f"{type_name} has no field for {key!r}: the controller would drop it"
        decoded[tag] = _decode(item, structs[type_name][tag])
    return decoded


def _validated(action: dict) -> list[tuple[str, str, int | None]]:
    """The controller's Action.validate() for a forward action (pkg/ingress/config_types.go), then the targets."""
    assert action["type"] in ACTION_TYPES["ActionType"] and action["type"] == "forward"
    forward = action.get("forwardConfig")
    assert forward is not None and action.get("targetGroupARN") is None and action.get("targetGroupName") is None
    groups = forward["targetGroups"]
    for group in groups:
        assert group.get("serviceName") is not None and group.get("servicePort") is not None, group
    if len(groups) > 1:
        assert all(g.get("weight") is not None for g in groups), "weight must be set when route to multiple target groups"
    # normalizeServicePortForBackwardsCompatibility: "80" is the port number 80.
    return [(g["serviceName"], str(g["servicePort"]), g.get("weight")) for g in groups]


def test_the_decoder_refuses_what_the_controller_would_drop_or_reject():
    with pytest.raises(AssertionError, match="no field for 'ServiceNames'"):
        _decode({"Type": "forward", "ForwardConfig": {"TargetGroups": [{"ServiceNames": "x"}]}}, "Action")
    with pytest.raises(AssertionError, match="weight must be set"):
        _validated(_decode({"type": "forward", "forwardConfig": {"targetGroups": [
            {"serviceName": "a", "servicePort": 80}, {"serviceName": "b", "servicePort": 80, "weight": 1}]}}, "Action"))


# ------------------------------------------------------------------------------------------------ the Rollout

def test_prods_rollout_splits_at_the_endpoints_ingress_through_the_model_services_action():
    manifests, config = _prod(), stack_config("prod")
    canary = _canary(manifests)
    ingress = manifests[("Ingress", "my-ai-model")]
    assert config.model.rollout.traffic_routing == "alb"
    assert canary["trafficRouting"] == {"alb": {"ingress": ingress["metadata"]["name"], "rootService": "my-ai-model",
                                                "servicePort": config.model.service_port}}
    assert ("Service", canary["trafficRouting"]["alb"]["rootService"]) in manifests, "the root is the model's Service"
    assert (canary["canaryService"], canary["stableService"]) == ("my-ai-model-canary", "my-ai-model-stable")
    assert manifests[("Rollout", "my-ai-model")]["metadata"]["namespace"] == ingress["metadata"]["namespace"]
    assert crd_problems(manifests[("Rollout", "my-ai-model")]) == []


def test_the_pinned_crd_refuses_an_alb_routing_without_its_service_port():
    rollout = copy.deepcopy(_prod()[("Rollout", "my-ai-model")])
    del rollout["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["servicePort"]
    assert any("servicePort" in p for p in crd_problems(rollout))


def test_the_canary_and_stable_services_select_the_model_pods_on_the_service_port():
    manifests, port = _prod(), stack_config("prod").model.service_port
    pod_labels = manifests[("Deployment", "my-ai-model")]["spec"]["template"]["metadata"]["labels"]
    canary = _canary(manifests)
    rollout_selector = manifests[("Rollout", "my-ai-model")]["spec"]["selector"]["matchLabels"]
    for name in (canary["canaryService"], canary["stableService"]):
        service = manifests[("Service", name)]
        # Argo adds rollouts-pod-template-hash to these selectors at runtime; declared, they select every model pod.
        assert service["spec"]["selector"] == rollout_selector and rollout_selector.items() <= pod_labels.items()
        assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [("http", port, "http")]
        kubernetes_validate.validate(service, f"{stack_config('prod').cluster.kubernetes_version}.0", strict=True)
    assert ("Service", "my-ai-model") in manifests, "ModelService's own Service stays (monitoring, in-cluster callers)"


# ------------------------------------------------------------------------------------------------ the Ingress

def test_the_ingress_rule_sends_to_the_root_services_action_and_passes_strict_validation():
    manifests = _prod()
    ingress = manifests[("Ingress", "my-ai-model")]
    [path] = ingress["spec"]["rules"][0]["http"]["paths"]
    alb = _canary(manifests)["trafficRouting"]["alb"]
    assert path["backend"] == {"service": {"name": alb["rootService"], "port": {"name": "use-annotation"}}}
    assert ACTION == f"{ANNOTATION_PREFIX}actions.{alb['rootService']}"
    kubernetes_validate.validate(ingress, f"{stack_config('prod').cluster.kubernetes_version}.0", strict=True)


def test_the_declared_action_forwards_everything_to_stable_as_the_load_balancer_controller_reads_it():
    manifests = _prod()
    canary, port = _canary(manifests), _canary(manifests)["trafficRouting"]["alb"]["servicePort"]
    action = json.loads(manifests[("Ingress", "my-ai-model")]["metadata"]["annotations"][ACTION])
    targets = _validated(_decode(action, "Action"))
    assert targets == [(canary["canaryService"], str(port), 0), (canary["stableService"], str(port), 100)]
    for name, service_port, _ in targets:
        assert int(service_port) in [p["port"] for p in manifests[("Service", name)]["spec"]["ports"]], name


def test_the_declared_action_is_what_argo_rollouts_writes_at_rest_so_nothing_changes_hands():
    # rollout/trafficrouting/alb/alb.go getForwardActionString at weight 0, json.Marshal of ingressutil.ALBAction
    # (field order of the structs, no spaces, ServicePort strconv.Itoa(port)).
    written = ('{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"my-ai-model-canary","ServicePort":'
               '"80","Weight":0},{"ServiceName":"my-ai-model-stable","ServicePort":"80","Weight":100}]}}')
    assert _prod()[("Ingress", "my-ai-model")]["metadata"]["annotations"][ACTION] == written
    assert forward_action(("a", "b"), 8080, canary_weight=10) == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"a","ServicePort":"8080","Weight":10},'
        '{"ServiceName":"b","ServicePort":"8080","Weight":90}]}}')


def test_pulumi_leaves_exactly_the_action_annotation_to_argo_rollouts():
    ingress = stack("prod").named(INGRESS)
    assert ingress.options["ignoreChanges"] == [f'metadata.annotations["{ACTION}"]']
    annotations = ingress.inputs["metadata"]["annotations"]
    assert ARGO_MANAGED not in annotations, "Argo's bookkeeping annotation is Argo's to write"
    assert [k for k in annotations if "/actions." in k] == [ACTION]


def test_the_ingress_waits_for_the_services_it_forwards_to_and_the_load_balancer_controller():
    dependencies = stack("prod").named(INGRESS).options["dependencies"]
    for name in ("model-canary-canary-service", "model-canary-stable-service"):
        assert stack("prod").named(name).urn in dependencies, name
    assert any("LoadBalancerController" in d for d in dependencies), "the controller's children"


def test_a_replica_ratio_canary_and_dev_keep_the_direct_backend_and_no_action():
    model = raw_sections("prod")["model"]
    model["rollout"] = {**model["rollout"], "trafficRouting": "replicas"}
    for synthesis in (stack_with("prod", model=model), stack("dev")):
        manifests = _manifests(synthesis)
        [ingress] = [m for (kind, _), m in manifests.items() if kind == "Ingress"]
        [path] = ingress["spec"]["rules"][0]["http"]["paths"]
        assert path["backend"]["service"]["port"] != {"name": "use-annotation"}
        assert not [k for k in ingress["metadata"]["annotations"] if "/actions." in k]
        assert not synthesis.named(INGRESS).options.get("ignoreChanges")
        assert all("trafficRouting" not in m["spec"]["strategy"]["canary"] for (kind, _), m in manifests.items()
                   if kind == "Rollout")
        assert not [name for kind, name in manifests if kind == "Service" and name.endswith(("-canary", "-stable"))]


# ---------------------------------------------------------------------------------- the controller's AWS access

def _release_values(synthesis) -> dict:
    return synthesis.named("argo-rollouts-release").inputs.get("values", {})


def test_in_prod_argo_rollouts_verifies_target_groups_through_its_own_describe_only_role():
    synthesis = stack("prod")
    values, role = _release_values(synthesis), synthesis.named("argo-rollouts-role")
    # argo-helm argo-rollouts-2.41.0 templates/controller/deployment.yaml appends controller.extraArgs to the
    # controller's args and sets controller.extraEnv as its env; _helpers.tpl names the service account.
    assert values["controller"]["extraArgs"] == ["--aws-verify-target-group"]
    assert values["controller"]["extraEnv"] == [{"name": "AWS_REGION", "value": stack_config("prod").aws.region}]
    account = values["serviceAccount"]
    assert account["create"] is True and account["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert [v for k, v in trust.items() if k.endswith(":sub")] == [
        f"system:serviceaccount:argo-rollouts:{account['name']}"]
    [statement] = json.loads(synthesis.named("argo-rollouts-policy").inputs["policy"])["Statement"]
    assert statement["Resource"] == "*" and all(a.startswith("elasticloadbalancing:Describe") for a in statement["Action"])
    operations = set(botocore.session.get_session().get_service_model("elbv2").operation_names)
    assert sorted(a.split(":")[1] for a in statement["Action"]) == sorted(
        {"DescribeTargetGroups", "DescribeLoadBalancers", "DescribeListeners", "DescribeRules", "DescribeTags",
         "DescribeTargetHealth"} & operations), "the published policy, every action a real ELBv2 operation"


def test_without_verification_argo_rollouts_has_no_aws_credentials_and_the_flag_stays_off():
    model = raw_sections("prod")["model"]
    model["rollout"] = {**model["rollout"], "verifyTargetGroups": False}
    synthesis = stack_with("prod", model=model)
    values = json.dumps(_release_values(synthesis))
    assert "aws-verify-target-group" not in values and "eks.amazonaws.com/role-arn" not in values
    assert not [r for r in synthesis.resources if r.name in ("argo-rollouts-role", "argo-rollouts-policy")]
    assert "trafficRouting" in _manifests(synthesis)[("Rollout", "my-ai-model")]["spec"]["strategy"]["canary"]


# --------------------------------------------------------------------------------------------- config mistakes

def test_alb_routing_without_an_endpoint_is_refused_naming_the_key_and_the_allowed_values():
    model = {**raw_sections("prod")["model"], "endpoint": None}
    with pytest.raises(ConfigError, match=r"model\.rollout\.trafficRouting: got 'alb'; needs model\.endpoint.*"
                                          r"allowed values: replicas .* or alb with model\.endpoint"):
        config_of("prod", model=model)
    model["rollout"] = {**model["rollout"], "trafficRouting": "replicas"}
    assert config_of("prod", model=model).model.rollout.traffic_routing == "replicas"


def _service(opts, instance: str = "model") -> ModelService:
    return ModelService(instance, ModelServiceArgs(image=DIGEST_IMAGE, gpus=1, gpu_scheduling=GpuScheduling(),
                                                   api_keys={"primary": "k"}, progressive_rollout=True), opts)


def _canary_of(model: ModelService, instance: str, opts, rollouts: ArgoRollouts | None = None) -> ModelCanary:
    return ModelCanary(instance, ModelCanaryArgs(
        model=model, rollouts=rollouts or ArgoRollouts(f"{instance}-rollouts", ArgoRolloutsArgs(), opts),
        prometheus="http://p:9090",
        analysis=CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5), split_at_load_balancer=True),
        opts)


def test_a_model_split_by_its_canary_is_reached_through_the_canary_not_alone():
    def program(opts):
        model = _service(opts)
        _canary_of(model, "canary", opts)
        ModelEndpoint("endpoint", ModelEndpointArgs(
            backend=model, host="m.example.com", hosted_zone_id="Z0123456789ABCDEFGHIJ",
            subnet_ids=["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]), opts)

    with pytest.raises(InvalidArgs, match="ModelEndpoint 'endpoint': backend: ModelService 'model' is driven by "
                                          "ModelCanary 'canary': give that as the backend"):
        components(program)


def test_two_canaries_of_one_model_service_collide_by_its_output_names_before_registering():
    with pytest.raises(InvalidArgs) as caught:
        components(lambda opts: [model := _service(opts), rollouts := ArgoRollouts("r", ArgoRolloutsArgs(), opts),
                                 _canary_of(model, "first", opts, rollouts), _canary_of(model, "second", opts, rollouts)])
    message = str(caught.value)
    assert message.startswith("ModelCanary 'second': model: argoproj.io/Rollout 'model' in namespace 'model'")
    assert "already created by ModelCanary 'first'" in message and "Service 'model-canary'" in message
    assert not [r for r in caught.value.registered_resources if r.name.startswith("second")]  # type: ignore[attr-defined]


def test_a_library_canary_and_endpoint_wire_the_same_split_as_the_program():
    def program(opts):
        model = _service(opts)
        canary = _canary_of(model, "canary", opts)
        ModelEndpoint("endpoint", ModelEndpointArgs(
            backend=canary, host="m.example.com", hosted_zone_id="Z0123456789ABCDEFGHIJ",
            subnet_ids=["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]), opts)

    synthesis = components(program)
    assert pack_violations(synthesis, "test", policies=[canary_alb_routing_is_wired()]) == []
    action = json.loads(synthesis.named("endpoint-ingress").inputs["metadata"]["annotations"][
        f"{ANNOTATION_PREFIX}actions.model"])
    assert [t[0] for t in _validated(_decode(action, "Action"))] == ["model-canary", "model-stable"]


# ------------------------------------------------------------------------------------------------ the policy

def _violations(mutate=None) -> list[str]:
    return pack_violations(stack("prod"), "prod", policies=[canary_alb_routing_is_wired()], mutate=mutate)


def _mutating(resource_name: str, change):
    def mutate(name: str, _type: str, state: dict) -> None:
        if name == resource_name:
            change(state)
    return mutate


def _set_backend_port(state: dict) -> None:
    state["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"name": "http"}


def _drop_canary_target(state: dict) -> None:
    action = json.loads(state["metadata"]["annotations"][ACTION])
    action["ForwardConfig"]["TargetGroups"] = action["ForwardConfig"]["TargetGroups"][1:]
    state["metadata"]["annotations"][ACTION] = json.dumps(action)


def test_prod_wires_every_link_of_the_split():
    assert _violations() == []


@pytest.mark.parametrize("resource, change, expected", [
    (INGRESS, _set_backend_port, "has no rule whose backend is Service 'my-ai-model' with port name 'use-annotation'"),
    (INGRESS, lambda s: s["metadata"]["annotations"].pop(ACTION), f"has no forward action annotation {ACTION}"),
    (INGRESS, _drop_canary_target, "has no target group for the canary Service 'my-ai-model-canary' on port 80"),
    (INGRESS, lambda s: s["metadata"].update(name="elsewhere"), "its Ingress 'my-ai-model' is not declared"),
    ("model-canary-canary-service", lambda s: s["metadata"].update(name="gone"),
     "its canary Service 'my-ai-model-canary' is not declared"),
    ("model-canary-stable-service", lambda s: s["spec"].update(selector={"app": "other"}),
     "its stable Service 'my-ai-model-stable' selects {'app': 'other'}, not the Rollout's pods"),
    ("model-canary-stable-service", lambda s: s["spec"]["ports"][0].update(port=8080),
     "its stable Service 'my-ai-model-stable' has no port 80"),
    (ROLLOUT, lambda s: s["spec"]["strategy"]["canary"]["trafficRouting"]["alb"].update(rootService="other"),
     "has no rule whose backend is Service 'other'"),
    ("model-deployment", lambda s: s["metadata"].update(name="renamed"), "the Deployment its workloadRef names"),
])
def test_the_policy_fails_when_any_link_of_the_split_is_removed(resource, change, expected):
    found = _violations(_mutating(resource, change))
    assert any(expected in v and "Rollout 'model-canary-rollout'" in v for v in found), found


def test_the_split_services_are_not_scraped_so_the_analysis_counts_each_request_once():
    manifests = _prod()
    [monitor] = [m for (kind, _), m in manifests.items() if kind == "ServiceMonitor"
                 and m["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == "my-ai-model"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    canary = _canary(manifests)
    scraped = [name for (kind, name), m in manifests.items() if kind == "Service"
               and selector.items() <= m["metadata"].get("labels", {}).items()]
    assert scraped == ["my-ai-model"], "the model's pods must have one scrape target each"
    for name in (canary["canaryService"], canary["stableService"]):
        assert "metrics" not in [p["name"] for p in manifests[("Service", name)]["spec"]["ports"]]


def test_the_components_children_wait_for_the_depends_on_resource_option():
    synthesis = stack("prod")
    monitor = synthesis.named("argo-rollouts-service-monitor").options["dependencies"]
    assert any("MonitoringStack" in d for d in monitor), "the ServiceMonitor's CRD comes from the monitoring stack"
    release = synthesis.named("argo-rollouts-release").urn
    for name in ("model-canary-rollout", "model-canary-analysis"):
        assert release in synthesis.named(name).options["dependencies"], name
