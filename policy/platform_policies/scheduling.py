"""GPU workloads land on capacity that exists, and required zone spread can be met by the provisioner.

A GPU pod whose nodeSelector or tolerations match no node pool, or that asks for more GPUs than a
matching pool's nodes carry, stays Pending with nothing to tell the deployer. With Cluster Autoscaler, a
pod that must go to a given zone (topology spread `DoNotSchedule` on the zone) is only helped by a node
group in that zone: the autoscaler builds its scale-up template from one zone of a multi-zone group
(cluster-autoscaler/cloudprovider/aws/README.md, "Common Notes and Gotchas": one node group per zone with
`--balance-similar-node-groups`). Karpenter picks the zone per pod, so its NodePools always can.
GPU nodes of a cluster the program does not create are stated in the pack's config (`existingGpuNodePools`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import HELM_RELEASE, NODE_GROUP, WORKLOADS, containers, pod_spec
from ._gpu_counts import GPU_COUNT_BY_INSTANCE_TYPE
from ._stack import NODE_POOL, Resource, StackView
from ._values import UNKNOWN, contains_unknown, get, items
from .gpu import GPU_RESOURCE, node_group_taints, tolerates

ZONE_KEY = "topology.kubernetes.io/zone"
# Labels every node gets from the kubelet or the cloud: a selector on them needs no pool label.
_WELL_KNOWN_PREFIXES = ("kubernetes.io/", "node.kubernetes.io/", "topology.kubernetes.io/", "beta.kubernetes.io/")
_SCHEDULING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass
class Pool:
    """Where nodes come from: an EKS managed node group, a Karpenter NodePool, or a pool stated in the config."""

    resource: Resource | None
    labels: dict
    taints: list[tuple[str, str | None, str]]
    gpus_per_node: int | None
    subnets: list = field(default_factory=list)
    karpenter: bool = False
    stated_as: str = ""

    @property
    def label(self) -> str:
        return self.resource.label if self.resource else f"the cluster's node pool {self.stated_as!r} (pack config)"


def _gpu_count(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def pod_gpus(spec: Any) -> int:
    """`nvidia.com/gpu` one pod needs: its containers together, or its largest init container."""
    def amount(container: dict) -> int:
        return max(_gpu_count(get(container, "resources", section, GPU_RESOURCE) or 0) for section in ("requests", "limits"))
    regular = sum(amount(c) for _, c in containers(spec, ("containers",)))
    init = max((amount(c) for _, c in containers(spec, ("initContainers",))), default=0)
    return max(regular, init)


def _eks_pool(group: Resource) -> Pool:
    types = [t for t in items(get(group.props, "instanceTypes")) if isinstance(t, str)]
    counts = [GPU_COUNT_BY_INSTANCE_TYPE.get(t, 0) for t in types]
    labels = get(group.props, "labels")
    return Pool(group, labels if isinstance(labels, dict) else {}, node_group_taints(group.props),
                min(counts) if counts else None, items(get(group.props, "subnetIds")))


def _karpenter_pool(pool: Resource) -> Pool:
    template = get(pool.props, "spec", "template")
    labels = get(template, "metadata", "labels")
    taints = [(get(t, "key"), get(t, "value"), get(t, "effect")) for t in items(get(template, "spec", "taints"))]
    most: int | None = None
    for requirement in items(get(template, "spec", "requirements")):
        if get(requirement, "key") == "karpenter.k8s.aws/instance-gpu-count":
            values = [_gpu_count(v) for v in items(get(requirement, "values"))]
            operator = get(requirement, "operator")
            if operator == "Lt" and values:
                most = values[0] - 1
            elif operator == "In" and values:
                most = max(values)
    return Pool(pool, labels if isinstance(labels, dict) else {}, taints, most, karpenter=True)


def _stated_pool(entry: dict) -> Pool:
    taints = [(t.get("key"), t.get("value"), t.get("effect")) for t in entry.get("taints") or []]
    return Pool(None, dict(entry.get("labels") or {}), taints, int(entry["gpusPerNode"]),
                stated_as=str(entry.get("name", "")))


def pools(view: StackView) -> list[Pool]:
    stated = [_stated_pool(e) for e in items(view.config.get("existingGpuNodePools")) if isinstance(e, dict)]
    return ([_eks_pool(g) for g in view.of_type(NODE_GROUP)] + [_karpenter_pool(p) for p in view.of_type(NODE_POOL)]
            + stated)


def _mismatch(spec: Any, pool: Pool) -> str | None:
    """Why pods of this spec cannot land on the pool's nodes (None when they can)."""
    selector = get(spec, "nodeSelector") or {}
    missing = {k: v for k, v in selector.items()
               if not k.startswith(_WELL_KNOWN_PREFIXES) and pool.labels.get(k) != v}
    if missing:
        return f"lacks the label(s) {missing}"
    tolerations = items(get(spec, "tolerations"))
    untolerated = [f"{k}={v}:{e}" for k, v, e in pool.taints
                   if e in _SCHEDULING_EFFECTS and not any(tolerates(t, k, v, e) for t in tolerations)]
    if untolerated:
        return f"has the untolerated taint(s) {untolerated}"
    return None


def _gpu_workloads(view: StackView) -> Iterator[tuple[Resource, Any, int]]:
    for workload in view.of_type(*WORKLOADS):
        spec = pod_spec(workload.type, workload.props)
        gpus = pod_gpus(spec) if isinstance(spec, dict) else 0
        if gpus and not contains_unknown(get(spec, "nodeSelector")) and not contains_unknown(get(spec, "tolerations")):
            yield workload, spec, gpus


def _validate_fit(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args)
    candidates = [p for p in pools(view) if p.gpus_per_node]
    for workload, spec, gpus in _gpu_workloads(view):
        reasons = []
        for pool in candidates:
            mismatch = _mismatch(spec, pool)
            if mismatch is None and pool.gpus_per_node is not None and gpus > pool.gpus_per_node:
                mismatch = f"has {pool.gpus_per_node} {GPU_RESOURCE} per node"
            if mismatch is None:
                break
            reasons.append(f"{pool.label} {mismatch}")
        else:
            why = "; ".join(reasons) if reasons else "the stack has no GPU node group or NodePool"
            report_violation(
                f"{workload.label}: its pods ask for {gpus} {GPU_RESOURCE} with nodeSelector "
                f"{get(spec, 'nodeSelector') or {}}, and no GPU node pool can take them ({why}); build the pods' "
                "nodeSelector and tolerations from the pool's GpuScheduling and keep gpusPerPod within one node",
                workload.urn)


gpu_workloads_fit_a_node_pool = StackValidationPolicy(
    name="gpu-workloads-fit-a-node-pool",
    description="Every GPU workload's nodeSelector and tolerations match some node group's or NodePool's labels and "
                "taints, and its per-pod GPU request fits that pool's GPUs per node.",
    validate=_validate_fit,
    remediation_steps="Derive nodeSelector and tolerations from the node pool's GpuScheduling; request at most the "
                      "GPUs one node of the pool has.",
    config_schema=PolicyConfigSchema(properties={
        "existingGpuNodePools": {
            "type": "array", "default": [],
            "description": "GPU nodes of a cluster the program does not create: their labels, Kubernetes taints "
                           "and GPUs per node.",
            "items": {"type": "object", "required": ["name", "labels", "gpusPerNode"], "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "taints": {"type": "array", "items": {"type": "object", "required": ["key", "effect"], "properties": {
                    "key": {"type": "string"}, "value": {"type": "string"},
                    "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]}}}},
                "gpusPerNode": {"type": "integer", "minimum": 1}}}},
    }),
)


def requires_zone_spread(spec: Any) -> bool:
    return any(get(c, "topologyKey") == ZONE_KEY and get(c, "whenUnsatisfiable") == "DoNotSchedule"
               for c in items(get(spec, "topologySpreadConstraints")))


def _uses_cluster_autoscaler(view: StackView) -> bool:
    return any(get(r.props, "chart") in ("cluster-autoscaler", "autoscaler/cluster-autoscaler")
               for r in view.of_type(HELM_RELEASE))


def _zones(pool: Pool, known: dict[str, str]) -> list[str]:
    """The zones of a group's subnets (a subnet of unknown zone counts as a zone of its own)."""
    return sorted({known.get(str(s), f"zone of {s}") for s in pool.subnets})


def _validate_spread(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args)
    if not _uses_cluster_autoscaler(view):
        return
    known = view.subnet_zones()
    all_pools = pools(view)
    for workload in view.of_type(*WORKLOADS):
        spec = pod_spec(workload.type, workload.props)
        if not isinstance(spec, dict) or not requires_zone_spread(spec) or contains_unknown(get(spec, "nodeSelector")):
            continue
        matching = [p for p in all_pools if _mismatch(spec, p) is None]
        if any(p.karpenter for p in matching) or any(s is UNKNOWN for p in matching for s in p.subnets):
            continue
        spanning = [(p, _zones(p, known)) for p in matching if len(_zones(p, known)) > 1]
        for pool, zones in spanning:
            report_violation(
                f"{workload.label}: requires its replicas spread over zones (DoNotSchedule on {ZONE_KEY}), but "
                f"{pool.label}, which Cluster Autoscaler scales for it, spans {zones}: the autoscaler adds a "
                "node from one zone of a group, so a replica that must go to another zone stays pending; use one "
                "node group per zone (gpuNodeGroup.groupPerZone)", workload.urn)


required_zone_spread_is_satisfiable = StackValidationPolicy(
    name="required-zone-spread-is-satisfiable",
    description="With Cluster Autoscaler, a workload that requires zone spread lands only on single-zone node groups "
                "(one per zone), which the autoscaler can grow in the zone a pending replica needs.",
    validate=_validate_spread,
    remediation_steps="Create one node group per zone (gpuNodeGroup.groupPerZone: true) or use Karpenter.",
)
