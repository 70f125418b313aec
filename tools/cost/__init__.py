"""Monthly cost of a stack from what its program declares: `python -m tools.cost --stack prod`."""

from tools.cost.estimate import Estimate, estimate

__all__ = ["Estimate", "estimate"]
