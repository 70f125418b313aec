"""ModelEndpoint: HTTPS only on an ALB in front of the model's pods, its ACM certificate and Route 53 name, the
way in through the NetworkPolicy, and every annotation one the pinned controller documents."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from kubernetes_validate import utils as kubernetes_validate

from components import GpuScheduling, ModelEndpoint, ModelEndpointArgs, ModelService, ModelServiceArgs
from components.serving.load_balancer_controller import APP_VERSION, DEFAULT_SSL_POLICY
from components.serving.model_endpoint import ANNOTATION_PREFIX, validate_model_endpoint_args
from components.serving.model_service import POD_READINESS_GATE_LABEL
from components.serving.scale_to_zero import (
    INTERCEPTOR_HEALTH_PATH,
    INTERCEPTOR_HEALTH_PORT,
    KedaHttpAddOn,
    KedaHttpAddOnArgs,
    ModelScaleToZero,
    ModelScaleToZeroArgs,
)
from components.testing._load_balancing import get_subnet
from stack_config import ConfigError
from tests.harness import AWS_STACKS, STACKS, container, pod_spec, raw_sections, stack, stack_config, stack_with
from tools.synth import run
from tools.synth.fakes import FakeCloud

ANNOTATIONS_FILE = Path(__file__).parents[1] / "endpoint" / f"aws-load-balancer-controller-{APP_VERSION}.annotations.txt"
INGRESS = "model-endpoint-ingress"
DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "ab" * 32
CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


# Stacks whose load balancer sends to the model's pods: prod, and dev with scale to zero off (dev's model
# normally sleeps, and then the load balancer sends to the KEDA interceptor: see the proxy tests below).
DIRECT = ("prod", "dev-awake")


@functools.cache
def _synth(name: str):
    if name != "dev-awake":
        return stack(name)
    model = raw_sections("dev")["model"]
    model["scaleToZero"]["enabled"] = False
    return stack_with("dev", model=model)


def _config(name: str):
    return stack_config("dev" if name == "dev-awake" else name)


def _ingress(synthesis, name: str = INGRESS) -> dict:
    return synthesis.named(name).inputs


def _annotations(synthesis, name: str = INGRESS) -> dict:
    return {k.removeprefix(ANNOTATION_PREFIX): v for k, v in _ingress(synthesis, name)["metadata"]["annotations"].items()}


def _with_endpoint(name: str, **changes) -> object:
    model = raw_sections(name)["model"]
    model["endpoint"].update(changes)
    return stack_with(name, model=model)


def _target_group_attributes(annotations: dict) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in annotations["target-group-attributes"].split(","))


# ------------------------------------------------------------------------------------------ the Ingress

@pytest.mark.parametrize("name", DIRECT)
def test_the_ingress_routes_the_host_to_the_models_service_in_its_namespace(name):
    s, config = _synth(name), _config(name)
    ingress = _ingress(s)
    service = s.named("model-service").inputs["metadata"]
    assert ingress["metadata"]["name"] == service["name"] and ingress["metadata"]["namespace"] == service["namespace"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == config.model.endpoint.host
    [path] = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/v2", "Prefix")
    # A canary split at the load balancer (prod) goes through the action named after the model's Service.
    port = "use-annotation" if config.model.rollout.traffic_routing == "alb" else "http"
    assert path["backend"] == {"service": {"name": service["name"], "port": {"name": port}}}
    assert "http" in [p["name"] for p in s.named("model-service").inputs["spec"]["ports"]]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_https_only_with_http_redirected_a_current_tls_policy_and_the_issued_certificate(name):
    s = stack(name)
    a = _annotations(s)
    assert json.loads(a["listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert a["ssl-redirect"] == "443"
    assert a["ssl-policy"] == DEFAULT_SSL_POLICY == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    # The ARN comes from the validation, so the listener is only created once the certificate is issued.
    assert a["certificate-arn"] == s.named("model-endpoint-certificate-issued").inputs["certificateArn"]
    assert any(d.endswith("::model-endpoint-certificate-issued") for d in s.named(INGRESS).options["dependencies"])


def test_every_annotation_is_one_the_pinned_controller_documents():
    documented = {line for line in ANNOTATIONS_FILE.read_text().splitlines() if line and not line.startswith("#")}
    assert "alb.ingress.kubernetes.io/ssl-redirect" in documented and len(documented) > 60
    used = {key for name in AWS_STACKS for key in _ingress(stack(name))["metadata"]["annotations"]}
    used |= set(_ingress(_with_endpoint("dev", wafAclArn=(
        "arn:aws:wafv2:us-west-2:123456789012:regional/webacl/x/a1b2c3d4-5678-90ab-cdef-111122223333")))
        ["metadata"]["annotations"])
    assert {"alb.ingress.kubernetes.io/inbound-cidrs", "alb.ingress.kubernetes.io/wafv2-acl-arn",
            "alb.ingress.kubernetes.io/actions.my-ai-model"} <= used
    assert sorted(u for u in used if not any(_documented_pattern(d).fullmatch(u) for d in documented)) == []


def _documented_pattern(name: str) -> re.Pattern[str]:
    """A documented annotation name as a pattern: `${...}` is a part the user names (a DNS label)."""
    return re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?".join(re.escape(part) for part in re.split(r"\$\{[^}]*\}", name)))


def test_a_user_named_part_of_an_annotation_matches_only_where_the_docs_put_it():
    pattern = _documented_pattern("alb.ingress.kubernetes.io/actions.${action-name}")
    assert pattern.fullmatch("alb.ingress.kubernetes.io/actions.my-ai-model")
    assert not pattern.fullmatch("alb.ingress.kubernetes.io/action.my-ai-model")
    assert not pattern.fullmatch("alb.ingress.kubernetes.io/actions.")


@pytest.mark.parametrize("name", DIRECT)
def test_targets_are_the_pods_checked_on_their_readiness_path_on_the_traffic_port(name):
    s = _synth(name)
    a = _annotations(s)
    probe = container(s.named("model-deployment"))["readinessProbe"]["httpGet"]
    assert (a["target-type"], a["backend-protocol"], a["healthcheck-protocol"]) == ("ip", "HTTP", "HTTP")
    assert a["healthcheck-path"] == probe["path"] == "/v2/health/ready"
    assert a["healthcheck-port"] == "traffic-port" and a["success-codes"] == "200"


@pytest.mark.parametrize("name", DIRECT)
def test_the_load_balancer_keeps_draining_a_pod_as_long_as_the_pod_may_answer(name):
    s = _synth(name)
    spec = pod_spec(s.named("model-deployment"))
    pause = container(s.named("model-deployment"))["lifecycle"]["preStop"]["sleep"]["seconds"]
    delay = int(_target_group_attributes(_annotations(s))["deregistration_delay.timeout_seconds"])
    assert pause > 0
    assert delay >= spec["terminationGracePeriodSeconds"] - pause
    assert delay == _config(name).model.termination_grace_period_seconds


@pytest.mark.parametrize("name", DIRECT)
def test_new_pods_wait_for_the_load_balancer_before_old_ones_go(name):
    s = _synth(name)
    namespace = s.named("model-namespace").inputs["metadata"]
    assert POD_READINESS_GATE_LABEL == {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
    assert namespace["labels"].items() >= POD_READINESS_GATE_LABEL.items()
    assert namespace["name"] == _ingress(s)["metadata"]["namespace"]
    strategy = s.named("model-deployment").inputs["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_ingress_passes_strict_schema_validation(name):
    # The Rollout named like the model (prod's canary) is a custom resource: test_progressive_delivery checks it
    # against its CRD.
    manifests = [m for _, m in stack(name).kubernetes_objects(masked=False)
                 if m["kind"] in ("Ingress", "NetworkPolicy") or (m["metadata"].get("name") == "my-ai-model"
                                                                  and not m["apiVersion"].startswith("argoproj.io/"))]
    assert "Ingress" in {m["kind"] for m in manifests}
    version = f"{stack_config(name).cluster.kubernetes_version}.0"
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


# ------------------------------------------------------------------------------ scheme, sources, WAF

@pytest.mark.parametrize("name", AWS_STACKS)
def test_an_internet_facing_load_balancer_goes_in_the_public_subnets(name):
    s = stack(name)
    a = _annotations(s)
    assert a["scheme"] == stack_config(name).model.endpoint.scheme == "internet-facing"
    public = sorted(r.id for r in s.of_type("aws:ec2/subnet:Subnet") if "-public-" in r.name)
    assert sorted(a["subnets"].split(",")) == public and len(public) >= 2


def test_an_internal_load_balancer_goes_in_the_private_subnets():
    s = _with_endpoint("dev", scheme="internal")
    a = _annotations(s)
    assert a["scheme"] == "internal"
    private = sorted(r.id for r in s.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name)
    assert sorted(a["subnets"].split(",")) == private


def test_source_cidrs_and_a_web_acl_are_set_only_when_configured():
    dev, prod = _annotations(stack("dev")), _annotations(stack("prod"))
    assert dev["inbound-cidrs"] == ",".join(stack_config("dev").model.endpoint.allowed_cidrs) == "203.0.113.0/24"
    assert "wafv2-acl-arn" not in dev
    assert prod["wafv2-acl-arn"] == stack_config("prod").model.endpoint.waf_acl_arn
    assert "inbound-cidrs" not in prod


@pytest.mark.parametrize("name", AWS_STACKS)
def test_every_load_balancer_attribute_and_target_group_attribute_is_documented(name):
    """Attribute names from AWS's target group and load balancer attribute references (also the controller's
    annotation examples)."""
    a = _annotations(stack(name))
    assert set(_target_group_attributes(a)) == {"deregistration_delay.timeout_seconds", "load_balancing.algorithm.type"}
    assert _target_group_attributes(a)["load_balancing.algorithm.type"] == "least_outstanding_requests"
    attributes = dict(pair.split("=", 1) for pair in a["load-balancer-attributes"].split(","))
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert set(attributes) <= {"routing.http.drop_invalid_header_fields.enabled", "idle_timeout.timeout_seconds"}


# --------------------------------------------------------------------------- certificate and DNS name

@pytest.mark.parametrize("name", AWS_STACKS)
def test_a_certificate_is_requested_for_the_host_and_validated_by_dns_in_the_zone(name):
    s, endpoint = stack(name), stack_config(name).model.endpoint
    certificate = s.named("model-endpoint-certificate")
    assert (certificate.inputs["domainName"], certificate.inputs["validationMethod"]) == (endpoint.host, "DNS")
    [option] = certificate.outputs["domainValidationOptions"]
    record = s.named("model-endpoint-certificate-validation").inputs
    assert record["zoneId"] == endpoint.hosted_zone_id
    assert (record["name"], record["type"], record["records"]) == (
        option["resourceRecordName"], option["resourceRecordType"], [option["resourceRecordValue"]])
    validation = s.named("model-endpoint-certificate-issued").inputs
    assert validation["certificateArn"] == certificate.outputs["arn"]
    assert validation["validationRecordFqdns"] == [s.named("model-endpoint-certificate-validation").outputs["fqdn"]]


def test_an_existing_certificate_is_used_as_is_and_none_is_requested():
    s = _with_endpoint("dev", certificateArn=CERTIFICATE)
    assert _annotations(s)["certificate-arn"] == CERTIFICATE
    assert s.of_type("aws:acm/certificate:Certificate") == []
    assert s.of_type("aws:acm/certificateValidation:CertificateValidation") == []
    assert [r.name for r in s.of_type("aws:route53/record:Record")] == ["model-endpoint-dns"]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_host_is_an_alias_of_the_load_balancer_the_ingress_reports(name):
    s, endpoint = stack(name), stack_config(name).model.endpoint
    record = s.named("model-endpoint-dns").inputs
    hostname = s.named(INGRESS).outputs["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert (record["zoneId"], record["name"], record["type"]) == (endpoint.hosted_zone_id, endpoint.host, "A")
    # Z1H1FL5HABSF5: the hosted zone of Application Load Balancers in us-west-2 (AWS General Reference).
    assert record["aliases"] == [{"name": hostname, "zoneId": "Z1H1FL5HABSF5", "evaluateTargetHealth": True}]


@pytest.mark.parametrize("name", STACKS)
def test_the_endpoint_url_is_a_stack_output_where_there_is_an_endpoint(name):
    endpoint = stack_config(name).model.endpoint
    expected = f"https://{endpoint.host}" if endpoint else None
    assert stack(name).stack_outputs["modelEndpoint"] == expected
    assert (endpoint is None) == (name == "local")


# ------------------------------------------------------------------------------------------ the way in

@pytest.mark.parametrize("name", DIRECT)
def test_the_pods_admit_the_load_balancer_subnets_on_the_http_port_and_nothing_else_new(name):
    s = _synth(name)
    policy = s.named("model-endpoint-network-policy").inputs
    model_policy = s.named("model-network-policy").inputs
    assert policy["metadata"]["namespace"] == model_policy["metadata"]["namespace"]
    assert policy["spec"]["podSelector"] == model_policy["spec"]["podSelector"]
    [rule] = policy["spec"]["ingress"]
    cloud = FakeCloud()
    subnets = _annotations(s)["subnets"].split(",")
    assert rule["from"] == [{"ipBlock": {"cidr": c}} for c in sorted(get_subnet(cloud, {"id": i})["cidrBlock"]
                                                                      for i in subnets)]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    # The model's own policy still admits only the monitoring namespace (and the configured ones).
    sources = [v for r in model_policy["spec"]["ingress"]
               for v in r["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"]]
    assert "0.0.0.0/0" not in json.dumps(model_policy) and "ipBlock" not in json.dumps(model_policy)
    assert set(sources) == {"monitoring", *_config(name).model.allowed_namespaces}


def test_an_existing_networks_subnets_are_taken_from_config_and_their_cidrs_looked_up():
    sections = raw_sections("dev")
    sections["network"] = {"create": False, "vpcId": "vpc-0123456789abcdef0", "privateSubnets": [
        {"id": "subnet-0aaaaaaaaaaaaaaaa", "availabilityZone": "us-west-2a"},
        {"id": "subnet-0bbbbbbbbbbbbbbbb", "availabilityZone": "us-west-2b"}]}
    sections["cluster"] = {"mode": "existing", "name": "team-cluster", "enforcesNetworkPolicies": True}
    sections["model"]["endpoint"]["scheme"] = "internal"
    sections["model"]["scaleToZero"]["enabled"] = False
    s = stack_with("dev", **{k: v for k, v in sections.items() if k in ("network", "cluster", "model")})
    assert _annotations(s)["subnets"] == "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb"
    [rule] = s.named("model-endpoint-network-policy").inputs["spec"]["ingress"]
    assert rule["from"] == [{"ipBlock": {"cidr": c}} for c in sorted(
        get_subnet(FakeCloud(), {"id": i})["cidrBlock"] for i in ("subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"))]
    assert s.named("load-balancer-controller-release").inputs["values"]["vpcId"] == "vpc-0123456789abcdef0"


# --------------------------------------------------------------------- a model that scales to zero (dev)

def test_a_sleeping_model_is_reached_through_the_interceptor_which_can_wake_it():
    s, config = stack("dev"), stack_config("dev")
    assert config.model.scale_to_zero.enabled
    proxy = s.stack_outputs["modelProxy"]
    ingress = _ingress(s)
    assert ingress["metadata"]["namespace"] == proxy["namespace"] == config.model.scale_to_zero.keda_namespace
    [rule] = ingress["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": proxy["service"], "port": {"number": proxy["port"]}}}
    # The interceptor routes on the Host header the load balancer passes on: the endpoint's name must be a route host.
    [route] = s.of_type("kubernetes:http.keda.sh/v1beta1:InterceptorRoute")
    assert config.model.endpoint.host in route.inputs["spec"]["rules"][0]["hosts"] and rule["host"] in proxy["hosts"]
    # The Ingress waits for the route and the KEDA charts that make its namespace and Service.
    assert any("ModelScaleToZero" in d for d in s.named(INGRESS).options["dependencies"])


def test_the_load_balancer_checks_the_interceptor_never_the_model_and_outwaits_a_held_request():
    s, asleep = stack("dev"), stack_config("dev").model.scale_to_zero
    a = _annotations(s)
    # A health check routed to the model would wake it every 10 s: the interceptor's own readiness it is.
    assert (a["healthcheck-port"], a["healthcheck-path"]) == ("9090", "/readyz")
    idle = int(dict(p.split("=", 1) for p in a["load-balancer-attributes"].split(","))["idle_timeout.timeout_seconds"])
    [scale_to_zero] = [r for r in s.of_type("gpu-model-platform:index:ModelScaleToZero")]
    assert idle == scale_to_zero.component_outputs["load_balancer_idle_timeout_seconds"] > asleep.max_wait_seconds
    assert int(_target_group_attributes(a)["deregistration_delay.timeout_seconds"]) >= idle
    # The load balancer reaches the interceptor; the model admits the interceptor's namespace, not the subnets.
    assert [r for r in s.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.name.startswith("model-endpoint")] == []
    opening = s.named("model-scale-to-zero-network-policy").inputs["spec"]["ingress"][0]["from"][0]
    assert opening["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": asleep.keda_namespace}


@pytest.mark.parametrize("changes, expected", [
    ({"port": 0}, "port: got 0; must be 1..65535"),
    ({"idle_timeout_seconds": 5000}, "idle_timeout_seconds: got 5000; must be 1..4000"),
    ({"health_check_path": "readyz"}, "health_check_path: got 'readyz'"),
])
def test_a_bad_proxy_is_refused_by_field(changes, expected):
    from components import RequestProxy
    from components._args import problems_of

    fields = {"namespace": "keda", "service_name": "proxy", "port": 8080, "health_check_port": 9090,
              "health_check_path": "/readyz", "idle_timeout_seconds": 660}
    problems = problems_of(RequestProxy(**{**fields, **changes}))
    assert any(p.startswith(expected) for p in problems), problems


# ------------------------------------------------------------- built from the library alone: derived, not passed

def _asleep_program(endpoint_changes: dict | None = None, via_model: bool = False) -> None:
    keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs())
    model = _model(api_keys={"primary": "k"}, replicas=0, replica_owner="keda", termination_grace_period_seconds=45)
    asleep = ModelScaleToZero("model-asleep", ModelScaleToZeroArgs(model=model, add_on=keda, max_wait_seconds=300,
                                                                     hosts=["fraud.models.example.com"]))
    ModelEndpoint("fraud", _endpoint_args(model if via_model else asleep, **(endpoint_changes or {})))


def test_behind_a_library_scale_to_zero_the_endpoint_derives_proxy_health_check_and_timeouts():
    synthesis = run(_asleep_program)
    a = _annotations(synthesis, "fraud-ingress")
    assert (a["healthcheck-port"], a["healthcheck-path"]) == (str(INTERCEPTOR_HEALTH_PORT), INTERCEPTOR_HEALTH_PATH)
    idle = dict(p.split("=", 1) for p in a["load-balancer-attributes"].split(","))["idle_timeout.timeout_seconds"]
    assert idle == "360", "the hold (300 s) and the slowest answer"
    assert _target_group_attributes(a)["deregistration_delay.timeout_seconds"] == "360", "outwaits a held request"
    ingress = synthesis.named("fraud-ingress").inputs
    assert ingress["metadata"]["namespace"] == "keda"
    # The interceptor's way in to the model is ModelScaleToZero's own policy; the model's own admits nothing new.
    opening = synthesis.named("model-asleep-network-policy").inputs["spec"]
    assert opening["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert opening["podSelector"]["matchLabels"] == synthesis.named("model-deployment").inputs["spec"]["selector"][
        "matchLabels"]


def test_in_front_of_a_model_the_deregistration_delay_is_its_grace_period():
    def program() -> None:
        ModelEndpoint("fraud", _endpoint_args(_model(api_keys={"primary": "k"}, termination_grace_period_seconds=75)))

    a = _annotations(run(program), "fraud-ingress")
    assert _target_group_attributes(a)["deregistration_delay.timeout_seconds"] == "75"


@pytest.mark.parametrize("changes, via_model, expected", [
    ({}, True, "backend: ModelService 'model' is driven by ModelScaleToZero 'model-asleep': give that as the backend"),
    ({"deregistration_delay_seconds": 30}, False, "deregistration_delay_seconds: got 30; must be >= 360"),
    ({"hosted_zone_name": "example.org"}, False, "host: got 'fraud.models.example.com'; is not in the hosted zone "
                                                 "'example.org'"),
])
def test_a_miswired_endpoint_is_refused_naming_the_field_before_it_registers(changes, via_model, expected):
    with pytest.raises(ValueError) as caught:
        run(lambda: _asleep_program(changes, via_model))
    assert f"ModelEndpoint 'fraud': {expected}" in str(caught.value)
    assert not [r for r in caught.value.registered_resources if r.name.startswith("fraud")]


def test_a_host_inside_its_named_zone_is_accepted():
    run(lambda: _asleep_program({"hosted_zone_name": "models.example.com"}))


# ------------------------------------------------------------------------------------ args and config

def _model(opts=None, **changes) -> ModelService:
    return ModelService("model", ModelServiceArgs(image=DIGEST_IMAGE, gpus=1, gpu_scheduling=GpuScheduling(),
                                                  **changes), opts)


def _endpoint_args(model: ModelService | ModelScaleToZero, **changes) -> ModelEndpointArgs:
    fields = {"backend": model, "host": "fraud.models.example.com", "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
              "subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]}
    return ModelEndpointArgs(**{**fields, **changes})


@pytest.mark.parametrize("changes, expected", [
    ({"host": "*.example.com"}, "host: got '*.example.com'; a lower-case DNS name"),
    ({"host": "Model.Example.com"}, "host: got 'Model.Example.com'"),
    ({"scheme": "public"}, "scheme: got 'public'; must be 'internal' or 'internet-facing'"),
    ({"hosted_zone_id": "example.com"}, "hosted_zone_id: got 'example.com'"),
    ({"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"}, "certificate_arn: got"),
    ({"allowed_cidrs": ["10.0.0.0/33"]}, "allowed_cidrs[0]: got '10.0.0.0/33'"),
    ({"subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa"]}, "subnet_ids: got 1; an Application Load Balancer needs subnets"),
    ({"waf_acl_arn": "arn:aws:waf::123456789012:webacl/x"}, "waf_acl_arn: got"),
    ({"ssl_policy": "ELBSecurityPolicy-2016-08"}, "ssl_policy: got 'ELBSecurityPolicy-2016-08'"),
    ({"deregistration_delay_seconds": 4000}, "deregistration_delay_seconds: got 4000; must be 0..3600"),
    ({"path_prefix": "v2"}, "path_prefix: got 'v2'"),
])
def test_bad_args_are_refused_by_field_before_the_endpoint_registers_anything(changes, expected):
    found: dict = {}

    def program() -> None:
        model = _model(api_keys={"primary": "k"})
        found["problems"] = validate_model_endpoint_args(_endpoint_args(model, **changes))
        ModelEndpoint("fraud", _endpoint_args(model, **changes))

    with pytest.raises(ValueError, match="ModelEndpoint 'fraud'") as caught:
        run(program)
    assert any(expected in p for p in found["problems"]), found["problems"]
    assert not [r for r in caught.value.registered_resources if "ModelEndpoint" in r.type]


def test_a_model_without_api_keys_is_exposed_only_when_that_is_said_explicitly():
    def program(allow: bool) -> None:
        ModelEndpoint("fraud", _endpoint_args(_model(), allow_unauthenticated=allow))

    with pytest.raises(ValueError, match="its server checks no API key"):
        run(lambda: program(False))
    synthesis = run(lambda: program(True))
    assert synthesis.named("fraud-ingress").inputs["spec"]["ingressClassName"] == "alb"


def test_two_endpoints_of_two_models_never_collide():
    def program() -> None:
        for team in ("fraud", "churn"):
            model = ModelService(team, ModelServiceArgs(image=DIGEST_IMAGE, name=team, api_keys={"primary": "k"}))
            ModelEndpoint(f"{team}-endpoint", _endpoint_args(model, host=f"{team}.models.example.com"))

    synthesis = run(program)
    objects = [(m["kind"], m["metadata"]["namespace"], m["metadata"]["name"])
               for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] in ("Ingress", "NetworkPolicy")]
    assert len(objects) == len(set(objects)) == 6
    assert {r.inputs["name"] for r in synthesis.of_type("aws:route53/record:Record") if r.inputs["type"] == "A"} == {
        "fraud.models.example.com", "churn.models.example.com"}


@pytest.mark.parametrize("model_changes, expected", [
    ({"endpoint": None, "apiKeys": None}, "model.apiKeys: got {}; at least one key"),
    ({"authentication": "none"}, "model.authentication: got 'none'; contradicts the apiKeys given (primary)"),
])
def test_authentication_off_must_be_said_and_cannot_be_half_said(model_changes, expected):
    model = raw_sections("dev")["model"]
    for key, value in model_changes.items():
        model.pop(key) if value is None else model.__setitem__(key, value)
    with pytest.raises(ConfigError) as caught:
        stack_with("dev", model=model)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_authentication_none_drops_the_keys_and_the_endpoint_exposes_the_model_anyway_outside_prod():
    model = raw_sections("dev")["model"]
    del model["apiKeys"]
    model["authentication"] = "none"
    s = stack_with("dev", model=model)
    env = {e["name"] for e in container(s.named("model-deployment"))["env"]}
    assert "API_KEYS_DIR" not in env
    assert s.of_type("kubernetes:core/v1:Secret") == [r for r in s.of_type("kubernetes:core/v1:Secret")
                                                     if not r.name.startswith("model-")]
    assert _annotations(s)["ssl-redirect"] == "443"


@pytest.mark.parametrize("sections, expected", [
    ({"cluster": {"mode": "local", "kubeContext": "kind-x", "enforcesNetworkPolicies": True}},
     "model.endpoint: got 'my-ai-model.dev.example.com'; needs an EKS cluster"),
    ({"network": {"create": False, "vpcId": "vpc-0123456789abcdef0", "privateSubnets": [
        {"id": "subnet-0aaaaaaaaaaaaaaaa", "availabilityZone": "us-west-2a"},
        {"id": "subnet-0bbbbbbbbbbbbbbbb", "availabilityZone": "us-west-2b"}]}},
     "model.endpoint.scheme: got 'internet-facing'; needs network.publicSubnets"),
])
def test_an_endpoint_where_no_load_balancer_can_go_is_refused_by_key(sections, expected):
    with pytest.raises(ConfigError) as caught:
        stack_with("dev", **sections)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("changes, expected", [
    ({"host": "https://model.example.com"}, ("model.endpoint.host: got", "must match")),
    ({"scheme": "public"}, ("model.endpoint.scheme: got", "allowed: 'internal' or 'internet-facing'")),
    ({"allowedCidrs": ["2001:db8::/32"]}, ("model.endpoint.allowedCidrs: got", "must be an IPv4 CIDR")),
    ({"sslPolicy": "ELBSecurityPolicy-2016-08"}, ("model.endpoint.sslPolicy: got", "ELBSecurityPolicy-TLS13-1-")),
    ({"hostedZoneId": "zone"}, ("model.endpoint.hostedZoneId: got", "^Z[A-Z0-9]")),
])
def test_bad_endpoint_config_is_refused_naming_the_key(changes, expected):
    """The engine marks a whole section secret when part of it is (the keys): values show as '***'."""
    model = raw_sections("dev")["model"]
    model["endpoint"].update(changes)
    with pytest.raises(ConfigError) as caught:
        stack_with("dev", model=model)
    assert any(all(part in p for part in expected) for p in caught.value.problems), caught.value.problems
