"""Decisions from a fit: which run to train (plans) and when a loss is within reach (forecast)."""

from bayescale._lazy import lazy_exports

__all__ = ["compare_plans", "forecast", "inference_aware_plan", "optimal_plan", "plan_loss",
           "regret", "value_of_next_run"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "forecast": "bayescale.decide.forecast",
    **{name: "bayescale.decide.plans" for name in __all__ if name != "forecast"},
})
