"""What the claims promise, held directly (tests/test_collisions.py holds them through the components): a clash
names the object, the provider, both instances and the args field to change; distinct objects, the same instance
again, and names known only later never clash; each component's children go through the provider Pulumi picks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import InvalidArgs
from components._claims import Claim, claim, helm_release, known, kubernetes, plain, provider_for
from tools.synth import run


def under_mocks(program: Callable[[], Any]) -> Any:
    """`program()`'s result, run as a Pulumi program (claims are kept per run)."""
    result: list[Any] = []
    run(lambda: result.append(program()))
    return result[0]


def refusal(program: Callable[[], None]) -> InvalidArgs:
    with pytest.raises(InvalidArgs) as caught:
        under_mocks(program)
    return caught.value


def test_a_claim_already_held_names_every_object_the_provider_both_instances_and_the_field():
    def program() -> None:
        claim("Thing", "a", None, [kubernetes("Namespace", "ns"), helm_release("r", "ns", "release_name")])
        claim("Thing", "b", None, [None, kubernetes("Namespace", "ns"), helm_release("r", "ns", "release_name"),
                                   kubernetes("Service", "s", "ns")])

    error = refusal(program)
    assert (error.component, error.instance) == ("Thing", "b")
    assert error.problems == [
        "name: Namespace 'ns' (through the default kubernetes provider) already created by Thing 'a'; two instances "
        "would overwrite each other's objects: give this one another instance name",
        "release_name: Helm release 'r' in namespace 'ns' (through the default kubernetes provider) already created "
        "by Thing 'a'; two instances would overwrite each other's objects: give this one another release_name"]


def test_objects_of_one_field_are_listed_together_and_a_named_provider_is_named():
    def program() -> None:
        opts = pulumi.ResourceOptions(provider=k8s.Provider("blue", context="kind-blue"))
        claim("Thing", "a", opts, [kubernetes("Namespace", "ns", field="namespace"),
                                   kubernetes("Service", "s", "ns", field="namespace")])
        claim("Thing", "b", opts, [kubernetes("Namespace", "ns", field="namespace"),
                                   kubernetes("Service", "s", "ns", field="namespace")])

    assert refusal(program).problems == [
        "namespace: Namespace 'ns', Service 's' in namespace 'ns' (through provider 'blue') already created by "
        "Thing 'a'; two instances would overwrite each other's objects: give this one another namespace"]


def test_distinct_objects_and_the_same_instance_again_do_not_clash_and_a_clash_records_nothing():
    def program() -> None:
        claim("Thing", "a", None, [kubernetes("Namespace", "a")])
        claim("Thing", "b", None, [kubernetes("Namespace", "b")])
        claim("Thing", "a", None, [kubernetes("Namespace", "a")])
        with pytest.raises(InvalidArgs):
            claim("Thing", "c", None, [kubernetes("Namespace", "c"), kubernetes("Namespace", "a")])
        claim("Thing", "d", None, [kubernetes("Namespace", "c")])  # c's claims were all refused

    under_mocks(program)


def test_a_kubernetes_claim_carries_its_kind_name_namespace_and_field():
    assert kubernetes("Namespace", "ns") == Claim("kubernetes", "Namespace", "ns", None, "")
    assert kubernetes("Service", "s", "ns", "name") == Claim("kubernetes", "Service", "s", "ns", "name")
    assert helm_release("r", "ns", "release_name") == Claim("kubernetes", "Helm release", "r", "ns", "release_name")
    assert Claim("kubernetes", "Service", "s", "ns").describe() == "Service 's' in namespace 'ns'"
    assert Claim("kubernetes", "Namespace", "ns").describe() == "Namespace 'ns'"


def test_a_name_known_only_later_claims_nothing_unless_recorded_as_known():
    def program() -> tuple[Any, ...]:
        later, recorded = pulumi.Output.from_input("x"), known(pulumi.Output.from_input("y"), "y")
        return (kubernetes("Service", later), kubernetes("Service", "s", later), plain(recorded),
                kubernetes("Service", recorded, recorded))

    unknown_name, unknown_namespace, value, recorded = under_mocks(program)
    assert unknown_name is None and unknown_namespace is None and value == "y"
    assert recorded == Claim("kubernetes", "Service", "y", "y")


def test_children_go_through_the_provider_pulumi_picks_for_their_package():
    def program() -> list[Any]:
        blue, green = k8s.Provider("blue", context="kind-blue"), k8s.Provider("green", context="kind-green")
        return [blue, green, provider_for("kubernetes", pulumi.ResourceOptions(provider=blue)),
                provider_for("aws", pulumi.ResourceOptions(provider=blue)),
                provider_for("kubernetes", pulumi.ResourceOptions(providers={"kubernetes": green})),
                provider_for("kubernetes", pulumi.ResourceOptions(providers=[green])),
                provider_for("kubernetes", pulumi.ResourceOptions()), provider_for("kubernetes", None)]

    blue, green, own, other_package, mapped, listed, default, no_opts = under_mocks(program)
    assert own is blue and other_package is None and mapped is green and listed is green
    assert default is None and no_opts is None
