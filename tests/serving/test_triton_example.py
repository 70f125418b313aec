"""examples/triton under mocks: Triton's own series drive the alerts and the autoscaler; the repository is mounted
read-only at its digest; the policy pack passes."""

from __future__ import annotations

from tests.test_policy import pack_violations
from tools.api_surface.examples import run_example


def _objects(kind: str) -> list[dict]:
    return [m for _, m in run_example("triton").synthesis.kubernetes_objects() if m["kind"] == kind]


def test_the_triton_examples_alerts_read_tritons_series():
    rules = "\n".join(r["expr"] for m in _objects("PrometheusRule") for g in m["spec"]["groups"] for r in g["rules"])
    assert 'nv_inference_request_failure{namespace="detector", job="detector", model="detector", reason!="CANCELED"}' \
        in rules
    assert 'nv_inference_request_summary_us{namespace="detector", job="detector", model="detector", quantile="0.99"}' \
        in rules
    assert "inference_requests_total" not in rules


def test_triton_serves_the_repository_from_s3_and_scales_on_its_queue():
    deployment = next(m for m in _objects("Deployment") if m["metadata"]["name"] == "detector")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--model-repository=/models" in container["args"] and container["command"] == ["tritonserver"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    hpa = next(iter(_objects("HorizontalPodAutoscaler")))
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "nv_inference_pending_request_count"
    volume = next(m for m in _objects("PersistentVolume"))
    assert "prefix models/detector/sha256-" + "3" * 64 + "/" in volume["spec"]["mountOptions"]


def test_the_triton_example_passes_the_policy_pack():
    found = pack_violations(run_example("triton").synthesis, "dev", config={"clusterEnforcesNetworkPolicies": True})
    assert found == []


def test_the_repository_volume_is_mounted_by_the_driver_the_example_installs():
    synthesis = run_example("triton").synthesis
    release = next(r for r in synthesis.helm_releases() if r.inputs["chart"] == "aws-mountpoint-s3-csi-driver")
    pv = next(r for r in synthesis.of_type("kubernetes:core/v1:PersistentVolume"))
    assert pv.inputs["spec"]["csi"]["driver"] == "s3.csi.aws.com"  # the chart's CSIDriver (tests/cluster facts)
    assert release.urn in pv.options["dependencies"]
