"""Questions answered draw by draw from a fit: the frontier, the loss of a run, famous models."""

from bayescale.fitting.summary import interval_table
from bayescale.queries.famous import allocation_gap, optimality, rule_allocation
from bayescale.queries.frontier import compute_optimal
from bayescale.queries.loss import predict

__all__ = ["allocation_gap", "compute_optimal", "interval_table", "optimality", "predict",
           "rule_allocation"]
