"""`python -m tools.synth --stack dev --out build/dev`: the program's resources, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from stack_config.loader import ConfigError, read_stack_file
from tools.synth import render
from tools.synth.platform import platform_summary
from tools.synth.stack import PROJECT_DIR, synth_stack


def _overrides(stack: str, project_dir: Path, settings: list[str]) -> dict:
    """`section.key.sub=value` settings (values read as YAML) merged into the stack file's sections."""
    if not settings:
        return {}
    sections = read_stack_file(project_dir / f"Pulumi.{stack}.yaml").sections
    changed: dict = {}
    for setting in settings:
        path, sep, value = setting.partition("=")
        if not sep or "." not in path and not path:
            raise ValueError(f"--set {setting!r}: expected section.key=value")
        section, *keys = path.split(".")
        target = changed.setdefault(section, dict(sections.get(section) or {}))
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if keys:
            target[keys[-1]] = yaml.safe_load(value)
        else:
            changed[section] = yaml.safe_load(value)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.synth", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name: dev, prod, local, ...")
    parser.add_argument("--out", type=Path, help="output directory (default build/<stack>)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR,
                        help="directory holding __main__.py and the stack files (default: this project)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key for this run, e.g. --set autoscaling.provisioner=karpenter "
                             "(repeatable; the value is read as YAML)")
    args = parser.parse_args(argv)
    out = args.out or Path("build") / args.stack
    try:
        overrides = _overrides(args.stack, args.project_dir, args.set)
        synthesis = synth_stack(args.stack, project_dir=args.project_dir, overrides=overrides)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = render.write(synthesis, out)
    print(render.summary(synthesis))
    print(platform_summary(synthesis))
    print(f"wrote {len(files)} files under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
