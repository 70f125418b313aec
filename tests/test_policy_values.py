"""How every policy reads properties (policy/platform_policies/_values.py), case by case: the engine's unknown
sentinels become UNKNOWN and secrets stay wrapped; `get` walks dicts and lists through secrets and answers None for
what is absent; `items` gives a list or nothing; `contains_unknown` searches dicts, lists and tuples; `walk` names
each leaf's path and whether a secret encloses it; `dotted` spells a path as the messages do."""

from __future__ import annotations

from pulumi_policy import Secret
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from policy.platform_policies._values import UNKNOWN, contains_unknown, dotted, get, items, normalize, reveal, walk


def test_normalize_turns_sentinels_into_unknown_and_keeps_every_other_value_and_the_secret_wrapper():
    props = {"name": "m", "port": 80, "on": True, "host": UNKNOWN_STRING_VALUE,
             "ports": [80, UNKNOWN_NUMBER_VALUE, {"n": "x"}], "blob": b"ab", "key": Secret({"v": UNKNOWN_STRING_VALUE})}
    plain = normalize(props)
    assert {k: v for k, v in plain.items() if k != "key"} == {
        "name": "m", "port": 80, "on": True, "host": UNKNOWN, "ports": [80, UNKNOWN, {"n": "x"}], "blob": b"ab"}
    assert isinstance(plain["key"], Secret) and plain["key"].value == {"v": UNKNOWN}
    assert normalize(("a", UNKNOWN_STRING_VALUE)) == ["a", UNKNOWN]
    assert normalize(7) == 7 and normalize(None) is None


def test_reveal_unwraps_every_secret_layer():
    assert reveal(Secret(Secret({"a": 1}))) == {"a": 1}
    assert reveal("plain") == "plain"


def test_get_walks_keys_and_indexes_through_secrets_and_answers_none_for_what_is_absent():
    value = {"spec": Secret({"rules": [{"host": "h"}, Secret({"host": "g"})]}), "name": "n"}
    assert get(value, "spec", "rules", 0, "host") == "h"
    assert get(value, "spec", "rules", 1, "host") == "g"
    assert get(value, "spec", "rules", -1, "host") == "g"
    assert get(value, "spec", "rules", 2, "host") is None
    assert get(value, "spec", "rules", -3) is None
    assert get(value, "name", "x") is None          # a string has no keys
    assert get(value, "name", 0) is None            # nor indexes
    assert get(value, "spec", 0) is None            # a dict has no indexes
    assert get(value, "missing", "deeper") is None
    assert get({"a": UNKNOWN}, "a", "b", 0) is UNKNOWN
    assert get(Secret("s")) == "s"


def test_items_gives_the_list_revealed_or_nothing():
    assert items([Secret("a"), "b"]) == ["a", "b"]
    assert items(Secret(["a"])) == ["a"]
    assert items(UNKNOWN) == [] and items(None) == [] and items({"a": 1}) == [] and items("ab") == []


def test_contains_unknown_searches_dicts_lists_tuples_and_secrets():
    assert contains_unknown(UNKNOWN) and contains_unknown(Secret(UNKNOWN))
    assert contains_unknown({"a": [1, {"b": UNKNOWN}]})
    assert contains_unknown(("host", UNKNOWN))
    assert not contains_unknown({"a": [1, {"b": "c"}], "t": ("x", None)})
    assert not contains_unknown("UNKNOWN") and not contains_unknown(None)


def test_walk_names_each_leaf_with_its_path_and_whether_a_secret_encloses_it():
    value = {"a": 1, "b": [2, {"c": 3}], "s": Secret({"k": "v", "l": ["w"]}), "t": Secret("x")}
    assert list(walk(value)) == [
        (("a",), 1, False), (("b", 0), 2, False), (("b", 1, "c"), 3, False),
        (("s", "k"), "v", True), (("s", "l", 0), "w", True), (("t",), "x", True)]
    assert list(walk(Secret(["x"]), ("root",))) == [(("root", 0), "x", True)]
    assert list(walk(5)) == [((), 5, False)]


def test_dotted_spells_a_path_as_the_messages_do():
    assert dotted(("spec", "template", "spec", "containers", 0, "image")) == "spec.template.spec.containers[0].image"
    assert dotted(("a",)) == "a"
    assert dotted(()) == ""
