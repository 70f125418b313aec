"""`python -m gpu_model_platform.policy` prints the shipped pack's directory, for `pulumi preview --policy-pack`."""

from pathlib import Path

print(Path(__file__).resolve().parent / "pack")
