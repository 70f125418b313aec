"""docs/cost.md against the code: the lines every stack pays whatever the traffic, and whether the system
pods the code sizes fit the system nodes the doc suggests.

The doc's figures are recomputed here from the synthesized dev and prod programs (what they create, the
requests and replicas they set) and the unit prices the doc lists; a changed program or a changed price
makes the doc's figure stale and this test fail.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import stack
from tools.synth import PROJECT_DIR

COST_DOC = (PROJECT_DIR / "docs" / "cost.md").read_text()
HOURS = 730
# Unit prices as the doc's "Prices used" table lists them.
ALB_HOUR, PUBLIC_IPV4_HOUR, KMS_KEY_MONTH = 0.0225, 0.005, 1.0
# Charts whose pods run only on GPU nodes (they tolerate the GPU taint and select GPU labels).
GPU_NODE_CHARTS = {"nvidia-device-plugin", "dcgm-exporter"}
# Per-node agents among the charts' pods (one per system node).
DAEMONSET_PATHS = {"prometheus-node-exporter"}
# Run once at install, then gone: not a standing request.
JOB_PATHS = {"patch"}
M7I_LARGE_VCPU = 2
COREDNS_MILLICORES = 2 * 100


def _section(stack_name: str) -> str:
    start = COST_DOC.index(f"## {stack_name} (`Pulumi.{stack_name}.yaml`)")
    end = COST_DOC.find("\n## ", start + 1)
    return COST_DOC[start:end if end > 0 else None]


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def _replicas(values: dict) -> int:
    replicas = values.get("replicas", values.get("replicaCount", 1))
    return replicas["min"] if isinstance(replicas, dict) else int(replicas)


def _chart_requests(values: dict, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], int, int]]:
    """(path, CPU millicores, replicas) of every `resources.requests.cpu` in a chart's values."""
    found = []
    resources = values.get("resources")
    if isinstance(resources, dict):
        parts = {"": resources} if "requests" in resources else {k: v for k, v in resources.items() if isinstance(v, dict)}
        for part, block in parts.items():
            cpu = (block.get("requests") or {}).get("cpu")
            if cpu:
                # keda's chart sizes its parts under one `resources` map; their replicas are each part's own.
                owner = values.get({"metricServer": "metricsServer"}.get(part, part), values) if part else values
                found.append(((*path, part) if part else path, _millicores(cpu), _replicas(owner)))
    for key, value in values.items():
        if key != "resources" and isinstance(value, dict):
            found += _chart_requests(value, (*path, key))
    return found


def system_cpu_requests(stack_name: str, system_nodes: int) -> int:
    """CPU millicores the program's own sizes ask of the system nodes (EKS add-ons' pods not counted)."""
    synthesis, total = stack(stack_name), 0
    for release in synthesis.helm_releases():
        if release.inputs["chart"] in GPU_NODE_CHARTS:
            continue
        for path, cpu, replicas in _chart_requests(release.inputs.get("values") or {}):
            if set(path) & JOB_PATHS:
                continue
            total += cpu * (system_nodes if set(path) & DAEMONSET_PATHS else replicas)
    for _, manifest in synthesis.kubernetes_objects(masked=False):
        if manifest["kind"] != "Deployment":
            continue
        pod = manifest["spec"]["template"]["spec"]
        requests = [(c.get("resources") or {}).get("requests") or {} for c in pod["containers"]]
        if any("nvidia.com/gpu" in r for r in requests):
            continue
        total += sum(_millicores(r["cpu"]) for r in requests if "cpu" in r) * manifest["spec"]["replicas"]
    return total


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}"


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_the_always_on_load_balancer_of_the_endpoint_is_a_line_of_the_stack(stack_name):
    ingresses = [m for _, m in stack(stack_name).kubernetes_objects(masked=False) if m["kind"] == "Ingress"]
    assert len(ingresses) == 1, "one endpoint, one ALB"
    annotations = ingresses[0]["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    subnets = annotations["alb.ingress.kubernetes.io/subnets"].split(",")
    # An internet-facing ALB holds one public IPv4 address per subnet, billed like the NAT gateways' ones.
    expected = (ALB_HOUR + len(subnets) * PUBLIC_IPV4_HOUR) * HOURS
    line = next((line for line in _section(stack_name).splitlines() if line.startswith("| load balancer")), "")
    assert f"{len(subnets)} public IPv4" in line and line.count(_dollars(expected)) == 2, (line, _dollars(expected))


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_kms_key_the_program_creates_is_counted_the_registrys_too(stack_name):
    keys = [r.name for r in stack(stack_name).of_type("aws:kms/key:Key")]
    assert "registry-key" in keys
    line = next(line for line in _section(stack_name).splitlines() if line.startswith("| KMS keys"))
    assert line.count(_dollars(len(keys) * KMS_KEY_MONTH)) == 2 and "registry" in line, (keys, line)


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_the_cpu_the_programs_own_system_pods_request_is_stated(stack_name):
    stated = f"{system_cpu_requests(stack_name, system_nodes=1) / 1000:.2f} vCPU"
    assert stated in _section(stack_name), f"docs/cost.md should state {stated} for {stack_name}"


def test_dev_cannot_run_on_one_system_node_and_the_doc_no_longer_suggests_it():
    # The program's own requests, plus EKS's CoreDNS (two replicas of 100m, the doc's estimate), exceed the
    # 2 vCPU of one m7i.large before kube-proxy, the VPC CNI and the EBS CSI driver take their share.
    assert system_cpu_requests("dev", system_nodes=1) + COREDNS_MILLICORES > M7I_LARGE_VCPU * 1000
    assert "2 × 100m" in _section("dev")
    assert not re.search(r"running one system\s+node|minSize/desiredSize: 1", COST_DOC)


def test_the_request_sum_sees_replicas_per_node_agents_and_skips_gpu_only_charts():
    values = {"replicas": {"min": 2}, "resources": {"requests": {"cpu": "100m"}},
              "operator": {"replicaCount": 3}, "webhooks": {"replicaCount": 2},
              "nested": {"resources": {"operator": {"requests": {"cpu": "0.5"}}, "webhooks": {"requests": {"cpu": "1"}}}}}
    found = _chart_requests(values)
    assert found == [((), 100, 2), (("nested", "operator"), 500, 1), (("nested", "webhooks"), 1000, 1)]
    assert system_cpu_requests("dev", 2) - system_cpu_requests("dev", 1) == 20, "node-exporter: one more node"
