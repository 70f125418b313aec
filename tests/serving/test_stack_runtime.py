"""The main program's stack config picks the model's runtime (`model.runtime`): its ports, probes, alerts and canary
follow the profile; another runtime needs a given image and its own authentication."""

from __future__ import annotations

import pytest

from tests.harness import container, only, raw_sections, stack_with

DIGEST = "sha256:" + "ef" * 32
IMAGE = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/vllm-openai@{DIGEST}"


def _model(stack: str, **changes) -> dict:
    model = {k: v for k, v in raw_sections(stack)["model"].items() if k not in ("apiKeys",)}
    return {**model, "image": IMAGE, "authentication": "none", **changes}


def test_a_vllm_model_gets_vllms_port_health_path_alerts_and_canary_queries():
    synthesis = stack_with("prod", model=_model("prod", runtime="vllm"))
    deployment = only([d for d in synthesis.of_type("kubernetes:apps/v1:Deployment")
                       if d.inputs["metadata"]["name"] == "my-ai-model"])
    server = container(deployment)
    assert [p["containerPort"] for p in server["ports"]] == [8000]
    assert server["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    objects = [m for _, m in synthesis.kubernetes_objects()]
    rules = "\n".join(r["expr"] for m in objects if m["kind"] == "PrometheusRule" for g in m["spec"]["groups"]
                      for r in g["rules"] if "model:" in r.get("record", "") or "alert" in r)
    assert 'http_requests_total{namespace="my-ai-model", job="my-ai-model", handler=~' in rules
    assert "inference_requests_total" not in rules
    template = only([m for m in objects if m["kind"] == "AnalysisTemplate"])  # prod releases as a canary
    queries = "\n".join(x["provider"]["prometheus"]["query"] for x in template["spec"]["metrics"])
    assert "vllm:e2e_request_latency_seconds_bucket" in queries and 'status="5xx"' in queries


def test_another_runtime_without_an_image_or_with_api_keys_is_refused():
    with pytest.raises(Exception, match=r"runtime.*needs model.image"):
        stack_with("dev", model={**_model("dev", runtime="triton"), "image": None})
    with pytest.raises(Exception, match=r"runtime: got 'triton'; checks no API key, so it cannot read apiKeys"):
        stack_with("dev", model={**raw_sections("dev")["model"], "image": IMAGE, "runtime": "triton"})
    two = {**raw_sections("dev")["model"], "image": IMAGE, "runtime": "vllm"}
    two["apiKeys"] = {**two["apiKeys"], "secondary": two["apiKeys"]["primary"]}
    with pytest.raises(Exception, match=r"apiKeys: got \['primary', 'secondary'\]; vllm reads exactly one key "
                                        r"\(from VLLM_API_KEY\)"):
        stack_with("dev", model=two)


def test_a_vllm_models_configured_key_reaches_vllm_api_key_through_a_secret():
    from pulumi.runtime import rpc

    synthesis = stack_with("prod", model={**raw_sections("prod")["model"], "image": IMAGE, "runtime": "vllm"})
    deployment = only([d for d in synthesis.of_type("kubernetes:apps/v1:Deployment")
                       if d.inputs["metadata"]["name"] == "my-ai-model"])
    env = {e["name"]: e for e in container(deployment)["env"]}
    secret = only([s for s in synthesis.of_type("kubernetes:core/v1:Secret") if s.name == "model-api-keys"])
    assert env["VLLM_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": secret.inputs["metadata"]["name"],
                                                                 "key": "primary"}}
    assert "value" not in env["VLLM_API_KEY"] and "API_KEYS_DIR" not in env
    assert rpc.is_rpc_secret(secret.raw_inputs["stringData"])
