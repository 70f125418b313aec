"""API keys: Pulumi secrets from config become the files of a Secret mounted read-only at API_KEYS_DIR, two keys
can be valid at once, adding one rolls no pod, and a key is never written in plain text."""

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

from components import ModelService, ModelServiceArgs
from components.serving.model_service import API_KEYS_DIR, validate_model_service_args
from stack_config import ConfigError, RawConfig, load, read_stack_file
from tests.harness import (
    STACKS,
    TEST_SECRETS,
    container,
    pod_spec,
    raw_sections,
    stack,
    stack_config,
    stack_file,
    stack_with,
)
from tools.synth import render, run

DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "ab" * 32


def _api_keys_secret(synthesis):
    [secret] = [r for r in synthesis.of_type("kubernetes:core/v1:Secret") if r.name == "model-api-keys"]
    return secret


def _with_two_keys(name: str):
    model = raw_sections(name)["model"]
    model["apiKeys"]["secondary"] = TEST_SECRETS["model.apiKeys.secondary"]
    raw = RawConfig(sections={**raw_sections(name), "model": model},
                    secret_paths=frozenset({"model.apiKeys.primary", "model.apiKeys.secondary"}))
    return stack_with(name, model=model), raw


@pytest.mark.parametrize("name", STACKS)
def test_every_configured_key_is_a_file_of_a_secret_mounted_read_only_at_api_keys_dir(name):
    s = stack(name)
    secret = _api_keys_secret(s)
    assert set(secret.inputs["stringData"]) == set(stack_config(name).model.api_keys) == {"primary"}
    assert secret.inputs["stringData"]["primary"] == TEST_SECRETS["model.apiKeys.primary"]
    assert rpc.is_rpc_secret(secret.raw_inputs["stringData"])
    deployment = s.named("model-deployment")
    c = container(deployment)
    assert {"name": "API_KEYS_DIR", "value": API_KEYS_DIR} in c["env"]
    [volume] = [v for v in pod_spec(deployment)["volumes"] if v["name"] == "api-keys"]
    assert volume["secret"] == {"secretName": secret.inputs["metadata"]["name"], "defaultMode": 0o440}
    [mount] = [m for m in c["volumeMounts"] if m["name"] == "api-keys"]
    # Whole (no subPath): the kubelet then updates the files in place when a key changes.
    assert mount == {"name": "api-keys", "mountPath": API_KEYS_DIR, "readOnly": True}


def test_two_keys_are_valid_at_once_and_adding_one_rolls_no_pod():
    two, _ = _with_two_keys("dev")
    assert set(_api_keys_secret(two).inputs["stringData"]) == {"primary", "secondary"}
    # The pod template does not name the keys: a rotation changes the Secret only, never the Deployment.
    assert two.named("model-deployment").inputs == stack("dev").named("model-deployment").inputs


def test_no_key_is_ever_written_in_plain_text(tmp_path):
    two, _ = _with_two_keys("prod")
    render.write(two, tmp_path)
    text = "\n".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    for path in ("model.apiKeys.primary", "model.apiKeys.secondary"):
        assert TEST_SECRETS[path] not in text, path
    assert "[secret]" in text


def test_a_key_given_in_plain_text_is_refused_naming_its_path():
    _, raw = _with_two_keys("dev")
    others = {p for p in read_stack_file(stack_file("dev"), TEST_SECRETS).secret_paths if not p.startswith("model.")}
    leaky = RawConfig(sections=raw.sections, secret_paths=frozenset({"model.apiKeys.primary", *others}))
    with pytest.raises(ConfigError) as caught:
        load(leaky)
    assert any(p.startswith("gpu-model-platform:model.apiKeys.secondary: a secret was given in plain text")
               for p in caught.value.problems), caught.value.problems
    assert not any("model.apiKeys.primary" in p for p in caught.value.problems)
    assert TEST_SECRETS["model.apiKeys.secondary"] not in str(caught.value)


def test_without_keys_the_server_checks_none_and_says_so_in_its_outputs():
    found = {}

    def program() -> None:
        found["open"] = ModelService("open", ModelServiceArgs(image=DIGEST_IMAGE, name="open"))
        found["closed"] = ModelService("closed", ModelServiceArgs(image=DIGEST_IMAGE, name="closed",
                                                                  api_keys={"primary": "k"}))

    synthesis = run(program)
    assert (found["open"].authenticated, found["closed"].authenticated) == (False, True)
    env = {e["name"] for e in container(synthesis.named("open-deployment"))["env"]}
    assert "API_KEYS_DIR" not in env
    assert [r.name for r in synthesis.of_type("kubernetes:core/v1:Secret")] == ["closed-api-keys"]


def test_a_key_name_that_is_no_file_name_is_refused():
    problems = validate_model_service_args(ModelServiceArgs(image=DIGEST_IMAGE, api_keys={"../primary": "k"}))
    # Key names are file names, never secret (the keys themselves are never repeated).
    assert problems == ["api_keys['../primary']: got '../primary'; must be a DNS label (RFC 1123: at most 63 lowercase "
                        "letters, digits or '-', starting and ending with a letter or digit)"]


# ---------------------------------------------------------------- a runtime that reads one key from a variable

def _vllm(**fields):
    from components.capacity.gpu_scheduling import GpuScheduling
    from components.serving.runtimes import VLLM
    from tests.harness import components

    return components(lambda opts: ModelService("llm", ModelServiceArgs.for_runtime(
        VLLM, DIGEST_IMAGE, "llm", "/models", gpus=1, gpu_scheduling=GpuScheduling(), **fields), opts))


def test_vllms_key_reaches_vllm_api_key_from_the_secret_never_in_plain_text():
    import pulumi

    synthesis = _vllm(api_keys={"primary": pulumi.Output.secret("vllm-s3cr3t")})
    [secret] = [r for r in synthesis.of_type("kubernetes:core/v1:Secret") if r.name == "llm-api-keys"]
    assert rpc.is_rpc_secret(secret.raw_inputs["stringData"])
    deployment = only_deployment(synthesis)
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    [key] = [e for e in c["env"] if e["name"] == "VLLM_API_KEY"]
    assert key == {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {
        "name": secret.inputs["metadata"]["name"], "key": "primary"}}}
    # vLLM reads no key files: no API_KEYS_DIR, no mounted Secret
    assert "API_KEYS_DIR" not in {e["name"] for e in c["env"]}
    assert all("secret" not in v for v in deployment["spec"]["template"]["spec"]["volumes"])
    for _, manifest in synthesis.kubernetes_objects():
        assert "vllm-s3cr3t" not in str(manifest)


def test_vllms_source_reads_one_key_from_vllm_api_key():
    from components.serving.runtimes import VLLM

    # vllm 0.34.0 envs.py: `"VLLM_API_KEY": lambda: os.environ.get("VLLM_API_KEY", None)` (one string), and
    # serve/middleware/register.py checks `args.api_key or [envs.VLLM_API_KEY]`.
    assert (VLLM.api_keys, VLLM.api_key_env, VLLM.version) == ("env", "VLLM_API_KEY", "0.34.0")
    assert "VLLM_API_KEY" in VLLM.source and "register.py" in VLLM.source


def test_a_runtime_that_reads_one_key_refuses_two_and_a_runtime_that_reads_none_refuses_any():
    from components._args import InvalidArgs
    from components.capacity.gpu_scheduling import GpuScheduling
    from components.serving.runtimes import TRITON
    from tests.harness import components

    with pytest.raises(InvalidArgs, match=r"api_keys: got 2 keys \(primary, secondary\); runtime 'vllm' reads "
                                          r"exactly one, from VLLM_API_KEY"):
        _vllm(api_keys={"primary": "a", "secondary": "b"})
    with pytest.raises(InvalidArgs, match=r"secret_env.VLLM_API_KEY: set by ModelService from api_keys"):
        _vllm(api_keys={"primary": "a"}, secret_env={"VLLM_API_KEY": "b"})
    with pytest.raises(InvalidArgs, match=r"api_keys: got primary; runtime 'triton' checks no API key"):
        components(lambda opts: ModelService("t", ModelServiceArgs.for_runtime(
            TRITON, DIGEST_IMAGE, "t", "/models", gpus=1, gpu_scheduling=GpuScheduling(),
            api_keys={"primary": "a"}), opts))


def test_the_endpoint_policy_knows_every_variable_a_runtime_reads_its_key_from():
    from components.serving.runtimes import RUNTIMES
    from policy.platform_policies.endpoints import SERVER_KEY_ENVS

    assert {r.api_key_env for r in RUNTIMES.values() if r.api_keys == "env"} <= set(SERVER_KEY_ENVS)


def only_deployment(synthesis):
    [deployment] = [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "Deployment"]
    return deployment


def test_a_runtime_said_to_read_its_key_from_a_variable_must_name_it():
    from dataclasses import replace

    from components._args import InvalidArgs
    from components.capacity.gpu_scheduling import GpuScheduling
    from components.serving.runtimes import VLLM
    from tests.harness import components

    unnamed = replace(VLLM, api_key_env=None)
    with pytest.raises(InvalidArgs, match=r"runtime.api_key_env: got None; runtime 'vllm' reads its key from the "
                                          r"environment"):
        components(lambda opts: ModelService("llm", ModelServiceArgs.for_runtime(
            unnamed, DIGEST_IMAGE, "llm", "/models", gpus=1, gpu_scheduling=GpuScheduling()), opts))
