"""Decisions from a fit: which run to train (plans) and when a loss is within reach (forecast)."""

from bayescale.decide import forecast
from bayescale.decide.plans import (
    compare_plans,
    inference_aware_plan,
    optimal_plan,
    plan_loss,
    posterior_params,
    regret,
    value_of_next_run,
)

__all__ = ["compare_plans", "forecast", "inference_aware_plan", "optimal_plan", "plan_loss",
           "posterior_params", "regret", "value_of_next_run"]
