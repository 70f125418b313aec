"""The depends_on a component hands on to its children (components/_options.py)."""

from __future__ import annotations

import pulumi
import pytest

from components._options import dependencies
from tools.synth import run


def _resources(found: list) -> list[pulumi.Resource]:
    def program() -> None:
        found.extend(pulumi.ComponentResource("test:index:Thing", n) for n in ("a", "b"))
    run(program)
    return found


def test_no_options_or_no_depends_on_is_no_dependency():
    assert dependencies(None) == []
    assert dependencies(pulumi.ResourceOptions()) == []


def test_one_resource_or_a_list_or_tuple_of_them_is_handed_on_as_a_list():
    a, b = _resources([])
    assert dependencies(pulumi.ResourceOptions(depends_on=a)) == [a]
    assert dependencies(pulumi.ResourceOptions(depends_on=[a, b])) == [a, b]
    assert dependencies(pulumi.ResourceOptions(depends_on=(b, a))) == [b, a]


def test_an_output_is_refused_saying_why():
    with pytest.raises(TypeError) as refused:
        dependencies(pulumi.ResourceOptions(depends_on=pulumi.Output.from_input([])))
    assert str(refused.value) == ("depends_on must be a resource or a list of resources (not an Output) for this "
                                  "component: its children wait for them")
