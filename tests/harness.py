"""The shared mock harness for tests: run the whole program or a few components, then query.

`stack(name)` synthesizes a stack file once per test process and caches it;
`components(fn)` runs any function that builds components under mocks.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from stack_config import StackConfig, load, read_stack_file
from tools.synth import PROJECT_DIR, Registration, Synthesis, run, synth_stack

STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
AWS_STACKS = [s for s in STACKS if s != "local"]

# Values standing in for encrypted config, distinctive enough to grep for in rendered output.
TEST_SECRETS = {
    "monitoring.grafanaAdminPassword": "s3cr3t-grafana-password",
    "monitoring.receivers[0].url": "https://hooks.slack.com/services/T000/B000/s3cr3t-slack",
    "monitoring.receivers[0].routingKey": "s3cr3t-pagerduty-routing-key",
    "monitoring.receivers[1].url": "https://hooks.slack.com/services/T000/B000/s3cr3t-slack-2",
    "monitoring.receivers[1].routingKey": "s3cr3t-pagerduty-routing-key-2",
    "model.apiKeys.primary": "s3cr3t-model-api-key-primary",
    "model.apiKeys.secondary": "s3cr3t-model-api-key-secondary",
}


def stack_file(name: str) -> Path:
    return PROJECT_DIR / f"Pulumi.{name}.yaml"


def stack_config(name: str) -> StackConfig:
    """The typed config of a stack file."""
    return load(read_stack_file(stack_file(name), TEST_SECRETS))


def raw_sections(name: str) -> dict[str, Any]:
    """A stack file's sections (secrets replaced by test values), safe to modify."""
    return copy.deepcopy(read_stack_file(stack_file(name), TEST_SECRETS).sections)


@functools.cache
def stack(name: str) -> Synthesis:
    """The whole program of a stack, under mocks (cached: treat it as read-only)."""
    return synth_stack(name, secret_values=TEST_SECRETS)


def stack_with(name: str, **overrides: Any) -> Synthesis:
    """The whole program of a stack with some config sections replaced (not cached)."""
    return synth_stack(name, secret_values=TEST_SECRETS, overrides=overrides)


def components(build: Callable[[pulumi.ResourceOptions], Any], stack_name: str = "test") -> Synthesis:
    """Run `build(opts)` under mocks; `opts` carries a Kubernetes provider for the components."""

    def program() -> None:
        provider = k8s.Provider("test-kubernetes", context="kind-test")
        build(pulumi.ResourceOptions(providers={"kubernetes": provider}))

    return run(program, stack=stack_name)


def only(resources: list[Registration], what: str = "resource") -> Registration:
    """The single registration in the list, failing with their names otherwise."""
    assert len(resources) == 1, f"expected one {what}, got {[r.name for r in resources]}"
    return resources[0]


def pod_spec(deployment: Registration) -> dict:
    return deployment.inputs["spec"]["template"]["spec"]


def container(deployment: Registration, name: Optional[str] = None) -> dict:
    containers = pod_spec(deployment)["containers"]
    return next(c for c in containers if name is None or c["name"] == name)
