"""Mutation testing per module: `python -m tools.mutation MODULE... [--sample N] [--max-seconds S]`.

Built on mutmut (pinned in requirements-dev.txt). Each module is mutated in a scratch copy of the
repository against the test files that mirror it (`targets.py`), so runs of different modules never
share state and the repository itself is never written. Mutants recorded in `equivalent.tsv` (each
with the changed line and a one-line reason) are reported, not counted; every other survivor is.

    score = killed / (mutants run - equivalent)

A timeout counts as killed (the tests stopped it); "no tests" counts as survived (nothing would notice).
mutmut mutates code inside functions and methods only: module-level constants are out of its reach.
"""
