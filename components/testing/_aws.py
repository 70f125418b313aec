"""Fakes for the AWS GPU platform: VPC and subnets, EKS cluster, node groups and add-ons, IAM roles and
the OIDC provider, launch templates, log groups, and the invokes (partition, region, caller, zones,
an existing cluster). Also the stack reference an `existing` cluster may come from.

Resource ids come from the engine (`<name>-id`); everything else a program reads is here, derived
from the type, the logical name and the inputs only.
"""

from __future__ import annotations

import base64
from typing import Any

from ._registry import FakeCloud, fake_call, fake_resource

_ZONE_SUFFIXES = "abcd"


def _tags(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"tagsAll": dict(inputs.get("tags") or {})}


def _uuid(cloud: FakeCloud, *parts: object) -> str:
    h = cloud.digest(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _eks_host(cloud: FakeCloud, cluster: str) -> str:
    return cloud.digest("eks", cluster)[:32].upper()


def _certificate_authority(cloud: FakeCloud, cluster: str) -> str:
    body = base64.b64encode(bytes.fromhex(cloud.digest("ca", cluster) * 4)).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _cluster_view(cloud: FakeCloud, cluster: str) -> dict[str, Any]:
    """What EKS reports about a cluster: endpoint, CA, OIDC issuer, cluster security group."""
    host = _eks_host(cloud, cluster)
    return {
        "arn": cloud.arn("eks", f"cluster/{cluster}"),
        "endpoint": f"https://{host}.gr7.{cloud.region}.eks.amazonaws.com",
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{cloud.region}.amazonaws.com/id/{host}"}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "clusterId": _uuid(cloud, "cluster-id", cluster),
    }


# --- network ------------------------------------------------------------------------------------------

@fake_resource("aws:ec2/vpc:Vpc")
def vpc(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    vpc_id = cloud.short_id("vpc", name)
    return {"id": vpc_id, "arn": cloud.arn("ec2", f"vpc/{vpc_id}"), "ownerId": cloud.account_id,
            "defaultSecurityGroupId": cloud.short_id("sg", name, "default"),
            "mainRouteTableId": cloud.short_id("rtb", name, "main"),
            "defaultNetworkAclId": cloud.short_id("acl", name), "instanceTenancy": "default", **_tags(inputs)}


@fake_resource("aws:ec2/subnet:Subnet")
def subnet(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    subnet_id = cloud.short_id("subnet", name)
    zone = inputs.get("availabilityZone") or f"{cloud.region}a"
    return {"id": subnet_id, "arn": cloud.arn("ec2", f"subnet/{subnet_id}"), "ownerId": cloud.account_id,
            "availabilityZoneId": f"usw2-az{_ZONE_SUFFIXES.find(zone[-1]) + 1}", **_tags(inputs)}


@fake_resource("aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable",
               "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
def ec2_tagged(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"arn": cloud.arn("ec2", f"resource/{cloud.short_id('r', name)}"), "ownerId": cloud.account_id,
            **_tags(inputs)}


@fake_resource("aws:ec2/eip:Eip")
def eip(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    h = cloud.digest("eip", name)
    # 203.0.113.0/24 is TEST-NET-3: documentation addresses, never routable.
    return {"allocationId": cloud.short_id("eipalloc", name), "publicIp": f"203.0.113.{int(h[:2], 16) % 254 + 1}",
            "domain": inputs.get("domain", "vpc"), **_tags(inputs)}


@fake_resource("aws:ec2/natGateway:NatGateway")
def nat_gateway(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"networkInterfaceId": cloud.short_id("eni", name), "connectivityType": "public", **_tags(inputs)}


@fake_resource("aws:ec2/vpcEndpoint:VpcEndpoint")
def vpc_endpoint(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"arn": cloud.arn("ec2", f"vpc-endpoint/{cloud.short_id('vpce', name)}"),
            "prefixListId": cloud.short_id("pl", name, length=8), "state": "available", **_tags(inputs)}


@fake_resource("aws:ec2/launchTemplate:LaunchTemplate")
def launch_template(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    template_id = cloud.short_id("lt", name)
    return {"id": template_id, "arn": cloud.arn("ec2", f"launch-template/{template_id}"), "latestVersion": 1, "defaultVersion": 1,
            "name": inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}", **_tags(inputs)}


# --- IAM, KMS, logs ---------------------------------------------------------------------------------

@fake_resource("aws:iam/role:Role")
def iam_role(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    role = inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}"
    return {"name": role, "arn": cloud.arn("iam", f"role/{role}", region=False),
            "uniqueId": "AROA" + cloud.digest("role", name)[:17].upper(), **_tags(inputs)}


@fake_resource("aws:iam/rolePolicy:RolePolicy")
def iam_role_policy(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"name": inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}"}


@fake_resource("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def oidc_provider(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    url = str(inputs.get("url", "")).removeprefix("https://")
    return {"arn": cloud.arn("iam", f"oidc-provider/{url}", region=False), **_tags(inputs)}


@fake_resource("aws:cloudwatch/logGroup:LogGroup")
def log_group(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    group = inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}"
    return {"name": group, "arn": cloud.arn("logs", f"log-group:{group}"), **_tags(inputs)}


@fake_resource("aws:amp/workspace:Workspace")
def amp_workspace(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's form is botocore `amp` WorkspaceDescription.prometheusEndpoint's (ends with a slash)."""
    workspace = "ws-" + cloud.digest("amp", name)[:8]
    return {"arn": cloud.arn("aps", f"workspace/{workspace}"), "id": workspace,
            "prometheusEndpoint": f"https://aps-workspaces.{cloud.region}.amazonaws.com/workspaces/{workspace}/",
            **_tags(inputs)}


# --- EKS ----------------------------------------------------------------------------------------------

@fake_resource("aws:eks/cluster:Cluster")
def eks_cluster(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}"
    vpc_config = dict(inputs.get("vpcConfig") or {})
    vpc_config.update(clusterSecurityGroupId=cloud.short_id("sg", cluster, "cluster"),
                      vpcId=cloud.short_id("vpc", cluster))
    return {"name": cluster, **_cluster_view(cloud, cluster), "vpcConfig": vpc_config,
            "certificateAuthority": {"data": _certificate_authority(cloud, cluster)}, **_tags(inputs)}


@fake_resource("aws:eks/nodeGroup:NodeGroup")
def eks_node_group(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    group = inputs.get("nodeGroupName") or f"{name}-{cloud.digest(name)[:7]}"
    cluster = inputs.get("clusterName", "cluster")
    suffix = _uuid(cloud, "nodegroup", cluster, group)
    return {
        "nodeGroupName": group,
        "arn": cloud.arn("eks", f"nodegroup/{cluster}/{group}/{suffix}"),
        "status": "ACTIVE",
        # EKS names the group's single Auto Scaling group `eks-<node group>-<uuid>`.
        "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{suffix}"}], "remoteAccessSecurityGroupId": ""}],
        **_tags(inputs),
    }


@fake_resource("aws:eks/addon:Addon")
def eks_addon(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster, addon = inputs.get("clusterName", "cluster"), inputs.get("addonName", name)
    return {"arn": cloud.arn("eks", f"addon/{cluster}/{addon}/{_uuid(cloud, 'addon', cluster, addon)}"),
            # With no version asked for, EKS installs its default for the cluster version.
            "addonVersion": inputs.get("addonVersion") or "v0.0.0-eksbuild.default", **_tags(inputs)}


@fake_resource("aws:eks/accessEntry:AccessEntry")
def eks_access_entry(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster, principal = inputs.get("clusterName", "cluster"), str(inputs.get("principalArn", ""))
    role = principal.rsplit("/", 1)[-1]
    return {"accessEntryArn": cloud.arn("eks", f"access-entry/{cluster}/role/{cloud.account_id}/{role}/"
                                               f"{_uuid(cloud, 'access', cluster, principal)}"),
            "userName": principal, "kubernetesGroups": [], **_tags(inputs)}


@fake_resource("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
def eks_access_policy_association(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"associatedAt": "2026-01-01T00:00:00Z", "modifiedAt": "2026-01-01T00:00:00Z"}


# --- invokes ------------------------------------------------------------------------------------------

@fake_call("aws:index/getPartition:getPartition")
def get_partition(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": cloud.partition, "partition": cloud.partition, "dnsSuffix": "amazonaws.com",
            "reverseDnsPrefix": "com.amazonaws"}


@fake_call("aws:index/getRegion:getRegion")
def get_region(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    region = args.get("region") or cloud.region
    return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com",
            "description": region}


@fake_call("aws:index/getCallerIdentity:getCallerIdentity")
def get_caller_identity(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": cloud.account_id, "accountId": cloud.account_id, "userId": "AROAFAKEDEPLOYER:deploy",
            "arn": f"arn:{cloud.partition}:sts::{cloud.account_id}:assumed-role/deploy/deploy"}


@fake_call("aws:index/getAvailabilityZones:getAvailabilityZones")
def get_availability_zones(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    names = [f"{cloud.region}{s}" for s in _ZONE_SUFFIXES]
    return {"id": cloud.region, "names": names, "zoneIds": [f"usw2-az{i + 1}" for i in range(len(names))],
            "groupNames": [cloud.region] * len(names), "state": "available"}


@fake_call("aws:eks/getCluster:getCluster")
def get_cluster(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    cluster = args["name"]
    return {"id": cluster, "name": cluster, **_cluster_view(cloud, cluster),
            "certificateAuthorities": [{"data": _certificate_authority(cloud, cluster)}],
            "version": "1.33", "roleArn": cloud.arn("iam", f"role/{cluster}-cluster", region=False),
            "vpcConfig": {"clusterSecurityGroupId": cloud.short_id("sg", cluster, "cluster"),
                          "vpcId": cloud.short_id("vpc", cluster), "subnetIds": [],
                          "endpointPrivateAccess": True, "endpointPublicAccess": False,
                          "publicAccessCidrs": [], "securityGroupIds": []},
            "tags": {}}


@fake_resource("pulumi:pulumi:StackReference")
def stack_reference(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Another stack that owns a cluster: its kubeconfig (secret), name and OIDC provider."""
    cluster = "shared-" + cloud.digest("stack", inputs.get("name", name))[:6]
    view = _cluster_view(cloud, cluster)
    issuer = view["identities"][0]["oidcs"][0]["issuer"].removeprefix("https://")
    return {"outputs": {
        "kubeconfig": f'{{"apiVersion": "v1", "kind": "Config", "current-context": "{cluster}"}}',
        "clusterName": cluster,
        "oidcProviderArn": cloud.arn("iam", f"oidc-provider/{issuer}", region=False),
    }, "secretOutputNames": ["kubeconfig"]}
