"""examples/llm-vllm in its two stages under mocks: dev scales to zero, prod is an HTTPS endpoint with a canary judged
on TTFT and ITL; a GPU too small for the model is refused before anything is created."""

from __future__ import annotations

from functools import cache

import pytest

from tools.api_surface.examples import EXAMPLES_DIR, example_config, run_program

EXAMPLE = "llm-vllm"


@cache
def run(**overrides: str):
    project, config, secrets = example_config(EXAMPLE)
    config = {**config, **{f"{project}:{k}": v for k, v in overrides.items()}}
    return run_program(EXAMPLES_DIR / EXAMPLE / "__main__.py", project, config, secrets).synthesis


def _kinds(synthesis) -> set[str]:
    return {manifest["kind"] for _, manifest in synthesis.kubernetes_objects()}


def test_dev_scales_the_llm_to_zero_behind_the_interceptor_and_has_no_public_endpoint():
    synthesis = run(stage="dev")
    assert {"ScaledObject", "InterceptorRoute", "PersistentVolume", "PersistentVolumeClaim"} <= _kinds(synthesis)
    deployment = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "Deployment"
                      and m["metadata"]["name"] == "llama-8b-instruct")
    assert deployment["spec"]["replicas"] == 0
    assert "Ingress" not in _kinds(synthesis) and "Rollout" not in _kinds(synthesis)


def test_prod_has_an_https_endpoint_and_a_canary_judged_on_token_latencies():
    synthesis = run(stage="prod")
    objects = [m for _, m in synthesis.kubernetes_objects()]
    template = next(m for m in objects if m["kind"] == "AnalysisTemplate")
    names = {m["name"] for m in template["spec"]["metrics"]}
    assert names == {"error-ratio", "error-ratio-vs-stable", "time-to-first-token-p99", "inter-token-latency-p99"}
    queries = "\n".join(m["provider"]["prometheus"]["query"] for m in template["spec"]["metrics"])
    assert "vllm:time_to_first_token_seconds_bucket" in queries and 'status="5xx"' in queries
    ingress = next(m for m in objects if m["kind"] == "Ingress")
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/listen-ports"].count("443")


def test_the_llm_alerts_and_dashboard_are_vllms():
    synthesis = run(stage="prod")
    rule = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "PrometheusRule")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert {"ModelTimeToFirstTokenP99AboveSlo", "ModelInterTokenLatencyP99AboveSlo", "ModelErrorBudgetBurn"} <= alerts
    monitor = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_a_gpu_too_small_for_the_model_is_refused_before_anything_is_created():
    refused = r"GpuNodeGroup 'gpu-nodes': instance_types: g4dn.xlarge: 14.9 GiB of weights \+ 4 GiB KV cache"
    with pytest.raises(Exception, match=refused):
        run(instanceType="g4dn.xlarge")


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_llm_example_passes_the_policy_pack(stage):
    from tests.test_policy import pack_violations

    # The platform team's cluster enforces NetworkPolicies (its CNI is not part of this program).
    assert pack_violations(run(stage=stage), stage, config={"clusterEnforcesNetworkPolicies": True}) == []


def test_the_policy_counts_vllms_key_from_a_secret_as_authentication_and_a_plain_one_not():
    from policy.platform_policies.endpoints import checks_api_keys

    def deployment(env: dict) -> dict:
        return {"spec": {"template": {"spec": {"containers": [{"name": "llm", "image": "x", "env": [env]}]}}}}

    from_secret = {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "VLLM_API_KEY"}}}
    assert checks_api_keys("kubernetes:apps/v1:Deployment", deployment(from_secret)) is True
    assert checks_api_keys("kubernetes:apps/v1:Deployment", deployment({"name": "VLLM_API_KEY", "value": "k"})) is False
    assert checks_api_keys("kubernetes:apps/v1:Deployment", deployment({**from_secret, "name": "OTHER"})) is False


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_weights_volume_is_mounted_by_the_driver_the_example_installs(stage):
    synthesis = run(stage=stage)
    release = next(r for r in synthesis.helm_releases() if r.inputs["chart"] == "aws-mountpoint-s3-csi-driver")
    pv = next(r for r in synthesis.of_type("kubernetes:core/v1:PersistentVolume"))
    assert pv.inputs["spec"]["csi"]["driver"] == "s3.csi.aws.com"  # the chart's CSIDriver (tests/cluster facts)
    assert release.urn in pv.options["dependencies"]
    assert pv.inputs["spec"]["csi"]["volumeAttributes"]["authenticationSource"] == "pod"
