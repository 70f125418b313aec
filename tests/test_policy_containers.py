"""The containers policies at their edges (issue 29's mutation audit): where a security setting comes from when the
container and the pod disagree, which containers need limits, and what an empty limit is."""

from __future__ import annotations

import pytest

from policy.platform_policies.containers import containers_have_resource_limits, containers_run_as_non_root
from tests.test_policy import DEPLOYMENT, deployment, pod_spec, violations


def _with_container_context(context: dict, pod_context: dict | None = None) -> dict:
    spec = pod_spec() if pod_context is None else pod_spec(securityContext=pod_context)
    spec["containers"][0]["securityContext"] = context
    return deployment(spec)


@pytest.mark.parametrize("container, pod, reported", [
    ({}, {"runAsNonRoot": True, "runAsUser": 10001}, False),           # the pod's settings apply
    ({"runAsNonRoot": True, "runAsUser": 10001}, {}, False),           # the container's own
    ({"runAsNonRoot": False}, {"runAsNonRoot": True, "runAsUser": 10001}, True),  # the container's overrides
    ({"runAsUser": 10001}, {}, True),                                   # a UID alone does not forbid root
    ({"runAsNonRoot": True}, {}, False),                                # the image's non-root user
])
def test_a_containers_own_setting_wins_over_the_pods_and_only_non_root_true_passes(container, pod, reported):
    found = violations(containers_run_as_non_root, DEPLOYMENT, _with_container_context(container, pod), name="m")
    assert bool(found) is reported, found
    assert all(m.startswith("Deployment 'm': containers[0]") and "may run as root" in m for m in found)


def test_root_is_reported_as_root_and_not_as_may_run_as_root():
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, _with_container_context({}, {"runAsUser": 0}))
    assert "runAsUser: 0 (root)" in message and "may run as root" not in message


def test_init_containers_need_limits_too_and_an_empty_limit_is_no_limit():
    spec = pod_spec(initContainers=[{"name": "fetch", "image": "x", "resources": {"limits": {"cpu": "", "memory": "1Gi"}}}])
    [message] = violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec), name="m")
    assert message.startswith("Deployment 'm': initContainers[0]") and "no cpu limit" in message
    assert "resources.limits.cpu" in message and "resources.limits.memory" not in message


def test_a_container_without_any_limit_is_told_both_and_ephemeral_containers_are_not_checked():
    spec = pod_spec(ephemeralContainers=[{"name": "debug", "image": "x"}])
    spec["containers"][0]["resources"] = {}
    [message] = violations(containers_have_resource_limits, DEPLOYMENT, deployment(spec))
    assert "no cpu or memory limit" in message and "resources.limits.cpu and resources.limits.memory" in message


def test_a_setting_unknown_until_apply_skips_only_its_own_container():
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    spec = pod_spec(securityContext={})
    spec["containers"] = [
        {"name": "pending", "image": "x", "securityContext": {"runAsNonRoot": True, "runAsUser": UNKNOWN_STRING_VALUE}},
        {"name": "root", "image": "x", "securityContext": {"runAsNonRoot": True, "runAsUser": 0}}]
    [message] = violations(containers_run_as_non_root, DEPLOYMENT, deployment(spec))
    assert "containers[1] 'root' sets runAsUser: 0" in message
