"""Timeline forecasts: the compute a target needs, and the year that compute is reached.

Per posterior draw, :func:`compute_for_loss` finds the compute-optimal budget C at which the
frontier loss L_opt(C) equals a target (``inf`` where the target is at or below what the law
can reach, i.e. below E), and :func:`compute_for_size` the budget at which N_opt(C) equals a
target model size. :func:`forecast_year` turns either into a year under an assumed growth of
the largest training budget: C(t) = C_start g^(t - t_start), with the yearly growth factor g
log-normal (its uncertainty is drawn once per posterior draw, so the year's distribution carries
both the law's and the growth's uncertainty). :func:`forecast_table` summarises it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.errors import BayescaleError
from bayescale.queries.beyond import decades_beyond, warn_if_far
from bayescale.queries.draws import law_parameters
from bayescale.queries.frontier import frontier
from bayescale.spec.laws import get_law

# Search span for the budget, in FLOPs: from a single GPU-second to far beyond any plan.
LOWEST_FLOPS = 1e12
HIGHEST_FLOPS = 1e45
_ITERATIONS = 40
# The scan's step in decades of compute, before the bisection inside the first cell reached.
_GRID_DECADES = 0.25


def _invert(quantity, target: float, params: xr.Dataset, decreasing: bool) -> xr.DataArray:
    """Return, per draw, the least compute at which ``quantity(params, C)`` reaches ``target``.

    Beyond the fitted runs the law's discrepancy can make a draw's frontier turn (its loss
    rising again far out, where the law flattens): the first crossing is the answer, since
    more compute can always train the smaller run that got there. So the budgets are scanned
    on a grid of :data:`_GRID_DECADES` from :data:`LOWEST_FLOPS` to :data:`HIGHEST_FLOPS`,
    and the first grid cell where the target is reached is bisected.

    Returns C per draw (chain, draw): ``inf`` where the target is not reached below
    :data:`HIGHEST_FLOPS`, and :data:`LOWEST_FLOPS` where it is already passed there.
    """
    grid = np.arange(np.log(LOWEST_FLOPS), np.log(HIGHEST_FLOPS) + 1e-9,
                     _GRID_DECADES * np.log(10.0))

    def passed(log_C):
        value = quantity(params, np.exp(log_C))
        return value <= target if decreasing else value >= target

    scan = passed(xr.DataArray(grid, dims="_grid")).transpose("chain", "draw", "_grid")
    reached = scan.any("_grid")
    first = scan.argmax("_grid")  # the first grid point that passes (0 if none)
    high = xr.DataArray(grid, dims="_grid").isel(_grid=first).drop_vars("_grid",
                                                                         errors="ignore")
    low = xr.DataArray(grid, dims="_grid").isel(_grid=np.maximum(first - 1, 0)).drop_vars(
        "_grid", errors="ignore")
    for _ in range(_ITERATIONS):
        middle = (low + high) / 2
        done = passed(middle)
        low, high = xr.where(done, low, middle), xr.where(done, middle, high)
    flops = xr.where(reached, np.exp(high), np.inf)
    return xr.where(reached & (first == 0), LOWEST_FLOPS, flops).rename("flops")


def _frontier_value(name):
    def value(params, flops):
        return frontier(params, flops)[name]
    return value


def compute_for_loss(fit, target_loss: float, *, source: str | None = None,
                     seed: int = 0) -> xr.DataArray:
    """Posterior of the training compute at which a compute-optimal run reaches ``target_loss``.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    target_loss : float
        Loss to reach, in nats/token (in the source's own units: its eval set and tokenizer).
    source : str, optional
        The source whose law is used (a fit only; default: the fit's default source).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    xarray.DataArray
        ``flops`` per draw (chain, draw). ``inf`` in draws whose law never reaches the target
        (the target is at or below its irreducible loss, or needs more than 1e45 FLOPs);
        :data:`LOWEST_FLOPS` where even 1e12 FLOPs reach it.

    """
    params = law_parameters(fit, source=source, seed=seed)
    target_loss = float(target_loss)
    if not (np.isfinite(target_loss) and target_loss > 0):
        raise BayescaleError(f"target_loss must be a positive loss in nats/token, not "
                             f"{target_loss}")
    return _invert(_frontier_value("loss_opt"), target_loss, params, decreasing=True)


def compute_for_size(fit, target_params: float, *, source: str | None = None,
                     seed: int = 0) -> xr.DataArray:
    """Posterior of the budget whose compute-optimal model has ``target_params`` parameters.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    target_params : float
        Model size N_opt to reach.
    source : str, optional
        The source whose law is used (a fit only).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    xarray.DataArray
        ``flops`` per draw (chain, draw), as in :func:`compute_for_loss`.

    """
    params = law_parameters(fit, source=source, seed=seed)
    if not (np.isfinite(target_params) and target_params > 0):
        raise BayescaleError(f"target_params must be positive and finite, not {target_params}")
    if get_law(params.attrs["law"]).optimal_log_params is None:
        raise BayescaleError(f"the '{params.attrs['law']}' law has no N_opt; fit a law of N "
                             "and D (e.g. model='chinchilla')")
    return _invert(_frontier_value("N_opt"), float(target_params), params, decreasing=False)


def forecast_year(fit, *, start_year: float, start_flops: float,
                  growth: float, growth_sd: float = 0.0, target_loss: float | None = None,
                  target_params: float | None = None, source: str | None = None,
                  seed: int = 0) -> xr.Dataset:
    """Posterior of the year a target loss (or a target N_opt) is first within the largest budget.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    start_year : float
        The year of ``start_flops`` (e.g. 2024.0).
    start_flops : float
        The largest training budget in ``start_year``, FLOPs.
    growth : float
        Median yearly growth factor of that budget (e.g. 4.0 for 4x a year; > 1).
    growth_sd : float, default 0
        Standard deviation of the log of the growth factor (log-normal; 0 = known growth).
    target_loss : float, optional
        Loss to reach (nats/token); give this or ``target_params``.
    target_params : float, optional
        Compute-optimal model size to reach.
    source : str, optional
        The source whose law is used (a fit only).
    seed : int, default 0
        Seed for the growth draws and a new source's offsets.

    Returns
    -------
    xarray.Dataset
        Per draw (chain, draw): ``flops`` needed, ``growth`` (the draw's yearly factor),
        ``year`` (``inf`` where never; earlier than ``start_year`` where the budget of that
        year already sufficed) and ``decades_beyond`` (how far that compute lies beyond the
        largest fitted run; the frontier carries the law's discrepancy there, and a median
        more than 3 decades out warns). ``attrs`` hold the assumptions.

    """
    if (target_loss is None) == (target_params is None):
        raise BayescaleError("give exactly one of target_loss and target_params")
    if not (np.isfinite(start_flops) and start_flops > 0):
        raise BayescaleError(f"start_flops must be positive and finite, not {start_flops}")
    if not (np.isfinite(growth) and growth > 1):
        raise BayescaleError(f"growth is a yearly factor above 1 (e.g. 4.0), not {growth}")
    if not (np.isfinite(growth_sd) and growth_sd >= 0):
        raise BayescaleError(f"growth_sd must be >= 0, not {growth_sd}")
    params = law_parameters(fit, source=source, seed=seed)
    if target_loss is not None:
        flops = compute_for_loss(params, target_loss)
    else:
        flops = compute_for_size(params, target_params)
    rng = np.random.default_rng(seed)
    log_growth = flops.copy(data=np.log(growth) + growth_sd * rng.standard_normal(flops.shape))
    # A draw of growth at or below 1 never reaches a larger budget.
    with np.errstate(divide="ignore", invalid="ignore"):
        years = np.log(flops / start_flops) / log_growth
    years = xr.where(log_growth > 0, years, xr.where(flops <= start_flops, 0.0, np.inf))
    target = ("loss", float(target_loss)) if target_loss is not None else (
        "N_opt", float(target_params))
    reached = flops.values[np.isfinite(flops.values)]
    if reached.size:
        warn_if_far(params, [np.median(reached)], "forecast")
    return xr.Dataset({"flops": flops, "growth": np.exp(log_growth),
                       "year": (start_year + years).rename("year"),
                       "decades_beyond": flops.copy(data=decades_beyond(params, flops.values))},
                      attrs={"target": f"{target[0]} = {target[1]:g}",
                             "start_year": float(start_year), "start_flops": float(start_flops),
                             "growth": float(growth), "growth_sd": float(growth_sd)})


def forecast_table(forecast: xr.Dataset, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95)) -> pd.DataFrame:
    """Summarise :func:`forecast_year`: quantiles of the compute and year, and P(never).

    Parameters
    ----------
    forecast : xarray.Dataset
        The result of :func:`forecast_year`.
    quantiles : sequence of float
        Quantiles to report.

    Returns
    -------
    pandas.DataFrame
        Rows ``flops``, ``year`` and ``decades_beyond``, one column per quantile (``inf``
        where more than that share of draws never reach the target), plus ``p_never``.

    """
    rows = {}
    for name in ("flops", "year", "decades_beyond"):
        values = forecast[name].values.reshape(-1)
        row = {f"q{p:g}": float(np.quantile(values, p, method="inverted_cdf")) for p in quantiles}
        row["p_never"] = float(np.mean(~np.isfinite(values)))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
