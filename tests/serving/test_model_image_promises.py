"""ModelImage promises the mutation audit (issue 29) found unguarded: the .dockerignore syntax beyond `*` and `**`
(Docker matches with Go's `filepath.Match` rules: `?`, classes, `\\` escapes; moby/patternmatcher), so the content
hash -- the image's tag -- changes exactly when what Docker sends changes."""

from __future__ import annotations

import pytest

from components.serving.model_image import (
    ModelImageArgs,
    content_hash,
    is_ignored,
    read_dockerignore,
    validate_model_image_args,
)
from tests.harness import only
from tests.serving import test_model_image
from tests.serving.test_model_image import IMAGE, REPO, _image

context = test_model_image.context  # the build-context fixture, shared

PATTERNS = "log?.txt\n[ab].bin\n[^x]y.dat\nliteral\\*.md\nv]1[ab].cfg\n[oops\n/built\ncache/**\n"


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
    # read while the test runs, not at import: the mutation tool ties a test to the code it calls
    assert is_ignored(path, read_dockerignore(PATTERNS)) is ignored


def test_a_later_exception_keeps_a_file_an_earlier_pattern_ignores_and_a_later_pattern_wins_again():
    patterns = read_dockerignore("*.log\n!keep.log\nkeep.log\n! spaced.log\n")
    assert is_ignored("keep.log", patterns) is True
    assert is_ignored("spaced.log", patterns) is False
    assert is_ignored("other.log", patterns) is True


def test_the_image_belongs_to_the_component_so_it_takes_the_components_provider_and_options(context):
    synthesis, _ = _image(context)
    component = only(synthesis.of_type("gpu-model-platform:index:ModelImage"))
    assert only(synthesis.of_type(IMAGE), "docker image").parent == component.urn


def test_a_symlink_in_the_context_is_hashed_by_the_path_it_points_to(context):
    link = context / "server" / "current"
    link.symlink_to("app.py")
    dockerfile = context / "Dockerfile"
    first = content_hash(context, dockerfile, "gpu", "linux/amd64")
    link.unlink()
    link.symlink_to("other.py")  # a dangling link is sent as the link it is
    assert content_hash(context, dockerfile, "gpu", "linux/amd64") != first


def test_the_args_check_names_a_missing_dockerfile_and_the_context_it_was_looked_for_in(context):
    args = ModelImageArgs(repository_url=REPO, context=str(context), dockerfile="Dockerfile.missing")
    assert validate_model_image_args(args) == [
        f"dockerfile: got 'Dockerfile.missing'; no such file in {str(context)!r}"]
    assert validate_model_image_args(ModelImageArgs(repository_url=REPO, context=str(context))) == []


def test_a_dockerfile_without_any_named_stage_is_refused_saying_it_has_none(context):
    (context / "Dockerfile").write_text("FROM python:3.11-slim\n")
    problems = validate_model_image_args(ModelImageArgs(repository_url=REPO, context=str(context)))
    assert len(problems) == 1 and problems[0].startswith("variant: got 'gpu'; ")
    assert problems[0].endswith("declares no stage `AS gpu` (stages: none)")
