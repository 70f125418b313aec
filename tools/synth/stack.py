"""Synthesize one stack of this project from its `Pulumi.<stack>.yaml`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from stack_config.loader import other_namespaces, read_stack_file
from stack_config.schema import PROJECT
from tools.synth.engine import Synthesis, run_main
from tools.synth.fakes import FakeCloud

PROJECT_DIR = Path(__file__).resolve().parents[2]


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path.name}; stacks: {', '.join(known)}")
    return path


def synth_stack(stack: str, *, project_dir: Path = PROJECT_DIR,
                secret_values: Optional[dict[str, str]] = None,
                overrides: Optional[dict[str, Any]] = None) -> Synthesis:
    """Run `__main__.py` with the stack's config under mocks.

    Encrypted values become placeholders (or `secret_values[path]`); `overrides`
    replaces whole config sections (e.g. `{"model": {...}}`) for tests.
    """
    path = stack_file(stack, project_dir)
    raw = read_stack_file(path, secret_values)
    sections = {**raw.sections, **(overrides or {})}
    config, secret_keys = type(raw)(sections=sections, secret_paths=raw.secret_paths).as_pulumi_config()
    for key, value in other_namespaces(path).items():
        config[key] = value if isinstance(value, str) else json.dumps(value)
    region = (sections.get("aws") or {}).get("region") if isinstance(sections.get("aws"), dict) else None
    cloud = FakeCloud(region=region) if isinstance(region, str) else FakeCloud()
    return run_main(project_dir / "__main__.py", project=PROJECT, stack=stack, config=config,
                    secret_keys=secret_keys, cloud=cloud)
