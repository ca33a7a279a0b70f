"""Compare laws on the same runs: PSIS-LOO (ArviZ) and a held-out extrapolation check.

* :func:`compare_laws` fits each law to the same runs and ranks them by PSIS-LOO expected log
  predictive density of log loss (``arviz.compare``), warning for runs whose Pareto k says the
  importance-sampling estimate is unreliable.
* :func:`extrapolation_check` holds out the largest-compute runs, fits the rest, and scores the
  held-out runs: log predictive density, coverage of the 50% and 90% predictive intervals, and
  the median relative error of the predictive median. It works for the Bayesian fit of any law
  and for the Huber-bootstrap baseline (whose predictive adds normal noise with the bootstrap
  fits' robust residual scale), so the two methods can be scored side by side.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayescale.data.runs import NEW_SOURCE, as_runs, unique_tokens
from bayescale.errors import BayescaleError, RunsWarning
from bayescale.fitting.fitter import fit
from bayescale.fitting.result import Fit
from bayescale.queries.draws import law_parameters
from bayescale.queries.frontier import run_loss
from bayescale.queries.loss import predict

log = logging.getLogger("bayescale")

# Pareto k above this: the PSIS-LOO estimate for that run is unreliable (Vehtari et al. 2024
# use min(1 - 1/log10(S), 0.7); 0.7 for the draws a fit has).
PARETO_K_LIMIT = 0.7


@dataclass(frozen=True)
class LawComparison:
    """The PSIS-LOO comparison of several laws fitted to the same runs.

    Attributes
    ----------
    table : pandas.DataFrame
        ``arviz.compare``'s table (rank, elpd, p, elpd_diff, weight, se, dse, warning), one row
        per law, best first, plus ``bad_pareto_k`` (runs with k > 0.7) and ``converged``.
    fits : dict
        Law (model) name -> its :class:`bayescale.Fit`.
    pareto_k : pandas.DataFrame
        Pareto k of each run (rows) under each law (columns).

    """

    table: pd.DataFrame
    fits: dict
    pareto_k: pd.DataFrame


def compare_laws(runs, models: Sequence[str] = ("chinchilla", "kaplan"), **fit_options) -> (
        LawComparison):
    """Fit each law to the same runs and compare them by PSIS-LOO.

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        The runs.
    models : sequence of str, default ("chinchilla", "kaplan")
        Named models (see :func:`bayescale.spec.available_specs`), at least two.
    **fit_options
        Passed to :func:`bayescale.fit` for every law (``draws``, ``seed``, ``with_datasets``,
        ...).

    Returns
    -------
    LawComparison
        The table, the fits and each run's Pareto k. A :class:`RunsWarning` names the runs
        whose Pareto k exceeds 0.7, per law.

    """
    if len(models) < 2 or len(set(models)) != len(models):
        raise BayescaleError(f"compare needs at least two different laws (models), got "
                             f"{list(models)}")
    if fit_options.get("log_likelihood") is False:
        raise BayescaleError("compare_laws ranks laws by PSIS-LOO, which needs the pointwise "
                             "log likelihood: drop log_likelihood=False")
    runs = as_runs(runs)
    fits, results, pareto = {}, {}, {}
    for name in models:
        fits[name] = fit(runs, model=name, **fit_options)
        with warnings.catch_warnings():  # replaced by the warning below, which names the runs
            warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
            results[name] = az.loo(fits[name].tree)
        pareto[name] = pd.Series(np.asarray(results[name].pareto_k),
                                 index=fits[name].tree["runs"]["row"].values)
    table = az.compare(results, round_to="none")
    pareto_k = pd.DataFrame(pareto)
    bad = pareto_k > PARETO_K_LIMIT
    table["bad_pareto_k"] = [int(bad[name].sum()) for name in table.index]
    table["converged"] = [fits[name].converged for name in table.index]
    for name in models:
        if bad[name].any():
            rows = ", ".join(f"{row} (k={k:.2f})" for row, k in
                             pareto_k.loc[bad[name], name].sort_values().items())
            warnings.warn(f"PSIS-LOO under the {name} law is unreliable for {bad[name].sum()} "
                          f"run(s) with Pareto k > {PARETO_K_LIMIT}: {rows}. These runs weigh "
                          "heavily on the fit (outliers, or the edge of the range); check them, "
                          "or compare by the extrapolation check instead", RunsWarning,
                          stacklevel=2)
    return LawComparison(table=table, fits=fits, pareto_k=pareto_k)


# Central predictive intervals whose coverage of held-out runs is scored.
INTERVALS = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class ExtrapolationScore:
    """How well a fit to the smaller runs predicts the largest-compute ones.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per held-out run: its ``N``, ``D``, ``C``, ``source``, ``loss``, the predictive
        ``median``, the bounds of the 50%, 80%, 90% and 95% intervals (``lo50``, ``hi50``, ...),
        ``lpd`` (log predictive density of its log loss) and ``rel_error`` (median / loss - 1).
    summary : dict
        ``n_fit``, ``n_held_out``, ``threshold_flops`` (held out: C >= this), ``lpd_mean``,
        ``coverage50``, ``coverage80``, ``coverage90``, ``coverage95``,
        ``median_abs_rel_error``, ``converged``.
    fit : Fit
        The fit to the kept runs.

    """

    runs: pd.DataFrame
    summary: dict
    fit: Fit


def extrapolation_check(runs, model: str = "chinchilla", *, holdout: float = 0.2,
                        holdout_above: float | None = None, method: str = "bayes",
                        seed: int = 0, **fit_options) -> ExtrapolationScore:
    """Hold out the largest-compute runs, fit the rest, and score the held-out runs.

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        The runs.
    model : str, default "chinchilla"
        The law (named model) to fit.
    holdout : float, default 0.2
        Fraction of runs to hold out, those with the largest compute C (ties kept together).
    holdout_above : float, optional
        Hold out the runs with C >= this many FLOPs instead of a fraction.
    method : {"bayes", "huber-bootstrap"}, default "bayes"
        The fitting method (see :func:`bayescale.fit`).
    seed : int, default 0
        Seed of the fit and of the predictive draws.
    **fit_options
        Passed to :func:`bayescale.fit` (``draws``, ``resamples``, ...).

    Returns
    -------
    ExtrapolationScore
        Per-run scores and their summary.

    """
    runs = as_runs(runs)
    split = fit_options.pop("split_sources_by", None)
    if split is not None:  # split before holding out, so held-out runs keep their sources
        runs = runs.split_by(split)
    threshold = _threshold(runs.table["C"], holdout, holdout_above)
    held = runs.table["C"] >= threshold
    if held.all() or (~held).sum() < 5:
        raise BayescaleError(f"holding out runs with C >= {threshold:.3g} leaves "
                             f"{(~held).sum()} runs to fit; hold out fewer")
    kept = runs.select(~held.to_numpy()).with_note(
        f"extrapolation check: held out {held.sum()} runs with C >= {threshold:.3g}")
    fitted = fit(kept, model=model, method=method, seed=seed, **fit_options)
    scored = _score(fitted, runs.table[held], seed)
    summary = {
        "n_fit": int((~held).sum()), "n_held_out": int(held.sum()),
        "threshold_flops": float(threshold),
        "lpd_mean": float(scored["lpd"].mean()),
        **{f"coverage{round(100 * level)}": float(scored[f"in{round(100 * level)}"].mean())
           for level in INTERVALS},
        "median_abs_rel_error": float(scored["rel_error"].abs().median()),
        "converged": fitted.converged,
    }
    log.info("bayescale: extrapolation check (%s, %s): %d held-out runs, median |error| "
             "%.2f%%, 90%% coverage %.0f%%", model, method, summary["n_held_out"],
             100 * summary["median_abs_rel_error"], 100 * summary["coverage90"])
    return ExtrapolationScore(runs=scored.drop(columns=[f"in{round(100 * level)}"
                                                        for level in INTERVALS]),
                              summary=summary,
                              fit=fitted)


def _threshold(flops: pd.Series, holdout: float, holdout_above: float | None) -> float:
    if holdout_above is not None:
        if not flops.min() < holdout_above <= flops.max():
            raise BayescaleError(f"holdout_above={holdout_above:.3g} must lie within the runs' "
                                 f"compute range ({flops.min():.3g}, {flops.max():.3g}]")
        return float(holdout_above)
    if not 0 < holdout < 1:
        raise BayescaleError(f"holdout must be a fraction between 0 and 1, not {holdout}")
    count = max(1, round(holdout * len(flops)))
    return float(np.sort(flops.to_numpy())[-count])


def _score(fitted: Fit, held: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Predictive intervals and log predictive density of each held-out run."""
    rows = []
    for source, group in held.groupby("source", sort=False):
        chosen = source if source in fitted.sources else NEW_SOURCE
        U = _unique_tokens_read(fitted, group)
        draws = predict(fitted, group["N"], group["D"], source=chosen, noise=True, seed=seed,
                        unique_tokens=U)
        probs = [p for level in INTERVALS for p in ((1 - level) / 2, (1 + level) / 2)]
        quantiles = draws.quantile([0.5, *probs], dim=("chain", "draw"))
        lpd = _log_predictive_density(fitted, group, chosen, seed)
        for i, (row, run) in enumerate(group.iterrows()):
            q = quantiles.isel(run=i).values
            scores = {"row": row, "N": run["N"], "D": run["D"], "C": run["C"],
                      "source": source, "loss": run["loss"], "median": q[0],
                      "lpd": lpd[i], "rel_error": q[0] / run["loss"] - 1}
            for k, level in enumerate(INTERVALS):
                low, high = q[1 + 2 * k], q[2 + 2 * k]
                name = f"{round(100 * level)}"
                scores |= {f"lo{name}": low, f"hi{name}": high,
                           f"in{name}": low <= run["loss"] <= high}
            rows.append(scores)
    return pd.DataFrame(rows).set_index("row")


def _unique_tokens_read(fitted: Fit, group: pd.DataFrame) -> np.ndarray | None:
    """Return the runs' unique tokens if the fitted law reads them (else U is metadata)."""
    return unique_tokens(group) if "U" in fitted.spec.law_object.inputs else None


def _log_predictive_density(fitted: Fit, group: pd.DataFrame, source: str,
                            seed: int) -> np.ndarray:
    """Log of the posterior-averaged density of each run's observed log loss."""
    params = law_parameters(fitted, source=source, seed=seed)
    U = _unique_tokens_read(fitted, group)
    U = None if U is None else xr.DataArray(U, dims="run")
    # The law's loss with its discrepancy beyond the fitted runs: one draw of it per posterior
    # draw (Monte Carlo over the discrepancy).
    mu = np.log(run_loss(params, xr.DataArray(group["N"].to_numpy(), dims="run"),
                         xr.DataArray(group["D"].to_numpy(), dims="run"),
                         U)
                ).transpose("chain", "draw", "run").values
    observed = np.log(group["loss"].to_numpy())
    sigma = params["sigma"].values[..., None]
    if "nu" in params:
        density = stats.t.logpdf(observed, df=params["nu"].values[..., None], loc=mu,
                                 scale=sigma)
    elif params.attrs.get("likelihood") == "laplace":
        density = stats.laplace.logpdf(observed, loc=mu, scale=sigma)
    else:
        density = stats.norm.logpdf(observed, loc=mu, scale=sigma)
    density = density.reshape(-1, len(group))
    return np.logaddexp.reduce(density, axis=0) - np.log(density.shape[0])
