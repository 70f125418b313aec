"""ModelEndpoint: a model's HTTPS endpoint on an Application Load Balancer, with its certificate and DNS name.

Why an Ingress and not the Gateway API: the pinned AWS Load Balancer Controller (v3.5.0) serves both,
but its Gateway API side needs the upstream Gateway API CRDs and three AWS CRDs installed separately
and settles listener, WAF and TLS options through its own custom resources, while every promise made
here (HTTPS only with a redirect, TLS policy, ACM certificate, source CIDRs, WAF, health checks,
deregistration delay) is a documented Ingress annotation of that release, checked against its docs,
and an Ingress is a built-in object whose schema the tests validate strictly.

A canary split at the load balancer (`weighted_backend`, from `ModelCanary`): the rule's backend names the model's
Service with the port `use-annotation`, and the `alb.ingress.kubernetes.io/actions.<that Service>` annotation
forwards to the canary's and the stable's Services by weight (docs/guide/ingress/annotations.md#actions of
kubernetes-sigs/aws-load-balancer-controller v3.5.0: "The `action-name` in the annotation must match the serviceName
in the Ingress rules, and servicePort must be `use-annotation`"). Argo Rollouts rewrites that annotation at every
step (and adds `rollouts.argoproj.io/managed-alb-annotations`, utils/ingress/ingress.go at v1.9.0): the Ingress
declares it once, 100% stable, in the controller's own serialization (rollout/trafficrouting/alb/alb.go
`getForwardActionString`: `ServicePort` the port number as a string, which the load balancer controller turns back
into a number, pkg/ingress/enhanced_backend_builder.go), and Pulumi ignores later changes to it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, Union, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import _claims, _options
from .._args import (
    Constraint,
    DnsLabel,
    Problem,
    between,
    checked_args,
    children_wait_for_checks,
    got,
    matches,
    problems_of,
)
from ..aws_tags import component_tags
from ..labels import standard_labels
from ._subnets import subnet_cidrs
from .backends import UrlPath
from .load_balancer_controller import DEFAULT_SSL_POLICY, INGRESS_CLASS, SslPolicy
from .model_service import ModelService
from .progressive_delivery import ModelCanary
from .scale_to_zero import ModelScaleToZero

ANNOTATION_PREFIX = "alb.ingress.kubernetes.io/"
USE_ANNOTATION = "use-annotation"
"""The backend port name that sends the load balancer controller to the rule's `actions.<service>` annotation."""
HTTP_PORT_NAME = "http"
"""The model server's public port, by name, in its Service and pods (the server contract)."""
HOST_RE = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
"""A lower-case DNS name (253 characters at most, checked apart)."""
CERTIFICATE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$")
WAF_ACL_ARN_RE = re.compile(r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[\w-]{1,128}/[0-9a-f-]{36}$")
ZONE_ID_RE = re.compile(r"^Z[A-Z0-9]{1,31}$")
Host = Annotated[str, Constraint("a lower-case DNS name such as model.example.com (no wildcard)",
                                 lambda v: bool(HOST_RE.match(v)) and len(v) <= 253).validator()]
ZoneId = Annotated[str, matches(ZONE_ID_RE.pattern.strip("^$"), "a Route 53 zone id such as Z0123456789ABCDEFGHIJ")]
CertificateArn = Annotated[str, matches(CERTIFICATE_ARN_RE.pattern.strip("^$"), "an ACM certificate ARN")]
WafAclArn = Annotated[str, matches(WAF_ACL_ARN_RE.pattern.strip("^$"), "a regional WAFv2 web ACL ARN")]


def is_ipv4_cidr(value: str) -> bool:
    """Whether `value` is an IPv4 network such as `203.0.113.0/24`."""
    try:
        return ipaddress.ip_network(value).version == 4
    except ValueError:
        return False


Ipv4Cidr = Annotated[str, Constraint("an IPv4 CIDR such as 203.0.113.0/24", is_ipv4_cidr).validator()]


def forward_action(backend_names: tuple[str, str], port: int, canary_weight: int = 0) -> str:
    """The `actions.<service>` annotation that splits between (canary, stable) Services, serialized as Argo Rollouts
    v1.9.0 writes it (rollout/trafficrouting/alb/alb.go `getForwardActionString`: canary first, the port as a
    string, Go's compact JSON), so the value Pulumi declares is the one the controller keeps between updates."""
    canary, stable = backend_names
    groups = [{"ServiceName": canary, "ServicePort": str(port), "Weight": canary_weight},
              {"ServiceName": stable, "ServicePort": str(port), "Weight": 100 - canary_weight}]
    return json.dumps({"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}, separators=(",", ":"))


Backend = Union[ModelService, ModelScaleToZero, ModelCanary]
"""What the endpoint sends to: the model itself, the `ModelScaleToZero` holding its requests while it wakes, or the
`ModelCanary` releasing it (split at the load balancer when it says so)."""


@dataclass
class ModelEndpointArgs:
    """Inputs of `ModelEndpoint`."""

    backend: Backend
    """The model to expose, or what acts on it: its namespace, Service, pod labels, health path, drain and (through a
    `ModelScaleToZero`) the proxy and how long it holds a request are read from it, never repeated."""
    host: Host
    """The endpoint's DNS name, e.g. `fraud.models.example.com`; the certificate and the alias record are for it."""
    hosted_zone_id: pulumi.Input[ZoneId]
    """The Route 53 hosted zone that holds `host` (the alias record, and the certificate's validation record)."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Where the load balancer goes: public subnets for `internet-facing`, private ones for `internal` (two zones).
    Its addresses come from them, so the model's pods admit these subnets' CIDRs (looked up) and no others."""
    hosted_zone_name: Optional[Host] = None
    """The zone's domain (`models.example.com`), when known: `host` must lie in it (a record outside its zone is
    refused by Route 53 at `up`, after the load balancer exists)."""
    scheme: Literal["internal", "internet-facing"] = "internal"
    """`internal`: reachable from the VPC (and what is peered or connected to it); `internet-facing`: public."""
    certificate_arn: Optional[pulumi.Input[CertificateArn]] = None
    """An issued ACM certificate for `host` in the cluster's region; None requests one, DNS-validated in the zone."""
    allowed_cidrs: list[Ipv4Cidr] = field(default_factory=list)
    """Source CIDRs the load balancer accepts; empty: any source (the API key still guards every request)."""
    waf_acl_arn: Optional[WafAclArn] = None
    """A regional WAFv2 web ACL to associate with the load balancer."""
    ssl_policy: SslPolicy = DEFAULT_SSL_POLICY
    """The HTTPS listener's ELB security policy (TLS 1.2 at least)."""
    deregistration_delay_seconds: Optional[Annotated[int, between(0, 3600)]] = None
    """How long the load balancer lets requests to a deregistered target finish; None derives it: the model's
    termination grace period, or (behind a `ModelScaleToZero`) the longer of that and the proxy's idle timeout."""
    path_prefix: UrlPath = "/v2"
    """Paths routed to the model (Open Inference Protocol v2); anything else gets the load balancer's 404."""
    readiness_path: Optional[UrlPath] = None
    """The load balancer's health check path, on the traffic port; None: the model's readiness path."""
    allow_unauthenticated: bool = False
    """Expose a model that checks no API key. Refused unless set, so that is never an accident."""
    tags: dict[str, str] = field(default_factory=dict)
    group: Optional[DnsLabel] = None
    """An IngressGroup (`group.name`): every endpoint of the group shares one load balancer, each adding its host
    and path rules; its load balancer settings (scheme, subnets, CIDRs, WAF, SSL policy, attributes) must agree.
    None: a load balancer of its own."""
    idle_timeout_seconds: Optional[Annotated[int, between(1, 4000)]] = None
    """The load balancer's idle timeout; None: AWS's default, or the proxy's when there is one. A group's members
    all state the longest any of them needs (a load balancer has one)."""
    dns_record: bool = True
    """Create the alias record of `host`; False when another endpoint of the group serves the same host."""
    """Extra AWS tags of the certificate."""

    def _rules(self) -> list[Problem]:
        problems: list[Problem] = []
        model = backend_model(self.backend)
        if isinstance(self.subnet_ids, (list, tuple)) and len(self.subnet_ids) < 2:
            problems.append(("subnet_ids", f"got {len(self.subnet_ids)}; an Application Load Balancer needs subnets "
                                           "in two zones at least"))
        if not model.authenticated and not self.allow_unauthenticated:
            problems.append(("backend", "its server checks no API key (ModelServiceArgs.api_keys is empty); give it "
                                        "keys, or set allow_unauthenticated=True to expose it anyway"))
        problems += _backend_problems(self.backend)
        zone = self.hosted_zone_name
        if zone is not None and self.host != zone and not self.host.endswith(f".{zone}"):
            problems.append(("host", got(self.host, f"is not in the hosted zone {zone!r} (hosted_zone_name): Route 53 "
                                                    "would refuse its records")))
        deregistration = self.deregistration_delay_seconds
        needed = derived_deregistration_delay(self.backend)
        if deregistration is not None and deregistration < needed:
            problems.append(("deregistration_delay_seconds", got(deregistration, f"must be >= {needed}: the backend "
                             "may still be answering a request that long (the model's grace period, or the proxy's "
                             "hold), and the load balancer would cut it")))
        return problems


def backend_model(backend: Backend) -> ModelService:
    """The model behind a backend."""
    return backend if isinstance(backend, ModelService) else backend.model


def _backend_problems(backend: Backend) -> list[Problem]:
    """The model given alone while something else must sit in front of it."""
    if not isinstance(backend, ModelService) or backend.taken_by is None:
        return []
    component, instance = backend.taken_by
    why = ("its interceptor holds requests while the model wakes; the model's own pods may be none"
           if component == "ModelScaleToZero" else "a canary split at the load balancer needs the Ingress it writes")
    return [("backend", f"ModelService {backend.served.name!r} is driven by {component} {instance!r}: give that as "
                        f"the backend ({why})")]


def derived_deregistration_delay(backend: Backend) -> int:
    """How long a deregistered target may still be answering: a pod its grace period; the interceptor of a model
    that scales to zero, a request it holds (its idle timeout)."""
    grace = backend_model(backend).termination_grace_period_seconds
    if isinstance(backend, ModelScaleToZero):
        return max(grace, backend.load_balancer_idle_timeout_seconds)
    return grace


def validate_model_endpoint_args(args: ModelEndpointArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


def _string_map(values: Mapping[str, object]) -> str:
    """`k1=v1,k2=v2`: how the controller reads map-valued annotations."""
    return ",".join(f"{k}={v}" for k, v in values.items())


class ModelEndpoint(pulumi.ComponentResource):
    """A model's HTTPS endpoint: an ALB in front of its pods, a certificate, a DNS name, and the way in.

    Creates an Ingress of class `alb` (served by `LoadBalancerController`): HTTPS on 443 with the given
    TLS policy and certificate, HTTP on 80 answering only with a redirect to HTTPS, IP targets (the
    pods themselves), health checks on the model's readiness path on the traffic port, a deregistration
    delay covering the pods' drain, optional source CIDRs and WAF web ACL. When no certificate is given,
    an ACM certificate for the host, its DNS validation record and the wait for its issuance. A Route 53
    alias record from the host to the load balancer. A NetworkPolicy that admits the load balancer's
    subnets to the model's `http` port, and nothing else. With a `ModelScaleToZero` backend, the Ingress
    sends to its interceptor instead (and waits for it), checks the interceptor's readiness, keeps quiet
    connections open as long as it may hold a request and drains targets as long. With a `ModelCanary`
    backend split at the load balancer, the rule forwards through its `actions.<model's Service>`
    annotation to the stable and canary Services, 100% stable until the canary's controller sets other
    weights; Pulumi leaves that annotation to the controller. Pass the load balancer controller as
    `depends_on` in the resource options: the Ingress is created after it and deleted before it (the
    controller removes the load balancer when the Ingress goes).
    """

    url: pulumi.Output[str]
    """`https://<host>`: where clients call the model (`/v2/models/<name>/infer`, with their API key)."""
    load_balancer_hostname: pulumi.Output[str]
    """The ALB's own DNS name (from the Ingress status), which the alias record points at."""
    certificate_arn: pulumi.Output[str]
    """The certificate the HTTPS listener serves (issued before the Ingress is created)."""
    ingress_name: pulumi.Output[str]
    """The Ingress (named after the model's Service, in its namespace)."""

    def __init__(self, name: str, args: ModelEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelEndpoint", name, args, ModelEndpointArgs)
        self._model = model = backend_model(args.backend)
        served = model.served
        # The Ingress is named after the model's Service (in its namespace, or the proxy's): one per model.
        _claims.claim("ModelEndpoint", name, opts, [_claims.Claim(
            "kubernetes", "endpoint (Ingress) of model", served.name, served.model_namespace, field="backend")])
        super().__init__("gpu-model-platform:index:ModelEndpoint", name, None, children_wait_for_checks(args, opts))
        self._args = args
        self._proxy = args.backend.proxy if isinstance(args.backend, ModelScaleToZero) else None
        self._weighted = args.backend.weighted_backend if isinstance(args.backend, ModelCanary) else None
        self._deregistration = (args.deregistration_delay_seconds if args.deregistration_delay_seconds is not None
                                else derived_deregistration_delay(args.backend))
        self._tags = component_tags("model-endpoint", name, args.tags)
        self._labels = standard_labels(name, "endpoint")
        # The proxy's namespace and Service come from the KEDA charts: the Ingress waits for them.
        self._after = [*_options.dependencies(opts), *([args.backend] if self._proxy is not None else [])]

        certificate_arn = (pulumi.Output.from_input(args.certificate_arn) if args.certificate_arn is not None
                           else self._create_certificate(name))
        ingress = self._create_ingress(name, certificate_arn)
        if self._proxy is None:
            self._create_network_policy(name)
        # The SDK types every level Optional; the controller writes them, and Pulumi waits for that.
        self.load_balancer_hostname = ingress.status.apply(lambda s: cast(Any, s).load_balancer.ingress[0].hostname)
        if args.dns_record:
            self._create_alias_record(name)

        self.url = pulumi.Output.from_input(f"https://{args.host}")
        self.certificate_arn = certificate_arn
        self.ingress_name = ingress.metadata.name
        self.register_outputs({"url": self.url, "load_balancer_hostname": self.load_balancer_hostname,
                               "certificate_arn": self.certificate_arn, "ingress_name": self.ingress_name})

    def _create_certificate(self, name: str) -> pulumi.Output[str]:
        """An ACM certificate for the host, validated by a record in the hosted zone; its ARN once issued."""
        a = self._args
        certificate = aws.acm.Certificate(
            f"{name}-certificate", domain_name=a.host, validation_method="DNS", tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self))
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{name}-certificate-validation",
            zone_id=a.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # ACM gives the same validation record to every certificate of this name in the account.
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self))
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-issued", certificate_arn=certificate.arn, validation_record_fqdns=[record.fqdn],
            opts=pulumi.ResourceOptions(parent=self))
        return validation.certificate_arn

    def _annotations(self, certificate_arn: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        """The Ingress annotations (every name is one the pinned controller's documentation lists)."""
        a = self._args
        attributes = {
            "deregistration_delay.timeout_seconds": self._deregistration,
            # Inference times vary a lot between requests: send each to the pod with the fewest in flight.
            "load_balancing.algorithm.type": "least_outstanding_requests",
        }
        load_balancer = {"routing.http.drop_invalid_header_fields.enabled": "true"}
        health_port, health_path = "traffic-port", a.readiness_path or self._model.readiness_path
        proxy = self._proxy
        if proxy is not None:
            load_balancer["idle_timeout.timeout_seconds"] = str(proxy.idle_timeout_seconds)
            health_port, health_path = str(proxy.health_check_port), proxy.health_check_path
        if a.idle_timeout_seconds is not None:
            load_balancer["idle_timeout.timeout_seconds"] = str(a.idle_timeout_seconds)
        weighted = self._weighted
        annotations: dict[str, pulumi.Input[str]] = {
            "scheme": a.scheme,
            "subnets": pulumi.Output.from_input(a.subnet_ids).apply(lambda ids: ",".join(str(i) for i in ids)),
            "ip-address-type": "ipv4",
            "target-type": "ip",
            # Port 80 exists only to redirect: the controller gives every HTTP listener a redirect to 443.
            "listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
            "ssl-redirect": "443",
            "certificate-arn": certificate_arn,
            "ssl-policy": a.ssl_policy,
            "backend-protocol": "HTTP",
            "healthcheck-protocol": "HTTP",
            "healthcheck-port": health_port,
            "healthcheck-path": health_path,
            "healthcheck-interval-seconds": "10",
            "healthcheck-timeout-seconds": "5",
            "healthy-threshold-count": "2",
            "unhealthy-threshold-count": "2",
            "success-codes": "200",
            "target-group-attributes": _string_map(attributes),
            "load-balancer-attributes": _string_map(load_balancer),
        }
        if a.allowed_cidrs:
            annotations["inbound-cidrs"] = ",".join(a.allowed_cidrs)
        if a.waf_acl_arn:
            annotations["wafv2-acl-arn"] = a.waf_acl_arn
        if a.group is not None:
            annotations["group.name"] = a.group
        if weighted is not None:
            annotations[self._action_key()] = pulumi.Output.all(weighted.canary_service, weighted.stable_service).apply(
                lambda names: forward_action((str(names[0]), str(names[1])), weighted.service_port))
        return {ANNOTATION_PREFIX + key: value for key, value in annotations.items()}

    def _backend(self) -> tuple[pulumi.Input[str], k8s.networking.v1.IngressServiceBackendArgs]:
        """(namespace, Service and port) the load balancer sends to: the model's, or its proxy's."""
        model, proxy = self._model, self._proxy
        if proxy is not None:
            return proxy.namespace, k8s.networking.v1.IngressServiceBackendArgs(
                name=proxy.service_name, port=k8s.networking.v1.ServiceBackendPortArgs(number=proxy.port))
        if self._weighted is not None:
            # The action is named after the model's Service: the canary's `rootService`.
            return model.namespace, k8s.networking.v1.IngressServiceBackendArgs(
                name=model.service_name, port=k8s.networking.v1.ServiceBackendPortArgs(name=USE_ANNOTATION))
        return model.namespace, k8s.networking.v1.IngressServiceBackendArgs(
            name=model.service_name, port=k8s.networking.v1.ServiceBackendPortArgs(name=HTTP_PORT_NAME))

    def _create_ingress(self, name: str, certificate_arn: pulumi.Output[str]) -> k8s.networking.v1.Ingress:
        a, model = self._args, self._model
        namespace, service = self._backend()
        backend = k8s.networking.v1.IngressBackendArgs(service=service)
        return k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.service_name, namespace=namespace,
                                                labels=self._labels, annotations=self._annotations(certificate_arn)),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=INGRESS_CLASS,
                rules=[k8s.networking.v1.IngressRuleArgs(host=a.host, http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=[k8s.networking.v1.HTTPIngressPathArgs(path=a.path_prefix, path_type="Prefix",
                                                                 backend=backend)]))],
            ),
            # Pulumi waits for the Ingress status to carry the load balancer's name: the alias record needs it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._after, ignore_changes=self._controller_owned()),
        )

    def _action_key(self) -> str:
        """The weighted action's annotation (without the prefix): named after the model's Service."""
        return f"actions.{self._model.served.name}"

    def _controller_owned(self) -> list[str]:
        """What the canary's controller rewrites on the Ingress: Pulumi diffs none of it, so a model-only change plans
        no Ingress update. An Ingress change applied while a canary holds a weight meets Argo's field manager and
        fails with a server-side apply conflict rather than reset the weights (docs/delivery.md)."""
        if self._weighted is None:
            return []
        return [f'metadata.annotations["{ANNOTATION_PREFIX}{self._action_key()}"]']

    def _create_network_policy(self, name: str) -> None:
        """Admits the load balancer's addresses to the model's `http` port (policies add up: the model's own
        policy still admits nothing else)."""
        model = self._model
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.service_name.apply(lambda n: f"{n}-load-balancer"),
                                                namespace=model.namespace, labels=self._labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=model.selector),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=self._subnet_cidrs().apply(lambda cidrs: [
                        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
                        for c in sorted(cidrs)]),
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=HTTP_PORT_NAME, protocol="TCP")],
                )],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _subnet_cidrs(self) -> pulumi.Output[list[str]]:
        """The CIDRs of the load balancer's subnets (read from EC2: existing subnets are given by id only)."""
        return subnet_cidrs(self._args.subnet_ids, self)

    def _create_alias_record(self, name: str) -> None:
        a = self._args
        # The zone every ALB of the region answers from (a fixed table in the provider: no load balancer needed,
        # so this works on a first `up`, when the Ingress has only just been given its load balancer).
        zone = aws.lb.get_hosted_zone_id_output(load_balancer_type="application",
                                                opts=pulumi.InvokeOutputOptions(parent=self))
        aws.route53.Record(
            f"{name}-dns",
            zone_id=a.hosted_zone_id,
            name=a.host,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(name=self.load_balancer_hostname, zone_id=zone.id,
                                                 evaluate_target_health=True)],
            opts=pulumi.ResourceOptions(parent=self))
