"""`python -m tools.synth --stack dev --out build/dev`: the program's resources, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stack_config.loader import ConfigError
from tools.synth import render
from tools.synth.stack import PROJECT_DIR, synth_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.synth", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name: dev, prod, local, ...")
    parser.add_argument("--out", type=Path, help="output directory (default build/<stack>)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR,
                        help="directory holding __main__.py and the stack files (default: this project)")
    args = parser.parse_args(argv)
    out = args.out or Path("build") / args.stack
    try:
        synthesis = synth_stack(args.stack, project_dir=args.project_dir)
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = render.write(synthesis, out)
    print(render.summary(synthesis))
    print(f"wrote {len(files)} files under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
