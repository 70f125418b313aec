"""Helpers the delivery workflows run (.github/workflows): what each stack needs from CI, the digest of a
built image, the quality gate against a running image, and the summary of a saved plan.

Each is a function tested in tests/test_delivery_tools.py and a subcommand of `python -m tools.delivery`.
"""
