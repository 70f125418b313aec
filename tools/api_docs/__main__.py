"""Generate or check the API reference: `python -m tools.api_docs [--check]`.

Writes docs/api/reference/ (an index and one page per module of public names) from the
docstrings and type hints of `components/`. `--check` writes nothing and fails on a missing
docstring, a private type in a public signature, a broken cross-reference, or a generated page
that is out of date.
"""

from __future__ import annotations

import argparse
import sys

from tools.api_docs import (
    Renderer,
    broken_references,
    load,
    missing_docstrings,
    private_types_in_signatures,
    stale_pages,
    write_pages,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.api_docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail on problems or out-of-date pages; write nothing")
    args = parser.parse_args(argv)

    api = load()
    pages = Renderer(api).render_all()
    problems = missing_docstrings(api) + private_types_in_signatures(api) + broken_references(api, pages)
    if args.check:
        problems += stale_pages(pages)
        if problems:
            print("API reference check failed:", *(f"  {p}" for p in problems), sep="\n", file=sys.stderr)
            print("Fix the docstrings, then run `python -m tools.api_docs`.", file=sys.stderr)
            return 1
        print(f"API reference is complete and up to date ({len(api.objects)} public names).")
        return 0
    written = write_pages(pages)
    print(f"docs/api/reference: {len(pages)} pages, {len(written)} rewritten")
    if problems:
        print("but the reference has problems:", *(f"  {p}" for p in problems), sep="\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
