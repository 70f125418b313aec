"""Reading and validating stack config, piece by piece: which paths are secret, how a stack file's encrypted
values become placeholders, what the engine is handed, and how each kind of schema error names its key."""

from __future__ import annotations

import hashlib
import json

import pytest

from stack_config import ConfigError, RawConfig, load
from stack_config.loader import (
    _describe,
    _format_loc,
    _model_at,
    _present_values,
    other_namespaces,
    read_stack_file,
    secret_field_paths,
)
from stack_config.schema import GpuNodeGroupConfig, ModelConfig, StackConfig
from tests.harness import raw_sections

P = "gpu-model-platform:"


@pytest.mark.parametrize("path, secret", [
    ("monitoring", True), ("monitoring.url", True), ("monitoring[0]", True),
    ("monitoringX", False), ("monitorin", False), ("model.name", False),
])
def test_a_path_is_secret_when_it_is_a_secret_path_or_lies_under_one(path, secret):
    assert RawConfig(sections={}, secret_paths=frozenset({"monitoring"})).is_secret(path) is secret


def test_the_engine_is_handed_strings_as_they_are_json_for_the_rest_and_each_secret_section_once():
    raw = RawConfig(sections={"stage": "dev", "model": {"name": "m"}, "monitoring": {"receivers": [{"url": "u"}]}},
                    secret_paths=frozenset({"monitoring.receivers[0].url", "monitoring.grafanaAdminPassword",
                                            "model.apiKeys.a"}))
    values, secret_keys = raw.as_pulumi_config()
    assert values == {f"{P}stage": "dev", f"{P}model": '{"name": "m"}',
                      f"{P}monitoring": '{"receivers": [{"url": "u"}]}'}
    assert secret_keys == [f"{P}model", f"{P}monitoring"]


STACK_FILE = """\
config:
  aws:region: us-west-2
  other:key: {a: 1}
  gpu-model-platform:model:
    name: fraud
    apiKeys:
      team-a:
        secure: AAABBB
  gpu-model-platform:monitoring:
    receivers:
      - url:
          secure: CCCDDD
      - url: plain
  gpu-model-platform:stage: dev
"""


def test_a_stack_files_encrypted_values_become_placeholders_or_given_values_and_are_remembered_as_secret(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(STACK_FILE)
    raw = read_stack_file(path, {"model.apiKeys.team-a": "k-123"})
    assert raw.sections == {
        "model": {"name": "fraud", "apiKeys": {"team-a": "k-123"}},
        "monitoring": {"receivers": [{"url": "synth-secret-" + hashlib.sha256(b"CCCDDD").hexdigest()[:12]},
                                     {"url": "plain"}]},
        "stage": "dev"}
    assert raw.secret_paths == frozenset({"model.apiKeys.team-a", "monitoring.receivers[0].url"})
    assert other_namespaces(path) == {"aws:region": "us-west-2", "other:key": {"a": 1}}


def test_a_dict_holding_more_than_secure_is_plain_config(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  gpu-model-platform:x:\n    secure: A\n    other: B\n")
    raw = read_stack_file(path)
    assert raw.sections == {"x": {"secure": "A", "other": "B"}} and raw.secret_paths == frozenset()


def test_an_empty_stack_file_has_no_config(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("")
    assert read_stack_file(path).sections == {} and other_namespaces(path) == {}
    path.write_text("encryptionsalt: x\n")
    assert read_stack_file(path).sections == {} and other_namespaces(path) == {}


def test_locations_are_written_as_config_paths():
    assert _format_loc(("monitoring", "receivers", 0, "url")) == "monitoring.receivers[0].url"
    assert _format_loc(()) == ""
    assert _format_loc((2, "a")) == "[2].a"


def test_the_model_at_a_location_follows_optional_list_and_nested_fields():
    assert _model_at(()) is StackConfig
    assert _model_at(("gpuNodeGroup",)) is GpuNodeGroupConfig
    assert _model_at(("models", 0)) is ModelConfig
    assert _model_at(("nosuch",)) is None
    assert _model_at(("model", "name")) is None


def test_every_secret_field_of_the_schema_is_found_lists_marked():
    assert sorted(secret_field_paths()) == ['model.apiKeys', 'models[].apiKeys', 'monitoring.grafanaAdminPassword',
                                            'monitoring.receivers[].routingKey', 'monitoring.receivers[].url']


def test_present_values_are_found_through_lists_and_only_where_present():
    data = {"monitoring": {"receivers": [{"url": "a"}, {"name": "b"}, {"url": "c"}]}, "model": {"apiKeys": None}}
    assert list(_present_values(data, "monitoring.receivers[].url")) == [("monitoring.receivers[0].url", "a"),
                                                                          ("monitoring.receivers[2].url", "c")]
    assert list(_present_values(data, "model.apiKeys")) == [("model.apiKeys", None)]
    assert list(_present_values(data, "models[].apiKeys")) == []
    assert list(_present_values({"monitoring": "x"}, "monitoring.url")) == []


def _problems(sections: dict, secret_paths: frozenset[str] = frozenset()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(RawConfig(sections=sections, secret_paths=secret_paths))
    return caught.value.problems


def test_each_plain_text_key_of_a_map_of_secrets_is_named_and_a_secret_one_is_not():
    sections = raw_sections("dev")
    sections["model"]["apiKeys"] = {"team-a": "k1", "team-b": "k2"}
    secrets = frozenset({"monitoring", "model.apiKeys.team-b"})
    assert [p for p in _problems(sections, secrets) if "apiKeys" in p] == [
        f"{P}model.apiKeys.team-a: a secret was given in plain text; set it with `pulumi config set --secret --path "
        f"'{P}model.apiKeys.team-a' <value>`"]


def test_the_error_counts_and_lists_every_problem():
    error = ConfigError(["a: one", "b: two"])
    assert str(error) == "Invalid stack configuration (2 problem(s)):\n  - a: one\n  - b: two"
    assert error.problems == ["a: one", "b: two"]


def test_an_unknown_section_is_named_with_the_closest_and_every_allowed_section():
    sections = raw_sections("dev")
    sections["modle"] = {}
    sections["zzzzzz"] = 1
    problems = _problems(sections, frozenset({"monitoring", "model"}))
    [modle] = [p for p in problems if p.startswith(f"{P}modle:")]
    [other] = [p for p in problems if p.startswith(f"{P}zzzzzz:")]
    assert modle.startswith(f"{P}modle: unknown key (did you mean 'model'?); allowed keys: ")
    assert other.startswith(f"{P}zzzzzz: unknown key; allowed keys: ") and "aws, " in other


def test_schema_errors_name_the_key_and_hide_secret_inputs():
    raw = RawConfig(sections={}, secret_paths=frozenset({"monitoring"}))
    assert _describe({"loc": ("cluster",), "type": "missing", "msg": "Field required"}, raw) == [
        f"{P}cluster: required key is missing"]
    assert _describe({"loc": ("monitoring", "x"), "type": "literal_error", "input": "s3cr3t",
                      "ctx": {"expected": "'a' or 'b'"}, "msg": ""}, raw) == [f"{P}monitoring.x: got '***'; allowed: 'a' or 'b'"]
    assert _describe({"loc": ("model", "name"), "type": "string_pattern_mismatch", "input": "A",
                      "ctx": {"pattern": "^[a-z]+$"}, "msg": ""}, raw) == [f"{P}model.name: got 'A'; must match ^[a-z]+$"]
    assert _describe({"loc": ("model", "port"), "type": "int_parsing", "input": "x", "msg": "not an int"}, raw) == [
        f"{P}model.port: got 'x'; not an int"]
    assert _describe({"loc": (), "type": "int_parsing", "input": 1, "msg": "m"}, raw) == [f"{P}<root>: got 1; m"]


def test_a_validator_message_names_each_problem_under_its_location():
    raw = RawConfig(sections={})
    error = {"loc": ("gpuNodeGroup",), "type": "value_error", "msg": "", "ctx": {"error": ValueError("a: x | b: y")}}
    assert _describe(error, raw) == [f"{P}gpuNodeGroup.a: x", f"{P}gpuNodeGroup.b: y"]
    error["loc"] = ()
    assert _describe(error, raw) == [f"{P}a: x", f"{P}b: y"]


def test_an_unknown_nested_key_suggests_the_closest_allowed_one_or_none():
    raw = RawConfig(sections={})
    [hinted] = _describe({"loc": ("gpuNodeGroup", "instanceType"), "type": "extra_forbidden", "msg": ""}, raw)
    assert hinted.startswith(f"{P}gpuNodeGroup.instanceType: unknown key (did you mean 'instanceTypes'?); allowed "
                             "keys: ") and ", minSize, " in hinted
    [plain] = _describe({"loc": ("gpuNodeGroup", "qqqqqq"), "type": "extra_forbidden", "msg": ""}, raw)
    assert plain.startswith(f"{P}gpuNodeGroup.qqqqqq: unknown key; allowed keys: ")
    [lost] = _describe({"loc": ("nosuch", "x"), "type": "extra_forbidden", "msg": ""}, raw)
    assert lost == f"{P}nosuch.x: unknown key; allowed keys: "


def test_json_values_from_the_engine_are_decoded_and_other_strings_kept():
    from stack_config.loader import _decode
    assert _decode('{"a": [1]}') == {"a": [1]} and _decode("dev") == "dev" and _decode(3) == 3
    assert json.loads(json.dumps(_decode("true"))) is True


def test_a_valid_stack_loads_into_its_typed_config():
    sections = raw_sections("dev")
    secrets = frozenset(p.split("[]")[0] for p in secret_field_paths())
    config = load(RawConfig(sections=sections, secret_paths=secrets))
    assert isinstance(config, StackConfig) and config.model is not None
    assert config.model.name == sections["model"]["name"]


def test_the_runtime_reader_returns_the_projects_sections_and_which_are_secret():
    from stack_config.loader import read_runtime_config
    from tools.synth import run

    raw = RawConfig(sections={"stage": "dev", "model": {"name": "m"}, "monitoring": {"retention": "7d"}},
                    secret_paths=frozenset({"monitoring"}))
    values, secret_keys = raw.as_pulumi_config()
    seen = {}
    run(lambda: seen.setdefault("raw", read_runtime_config()), config={**values, "aws:region": "us-west-2"},
        secret_keys=secret_keys)
    assert seen["raw"].sections == raw.sections
    assert seen["raw"].secret_paths == frozenset({"monitoring"})


def test_annotated_optional_and_container_types_unwrap_to_the_classes_they_hold():
    from typing import Annotated, Optional

    from pydantic import SecretStr

    from stack_config.loader import _unwrap

    assert _unwrap(Annotated[int, "bound"]) == [int]
    assert _unwrap(Optional[Annotated[SecretStr, "x"]]) == [SecretStr, type(None)]
    assert _unwrap(dict[str, list[GpuNodeGroupConfig]]) == [str, GpuNodeGroupConfig]


def test_a_secret_under_an_optional_list_is_found_with_its_list_marker():
    from typing import Optional

    from pydantic import BaseModel, SecretStr

    class Inner(BaseModel):
        token: SecretStr

    class Outer(BaseModel):
        plain: list[Inner]
        maybe: Optional[list[Inner]] = None
        one: Optional[Inner] = None

    assert list(secret_field_paths(Outer)) == ["plain[].token", "maybe[].token", "one.token"]
