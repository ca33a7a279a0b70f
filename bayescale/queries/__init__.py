"""Questions answered draw by draw from a fit: the frontier, the loss of a run, famous models."""

from bayescale._lazy import lazy_exports

__all__ = ["allocation_gap", "compute_optimal", "interval_table", "law_parameters",
           "optimality", "predict", "rule_allocation"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "allocation_gap": "bayescale.queries.famous",
    "optimality": "bayescale.queries.famous",
    "rule_allocation": "bayescale.queries.famous",
    "compute_optimal": "bayescale.queries.frontier",
    "law_parameters": "bayescale.queries.draws",
    "predict": "bayescale.queries.loss",
    "interval_table": "bayescale.fitting.summary",
})
