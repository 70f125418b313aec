"""What a push to main changes, so it deploys only that: a new image, the program, or nothing.

A push whose files are none of the image's inputs keeps the digest the stacks run (no build, no new
canary); one that touches neither the image nor the program (docs, tests, bench) deploys nothing.
Patterns are `fnmatch` globs against repository paths (`*` crosses `/`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

# What goes into the image or decides whether it passes: the model, its server, how it is trained and
# gated, and the build itself.
IMAGE_INPUTS: tuple[str, ...] = (
    "app/*", "tools/delivery/image_gate.py", "tools/delivery/oci.py", ".github/scripts/build-images.sh",
    ".github/workflows/image.yml", ".github/workflows/checks.yml",
)
# What decides what `pulumi up` does to a stack: the program, its library, config, policy pack, locks,
# and the delivery path that runs it.
PROGRAM_INPUTS: tuple[str, ...] = (
    "__main__.py", "Pulumi.yaml", "Pulumi.*.yaml", "components/*", "stack_config/*", "policy/*",
    "requirements.txt", "requirements.lock", "tools/delivery/*", ".github/scripts/*", ".github/actions/*",
    ".github/workflows/deploy.yml", ".github/workflows/stack.yml",
)


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def classify(paths: Iterable[str]) -> dict[str, bool]:
    """`image`: an image input changed (build a new digest); `deploy`: anything a stack runs changed."""
    paths = [p for p in paths if p]
    image = any(_matches(p, IMAGE_INPUTS) for p in paths)
    program = any(_matches(p, PROGRAM_INPUTS) for p in paths)
    return {"image": image, "deploy": image or program}
