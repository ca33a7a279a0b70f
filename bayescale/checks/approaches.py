"""Chinchilla's Approaches 1 and 2, Bayesian: posteriors of the allocation exponent a.

Both estimate ``N_opt(C) = k * C**a`` (and so ``D_opt ~ C**(1 - a)`` under C = 6ND) without
assuming the parametric law of Approach 3 (:func:`bayescale.fit`):

* **Approach 1** (:func:`envelope_fit`), from training curves: at each of a grid of FLOP
  values, the run whose curve reaches the lowest loss there (interpolated in log C between its
  checkpoints) gives ``N*(C)``; then ``log N* = log k + a log C`` with Student-t noise.
* **Approach 2** (:func:`isoflop_fit`), from IsoFLOP profiles: per budget, a parabola of log
  loss in log N near its minimum, whose vertex is that budget's ``log N_opt``; the vertices lie
  on ``log k + a log C`` up to a fitted scatter. All budgets are fitted jointly, so the
  uncertainty of every vertex flows into the posterior of ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayescale.data.runs import Runs, as_runs
from bayescale.errors import BayescaleError
from bayescale.fitting.fitter import fit
from bayescale.inference.sampling import convergence_report, sample, warn_if_unconverged
from bayescale.inference.settings import SamplerSettings
from bayescale.queries.frontier import compute_optimal


@dataclass(frozen=True)
class ExponentFit:
    """The posterior of an allocation law ``N_opt = k * C**a`` from Approach 1 or 2.

    Attributes
    ----------
    approach : str
        ``"approach-1"`` (training-curve envelope) or ``"approach-2"`` (IsoFLOP parabolas).
    tree : xarray.DataTree
        The sampled posterior (``a``, ``log_k`` and per-budget ``log_N_opt`` for Approach 2).
    points : pandas.DataFrame
        The points the fit used (envelope points, or the IsoFLOP runs inside the window).
    excluded : pandas.DataFrame
        What was left out and why (column ``excluded_because``).
    diagnostics : dict
        The convergence report.

    """

    approach: str
    tree: xr.DataTree
    points: pd.DataFrame
    excluded: pd.DataFrame
    diagnostics: dict

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws."""
        return self.tree["posterior"].to_dataset()

    def exponent(self, prob: float = 0.95) -> dict[str, float]:
        """Return the median of ``a`` and its central interval of mass ``prob``."""
        draws = self.posterior["a"].values.ravel()
        low, median, high = np.quantile(draws, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
        return {"a": float(median), "a_lo": float(low), "a_hi": float(high)}

    def N_opt(self, flops) -> xr.DataArray:
        """Return the posterior of ``N_opt`` at the given budgets (dims chain, draw, flops)."""
        flops = xr.DataArray(np.atleast_1d(np.asarray(flops, dtype=float)), dims="flops")
        flops = flops.assign_coords(flops=flops.values)
        post = self.posterior
        return np.exp(post["log_k"] + post["a"] * np.log(flops)).rename("N_opt")


def isoflop_fit(runs, budget: str = "budget", window: float = 0.05, draws: int = 2000,
                tune: int = 1000, chains: int = 4, seed: int = 0, sampler: str = "nutpie",
                target_accept: float = 0.95) -> ExponentFit:
    """Approach 2: fit IsoFLOP parabolas and the power law of their vertices jointly.

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        IsoFLOP runs of one source: each row one model trained at one budget.
    budget : str, default "budget"
        The column naming each row's FLOP budget (``C`` also works).
    window : float, default 0.05
        Per budget, keep the runs whose loss is within this relative amount of the budget's
        lowest loss: a parabola in log N describes only the neighbourhood of the minimum.
        Budgets left with fewer than 3 runs, or whose lowest loss is at the smallest or largest
        N (the minimum is not bracketed), are excluded and reported.
    draws, tune, chains, seed, sampler, target_accept
        Sampler settings (see :func:`bayescale.fit`). The per-budget levels and curvatures
        mix slowly (measured: bulk ESS ~500 per 4000 draws on porian2024), hence 2000 draws.

    Returns
    -------
    ExponentFit
        With ``a``, ``log_k`` and per-budget ``log_N_opt``, ``log_loss_opt``, ``curvature``.

    """
    runs = as_runs(runs)
    _one_source(runs)
    table = runs.table
    if budget not in table:
        raise BayescaleError(f"no budget column '{budget}' in the runs (columns "
                             f"{list(table.columns)}): name it with budget=")
    kept, excluded = [], []
    for value, group in table.groupby(budget, sort=True):
        best = group["loss"].idxmin()
        near = group[group["loss"] <= group["loss"].min() * (1 + window)]
        reason = None
        if group.loc[best, "N"] in (group["N"].min(), group["N"].max()):
            reason = f"budget {value:.3g}: lowest loss at the edge of its N range (not bracketed)"
        elif len(near) < 3:
            reason = f"budget {value:.3g}: fewer than 3 runs within {window:.0%} of its minimum"
        if reason:
            excluded.append(group.assign(excluded_because=reason))
            continue
        kept.append(near)
        far = group.drop(near.index)
        if len(far):
            excluded.append(far.assign(
                excluded_because=f"loss more than {window:.0%} above the budget's minimum"))
    if len(kept) < 3:
        raise BayescaleError(f"only {len(kept)} budget(s) have a bracketed minimum with 3 runs "
                             "near it; Approach 2 needs at least 3 (widen window=?)")
    points = pd.concat(kept)
    budgets = np.sort(points[budget].unique())
    index = np.searchsorted(budgets, points[budget].to_numpy())
    log_C = np.log(budgets)
    centre = float(log_C.mean())
    log_N = np.log(points["N"].to_numpy())
    log_L = np.log(points["loss"].to_numpy())
    first_guess = points.groupby(budget)["loss"].min().to_numpy()

    with pm.Model(coords={"budget": budgets, "run": points.index.to_numpy()}) as model:
        a = pm.Normal("a", 0.5, 0.3)
        log_N_centre = pm.Normal("log_N_centre", float(log_N.mean()), 3.0)
        # Scatter of the vertices around the power law, kept off zero (a half-normal lets the
        # sampler fall into the funnel of scatter -> 0; measured: 1000+ divergences on the
        # Kaplan-setup configuration of porian2024). Non-centred: the vertices are pinned by
        # the law more than by their own few runs.
        scatter = pm.LogNormal("scatter", np.log(0.05), 0.75)
        offset = pm.Normal("vertex_offset", 0.0, 1.0, dims="budget")
        vertex = pm.Deterministic("log_N_opt",
                                  log_N_centre + a * (log_C - centre) + scatter * offset,
                                  dims="budget")
        level = pm.Normal("log_loss_opt", np.log(first_guess), 0.2, dims="budget")
        curvature = pm.LogNormal("curvature", np.log(0.1), 1.0, dims="budget")
        sigma = pm.HalfNormal("sigma", 0.02)
        nu = pm.Gamma("nu", 2.0, 0.1)
        mean = level[index] + curvature[index] * (log_N - vertex[index]) ** 2
        pm.StudentT("log_loss", nu=nu, mu=mean, sigma=sigma, observed=log_L, dims="run")
        pm.Deterministic("log_k", log_N_centre - a * centre)
    return _sampled("approach-2", model, points, excluded, SamplerSettings(
        sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed,
        target_accept=target_accept))


def envelope_points(runs, group: str = "run_name", n_flops: int = 40) -> pd.DataFrame:
    """Return the lower envelope of training curves: the best run at each of a grid of FLOPs.

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        Checkpoint-level rows (``N``, ``D`` so far, ``loss`` at that checkpoint, ``C`` = 6ND).
    group : str, default "run_name"
        The column naming the training run each checkpoint belongs to.
    n_flops : int, default 40
        FLOP values, log-spaced over the range that at least two runs cover.

    Returns
    -------
    pandas.DataFrame
        Per FLOP value ``C``: the winning run's ``N`` and its interpolated ``loss``.

    """
    curves, covered = _training_curves(as_runs(runs), group, at_least=2,
                                       purpose="the envelope")
    grid = np.geomspace(*covered, n_flops)
    losses = np.full((len(curves), n_flops), np.inf)
    for i, curve in enumerate(curves):
        inside = (grid >= curve["C"].iloc[0]) & (grid <= curve["C"].iloc[-1])
        losses[i, inside] = _loss_at(curve, grid[inside])
    best = losses.argmin(axis=0)
    return pd.DataFrame({
        "C": grid, "N": [curves[i]["N"].iloc[0] for i in best],
        "loss": losses[best, np.arange(n_flops)],
        "run": [curves[i][group].iloc[0] for i in best],
    })


def _training_curves(runs: Runs, group: str, at_least: int,
                     purpose: str) -> tuple[list[pd.DataFrame], tuple[float, float]]:
    """Split checkpoint rows into training curves (sorted by C).

    Returns the curves and the FLOP range that at least ``at_least`` of them cover.
    """
    table = runs.table
    if group not in table:
        raise BayescaleError(f"no column '{group}' naming each checkpoint's run (columns "
                             f"{list(table.columns)}): name it with group=")
    curves = [g.sort_values("C") for _, g in table.groupby(group)]
    if len(curves) < at_least:
        raise BayescaleError(f"{purpose} needs the training curves of at least {at_least} "
                             f"runs, got {len(curves)}")
    starts = np.sort([curve["C"].iloc[0] for curve in curves])
    ends = np.sort([curve["C"].iloc[-1] for curve in curves])
    return curves, (starts[at_least - 1], ends[-at_least])


def _loss_at(curve: pd.DataFrame, flops: np.ndarray) -> np.ndarray:
    """Interpolate a training curve's loss at the given FLOPs (in log C and log loss)."""
    return np.exp(np.interp(np.log(flops), np.log(curve["C"].to_numpy()),
                            np.log(curve["loss"].to_numpy())))


def envelope_fit(runs, group: str = "run_name", n_flops: int = 40, draws: int = 1000,
                 tune: int = 1000, chains: int = 4, seed: int = 0,
                 sampler: str = "nutpie") -> ExponentFit:
    """Approach 1: the power law through the lower envelope of training curves.

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        Checkpoint-level rows of several training runs (e.g. ``datasets.load("gemstones")``).
    group, n_flops
        See :func:`envelope_points`.
    draws, tune, chains, seed, sampler
        Sampler settings (see :func:`bayescale.fit`).

    Returns
    -------
    ExponentFit
        With ``a`` and ``log_k``.

    """
    runs = as_runs(runs)
    _one_source(runs)
    points = envelope_points(runs, group=group, n_flops=n_flops)
    log_C = np.log(points["C"].to_numpy())
    centre = float(log_C.mean())
    log_N = np.log(points["N"].to_numpy())
    with pm.Model(coords={"point": np.arange(len(points))}) as model:
        a = pm.Normal("a", 0.5, 0.3)
        log_N_centre = pm.Normal("log_N_centre", float(log_N.mean()), 3.0)
        sigma = pm.HalfNormal("sigma", 0.5)
        nu = pm.Gamma("nu", 2.0, 0.1)
        pm.StudentT("log_N_star", nu=nu, mu=log_N_centre + a * (log_C - centre), sigma=sigma,
                    observed=log_N, dims="point")
        pm.Deterministic("log_k", log_N_centre - a * centre)
    return _sampled("approach-1", model, points, [], SamplerSettings(
        sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed))


def _one_source(runs: Runs) -> None:
    if len(runs.sources) != 1:
        raise BayescaleError(f"fit one source at a time ({len(runs.sources)} given: "
                             f"{runs.sources[:3]}...); select one with runs.select(...)")


def _sampled(approach, model, points, excluded, settings) -> ExponentFit:
    tree = sample(model, settings)
    report = convergence_report(tree)
    warn_if_unconverged(report)
    return ExponentFit(approach=approach, tree=tree, points=points,
                       excluded=pd.concat(excluded) if excluded else pd.DataFrame(),
                       diagnostics=report)


def isoflop_slices(runs, group: str = "run_name", n_budgets: int = 8,
                   min_runs: int = 5) -> Runs:
    """Cut IsoFLOP profiles out of training curves: each run's loss at fixed FLOP budgets.

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        Checkpoint-level rows of several training runs.
    group : str, default "run_name"
        The column naming each checkpoint's run.
    n_budgets : int, default 8
        Budgets, log-spaced over the range that at least ``min_runs`` curves cover.
    min_runs : int, default 5
        Curves that must reach a budget (an IsoFLOP profile needs several sizes).

    Returns
    -------
    Runs
        One row per (run, budget) the run's curve covers: ``N``, ``D = C/(6N)``, the loss
        interpolated in log C between the run's checkpoints, and ``budget``; ready for
        :func:`isoflop_fit`. A note records that the profiles are slices of curves (a run's
        loss part-way through one schedule, not the final loss of a run sized for that budget).

    """
    runs = as_runs(runs)
    curves, covered = _training_curves(runs, group, at_least=min_runs,
                                       purpose="IsoFLOP slices")
    budgets = np.geomspace(*covered, n_budgets)
    rows = []
    for curve in curves:
        N = curve["N"].iloc[0]
        inside = budgets[(budgets >= curve["C"].iloc[0]) & (budgets <= curve["C"].iloc[-1])]
        for value, loss in zip(inside, _loss_at(curve, inside), strict=True):
            rows.append({"N": N, "D": value / (6.0 * N), "loss": loss, "budget": value,
                         group: curve[group].iloc[0], "source": curve["source"].iloc[0]})
    sliced = as_runs(pd.DataFrame(rows), conventions=runs.conventions)
    return sliced.with_note(f"IsoFLOP profiles sliced from {len(curves)} training curves at "
                            f"{n_budgets} budgets (losses part-way through each run's schedule)")


def compare_approaches(runs, *, budget: str | None = "budget", group: str | None = "run_name",
                       flops: float | None = None, final_runs=None, seed: int = 0,
                       draws: int = 1000,
                       tune: int = 1000, chains: int = 4) -> tuple[pd.DataFrame, dict]:
    """Chinchilla's Approaches 1, 2 and 3 side by side on one data set, with intervals.

    Approach 1 runs when the rows are training curves (a ``group`` column naming each
    checkpoint's run); Approach 2 on IsoFLOP runs (a ``budget`` column), or else on IsoFLOP
    slices of the training curves (:func:`isoflop_slices`); Approach 3 fits the Chinchilla law
    (:func:`bayescale.fit`), whose allocation exponent is beta / (alpha + beta), to the rows, or
    for training curves to each run's final checkpoint (intermediate checkpoints are not the
    loss of a run sized and scheduled for that many tokens).

    Parameters
    ----------
    runs : Runs or anything :func:`bayescale.as_runs` takes
        One source's runs.
    budget, group : str or None
        Column names (None: that kind of data is absent).
    flops : float, optional
        Budget at which to compare N_opt; default the largest compute among the runs.
    final_runs : Runs or anything :func:`bayescale.as_runs` takes, optional
        The runs Approach 3 fits, when they are not ``runs`` (e.g. the cool-down ends of the
        same models, ``datasets.load("gemstones", table="cool_end")``).
    seed, draws, tune, chains
        Sampler settings of every approach (Approach 2 uses twice the draws, see
        :func:`isoflop_fit`).

    Returns
    -------
    (pandas.DataFrame, dict)
        A table, one row per approach run: what it used, the exponent ``a`` (median and 95%
        interval), ``N_opt`` at ``flops`` (median and 95% interval) and ``converged``; rows of
        approaches that could not run say why. And the fits, by approach.

    """
    runs = as_runs(runs)
    _one_source(runs)
    table = runs.table
    flops = float(table["C"].max()) if flops is None else float(flops)
    has_curves = group is not None and group in table
    has_budgets = budget is not None and budget in table
    fits, rows = {}, []
    settings = {"seed": seed, "tune": tune, "chains": chains}
    if has_curves:
        fits["approach-1"] = envelope_fit(runs, group=group, draws=draws, **settings)
    else:
        rows.append({"approach": "1: training-curve envelope",
                     "used": f"not run: no '{group}' column naming training curves"})
    if has_budgets:
        fits["approach-2"] = isoflop_fit(runs, budget=budget, draws=2 * draws, **settings)
    elif has_curves:
        fits["approach-2"] = isoflop_fit(isoflop_slices(runs, group=group), budget="budget",
                                         draws=2 * draws, **settings)
    else:
        rows.append({"approach": "2: IsoFLOP parabolas",
                     "used": f"not run: no '{budget}' column and no training curves"})
    for name, result in fits.items():
        rows.append(_approach_row(name, result.posterior["a"], result.N_opt(flops),
                                  result.diagnostics["converged"], _used(name, result)))
    law_runs, used = runs, f"Chinchilla law fitted to {len(runs)} rows"
    if final_runs is not None:
        law_runs = as_runs(final_runs)
        used = f"Chinchilla law fitted to {len(law_runs)} given final-loss rows"
    elif has_curves:  # final losses, as Hoffmann et al. fitted (not every checkpoint)
        last = table.groupby(group)["C"].transform("max") == table["C"]
        law_runs = runs.select(last.to_numpy())
        used = f"Chinchilla law fitted to the final checkpoint of {len(law_runs)} runs"
    law = fit(law_runs, draws=draws, **settings)
    fits["approach-3"] = law
    post = law.posterior
    rows.append(_approach_row("approach-3", post["beta"] / (post["alpha"] + post["beta"]),
                              compute_optimal(law, flops, discrepancy=False)["N_opt"],
                              law.converged, used))
    order = {"1": 0, "2": 1, "3": 2}
    result = pd.DataFrame(rows).sort_values("approach", key=lambda s: s.str[0].map(order))
    return result.set_index("approach").assign(flops=flops), fits


def _approach_row(name, a, N_opt, converged, used) -> dict:
    titles = {"approach-1": "1: training-curve envelope", "approach-2": "2: IsoFLOP parabolas",
              "approach-3": "3: parametric law"}
    a_q = np.quantile(np.asarray(a).ravel(), [0.5, 0.025, 0.975])
    n_q = np.quantile(np.asarray(N_opt).ravel(), [0.5, 0.025, 0.975])
    return {"approach": titles[name], "used": used, "a": a_q[0], "a_lo": a_q[1],
            "a_hi": a_q[2], "N_opt": n_q[0], "N_opt_lo": n_q[1], "N_opt_hi": n_q[2],
            "converged": bool(converged)}


def _used(name: str, result: ExponentFit) -> str:
    if name == "approach-1":
        return f"envelope of training curves at {len(result.points)} FLOP values"
    budgets = result.posterior.sizes["budget"]
    return f"{budgets} IsoFLOP budgets, {len(result.points)} runs near their minima"
