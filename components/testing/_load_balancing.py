"""Fakes for a model's HTTPS endpoint: the ALB an `alb` Ingress gets, ACM certificates, Route 53 records,
and the invokes the endpoint wiring reads (the region's ALB hosted zone, an existing subnet's CIDR)."""

from __future__ import annotations

import ipaddress
from typing import Any

from ._kubernetes import kubernetes_object
from ._registry import FakeCloud, fake_call, fake_resource

# The hosted zone of Application Load Balancers per region ("Elastic Load Balancing endpoints and quotas",
# AWS General Reference); other regions get a stand-in of the same shape.
_ALB_ZONES = {"us-west-2": "Z1H1FL5HABSF5", "us-east-1": "Z35SXDOTRQ7X7K", "eu-west-1": "Z32O12XQLNTSW2"}


@fake_resource("kubernetes:networking.k8s.io/v1:Ingress")
def ingress(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the AWS Load Balancer Controller writes back: the ALB's DNS name in the Ingress status."""
    outputs = kubernetes_object(cloud, name, inputs)
    metadata = outputs["metadata"]
    internal = (metadata.get("annotations") or {}).get("alb.ingress.kubernetes.io/scheme") == "internal"
    h = cloud.digest("alb", metadata.get("namespace"), metadata.get("name"))
    hostname = (f"{'internal-' if internal else ''}k8s-{str(metadata.get('namespace'))[:8]}-"
                f"{str(metadata.get('name'))[:8]}-{h[:10]}-{int(h[10:18], 16) % 10**10}.{cloud.region}.elb.amazonaws.com")
    return {**outputs, "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


@fake_resource("aws:acm/certificate:Certificate")
def certificate(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    domain = str(inputs.get("domainName", "example.com"))
    h = cloud.digest("acm", name, domain)
    return {
        "arn": cloud.arn("acm", f"certificate/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"),
        "status": "PENDING_VALIDATION",
        "domainValidationOptions": [{
            "domainName": domain,
            "resourceRecordName": f"_{h[32:64]}.{domain}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_{h[:32]}.xlfgrmvvlj.acm-validations.aws.",
        }],
        "tagsAll": dict(inputs.get("tags") or {}),
    }


@fake_resource("aws:route53/record:Record")
def record(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"fqdn": str(inputs.get("name", name)).rstrip(".")}


@fake_call("aws:lb/getHostedZoneId:getHostedZoneId")
def get_hosted_zone_id(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    region = args.get("region") or cloud.region
    return {"id": _ALB_ZONES.get(region, "Z" + cloud.digest("alb-zone", region)[:12].upper()),
            "loadBalancerType": args.get("loadBalancerType", "application"), "region": region}


@fake_call("aws:ec2/getSubnet:getSubnet")
def get_subnet(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    subnet_id = args.get("id") or "subnet-00000000"
    n = int(cloud.digest("subnet-cidr", subnet_id)[:4], 16)
    cidr = ipaddress.ip_network(f"10.{n % 256}.{(n >> 8) % 16 * 16}.0/20")
    return {"id": subnet_id, "cidrBlock": str(cidr), "vpcId": cloud.short_id("vpc", "existing"),
            "availabilityZone": f"{cloud.region}a", "arn": cloud.arn("ec2", f"subnet/{subnet_id}")}
