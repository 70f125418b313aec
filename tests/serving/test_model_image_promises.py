"""ModelImage promises the mutation audit (issue 29) found unguarded: the .dockerignore syntax beyond `*` and `**`
(Docker matches with Go's `filepath.Match` rules: `?`, classes, `\\` escapes; moby/patternmatcher), so the content
hash -- the image's tag -- changes exactly when what Docker sends changes."""

from __future__ import annotations

import pytest

from components.serving.model_image import is_ignored, read_dockerignore
from tests.harness import only
from tests.serving import test_model_image
from tests.serving.test_model_image import IMAGE, _image

context = test_model_image.context  # the build-context fixture, shared

PATTERNS = read_dockerignore("log?.txt\n[ab].bin\n[^x]y.dat\nliteral\\*.md\nv]1[ab].cfg\n[oops\n/built\ncache/**\n")


@pytest.mark.parametrize("path, ignored", [
    ("log1.txt", True), ("log12.txt", False), ("log/.txt", False),  # `?` is one character, never `/`
    ("a.bin", True), ("c.bin", False),  # a class
    ("zy.dat", True), ("xy.dat", False),  # a negated class
    ("literal*.md", True), ("literalX.md", False),  # an escaped `*` is a star, not a wildcard
    ("v]1a.cfg", True), ("v]1c.cfg", False),  # a `]` before the class is a plain character
    ("[oops", True), ("o", False),  # an unclosed `[` is a plain character
    ("built/app.py", True), ("src/built", False),  # a leading `/` anchors at the context's root
    ("cache/a/b.bin", True), ("cache", False), ("other/cache/x", False),  # `**` at the end crosses `/`
])
def test_dockerignore_patterns_follow_gos_match_rules(path, ignored):
    assert is_ignored(path, PATTERNS) is ignored


def test_a_later_exception_keeps_a_file_an_earlier_pattern_ignores_and_a_later_pattern_wins_again():
    patterns = read_dockerignore("*.log\n!keep.log\nkeep.log\n! spaced.log\n")
    assert is_ignored("keep.log", patterns) is True
    assert is_ignored("spaced.log", patterns) is False
    assert is_ignored("other.log", patterns) is True


def test_the_image_belongs_to_the_component_so_it_takes_the_components_provider_and_options(context):
    synthesis, _ = _image(context)
    component = only(synthesis.of_type("gpu-model-platform:index:ModelImage"))
    assert only(synthesis.of_type(IMAGE), "docker image").parent == component.urn
