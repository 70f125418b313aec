"""One view of the whole stack for the policies that join resources (the chains between them).

A stack policy sees every resource's final properties (the engine hands `AnalyzeStack` the outputs), the
platform's `Cluster` component included: for a cluster the program does not create, its registered outputs
are where the stack states its StorageClass and who enforces NetworkPolicies. The pack's config can state
the same for programs without that component (`existingStorageClasses`, `clusterEnforcesNetworkPolicies`,
`clusterProvidesDefaultStorageClass`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, StackValidationArgs

from ._common import label
from ._values import UNKNOWN, get, items, normalize, reveal

CLUSTER_COMPONENT = "gpu-model-platform:index:Cluster"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SUBNET = "aws:ec2/subnet:Subnet"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"

STACK_CONFIG_SCHEMA = PolicyConfigSchema(properties={
    "existingStorageClasses": {"type": "array", "items": {"type": "string"}, "default": [],
                               "description": "StorageClasses an existing cluster has (for programs without the "
                                              "platform's Cluster component)."},
    "clusterProvidesDefaultStorageClass": {"type": "boolean", "default": False,
                                           "description": "The cluster has a default StorageClass of its own."},
    "clusterEnforcesNetworkPolicies": {"type": "boolean", "default": False,
                                       "description": "The cluster's CNI enforces NetworkPolicies (for programs "
                                                      "without the platform's Cluster component)."},
})


@dataclass
class Resource:
    """A resource of the stack with its normalized properties."""

    source: PolicyResource
    props: dict

    @property
    def type(self) -> str:
        return self.source.resource_type

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def urn(self) -> str:
        return self.source.urn

    @property
    def label(self) -> str:
        return label(self.type, self.name)


class StackView:
    """The stack's resources, indexed the ways the platform's stack policies look them up."""

    def __init__(self, args: StackValidationArgs):
        self.resources = [Resource(r, normalize(r.props) or {}) for r in args.resources]
        self.config = args.get_config() or {}

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def cluster_statements(self) -> list[dict]:
        """Registered outputs of the platform's Cluster components."""
        return [r.props for r in self.of_type(CLUSTER_COMPONENT)]

    def role_by_arn(self, arn: Any) -> Resource | None:
        if not isinstance(arn, str):
            return None
        return next((r for r in self.of_type(ROLE) if get(r.props, "arn") == arn), None)

    def managed_policies_of(self, role: Resource) -> list[str]:
        name = get(role.props, "name")
        return [str(get(a.props, "policyArn")) for a in self.of_type(ROLE_POLICY_ATTACHMENT)
                if get(a.props, "role") in (name, get(role.props, "id"))]

    def inline_statements_of(self, role: Resource) -> list[dict]:
        names = (get(role.props, "name"), get(role.props, "id"))
        found = []
        for policy in self.of_type(ROLE_POLICY):
            if get(policy.props, "role") in names:
                found += statements(parse_json(get(policy.props, "policy")))
        return found

    def subnet_zones(self) -> dict[str, str]:
        return {str(get(s.props, "id") or s.source.name): str(get(s.props, "availabilityZone"))
                for s in self.of_type(SUBNET) if isinstance(get(s.props, "availabilityZone"), str)}


def parse_json(value: Any) -> Any:
    """A JSON document given as a string (as IAM policies are), or the value itself."""
    value = reveal(value)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def statements(document: Any) -> list[dict]:
    found = get(document, "Statement")
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def as_list(value: Any) -> list:
    value = reveal(value)
    if value is None or value is UNKNOWN:
        return []
    return value if isinstance(value, list) else [value]


def walk_dicts(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every dict in a nested value, with its path."""
    value = reveal(value)
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            yield from walk_dicts(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk_dicts(child, (*path, index))


def list_items(value: Any) -> list:
    return items(value)
