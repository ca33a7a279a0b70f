"""Leave-one-data-set-out transfer: does borrowing from published runs predict new runs better.

Each registered data set (and source groups inside one) takes a turn as "the user's runs". Its
top 20% by compute are held out; it is fitted in three regimes (its 5 and its 8 lowest-compute
runs that span at least 3 model sizes, and its lower 80%), each way of fitting in turn:

``alone``
    ``bayescale.fit(runs)``: the model's default priors.
``with``
    ``bayescale.fit(runs, with_datasets=<every other data set>)``: the default way of borrowing
    (the literature prior), learned without the held-out data set.
``with-pair``
    The same, centred on two named data sets (the first two of :data:`PAIR_ORDER` that are not
    held out), as a user who names the published runs theirs resemble
    (``--with epoch-chinchilla gadre2024``); its spread is learned from every other data set.
``stacked``
    The ``alone`` and ``with`` fits mixed by the stacking weights of their leave-one-out
    predictive densities on the fitted runs (Yao et al. 2018, :func:`arviz.compare`): the
    weighting of lone and joint fits the issue proposed, measured here.
``bare``
    ``alone`` without the discrepancy beyond the fitted runs (``discrepancy=0``): the posterior
    alone, the anchor the discrepancy must beat.
``huber``
    The Huber-bootstrap baseline (Hoffmann et al.'s Approach 3 as Epoch AI reproduced it), from
    a coarser grid of starts (:data:`bayescale.estimators.huber.COARSE_GRID`) with L-BFGS-B capped
    at :data:`HUBER_MAXITER` iterations, so that fits of 5 runs finish.

Both Bayesian fits widen predictions beyond the fitted runs by the discrepancy learned from the
*other* data sets' nested held-out fits, so nothing of the held-out data set informs its
predictions. Each fit predicts the held-out runs with observation noise; the scores are those of
:func:`bayescale.checks.extrapolation_check` (coverage of 50/80/90/95% intervals, log predictive
density, median relative error), plus the median width of the 90% interval, the wall time and
convergence.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.checks.compare import INTERVALS, _score
from bayescale.estimators.huber import COARSE_GRID, huber_bootstrap
from bayescale.fitting.fitter import fit
from bayescale.fitting.literature import (
    LiteraturePrior,
    learned_discrepancy,
    literature_runs,
    lowest_compute_runs,
)
from bayescale.fitting.result import Fit
from bayescale.spec.model_spec import ModelSpec, load_spec

log = logging.getLogger("bayescale")

HOLDOUT = 0.2
# The baseline here starts from a 243-point grid, each L-BFGS-B run capped at this many
# iterations: with 5-8 runs the optimum is degenerate and Epoch's full grid (4500 starts, 10,000
# iterations each) takes hours per fit.
HUBER_MAXITER = 2000
REGIMES = ("few-5", "few-8", "many")
METHODS = ("alone", "with", "with-pair", "stacked", "huber", "bare")
PAIR_ORDER = ("epoch-chinchilla", "gadre2024", "gemstones")


@dataclass(frozen=True)
class UserSet:
    """One turn as "the user's runs": a data set's source (or all of a one-source data set)."""

    dataset: str
    source: str

    @property
    def label(self) -> str:
        """The source's name (for one-source data sets, the data set's)."""
        return self.source


# Every registered data set takes a turn; gadre2024 with all three training sets and
# porian2024 with three of its 15 configurations (the fully corrected set-up on each corpus,
# and Kaplan's set-up).
USER_SETS = (
    UserSet("epoch-chinchilla", "epoch-chinchilla"),
    UserSet("gadre2024", "gadre2024/c4_original"),
    UserSet("gadre2024", "gadre2024/rpj"),
    UserSet("gadre2024", "gadre2024/rw_original"),
    UserSet("porian2024", "porian2024/rw-tuned-short-const-standard-val"),
    UserSet("porian2024", "porian2024/owt2-tuned-short-const-standard-val"),
    UserSet("porian2024", "porian2024/rw-base-long-kaplan-standard-val"),
    UserSet("gemstones", "gemstones/cool_end"),
    UserSet("datablations", "datablations/single-epoch"),
    UserSet("loss-to-loss", "loss-to-loss/fineweb-edu-100b"),
    UserSet("loss-to-loss", "loss-to-loss/starcoder"),
    UserSet("steplaw", "steplaw/dense"),
)
QUICK_SETS = ("gadre2024/rpj",)
QUICK_METHODS = ("alone", "with", "huber")


def regime_rows(table: pd.DataFrame, regime: str) -> pd.Index:
    """Return the rows a regime fits from the runs below the held-out threshold."""
    if regime == "many":
        return table.index
    return lowest_compute_runs(table, int(regime.split("-")[1]))


def split_heldout(table: pd.DataFrame, holdout: float = HOLDOUT) -> pd.Series:
    """Return a mask of the top ``holdout`` fraction of runs by compute (ties held out too)."""
    count = max(1, round(holdout * len(table)))
    threshold = np.sort(table["C"].to_numpy())[-count]
    return table["C"] >= threshold


def borrowed_spec(kept, user: UserSet, method: str) -> ModelSpec:
    """Return the model a method fits, its literature prior learned without the user's data set.

    ``fit(runs, with_datasets=names)`` centres the prior on ``names`` and learns its spread from
    every registered data set; here the held-out data set is excluded from both. ``alone``:
    the default model.
    """
    spec = load_spec("chinchilla")
    if method in ("alone", "bare"):
        return spec
    if method == "with":
        names = None
    elif method == "with-pair":
        names = [name for name in PAIR_ORDER if name != user.dataset][:2]
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    entries, correlation = LiteraturePrior.from_table(names, exclude=[user.dataset]).for_runs(kept)
    return spec.with_overrides(priors=entries, correlation=correlation)


def stacked_fit(fits: dict[str, Fit]) -> Fit:
    """Mix fits of the same runs and law by the stacking weights of their LOO densities.

    Each chain of the result takes its first draws from the first fit and the rest from the
    next, in proportion to the weights :func:`arviz.compare` finds (``method="stacking"``); a
    fit with more draws (one that sampled again) is thinned evenly to the shortest's count;
    the weights are recorded in the result's ``stacking_weights`` attribute.
    """
    import arviz as az

    weights = az.compare({name: f.tree for name, f in fits.items()},
                         method="stacking")["weight"]
    # fits that sampled again have more draws: thin each to the shortest, evenly
    total = min(f.posterior.sizes["draw"] for f in fits.values())
    posteriors = [f.posterior.isel(draw=np.linspace(0, f.posterior.sizes["draw"] - 1, total)
                                   .round().astype(int)).assign_coords(draw=np.arange(total))
                  for f in fits.values()]
    ends = np.round(np.cumsum([weights[name] for name in fits]) * total).astype(int)
    pieces = [post.isel(draw=slice(start, end)) for post, start, end in
              zip(posteriors, [0, *ends[:-1]], ends, strict=True)]
    mixed = xr.concat(pieces, dim="draw").assign_coords(draw=np.arange(total))
    tree = next(iter(fits.values())).tree.copy()
    tree["posterior"] = xr.DataTree(mixed)
    tree.attrs["stacking_weights"] = {name: float(weights[name]) for name in fits}
    return Fit(tree)


def score_turn(user: UserSet, regime: str, method: str, *, draws: int | None = None,
               resamples: int = 1000, seed: int = 0) -> dict:
    """Fit one user set in one regime with one method and score its held-out runs.

    ``draws``: draws and tuning steps per chain of the Bayesian fits; None for
    :func:`bayescale.fit`'s default (1000, then 2000 and 4000 while not converged).

    Returns
    -------
    dict
        The row of the transfer table.

    """
    runs = literature_runs(user.dataset)
    runs = runs.select(runs.table["source"].to_numpy() == user.source)
    held = split_heldout(runs.table)
    below = runs.table[~held]
    chosen = regime_rows(below, regime)
    kept = runs.select(runs.table.index.isin(chosen))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and far-beyond warnings are recorded
        if method == "huber":
            fitted = Fit(huber_bootstrap(kept, resamples=resamples, seed=seed,
                                         grid=COARSE_GRID, maxiter=HUBER_MAXITER))
        elif method == "stacked":
            tau = learned_discrepancy(exclude=[user.dataset])
            fitted = stacked_fit({name: fit(kept, draws=draws, tune=draws, seed=seed,
                                            discrepancy=tau,
                                            model=borrowed_spec(kept, user, name))
                                  for name in ("alone", "with")})
        else:
            tau = 0.0 if method == "bare" else learned_discrepancy(exclude=[user.dataset])
            fitted = fit(kept, draws=draws, tune=draws, seed=seed, discrepancy=tau,
                         log_likelihood=False, model=borrowed_spec(kept, user, method))
        wall = time.perf_counter() - start
        scored = _score(fitted, runs.table[held], seed)
        allocation = _allocation_scores(fitted, user, runs.table, kept.table["C"].max(), seed)
    width = (scored["hi90"] - scored["lo90"]) / scored["loss"]
    log10_C_max = np.log10(kept.table["C"].max())
    row = {
        "dataset": user.dataset, "user_set": user.label, "regime": regime, "method": method,
        "n_fit": len(kept), "n_held_out": int(held.sum()),
        "decades_beyond_max": float(np.log10(scored["C"].max()) - log10_C_max),
        "median_rel_error": float(scored["rel_error"].abs().median()),
        **{f"coverage{round(100 * level)}": float(
            ((scored[f"lo{round(100 * level)}"] <= scored["loss"])
             & (scored["loss"] <= scored[f"hi{round(100 * level)}"])).mean())
           for level in INTERVALS},
        "median_width90": float(width.median()),
        "interval_score90": float(np.mean(interval_score(
            scored["lo90"], scored["hi90"], scored["loss"]) / scored["loss"])),
        "lpd_mean": float(scored["lpd"].mean()),
        **allocation,
        "wall_s": wall,
        "converged": bool(fitted.converged),
        "weight_with": fitted.tree.attrs.get("stacking_weights", {}).get("with", np.nan),
    }
    log.info("bayescale: transfer %s %s %s: error %.2f%%, 90%% coverage %.0f%%, %.1f s",
             user.label, regime, method, 100 * row["median_rel_error"],
             100 * row["coverage90"], wall)
    return row


def interval_score(low, high, observed, level: float = 0.9):
    """Return the interval score of central ``level`` intervals (Gneiting & Raftery 2007).

    The width plus ``2 / (1 - level)`` times the distance by which the observation misses the
    interval: a proper score (lower is better) that rewards narrow intervals only while they
    cover.
    """
    low, high, observed = (np.asarray(v, dtype=float) for v in (low, high, observed))
    penalty = 2 / (1 - level)
    return (high - low) + penalty * (np.maximum(low - observed, 0)
                                     + np.maximum(observed - high, 0))


def _allocation_scores(fitted: Fit, user: UserSet, table: pd.DataFrame, c_max: float,
                       seed: int) -> dict:
    """Score N_opt at the IsoFLOP budgets beyond the fitted runs against their observed optima.

    Only for data sets with budgets (:data:`bayescale.fitting.literature.BUDGET_COLUMNS`):
    the 90% and 50% coverage of the fit's N_opt intervals, and the mean 90% interval score of
    log N_opt (in natural-log units), over the budgets beyond ``c_max`` whose optimum is
    observed (:func:`bayescale.checks.optima.observed_optima`). Empty elsewhere.
    """
    from bayescale.checks.optima import observed_optima
    from bayescale.fitting.literature import BUDGET_COLUMNS
    from bayescale.queries.frontier import compute_optimal

    empty = {"n_budgets": 0, "N_opt_coverage90": np.nan, "N_opt_coverage50": np.nan,
             "N_opt_interval_score90": np.nan}
    if user.dataset not in BUDGET_COLUMNS:
        return empty
    optima = observed_optima(table, BUDGET_COLUMNS[user.dataset])
    optima = optima[optima["budget"] > c_max]
    if optima.empty:
        return empty
    log_N = np.log(compute_optimal(fitted, optima["budget"].to_numpy(), seed=seed)[
        "N_opt"].values.reshape(-1, len(optima)))
    observed = optima["log_N_opt"].to_numpy()
    q05, q25, q75, q95 = np.quantile(log_N, [0.05, 0.25, 0.75, 0.95], axis=0)
    return {"n_budgets": len(optima),
            "N_opt_coverage90": float(np.mean((q05 <= observed) & (observed <= q95))),
            "N_opt_coverage50": float(np.mean((q25 <= observed) & (observed <= q75))),
            "N_opt_interval_score90": float(np.mean(interval_score(q05, q95, observed)))}


def transfer_table(sets: tuple[str, ...] | None = None, regimes=REGIMES, methods=METHODS, *,
                   draws: int | None = None, resamples: int = 1000, seed: int = 0,
                   progress: bool = False, done=(), on_row=None) -> pd.DataFrame:
    """Run the leave-one-data-set-out transfer benchmark.

    Parameters
    ----------
    sets : tuple of str, optional
        User-set labels to run (default: all of :data:`USER_SETS`).
    regimes, methods : sequence of str
        Which of :data:`REGIMES` and :data:`METHODS` to run.
    draws : int, optional
        Draws and tuning steps per chain of the Bayesian fits (4 chains). Default: as
        :func:`bayescale.fit` chooses them (1000, then 2000 and 4000 while not converged).
    resamples : int, default 1000
        Bootstrap resamples of the Huber baseline.
    seed : int, default 0
        Seed of every fit and prediction.
    progress : bool, default False
        Print a line per turn on stderr as it finishes.
    done : collection of (str, str, str), optional
        (user set, regime, method) turns already made: skipped (a resumed run).
    on_row : callable, optional
        Called with each row as it finishes (e.g. to append it to a file).

    Returns
    -------
    pandas.DataFrame
        One row per (user set, regime, method) made; see :func:`score_turn`.

    """
    chosen = [user for user in USER_SETS if sets is None or user.label in sets]
    rows = []
    for user in chosen:
        for regime in regimes:
            for method in methods:
                if (user.label, regime, method) in done:
                    continue
                row = score_turn(user, regime, method, draws=draws, resamples=resamples,
                                 seed=seed)
                rows.append(row)
                if on_row is not None:
                    on_row(row)
                if progress:
                    print(f"{user.label} {regime} {method}: error "
                          f"{100 * row['median_rel_error']:.2f}%, 90% coverage "
                          f"{100 * row['coverage90']:.0f}%, {row['wall_s']:.1f} s",
                          file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per method and regime: mean of the sets' median errors, pooled coverage, worst set."""
    weights = table["n_held_out"]
    rows = []
    for (method, regime), group in table.groupby(["method", "regime"], sort=False):
        w = weights[group.index]
        rows.append({
            "method": method, "regime": regime, "sets": len(group),
            "mean_median_rel_error": float(group["median_rel_error"].mean()),
            **{f"coverage{round(100 * level)}_pooled": float(
                np.average(group[f"coverage{round(100 * level)}"], weights=w))
               for level in INTERVALS},
            "coverage90_min": float(group["coverage90"].min()),
            "coverage90_max": float(group["coverage90"].max()),
            "lpd_mean": float(group["lpd_mean"].mean()),
            "interval_score90_mean": float(group["interval_score90"].mean()),
            "n_budgets": int(group["n_budgets"].sum()),
            "N_opt_coverage90_pooled": float(np.average(
                group["N_opt_coverage90"].fillna(0), weights=group["n_budgets"]))
            if group["n_budgets"].sum() else np.nan,
            "N_opt_interval_score90_mean": float(group["N_opt_interval_score90"].mean()),
            "wall_s": float(group["wall_s"].sum()),
            "converged": f"{int(group['converged'].sum())}/{len(group)}",
        })
    return pd.DataFrame(rows)
