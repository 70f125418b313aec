"""The single-model stacks' resources, pinned: `python -m tests.catalogue.pin --update` rewrites the pin.

Run it only when a change to what dev, prod or local register is meant; the catalogue (issue 25) must not be one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PIN = Path(__file__).with_name("single_model_resources.json")


def urn_tail(urn: str) -> str:
    """A URN after its stack and project: the type chain and the name, what identifies a resource in a stack."""
    return urn.split("::", 2)[2]


def pinned() -> dict:
    return json.loads(PIN.read_text())


def update(stacks: list[str]) -> None:
    from tests.harness import stack
    document = pinned()
    document["stacks"] = {name: sorted(urn_tail(r.urn) for r in stack(name).resources) for name in stacks}
    PIN.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    update(sorted(pinned()["stacks"]))
