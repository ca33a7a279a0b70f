"""Observed compute-optimal model sizes: the vertex of each IsoFLOP budget's parabola.

An IsoFLOP budget's runs trace the loss against model size at fixed compute; the vertex of a
parabola of log loss in log N near their minimum is the budget's observed optimum (Hoffmann et
al.'s Approach 2). It is the ground truth that an allocation's interval is scored against.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Keep, per budget, the runs within this relative amount of its lowest loss (as Approach 2).
WINDOW = 0.05
# A vertex needs this many runs near the minimum, and runs on both sides of it.
FEWEST_RUNS = 4


def observed_optima(table: pd.DataFrame, budget: str = "budget",
                    window: float = WINDOW) -> pd.DataFrame:
    """Return each IsoFLOP budget's observed optimum, by least squares, with its standard error.

    Parameters
    ----------
    table : pandas.DataFrame
        Runs of one source with columns ``N``, ``loss`` and ``budget``.
    budget : str, default "budget"
        The column naming each run's FLOP budget.
    window : float, default 0.05
        Per budget, fit the runs whose loss is within this relative amount of its lowest loss.

    Returns
    -------
    pandas.DataFrame
        One row per budget whose minimum is bracketed (not at its smallest or largest N) with
        at least :data:`FEWEST_RUNS` runs near it and an upward parabola: ``budget``,
        ``log_N_opt`` (natural log of the vertex), ``se`` (its standard error by the delta
        method) and ``runs``. Budgets without such a vertex are left out.

    """
    rows = []
    for value, group in table.groupby(budget, sort=True):
        best = group["loss"].idxmin()
        if group.loc[best, "N"] in (group["N"].min(), group["N"].max()):
            continue
        near = group[group["loss"] <= group["loss"].min() * (1 + window)]
        x = np.log(near["N"].to_numpy())
        if len(near) < FEWEST_RUNS or not (x.min() < np.log(group.loc[best, "N"]) < x.max()):
            continue
        centre = x.mean()
        coef, cov = np.polyfit(x - centre, np.log(near["loss"].to_numpy()), 2, cov="unscaled")
        residuals = np.log(near["loss"].to_numpy()) - np.polyval(coef, x - centre)
        dof = len(near) - 3
        if coef[0] <= 0:
            continue
        vertex = -coef[1] / (2 * coef[0])
        # Delta method on vertex = -b / (2a); the residual variance scales the unscaled cov.
        scale = float(residuals @ residuals / dof) if dof > 0 else np.nan
        gradient = np.array([coef[1] / (2 * coef[0] ** 2), -1 / (2 * coef[0]), 0.0])
        se = float(np.sqrt(max(gradient @ (cov * scale) @ gradient, 0.0))) if dof > 0 \
            else np.nan
        if not (x.min() <= vertex + centre <= x.max()):
            continue
        rows.append({"budget": float(value), "log_N_opt": float(vertex + centre), "se": se,
                     "runs": len(near)})
    return pd.DataFrame(rows, columns=["budget", "log_N_opt", "se", "runs"])
