"""The stack config: valid stacks parse, bad config is refused with one error naming every problem."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack_config import ConfigError, RawConfig, StackConfig, load
from stack_config.loader import read_runtime_config, secret_field_paths
from stack_config.schema import SECTION_KEYS
from tests.harness import STACKS, TEST_SECRETS, raw_sections, stack_config, stack_with
from tools.synth import run


def _secret_paths(sections: dict) -> frozenset[str]:
    """Mark every secret field present in `sections` as set with --secret."""
    return frozenset(p.split("[]")[0] for p in secret_field_paths())


def _load(sections: dict, secret_paths: frozenset[str] | None = None) -> StackConfig:
    return load(RawConfig(sections=sections, secret_paths=_secret_paths(sections) if secret_paths is None else secret_paths))


def _problems(sections: dict, secret_paths: frozenset[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(sections, secret_paths)
    return caught.value.problems


@pytest.mark.parametrize("name", STACKS)
def test_every_stack_file_parses(name):
    config = stack_config(name)
    assert config.model.name == "my-ai-model"
    assert config.model.container_port == 8080 and config.model.service_port == 80


def test_dev_is_cheap():
    dev = stack_config("dev")
    assert dev.gpu_node_group.capacity_type == "SPOT"
    assert dev.gpu_node_group.min_size == 0 and dev.gpu_node_group.desired_size == 0
    assert dev.model.replicas == 1
    assert dev.network.nat_gateways == "single"
    assert int(dev.monitoring.retention.rstrip("d")) <= 7


def test_prod_is_safe():
    prod = stack_config("prod")
    assert prod.gpu_node_group.capacity_type == "ON_DEMAND"
    assert prod.gpu_node_group.min_size >= 1
    assert prod.model.replicas >= 2 and prod.model.autoscaling.min_replicas >= 2
    assert prod.model.zone_spread == "required"
    assert prod.network.nat_gateways == "perZone"
    assert not prod.registry.force_delete
    assert {r.type for r in prod.monitoring.receivers} >= {"pagerduty"}


def test_local_needs_no_aws_and_no_gpu():
    local = stack_config("local")
    assert local.aws is None and local.network is None
    assert local.cluster.mode == "local" and local.cluster.kube_context
    assert local.registry.mode == "local"
    assert not local.gpu_node_group.enabled and local.model.gpus_per_pod == 0
    assert local.model.image_variant == "cpu"


def test_defaults_follow_the_seed():
    config = _load({"cluster": {"mode": "local", "kubeContext": "kind-x", "enforcesNetworkPolicies": True},
                    "registry": {"mode": "local"},
                    "gpuNodeGroup": {"enabled": False},
                    "model": {"gpusPerPod": 0, "imageVariant": "cpu", "apiKeys": {"primary": "k"}},
                    "monitoring": {"enabled": False}})
    assert (config.model.name, config.model.container_port, config.model.service_port, config.model.replicas) == (
        "my-ai-model", 8080, 80, 1)
    assert config.model.authentication == "apiKeys" and config.model.endpoint is None


def test_an_unknown_key_is_refused_with_a_suggestion():
    sections = raw_sections("dev")
    sections["gpuNodeGroup"]["instanceType"] = ["g5.xlarge"]
    sections["modle"] = {}
    problems = _problems(sections)
    assert any("gpu-model-platform:gpuNodeGroup.instanceType: unknown key (did you mean 'instanceTypes'?)" in p
               for p in problems), problems
    assert any(p.startswith("gpu-model-platform:modle: unknown key (did you mean 'model'?)") for p in problems), problems


def test_a_bad_enum_value_lists_the_allowed_values():
    sections = raw_sections("dev")
    sections["gpuNodeGroup"]["capacityType"] = "SPOTT"
    (problem,) = _problems(sections)
    assert problem.startswith("gpu-model-platform:gpuNodeGroup.capacityType: got 'SPOTT'")
    assert "'ON_DEMAND'" in problem and "'SPOT'" in problem


def test_every_problem_is_reported_at_once():
    sections = raw_sections("prod")
    sections["gpuNodeGroup"].update(minSize=5, maxSize=2, desiredSize=9, instanceTypes=["m5.large"])
    sections["model"]["containerPort"] = "eighty"
    sections["cluster"]["endpointPublicAccessCidrs"] = ["0.0.0.0/0"]
    problems = _problems(sections)
    text = "\n".join(problems)
    assert "gpuNodeGroup.minSize: got 5; must be <= maxSize (2)" in text
    assert "gpuNodeGroup.desiredSize: got 9" in text
    assert "gpuNodeGroup.instanceTypes: got 'm5.large'; not a supported NVIDIA GPU instance type" in text
    assert "model.containerPort: got 'eighty'" in text
    assert "cluster.endpointPublicAccessCidrs: got '0.0.0.0/0'" in text
    assert len(problems) >= 5


@pytest.mark.parametrize("section, change, expected", [
    ("gpuNodeGroup", {"capacityType": "SPOT", "instanceTypes": ["g5.xlarge"]}, "SPOT needs at least two instance types"),
    ("gpuNodeGroup", {"amiType": "AL2_x86_64"}, "allowed: 'AL2023_x86_64_NVIDIA' or 'BOTTLEROCKET_x86_64_NVIDIA'"),
    ("network", {"availabilityZones": ["us-west-2a"]}, "at least two distinct zones"),
    ("model", {"gpusPerPod": 1, "imageVariant": "cpu"}, "imageVariant: got 'cpu'; must be gpu"),
    ("model", {"name": "My_Model"}, "model.name: got 'My_Model'; must match"),
    ("monitoring", {"retention": "two weeks"}, "monitoring.retention: got 'two weeks'"),
    ("cluster", {"mode": "existing"}, "exactly one of name or stackReference"),
])
def test_each_class_of_bad_value_names_the_key_and_what_is_allowed(section, change, expected):
    sections = raw_sections("dev")
    sections[section].update(change)
    if section == "cluster" and change.get("mode") == "existing":
        sections["cluster"]["stackReference"] = {"stack": "acme/infra/dev"}
    assert any(expected in p for p in _problems(sections)), expected


def test_a_secret_in_plain_text_is_refused_without_echoing_it():
    sections = raw_sections("dev")
    problems = _problems(sections, secret_paths=frozenset())
    joined = "\n".join(problems)
    assert "gpu-model-platform:monitoring.grafanaAdminPassword: a secret was given in plain text" in joined
    assert "gpu-model-platform:monitoring.receivers[0].url: a secret was given in plain text" in joined
    assert "pulumi config set --secret" in joined
    assert TEST_SECRETS["monitoring.grafanaAdminPassword"] not in joined


def test_a_missing_required_secret_is_named():
    sections = raw_sections("dev")
    del sections["monitoring"]["grafanaAdminPassword"]
    assert any("monitoring.grafanaAdminPassword: got None; required (as a secret)" in p for p in _problems(sections))


def test_secrets_stay_masked_in_the_typed_config():
    config = stack_config("prod")
    assert TEST_SECRETS["monitoring.grafanaAdminPassword"] not in repr(config)
    assert config.monitoring.grafana_admin_password.get_secret_value() == TEST_SECRETS["monitoring.grafanaAdminPassword"]


def test_the_runtime_reader_sees_what_the_engine_hands_the_program():
    raw = RawConfig(sections=raw_sections("dev"), secret_paths=frozenset({"monitoring"}))
    values, secret_keys = raw.as_pulumi_config()
    seen = {}
    run(lambda: seen.setdefault("raw", read_runtime_config()), config=values, secret_keys=secret_keys)
    assert seen["raw"].sections == raw.sections
    assert seen["raw"].is_secret("monitoring.receivers[0].url")
    assert not seen["raw"].is_secret("model.name")


def test_bad_config_stops_the_program_before_any_resource_is_registered():
    sections = raw_sections("dev")
    with pytest.raises(ConfigError) as caught:
        stack_with("dev", gpuNodeGroup={**sections["gpuNodeGroup"], "maxSize": 0})
    assert "gpuNodeGroup.maxSize" in str(caught.value)
    assert caught.value.registered_resources == []


# --- property-based: any document gives a StackConfig or a ConfigError, nothing else --------------

def _all_aliases() -> list[str]:
    from pydantic import BaseModel

    from stack_config.loader import _model_fields_by_alias
    seen, stack, out = set(), [StackConfig], set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for alias, info in _model_fields_by_alias(model).items():
            out.add(alias)
            from stack_config.loader import _unwrap
            stack += [c for c in _unwrap(info.annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
    return sorted(out)


_KEYS = st.one_of(st.sampled_from(_all_aliases()), st.text(max_size=8))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(["SPOT", "ON_DEMAND", "create", "local", "g5.xlarge", "1Gi"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=6)), max_leaves=25)
_DOCUMENTS = st.dictionaries(st.one_of(st.sampled_from(sorted(SECTION_KEYS.values())), st.text(max_size=6)),
                             _VALUES, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_DOCUMENTS, secret_sections=st.sets(st.sampled_from(sorted(SECTION_KEYS.values()))))
def test_any_document_gives_a_config_or_a_config_error(document, secret_sections):
    try:
        config = load(RawConfig(sections=document, secret_paths=frozenset(secret_sections)))
    except ConfigError as error:
        assert error.problems and all(p.startswith("gpu-model-platform:") for p in error.problems)
    else:
        assert isinstance(config, StackConfig)


@settings(max_examples=150, deadline=None)
@given(mutation=st.tuples(st.sampled_from(["gpuNodeGroup", "model", "cluster", "monitoring", "registry"]),
                          st.sampled_from(_all_aliases()), _SCALARS))
def test_a_mutated_valid_stack_gives_a_config_or_a_config_error(mutation):
    section, key, value = mutation
    sections = raw_sections("prod")
    sections[section][key] = value
    try:
        _load(sections)
    except ConfigError as error:
        assert error.problems


def test_a_cpu_target_that_the_queue_depth_autoscaler_ignores_is_refused_naming_both_keys():
    sections = raw_sections("prod")
    sections["model"]["autoscaling"]["targetCpuUtilization"] = 70
    problems = _problems(sections)
    assert any(p.startswith("gpu-model-platform:model.autoscaling.targetCpuUtilization: got 70; has no effect")
               and "autoscaling.pods.metric 'batchQueueDepth'" in p for p in problems), problems


def test_a_cpu_target_is_accepted_where_the_pods_scale_on_cpu():
    sections = raw_sections("prod")
    sections["model"]["autoscaling"]["targetCpuUtilization"] = 70
    sections["autoscaling"]["pods"]["metric"] = "cpu"
    assert _load(sections).model.autoscaling.target_cpu_utilization == 70
