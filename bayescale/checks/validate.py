"""Simulation-based calibration (SBC) of a model specification on a realistic design.

SBC (Talts et al. 2018, arXiv:1804.06788) draws parameters from the prior, simulates runs from
them on a fixed design of (N, D), fits each simulated data set, and records the rank of the true
value among the posterior draws. If the sampler and the model are right, every rank is uniform
on 0..L; a skew, a U or a hump in the rank histogram says the posterior is biased, too narrow or
too wide. Tracked: the law's parameters (raw units) and N_opt at a frontier budget.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import stats

from bayescale.checks.compare import _threshold, extrapolation_check
from bayescale.checks.sweep import is_failure, local_map
from bayescale.data import datasets
from bayescale.data.runs import Runs, as_runs
from bayescale.errors import BayescaleError, ConvergenceWarning
from bayescale.fitting.fitter import fit
from bayescale.inference.model import build_model, reference_scales
from bayescale.queries.frontier import compute_optimal, frontier
from bayescale.spec.model_spec import ModelSpec, load_spec

log = logging.getLogger("bayescale")

DEFAULT_DESIGN = "epoch-chinchilla"
DEFAULT_FLOPS = 1e24
BASELINE_LABEL = "huber-bootstrap (per source)"


def design_runs(design: str | pd.DataFrame = DEFAULT_DESIGN) -> Runs:
    """Return the (N, D) design of an SBC as runs with a placeholder loss (one source).

    Parameters
    ----------
    design : str or pandas.DataFrame
        A registered data set (its runs' N and D, pooled into one source) or a table with
        columns ``N`` and ``D``.

    Returns
    -------
    Runs
        Runs with the design's N and D and loss 1.0 (replaced by simulated losses).

    """
    table = datasets.load(design).table if isinstance(design, str) else pd.DataFrame(design)
    missing = {"N", "D"} - set(table.columns)
    if missing:
        raise BayescaleError(f"an SBC design needs columns N and D; missing {sorted(missing)}")
    return as_runs(pd.DataFrame({"N": table["N"].to_numpy(), "D": table["D"].to_numpy(),
                                 "loss": 1.0, "source": "sbc"}))


def simulate_from_prior(spec: ModelSpec, design: Runs, n_sims: int, seed: int = 0):
    """Draw ``n_sims`` parameter sets from the prior and the runs' log losses they imply.

    Returns
    -------
    (xarray.Dataset, numpy.ndarray)
        The prior draws (dims chain=1, draw) and the simulated log losses (sims x runs).

    """
    with build_model(design, spec):
        prior = pm.sample_prior_predictive(draws=n_sims, random_seed=seed)
    return prior["prior"].to_dataset(), prior["prior_predictive"]["log_loss"].values[0]


def _true_values(prior: xr.Dataset, spec: ModelSpec, design: Runs, flops: float):
    """Return the tracked quantities of each prior draw: raw parameters and N_opt at ``flops``."""
    law = spec.law_object
    sampled = {name: prior[f"{law.sampled_name(name)}_source"].isel(source=0, drop=True)
               for name in law.parameters}
    params = xr.Dataset(law.to_raw(sampled, reference_scales(design)), attrs={"law": law.name})
    values = {name: (np.exp(params[law.key(name)]) if name in law.log_scale else
                     params[law.key(name)]) for name in law.parameters}
    if law.optimal_log_params is not None:
        best = frontier(params, xr.DataArray([flops], dims="flops"))
        values["N_opt"] = best["N_opt"].isel(flops=0, drop=True)
    return {name: np.asarray(value).reshape(-1) for name, value in values.items()}


def _posterior_values(fitted, spec: ModelSpec, flops: float) -> dict[str, np.ndarray]:
    law = spec.law_object
    post = fitted.posterior
    values = {}
    for name in law.parameters:
        sampled = post[f"{law.sampled_name(name)}_source"].isel(source=0, drop=True)
        values[name] = sampled
    raw = law.to_raw(values, fitted.reference_scales)
    out = {name: (np.exp(raw[law.key(name)]) if name in law.log_scale else raw[law.key(name)])
           for name in law.parameters}
    if law.optimal_log_params is not None:
        out["N_opt"] = compute_optimal(fitted, [flops], discrepancy=False)["N_opt"].isel(
            flops=0, drop=True)
    return {name: np.asarray(value).reshape(-1) for name, value in out.items()}


def sbc_rank(true_value: float, draws: np.ndarray, n_ranks: int, rng) -> int:
    """Rank of ``true_value`` among ``n_ranks`` draws thinned evenly from ``draws``.

    Ties (e.g. a parameter pinned by the data to machine precision) are broken at random.
    """
    thinned = draws[np.linspace(0, draws.size - 1, n_ranks).round().astype(int)]
    below = int(np.sum(thinned < true_value))
    ties = int(np.sum(thinned == true_value))
    return below + (int(rng.integers(ties + 1)) if ties else 0)


def sbc(spec: str | ModelSpec = "chinchilla", n_sims: int = 200, *,
        design: str | pd.DataFrame = DEFAULT_DESIGN, flops: float = DEFAULT_FLOPS,
        n_ranks: int = 99, draws: int = 500, tune: int = 500, chains: int = 2,
        seed: int = 0, run=None, **fit_options) -> xr.Dataset:
    """Simulation-based calibration of ``spec`` on a realistic (N, D) design.

    Parameters
    ----------
    spec : str or ModelSpec, default "chinchilla"
        The model (one source: the design is one lab's runs).
    n_sims : int, default 200
        Simulated data sets (one fit each).
    design : str or pandas.DataFrame, default "epoch-chinchilla"
        Where the simulated runs sit: a registered data set's (N, D) or a table of them.
    flops : float, default 1e24
        The frontier budget at which N_opt is tracked.
    n_ranks : int, default 99
        Posterior draws each rank is taken among (thinned evenly), so ranks are 0..n_ranks.
    draws, tune, chains : int
        Sampler settings of each fit (``draws * chains`` should exceed ``n_ranks`` by far).
    seed : int, default 0
        Seed of the prior draws; fit i uses ``seed + 1 + i``.
    run : callable, optional
        ``run(function, items)`` maps the fits (default: one after another in this process);
        ``functools.partial(bayescale.checks.sweep.dask_map, scheduler=...)`` runs them on Dask.
    **fit_options
        Passed to :func:`bayescale.fit` (e.g. ``sampler``).

    Returns
    -------
    xarray.Dataset
        ``rank`` (sim, quantity), ``true_value`` (sim, quantity), ``converged`` (sim) and
        ``error`` (sim: empty, or why that fit failed; its ranks are NaN). ``attrs`` record the
        design, budget, ``n_ranks`` and settings. See :func:`uniformity`.

    """
    spec = spec if isinstance(spec, ModelSpec) else load_spec(spec)
    if n_sims < 1:
        raise BayescaleError(f"n_sims must be at least 1, not {n_sims}")
    if draws * chains < 2 * n_ranks:
        raise BayescaleError(f"{draws} draws x {chains} chains are too few to rank among "
                             f"{n_ranks}: use at least {2 * n_ranks} draws in all")
    runs = design_runs(design)
    prior, log_losses = simulate_from_prior(spec, runs, n_sims, seed=seed)
    truths = _true_values(prior, spec, runs, flops)
    quantities = list(truths)
    tasks = [{"index": i, "log_loss": log_losses[i],
              "truth": {name: float(truths[name][i]) for name in quantities}}
             for i in range(n_sims)]
    settings = dict(spec=spec, runs=runs, flops=flops, n_ranks=n_ranks, draws=draws,
                    tune=tune, chains=chains, seed=seed, fit_options=fit_options)
    results = (run or local_map)(_SimulationFit(**settings), tasks)
    rank = np.full((n_sims, len(quantities)), np.nan)
    converged = np.zeros(n_sims, dtype=bool)
    errors = np.array([""] * n_sims, dtype=object)
    for i, result in enumerate(results):  # in the order of the tasks
        errors[i] = result.get("error", "")
        if not errors[i]:
            rank[i] = [result["rank"][name] for name in quantities]
            converged[i] = result["converged"]
    failed = int(np.sum(errors != ""))
    if failed:
        log.warning("bayescale: SBC: %d of %d fits failed (their ranks are NaN): %s", failed,
                    n_sims, "; ".join(sorted({str(e) for e in errors if e}))[:500])
    true_value = np.array([[truths[name][i] for name in quantities] for i in range(n_sims)])
    return xr.Dataset(
        {"rank": (("sim", "quantity"), rank), "true_value": (("sim", "quantity"), true_value),
         "converged": ("sim", converged), "error": ("sim", errors.astype(str))},
        coords={"sim": np.arange(n_sims), "quantity": quantities},
        attrs={"spec": spec.name, "design": design if isinstance(design, str) else "table",
               "n_runs": len(runs), "flops": float(flops), "n_ranks": int(n_ranks),
               "draws": draws, "tune": tune, "chains": chains, "seed": seed})


class _SimulationFit:
    """Fit one simulated data set and rank its true values (picklable, for Dask workers)."""

    def __init__(self, *, spec, runs, flops, n_ranks, draws, tune, chains, seed, fit_options):
        self.spec, self.runs, self.flops, self.n_ranks = spec, runs, flops, n_ranks
        self.options = dict(draws=draws, tune=tune, chains=chains, **fit_options)
        self.seed = seed

    def __call__(self, task: dict) -> dict:
        i = task["index"]
        try:
            table = self.runs.table[["N", "D", "source"]].assign(loss=np.exp(task["log_loss"]))
            level = log.level
            log.setLevel(logging.WARNING)  # one line per fit would drown the report
            try:
                with warnings.catch_warnings():  # recorded per simulation instead
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    # Losses drawn from the prior can lie outside the plausible range.
                    fitted = fit(table, model=self.spec, seed=self.seed + 1 + i,
                                 check_units=False, **self.options)
                    draws = _posterior_values(fitted, self.spec, self.flops)
            finally:
                log.setLevel(level)
            rng = np.random.default_rng(self.seed + 1 + i)
            rank = {name: sbc_rank(task["truth"][name], draws[name], self.n_ranks, rng)
                    for name in task["truth"]}
            return {"index": i, "rank": rank, "converged": fitted.converged}
        except Exception as error:  # reported per simulation, the others go on
            return {"index": i, "error": f"{type(error).__name__}: {error}"}


def uniformity(result: xr.Dataset, bins: int = 10) -> pd.DataFrame:
    """Test each quantity's ranks for uniformity (chi-square on ``bins`` equal bins).

    Parameters
    ----------
    result : xarray.Dataset
        The output of :func:`sbc`.
    bins : int, default 10
        Rank bins; ``n_ranks + 1`` should be a multiple of it for equal expected counts.

    Returns
    -------
    pandas.DataFrame
        Per quantity: ``n`` (ranked simulations), ``chi2``, ``p_value``, ``mean_rank`` (relative,
        0.5 when unbiased) and ``passed`` (p > 0.01).

    """
    n_ranks = result.attrs["n_ranks"]
    rows = {}
    for quantity in result["quantity"].values:
        ranks = result["rank"].sel(quantity=quantity).values
        ranks = ranks[np.isfinite(ranks)]
        counts = np.bincount((ranks * bins // (n_ranks + 1)).astype(int), minlength=bins)
        chi2, p_value = stats.chisquare(counts)
        rows[str(quantity)] = {"n": int(ranks.size), "chi2": float(chi2),
                               "p_value": float(p_value),
                               "mean_rank": float(ranks.mean() / n_ranks),
                               "passed": bool(p_value > 0.01)}
    return pd.DataFrame.from_dict(rows, orient="index")


# Data sets whose runs span less compute than this (max C / min C) are too narrow to score an
# extrapolation on.
MIN_COMPUTE_DECADES = 2.0
# The law each data set is fitted with by default (the baseline fits the Chinchilla law only).
NATURAL_MODEL = {"datablations": "data_constrained"}
# A held-out fit that did not converge is refitted once with this many times the draws and
# tuning steps, and this target acceptance.
REFIT_FACTOR = 2
REFIT_TARGET_ACCEPT = 0.95
# Held-out coverage of the 90% predictive intervals counted as calibrated: a few runs more or
# fewer than 90% (below 80% the intervals are too narrow; above 98% too wide).
CALIBRATED_COVERAGE90 = (0.80, 0.98)
SCORE_COLUMNS = ("n_fit", "n_held_out", "coverage50", "coverage80", "coverage90", "coverage95",
                 "lpd_mean", "median_abs_rel_error", "converged")


def heldout_calibration(names=None, *, holdout: float = 0.2, draws: int = 1000,
                        tune: int = 1000, resamples: int = 500, starts: str = "epoch",
                        seed: int = 0,
                        baseline: bool = True, run: Callable | None = None) -> pd.DataFrame:
    """Fit each data set's smaller runs, score its largest ones: Bayes and baseline side by side.

    For every registered data set whose runs span at least :data:`MIN_COMPUTE_DECADES` decades
    of compute, the runs with the top ``holdout`` share of compute are held out; the rest are
    fitted, and the held-out runs scored (:func:`bayescale.checks.extrapolation_check`): coverage of
    the 50/80/90/95% predictive intervals, mean log predictive density and median relative
    error. The Huber-bootstrap baseline fits one source and the Chinchilla law, so it is fitted
    per source at the same compute threshold, and its scores pooled over the sources.

    Parameters
    ----------
    names : sequence of str, optional
        Data sets (default: every registered one with enough compute range).
    holdout : float, default 0.2
        Share of runs held out, by compute.
    draws, tune : int
        Sampler settings of the Bayesian fits. A fit that does not converge is refitted once
        with twice as many and target acceptance 0.95, and its row's note says so.
    resamples : int, default 500
        Bootstrap resamples of the baseline.
    starts : {"epoch", "coarse"}, default "epoch"
        The baseline's grid of starts (see :func:`bayescale.fit`).
    seed : int, default 0
        Seed of every fit.
    baseline : bool, default True
        Score the Huber-bootstrap baseline too.
    run : callable, optional
        ``run(function, items)``: how the scorings (one per data set and method) are run, e.g.
        ``functools.partial(bayescale.checks.sweep.dask_map, workers=2)`` on Dask. Default: here,
        one after another. A scoring that fails gives a row whose note is its error.

    Returns
    -------
    pandas.DataFrame
        Indexed by (dataset, method), columns :data:`SCORE_COLUMNS` and ``note``.

    """
    tasks = []
    for name in names or datasets.available():
        runs = datasets.load(name)
        decades = float(np.log10(runs.table["C"].max() / runs.table["C"].min()))
        if names is None and decades < MIN_COMPUTE_DECADES:
            log.info("bayescale: %s spans %.1f decades of compute: skipped", name, decades)
            continue
        bayes = f"bayes ({NATURAL_MODEL.get(name, 'chinchilla')})"
        tasks += [(name, method, runs)
                  for method in ((bayes, BASELINE_LABEL) if baseline else (bayes,))]
    score = HeldoutScoring(holdout=holdout, draws=draws, tune=tune, resamples=resamples,
                           starts=starts, seed=seed)
    results = (run or local_map)(score, tasks)
    rows = []
    for (name, method, _), result in zip(tasks, results, strict=True):
        if is_failure(result):
            log.warning("bayescale: held-out scoring of %s (%s) failed: %s", name, method,
                        result["error"])
            result = {"dataset": name, "method": method, "note": f"failed: {result['error']}"}
        rows.append(result)
    columns = ["dataset", "method", *SCORE_COLUMNS, "note"]
    return pd.DataFrame(rows, columns=columns).set_index(["dataset", "method"])


class HeldoutScoring:
    """Score one (data set, method) of :func:`heldout_calibration` (picklable, for Dask)."""

    def __init__(self, *, holdout, draws, tune, resamples, starts, seed) -> None:
        self.holdout, self.draws, self.tune = holdout, draws, tune
        self.resamples, self.starts, self.seed = resamples, starts, seed

    def __call__(self, task: tuple[str, str, Runs]) -> dict:
        """Return the table row of ``task``: (data set name, its method's row label, its runs)."""
        name, method, runs = task
        threshold = _threshold(runs.table["C"], self.holdout, None)
        model = NATURAL_MODEL.get(name, "chinchilla")
        if method == BASELINE_LABEL:
            return _baseline_row(name, runs, threshold, model, self.resamples, self.starts,
                                 self.seed)
        score, refit = _converged_check(runs, model, threshold, self.draws, self.tune,
                                        self.seed)
        return {"dataset": name, "method": method, **_scores(score.summary),
                "note": _joined(_coverage_note(score.summary["coverage90"]), refit)}


def _converged_check(runs, model, threshold, draws, tune, seed):
    """Score the held-out runs; if the fit did not converge, refit it once, longer and finer.

    The refit has :data:`REFIT_FACTOR` times the draws and tuning steps and target acceptance
    :data:`REFIT_TARGET_ACCEPT`, as the convergence warning advises (gadre2024: R-hat 1.03 and
    a divergence at 1000 draws, converged at 2000). Returns the score and a note naming what
    the first fit fell short on ("" if it converged).
    """
    def check(**settings):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in `converged`
            return extrapolation_check(runs, model, holdout_above=threshold, seed=seed,
                                       **settings)

    score = check(draws=draws, tune=tune)
    if score.summary["converged"]:
        return score, ""
    problems = "; ".join(score.fit.diagnostics["problems"])
    draws, tune = REFIT_FACTOR * draws, REFIT_FACTOR * tune
    score = check(draws=draws, tune=tune, target_accept=REFIT_TARGET_ACCEPT)
    return score, (f"refitted with {draws} draws, {tune} tuning steps and target_accept "
                   f"{REFIT_TARGET_ACCEPT}: the first fit had {problems}")


def _coverage_note(coverage90: float) -> str:
    """Say whether the 90% intervals' held-out coverage is outside :data:`CALIBRATED_COVERAGE90`."""
    low, high = CALIBRATED_COVERAGE90
    if low <= coverage90 <= high:
        return ""
    verdict = "too narrow" if coverage90 < low else "too wide"
    return (f"{verdict}: the 90% intervals cover {coverage90:.0%} of the held-out runs "
            f"(calibrated: {low:.0%}-{high:.0%})")


def _joined(*notes: str) -> str:
    """Join the non-empty notes."""
    return "; ".join(note for note in notes if note)


def _scores(summary: dict) -> dict:
    return {column: summary[column] for column in SCORE_COLUMNS}


def _baseline_row(name, runs, threshold, model, resamples, starts, seed) -> dict:
    row = {"dataset": name, "method": BASELINE_LABEL}
    if model != "chinchilla":
        return row | {"note": f"the baseline fits the Chinchilla law, not {model}"}
    scored, skipped = [], []
    for source in runs.sources:
        part = runs.select((runs.table["source"] == source).to_numpy())
        held = part.table["C"] >= threshold
        if not held.any() or (~held).sum() < 10:
            skipped.append(source)
            continue
        score = extrapolation_check(part, holdout_above=threshold, method="huber-bootstrap",
                                    resamples=resamples, starts=starts, seed=seed)
        scored.append((score.runs, score.summary))
    if not scored:
        return row | {"note": "no source has both runs to fit and runs to score"}
    held_runs = pd.concat([runs_ for runs_, _ in scored])
    summary = {
        "n_fit": sum(s["n_fit"] for _, s in scored), "n_held_out": len(held_runs),
        "lpd_mean": float(held_runs["lpd"].mean()),
        "median_abs_rel_error": float(held_runs["rel_error"].abs().median()),
        "converged": all(s["converged"] for _, s in scored)}
    for level in (50, 80, 90, 95):
        inside = (held_runs[f"lo{level}"] <= held_runs["loss"]) & (
            held_runs["loss"] <= held_runs[f"hi{level}"])
        summary[f"coverage{level}"] = float(inside.mean())
    skipped_note = (f"skipped {len(skipped)} source(s) without runs on both sides"
                    if skipped else "")
    return row | summary | {"note": _joined(_coverage_note(summary["coverage90"]), skipped_note)}
