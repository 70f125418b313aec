"""Realistic provider outputs for the offline synth, keyed by Pulumi type token.

Each module registers the resource types (and invokes) of one provider area.
Outputs are derived from the type, the logical name and the inputs only, so
two runs of the same program give identical results.
"""

from tools.synth.fakes import autoscaling as _autoscaling  # noqa: F401
from tools.synth.fakes import aws as _aws  # noqa: F401
from tools.synth.fakes import images as _images  # noqa: F401

# Importing the modules registers their fakes.
from tools.synth.fakes import kubernetes as _kubernetes  # noqa: F401
from tools.synth.fakes import load_balancing as _load_balancing  # noqa: F401
from tools.synth.fakes.registry import FakeCloud, fake_call, fake_resource

__all__ = ["FakeCloud", "fake_call", "fake_resource"]
