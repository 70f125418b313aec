"""The three-model, two-team catalogue of tests/catalogue/Pulumi.catalogue-example.yaml: its config and its program."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from stack_config import RawConfig, StackConfig, load, read_stack_file
from stack_config.loader import other_namespaces
from stack_config.schema import PROJECT
from tools.synth import PROJECT_DIR, Synthesis, run_main
from tools.synth.fakes import FakeCloud

EXAMPLE = Path(__file__).with_name("Pulumi.catalogue-example.yaml")
# Not a production stack of the pack (`productionStacks`): a model asleep at zero replicas is what it shows.
STACK = "catalogue-example"


def raw(path: Path = EXAMPLE) -> RawConfig:
    return read_stack_file(path)


def sections() -> dict[str, Any]:
    """The example's sections (secrets as placeholders), safe to modify."""
    return copy.deepcopy(raw().sections)


def config(**changes: Any) -> StackConfig:
    """The example's typed config, with some sections replaced."""
    example = raw()
    return load(RawConfig(sections={**example.sections, **changes}, secret_paths=example.secret_paths))


def synth(**changes: Any) -> Synthesis:
    """The whole program on the example's config (some sections replaced), under mocks, as stack `catalogue-example`."""
    return synth_file(EXAMPLE, STACK, changes)


def synth_file(path: Path, stack: str, changes: dict[str, Any], secret_paths: frozenset[str] = frozenset(),
               secret_values: dict[str, str] | None = None) -> Synthesis:
    """The program on a stack file's config with sections replaced; `secret_paths` marks their secrets."""
    found = read_stack_file(path, secret_values)
    values, secret_keys = RawConfig(sections={**found.sections, **changes},
                                    secret_paths=found.secret_paths | secret_paths).as_pulumi_config()
    for key, value in other_namespaces(path).items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    return run_main(PROJECT_DIR / "__main__.py", project=PROJECT, stack=stack, config=values,
                    secret_keys=secret_keys, cloud=FakeCloud(region="us-west-2"))


def as_catalogue(stack: str) -> Synthesis:
    """A shipped stack with its `model:` moved, as it is, into a one-entry `models:`."""
    from tests.harness import TEST_SECRETS, raw_sections, stack_file
    model = raw_sections(stack)["model"]
    secrets = frozenset(f"models[0].apiKeys.{key}" for key in model.get("apiKeys", {}))
    return synth_file(stack_file(stack), stack, {"model": None, "models": [model]}, secrets, TEST_SECRETS)


@functools.cache
def example() -> Synthesis:
    """The example's program (cached: treat it as read-only)."""
    return synth()
