"""What a synthesized stack's cluster gives its workloads, in a few lines: Kubernetes version and its support,
the add-ons with their roles, where volumes come from, who enforces NetworkPolicies, and the GPU capacity."""

from __future__ import annotations

import json

from components.cluster.eks_versions import standard_support_end
from tools.synth.engine import Synthesis

_CLUSTER = "gpu-model-platform:index:Cluster"


def _role_names(synthesis: Synthesis) -> dict[str, str]:
    return {r.outputs.get("arn"): r.name for r in synthesis.of_type("aws:iam/role:Role")}


def _zones(synthesis: Synthesis) -> dict[str, str]:
    return {r.id: r.inputs.get("availabilityZone", "?")
            for r in synthesis.of_type("aws:ec2/subnet:Subnet")}


def _cluster_lines(synthesis: Synthesis) -> list[str]:
    lines = []
    for cluster in synthesis.of_type("aws:eks/cluster:Cluster"):
        version = cluster.inputs.get("version")
        end = standard_support_end(str(version))
        lines.append(f"  EKS {cluster.inputs.get('name')}: Kubernetes {version}, standard support until "
                     f"{end.isoformat() if end else 'unrecorded'}")
    roles = _role_names(synthesis)
    for addon in synthesis.of_type("aws:eks/addon:Addon"):
        role = roles.get(addon.inputs.get("serviceAccountRoleArn"), "-")
        config = addon.inputs.get("configurationValues")
        lines.append(f"  add-on {addon.inputs['addonName']:<20} {addon.inputs.get('addonVersion', 'EKS default'):<22} "
                     f"IRSA role: {role}" + (f", configuration {config}" if config else ""))
    return lines


def _storage_lines(synthesis: Synthesis, stated: dict) -> list[str]:
    lines = []
    for storage_class in synthesis.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
        meta = storage_class.inputs.get("metadata", {})
        default = (meta.get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
        parameters = json.dumps(storage_class.inputs.get("parameters"), sort_keys=True)
        lines.append(f"  StorageClass {meta.get('name')}{' (default)' if default else ''}: "
                     f"{storage_class.inputs.get('provisioner')} {parameters}, "
                     f"{storage_class.inputs.get('volumeBindingMode')}, reclaim {storage_class.inputs.get('reclaimPolicy')}")
    if not lines:
        lines.append(f"  StorageClass: {stated.get('storage_class_name') or 'the cluster default'} (not created here)")
    return lines


def _gpu_lines(synthesis: Synthesis) -> list[str]:
    zones = _zones(synthesis)
    lines = []
    for group in synthesis.of_type("aws:eks/nodeGroup:NodeGroup"):
        if "NVIDIA" not in str(group.inputs.get("amiType")):
            continue
        scaling = group.inputs.get("scalingConfig", {})
        where = sorted({zones.get(s, s) for s in group.inputs.get("subnetIds") or []})
        lines.append(f"  GPU node group {group.name}: {group.inputs.get('capacityType')} "
                     f"{','.join(group.inputs.get('instanceTypes', []))}, {scaling.get('minSize')}..{scaling.get('maxSize')} "
                     f"nodes, zones {', '.join(where)}")
    for pool in synthesis.of_type("kubernetes:karpenter.sh/v1:NodePool"):
        lines.append(f"  Karpenter NodePool {pool.inputs['metadata']['name']}: at most "
                     f"{pool.inputs['spec']['limits'].get('nvidia.com/gpu')} GPUs, any zone of its subnets")
    return lines


def platform_summary(synthesis: Synthesis) -> str:
    """The cluster facts `python -m tools.synth` prints after the resource counts."""
    stated = next((c.component_outputs or {} for c in synthesis.of_type(_CLUSTER)), {})
    enforcement = {"vpc-cni": "the VPC CNI add-on (enableNetworkPolicy)",
                   "stated": "the cluster's CNI, as stated in cluster.enforcesNetworkPolicies"}
    lines = ["platform:", *_cluster_lines(synthesis), *_storage_lines(synthesis, stated),
             f"  NetworkPolicies enforced by: {enforcement.get(stated.get('network_policy_enforcement'), 'nothing')}",
             *_gpu_lines(synthesis)]
    return "\n".join(lines)
