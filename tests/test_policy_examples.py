"""The policy pack's stack policies judge every example program, with the cluster facts its
`policy-config.json` states (the `--policy-pack-config` file an adopter passes), under the shipped mocks.

An example's cluster already exists, so what the pack cannot see in the program (who enforces
NetworkPolicies, the default StorageClass, the GPU nodes) is stated in that file; each statement is
checked against the policy's own config schema, as Pulumi does before the pack runs.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from pulumi_policy import StackValidationPolicy

from policy.platform_policies import all_policies
from tests.test_policy import pack_violations
from tools.api_surface.examples import EXAMPLES_DIR, STACK, example_names, run_example

EXAMPLES = example_names()


def _pack_config(example: str) -> dict:
    return json.loads((EXAMPLES_DIR / example / "policy-config.json").read_text())


def _policies() -> dict[str, object]:
    return {p.name: p for p in all_policies(current_stack=lambda: STACK)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_states_its_cluster_facts_in_a_pack_config_the_policies_accept(example):
    policies = _policies()
    for name, entry in _pack_config(example).items():
        assert name in policies, f"{example}: policy-config.json names no policy of the pack: {name}"
        schema = policies[name].config_schema
        assert schema is not None, f"{example}: {name} takes no config"
        jsonschema.validate(entry, {"type": "object", "properties": schema.properties,
                                    "additionalProperties": False, "required": schema.required or []})


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_passes_every_policy_of_the_pack(example):
    policies = list(_policies().values())
    assert any(isinstance(p, StackValidationPolicy) for p in policies)
    found = pack_violations(run_example(example).synthesis, STACK, policies, pack_config=_pack_config(example))
    assert found == [], f"{example}: {len(found)} policy violation(s):\n" + "\n".join(found)


@pytest.mark.parametrize("example", EXAMPLES)
def test_without_its_stated_cluster_facts_the_pack_refuses_the_example(example):
    # The pack really sees each example: every fact the file states is one the program needs.
    synthesis = run_example(example).synthesis
    for policy_name in _pack_config(example):
        pack_config = copy.deepcopy(_pack_config(example))
        del pack_config[policy_name]
        found = pack_violations(synthesis, STACK, list(_policies().values()), pack_config=pack_config)
        assert found and all(m.startswith(f"[{policy_name}]") for m in found), (policy_name, found)
