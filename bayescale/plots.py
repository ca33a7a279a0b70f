"""Plots of a fit and of the decisions it serves (matplotlib; ArviZ where it has the plot).

Every function takes the fit first, accepts ``axes=`` (one Axes, or a pair where it draws two
panels; the ArviZ grids make their own figure), and returns ``(fig, axes)``. Bands are
equal-tailed posterior intervals of the law's loss (not of a single run's noisy loss) unless
said otherwise; every band is a 50% and a 90% central interval (:data:`BANDS`), stated in the
title or legend. Log axes carry their units (parameters, tokens, FLOPs, nats/token), and loss
axes read as plain numbers (2, 3, 4), not as powers of ten. Where a plot reaches beyond the
fitted runs it shades their range.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pymc as pm
import xarray as xr
from matplotlib.ticker import LogFormatter
from scipy.stats import binom

from bayescale.data import datasets
from bayescale.decide.forecast import forecast_year
from bayescale.decide.plans import optimal_plan, plan_loss
from bayescale.errors import BayescaleError, ExtrapolationWarning
from bayescale.inference.model import build_model
from bayescale.queries.beyond import warn_if_far
from bayescale.queries.draws import is_law_draws, law_parameters, resolve_source
from bayescale.queries.famous import KAPLAN_EXPONENT
from bayescale.queries.frontier import frontier
from bayescale.queries.loss import decades_beyond, largest_fitted_compute
from bayescale.spec.laws import FLOPS_PER_PARAM_TOKEN, get_law

LOSS_LABEL = "loss (nats/token)"
LABELS = {"N": "parameters N", "D": "training tokens D", "C": "training compute C (FLOPs)"}
BANDS = (0.5, 0.9)  # central intervals drawn as nested bands
# Famous models labelled first on the frontier (the rest by compute, where they fit).
KEY_MODELS = ("chinchilla", "gpt-3", "llama-3.1-405b", "llama-3-70b", "palm")


def _axes(axes, count: int, width: float = 5.0):
    """Return (fig, axes) from the user's axes, or a new figure of ``count`` panels."""
    if axes is None:
        fig, made = plt.subplots(1, count, figsize=(width * count, 4.0), squeeze=False,
                                 layout="constrained")
        made = made[0]
        return fig, (made[0] if count == 1 else made)
    flat = np.atleast_1d(axes).ravel()
    if flat.size != count:
        raise BayescaleError(f"this plot draws {count} panel(s): pass {count} Axes, not "
                             f"{flat.size}")
    return flat[0].figure, (flat[0] if count == 1 else flat)


def _plain_log(axis) -> None:
    """Label a log axis with plain numbers (1.8, 2, 3), minor ticks too where few decades show."""
    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _loss_axes(ax, x: str | None, **settings) -> None:
    """Set a log-log (or, with ``x=None``, log-y) panel whose y axis is the loss."""
    if x is not None:
        settings |= {"xscale": "log", "xlabel": LABELS[x]}
    ax.set(yscale="log", ylabel=LOSS_LABEL, **settings)
    _plain_log(ax.yaxis)


def _fitted_range(ax, low: float, high: float, label: str = "fitted runs") -> None:
    """Shade the fitted runs' range on the x axis (what lies outside it is extrapolation)."""
    ax.axvspan(low, high, color="0.9", zorder=0, label=label)


def _title_source(fit, chosen: str) -> str:
    """Name the source a plot shows when the fit has several (else nothing)."""
    return f" for '{chosen}'" if len(fit.sources) > 1 else ""


def _band(ax, x, draws: xr.DataArray, dim: str, color, label: str | None = None,
          labelled: bool = False):
    """Draw the median and nested central bands of ``draws`` (chain, draw, dim) against x.

    ``labelled``: name each band in the legend ("50% interval", "90% interval").
    """
    for mass, alpha in zip(BANDS, (0.35, 0.2), strict=True):
        low, high = (draws.quantile(q, dim=("chain", "draw")).transpose(dim).values
                     for q in ((1 - mass) / 2, (1 + mass) / 2))
        ax.fill_between(x, low, high, color=color, alpha=alpha, linewidth=0,
                        label=f"{mass:.0%} interval" if labelled else None)
    ax.plot(x, draws.median(("chain", "draw")).transpose(dim).values, color=color, label=label)


def _needs_fit(fit, plot: str) -> None:
    """Refuse law draws where a plot also draws the fitted runs or the model."""
    if is_law_draws(fit):
        raise BayescaleError(f"{plot} draws the fitted runs as well as the law: pass the Fit, "
                             "not its law draws (those carry the law of one source only)")


def _source_runs(fit, source, plot: str):
    _needs_fit(fit, plot)
    chosen = resolve_source(fit, source)
    table = fit.runs.table
    if chosen in fit.sources:
        return chosen, table[table["source"] == chosen]
    return chosen, table


def plot_runs(fit, *, source: str | None = None, axes=None, curves: int = 3, seed: int = 0):
    """Plot the runs on L-N and L-D with the posterior-median law and its bands.

    Parameters
    ----------
    fit : Fit
        A fitted model of a law of N and D.
    source : str, optional
        The source whose runs and law are drawn (default: the fit's default source).
    axes : sequence of two matplotlib Axes, optional
        Where to draw the L-N and L-D panels.
    curves : int, default 3
        Law curves per panel: at the runs' lowest, middle and highest tokens per parameter
        (L-N panel) and model sizes (L-D panel).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    """
    fig, (ax_n, ax_d) = _axes(axes, 2)
    chosen, runs = _source_runs(fit, source, "plot_runs")
    params = law_parameters(fit, source=chosen, seed=seed)
    ratio = runs["D"] / runs["N"]
    # Points in both panels, and the L-N panel's curves, take their colour from D/N (one bar);
    # the L-D panel's curves (one per model size) take the colour cycle.
    points = ax_n.scatter(runs["N"], runs["loss"], c=np.log10(ratio), cmap="viridis", s=12,
                          zorder=3)
    ax_d.scatter(runs["D"], runs["loss"], c=np.log10(ratio), cmap=points.cmap,
                 norm=points.norm, s=12, zorder=3)
    fig.colorbar(points, ax=[ax_n, ax_d], label="log10 tokens per parameter (points)")
    grid_n = np.geomspace(runs["N"].min(), runs["N"].max(), 60)
    grid_d = np.geomspace(runs["D"].min(), runs["D"].max(), 60)
    for r in np.quantile(ratio, np.linspace(0, 1, curves)):
        n = xr.DataArray(grid_n, dims="x")
        colour = points.cmap(points.norm(np.log10(r)))
        _band(ax_n, grid_n, plan_loss(params, n, n * r), "x", colour, f"law at D/N = {r:.3g}")
    for k, size in enumerate(np.quantile(runs["N"], np.linspace(0, 1, curves))):
        d = xr.DataArray(grid_d, dims="x")
        _band(ax_d, grid_d, plan_loss(params, size, d), "x", f"C{k + 1}",
              f"law at N = {size:.3g}")
    # The loss axes span the runs (a law curve far from every run, at an extreme D/N, is cut
    # at the edge rather than stretching the axes away from the data).
    low, high = runs["loss"].min(), runs["loss"].max()
    for ax, name in ((ax_n, "N"), (ax_d, "D")):
        _loss_axes(ax, name)
        ax.set_ylim(low / 1.08, high * 1.08)
        ax.legend(fontsize="small")
    # From the left panel's edge rightwards: a long source name runs over the gap, not off the
    # figure.
    ax_n.set_title(f"runs of '{chosen}' and the fitted law (bands 50%, 90%)",
                   fontsize="medium", loc="left")
    return fig, np.array([ax_n, ax_d])


def plot_isoflop(fit, flops: Sequence[float], *, source: str | None = None, axes=None,
                 span: float = 30.0, seed: int = 0):
    """Plot IsoFLOP curves: loss against N at fixed compute, with bands and N_opt's interval.

    Parameters
    ----------
    fit : Fit
        A fitted model of a law of N and D.
    flops : sequence of float
        Budgets (one curve each).
    source : str, optional
        The source whose law is drawn.
    axes : matplotlib Axes, optional
        Where to draw (default: a new figure).
    span : float, default 30
        Each curve spans N_opt / span to N_opt * span.
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    """
    fig, ax = _axes(axes, 1)
    chosen, runs = _source_runs(fit, source, "plot_isoflop")
    params = law_parameters(fit, source=chosen, seed=seed)
    budgets = xr.DataArray(np.sort(np.asarray(flops, dtype=float)), dims="flops")
    warn_if_far(params, budgets.values, "plot")
    best = frontier(params, budgets)
    if "N_opt" not in best:
        raise BayescaleError(f"the '{params.attrs['law']}' law has no N: IsoFLOP curves need a "
                             "law of N and D")
    colours = plt.get_cmap("plasma")(np.linspace(0.1, 0.8, budgets.size))
    for i, colour in enumerate(colours):
        C = float(budgets[i])
        n_opt = best["N_opt"].isel(flops=i)
        centre = float(n_opt.median())
        grid = np.geomspace(centre / span, centre * span, 80)
        n = xr.DataArray(grid, dims="x")
        loss = plan_loss(params, n, C / FLOPS_PER_PARAM_TOKEN / n)
        # beyond on 6ND, the compute of the curves and of every query
        beyond = " (beyond the runs)" if C > (6.0 * runs["N"] * runs["D"]).max() else ""
        _band(ax, grid, loss, "x", colour, f"C = {C:.2g}{beyond}")
        low, high = n_opt.quantile([0.05, 0.95]).values
        at = float(best["loss_opt"].isel(flops=i).median())
        # the diamond under its whiskers, so that a narrow interval still shows
        ax.plot(centre, at, "D", markersize=7, markerfacecolor=colour, markeredgecolor="k",
                zorder=5)
        ax.errorbar(centre, at, xerr=[[centre - low], [high - centre]], fmt="none", ecolor="k",
                    elinewidth=1.5, capsize=4, zorder=6)
    _loss_axes(ax, "N", title=f"IsoFLOP curves{_title_source(fit, chosen)} (bands 50%, 90%)"
                              "\ndiamonds: N_opt with its 90% interval")
    # Below the panel, so that it covers no curve.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2,
              frameon=False)
    return fig, ax


def plot_frontier(fit, flops: Sequence[float] | None = None, *, source: str | None = None,
                  famous: bool | Sequence[str] = True, axes=None, seed: int = 0):
    """Plot the compute-optimal frontier N_opt(C) and D_opt(C), with famous models overlaid.

    Parameters
    ----------
    fit : Fit
        A fitted model of a law of N and D.
    flops : sequence of float, optional
        Budgets spanned (default: from the runs' smallest compute to 1e26 FLOPs).
    source : str, optional
        The source whose law is drawn.
    famous : bool or sequence of str, default True
        Overlay famous models' (C, N) and (C, D) (:func:`bayescale.datasets.famous_models`).
        True labels as many as fit without overlapping, largest compute first; a sequence of
        their keys (e.g. ``["chinchilla", "llama-3-70b"]``) labels those only; False draws
        none.
    axes : sequence of two matplotlib Axes, optional
        Where to draw the two panels (default: a new figure).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    """
    fig, (ax_n, ax_d) = _axes(axes, 2)
    chosen, runs = _source_runs(fit, source, "plot_frontier")
    params = law_parameters(fit, source=chosen, seed=seed)
    if flops is None:
        flops = (runs["C"].min(), 1e26)
    grid = np.geomspace(min(flops), max(flops), 60)
    warn_if_far(params, grid, "plot")
    best = frontier(params, xr.DataArray(grid, dims="flops"))
    if "N_opt" not in best:
        raise BayescaleError(f"the '{params.attrs['law']}' law has no N_opt to draw")
    _band(ax_n, grid, best["N_opt"], "flops", "C0", "N_opt")
    _band(ax_d, grid, best["D_opt"], "flops", "C1", "D_opt")
    for ax, name in ((ax_n, "N"), (ax_d, "D")):
        _fitted_range(ax, runs["C"].min(), runs["C"].max(), "fitted runs' compute")
        ax.set(xscale="log", yscale="log", xlabel=LABELS["C"], ylabel=LABELS[name])
    models = datasets.famous_models().sort_values("C", ascending=False)
    if famous is not False:
        for ax, name in ((ax_n, "N"), (ax_d, "D")):
            ax.scatter(models["C"], models[name], color="k", s=14, zorder=4,
                       label="famous models")
    for ax in (ax_n, ax_d):
        ax.legend(fontsize="small", loc="upper left")
    ax_n.set_title(f"compute-optimal frontier{_title_source(fit, chosen)}, C = 6ND "
                   "(bands 50%, 90%)", fontsize="medium", loc="left")
    if famous is not False:
        _label_famous(fig, (ax_n, ax_d), models, famous)
    return fig, np.array([ax_n, ax_d])


def _label_famous(fig, axes, models, chosen: bool | Sequence[str]) -> None:
    """Label the famous models on the (C, N) and (C, D) panels without overlaps."""
    if chosen is not True:
        unknown = sorted(set(chosen) - set(models.index))
        if unknown:
            raise BayescaleError(f"unknown famous models {unknown}; choose from "
                                 f"{sorted(models.index)}")
        labelled = models.loc[[key for key in models.index if key in set(chosen)]]
    else:
        labelled = models
    first = [key for key in KEY_MODELS if key in labelled.index]
    labelled = labelled.loc[first + [key for key in labelled.index if key not in first]]
    fig.canvas.draw()  # final axes limits and layout, to place the labels
    for ax, name in zip(axes, ("N", "D"), strict=True):
        texts = []
        for key, row in labelled.iterrows():
            # Label on the side facing the panel's centre, so no label leaves the axes.
            x, _ = ax.transAxes.inverted().transform(ax.transData.transform((row["C"],
                                                                              row[name])))
            right = x > 0.5
            texts.append(ax.annotate(key, (row["C"], row[name]), fontsize=7,
                                     xytext=(-4 if right else 4, 2), textcoords="offset points",
                                     ha="right" if right else "left"))
        _drop_overlapping(ax, texts)


def _drop_overlapping(ax, texts) -> None:
    """Hide each label that overlaps an earlier one or leaves the axes (greedy, in order)."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = []
    for text in texts:
        box = text.get_window_extent(renderer)
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and \
            box.y1 <= frame.y1
        if not inside or any(box.overlaps(other) for other in placed):
            text.set_visible(False)
        else:
            placed.append(box)


def plot_extrapolation(fit, flops: Sequence[float] | None = None, *, source: str | None = None,
                       axes=None, seed: int = 0):
    """Plot a fan chart of the frontier loss L_opt(C), with the runs and their compute range.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    flops : sequence of float, optional
        Budgets spanned (default: the runs' smallest compute to 1e27 FLOPs).
    source : str, optional
        The source whose law and runs are drawn.
    axes : matplotlib Axes, optional
        Where to draw (default: a new figure).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    """
    fig, ax = _axes(axes, 1)
    chosen, runs = _source_runs(fit, source, "plot_extrapolation")
    params = law_parameters(fit, source=chosen, seed=seed)
    if flops is None:
        flops = (runs["C"].min(), 1e27)
    grid = np.geomspace(min(flops), max(flops), 80)
    warn_if_far(params, grid, "plot")
    loss = frontier(params, xr.DataArray(grid, dims="flops"))["loss_opt"]
    _band(ax, grid, loss, "flops", "C0", "median L_opt(C)", labelled=True)
    ax.scatter(runs["C"], runs["loss"], s=8, color="0.3", zorder=3, label="runs")
    _fitted_range(ax, runs["C"].min(), runs["C"].max(), "fitted range")
    _loss_axes(ax, "C", title=f"extrapolation of the compute-optimal loss"
                              f"{_title_source(fit, chosen)}")
    ax.legend(fontsize="small")
    return fig, ax


def plot_heldout(score, *, axes=None):
    """Plot held-out runs' predictions against what they measured, by distance beyond the fit.

    Parameters
    ----------
    score : bayescale.checks.compare.ExtrapolationScore
        From :func:`bayescale.checks.extrapolation_check` (or the transfer benchmark's turns):
        the fit to the smaller runs and its predictions of the held-out larger ones.
    axes : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    Notes
    -----
    Each held-out run is a point at (observed loss, predictive median) with its 50% (thick) and
    90% (thin) predictive intervals, coloured by how many decades of compute it lies beyond the
    largest fitted run. A run whose 90% interval misses the diagonal was not covered.

    """
    fig, ax = _axes(axes, 1, width=5.5)
    held = score.runs
    beyond = decades_beyond(score.fit, held["C"].to_numpy())
    colours = plt.get_cmap("viridis")(beyond / max(float(beyond.max()), 1e-9))
    for mass, width in ((90, 0.8), (50, 2.0)):
        ax.vlines(held["loss"], held[f"lo{mass}"], held[f"hi{mass}"], colors=colours,
                  linewidth=width, alpha=0.8)
    points = ax.scatter(held["loss"], held["median"], c=beyond, cmap="viridis", s=14,
                        zorder=3, vmin=0, vmax=max(float(beyond.max()), 1e-9))
    low = float(min(held["lo90"].min(), held["loss"].min()))
    high = float(max(held["hi90"].max(), held["loss"].max()))
    ax.plot([low, high], [low, high], color="0.4", linestyle="--", linewidth=1,
            label="predicted = observed")
    fig.colorbar(points, ax=ax, label="decades of compute beyond the fitted runs")
    summary = score.summary
    ax.set(xlabel=f"observed {LOSS_LABEL}", ylabel=f"predicted {LOSS_LABEL}",
           title=f"{summary['n_held_out']} held-out runs predicted from {summary['n_fit']}: "
                 f"90% intervals cover {summary['coverage90']:.0%},\n50% cover "
                 f"{summary['coverage50']:.0%}; median |error| "
                 f"{summary['median_abs_rel_error']:.2%} (bars: 50% thick, 90% thin)")
    ax.title.set_fontsize("medium")
    ax.legend(fontsize="small", loc="upper left")
    return fig, ax


def predictive(fit, kind: str = "posterior", draws: int = 500, seed: int = 0) -> xr.DataTree:
    """Return prior or posterior predictive draws of the runs' log loss, with the observations.

    Parameters
    ----------
    fit : Fit
        A fitted (Bayesian) model.
    kind : {"posterior", "prior"}, default "posterior"
        Predictive draws from the posterior, or from the prior alone.
    draws : int, default 500
        Prior draws (the posterior predictive uses every posterior draw).
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.DataTree
        With ``posterior_predictive`` (or ``prior_predictive``) and ``observed_data`` groups.

    """
    if kind not in ("posterior", "prior"):
        raise BayescaleError(f"kind must be 'posterior' or 'prior', not '{kind}'")
    _needs_fit(fit, "predictive checks")
    if fit.method != "bayes":
        raise BayescaleError(f"predictive checks need a Bayesian fit, not the {fit.method} "
                             "baseline")
    if kind == "posterior":
        return fit.to_arviz(log_prior=False, seed=seed)
    with build_model(fit.runs, fit.spec):
        return pm.sample_prior_predictive(draws=draws, random_seed=seed)


def plot_predictive_check(fit, kind: str = "posterior", *, draws: int = 500,
                          num_samples: int = 50, seed: int = 0):
    """Plot a prior or posterior predictive check of the runs' log loss (ArviZ plot_ppc_dist).

    Parameters
    ----------
    fit : Fit
        A fitted (Bayesian) model.
    kind : {"posterior", "prior"}, default "posterior"
        Check the posterior predictive, or the prior predictive.
    draws : int, default 500
        Prior draws (prior check only).
    num_samples : int, default 50
        Predictive draws shown.
    seed : int, default 0
        Random seed.

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    """
    tree = predictive(fit, kind=kind, draws=draws, seed=seed)
    group = f"{kind}_predictive"
    collection = az.plot_ppc_dist(tree, group=group, var_names=["log_loss"],
                                  num_samples=num_samples, backend="matplotlib",
                                  visuals={"remove_axis": False, "observed_dist": {}})
    fig = collection.viz["figure"].item()
    fig.set_size_inches(7.0, 4.5)
    axes = np.atleast_1d(collection.viz["plot"]["log_loss"].values).ravel()
    # A robust range: the observed runs and the central 98% of the predictive draws (one
    # extreme prior draw would otherwise squash the data into a sliver).
    observed = tree["observed_data"]["log_loss"].values
    drawn = tree[group]["log_loss"].values
    low = min(observed.min(), np.quantile(drawn, 0.01))
    high = max(observed.max(), np.quantile(drawn, 0.99))
    margin = 0.05 * (high - low)
    outside = float(np.mean((drawn < low - margin) | (drawn > high + margin)))
    for ax in axes:
        ax.set_xlim(low - margin, high + margin)
        ax.set_xlabel("log loss (log nats/token)")
        ax.set_ylabel("density")
        ax.set_title(f"{kind} predictive check: {num_samples} predictive draws (blue)\n"
                     "against the observed runs (black)"
                     + (f"; axis cut at the draws' 1-99% range ({outside:.1%} of them beyond)"
                        if outside > 0 else ""), fontsize="medium")
    return fig, axes


def plot_residuals(fit, *, seed: int = 0, axes=None):
    """Plot a posterior predictive check of the regression: each run's residual against N, D, D/N.

    Parameters
    ----------
    fit : Fit
        A fitted (Bayesian) model.
    seed : int, default 0
        Seed of the posterior predictive draws.
    axes : sequence of three matplotlib Axes, optional
        Where to draw the panels against N, D and D/N (default: a new figure).

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    Notes
    -----
    The residual is the observed log loss minus the run's posterior predictive median; the grey
    bars are each run's 50% (thick) and 90% (thin) predictive intervals about that median (law
    and noise). Points outside their thin bar fall outside their 90% interval; a trend against
    N, D or D/N means the law misses something the noise does not explain.

    """
    _needs_fit(fit, "predictive checks")
    if fit.method != "bayes":
        raise BayescaleError(f"predictive checks need a Bayesian fit, not the {fit.method} "
                             "baseline")
    fig, panels = _axes(axes, 3, width=4.2)
    tree = fit.to_arviz(log_prior=False, seed=seed)
    drawn = tree["posterior_predictive"]["log_loss"]
    median = drawn.median(("chain", "draw")).values
    observed = tree["observed_data"]["log_loss"].values
    bounds = {q: drawn.quantile(q, dim=("chain", "draw")).values - median
              for q in (0.05, 0.25, 0.75, 0.95)}
    residual = observed - median
    inside = np.mean((residual >= bounds[0.05]) & (residual <= bounds[0.95]))
    runs = fit.runs.table
    sources = runs["source"].to_numpy()
    x_values = {"N": runs["N"].to_numpy(), "D": runs["D"].to_numpy(),
                "D/N": (runs["D"] / runs["N"]).to_numpy()}
    for ax, (name, x) in zip(panels, x_values.items(), strict=True):
        ax.vlines(x, bounds[0.05], bounds[0.95], color="0.75", linewidth=0.8, zorder=1)
        ax.vlines(x, bounds[0.25], bounds[0.75], color="0.55", linewidth=2.0, zorder=2)
        for i, source in enumerate(fit.sources):
            chosen = sources == source
            ax.scatter(x[chosen], residual[chosen], s=8, color=f"C{i}", zorder=3,
                       label=source if len(fit.sources) > 1 else None)
        ax.axhline(0.0, color="k", linewidth=0.8)
        ax.set(xscale="log", xlabel=LABELS.get(name, "tokens per parameter D/N"))
    panels[0].set_ylabel("observed - predicted log loss")
    if len(fit.sources) > 1:
        panels[-1].legend(fontsize="small")
    fig.suptitle(f"posterior predictive check: {inside:.0%} of {len(runs)} runs inside their "
                 "90% predictive interval (grey bars: 50% thick, 90% thin)", fontsize="medium")
    return fig, panels


def plot_pair(fit, *, source: str | None = None, seed: int = 0):
    """Plot the law's parameters pairwise (ArviZ plot_pair) as the model samples them.

    Log-scale constants are shown as their logs at the runs' reference scales (e.g.
    ``ln A at N0`` = ln A - alpha ln N0, with N0 the geometric mean of the runs' N), which the
    data pin down directly; the raw ``ln A`` is nearly a line in ``alpha`` only because it is
    derived from them. Works for every law; parameters the model holds fixed are left out.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    source : str, optional
        The source whose parameters are drawn.
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    """
    _needs_fit(fit, "plot_pair")
    chosen = resolve_source(fit, source)
    params = law_parameters(fit, source=chosen, seed=seed)
    law = get_law(params.attrs["law"])
    sampled = law.from_raw(params, fit.reference_scales)
    free = [name for name in law.parameters if name not in fit.spec.fixed_values]
    labels = {name: (f"ln {name} at {_reference_label(law, name)}" if name in law.shifts
                     else f"ln {name}" if name in law.log_scale else name) for name in free}
    shown = xr.Dataset({labels[name]: sampled[name] for name in free})
    size = 2.0 * max(len(free), 3)
    with az.rc_context({"plot.max_subplots": len(free) ** 2}):
        collection = az.plot_pair(shown, backend="matplotlib",
                                  figure_kwargs={"figsize": (size, size)})
    fig = collection.viz["figure"].item()
    for ax in fig.axes:  # small tick labels, so that neighbouring panels' do not collide
        ax.tick_params(labelsize="small")
    what = ("posterior of the {} law's parameters as sampled" if fit.method == "bayes" else
            "bootstrap estimates of the {} law's parameters, at the model's reference scales")
    fig.suptitle(what.format(law.name) + _title_source(fit, chosen), fontsize="medium")
    return fig, collection.viz["plot"].values


def _reference_label(law, name: str) -> str:
    """Name the reference scales a shifted parameter is stated at (``N0``, ``C0/M0``)."""
    return ", ".join(f"{key}0" for key in law.shifts[name][1])


def plot_decision(fit, plans: Mapping[str, object] | None = None, flops: float | None = None,
                  *, risk: float = 0.9, source: str | None = None, axes=None, seed: int = 0):
    """Plot the posterior loss of plans at a budget: the optimum against the rules in use.

    With a budget, the plans are the expected-loss optimum, 20 tokens per parameter
    (Hoffmann et al.'s rule of thumb) and Kaplan et al.'s N ~ C^0.73 anchored at the posterior
    optimum of the fit's largest run, then yours.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    plans : mapping of name to (N, D), optional
        Your plans (with ``flops``: beside the three above; without: alone).
    flops : float, optional
        The budget in FLOPs: the three plans above are drawn at it.
    risk : float, default 0.9
        Quantile marked on each distribution.
    source : str, optional
        The source whose law is used.
    axes : matplotlib Axes, optional
        Where to draw (default: a new figure).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    """
    fig, ax = _axes(axes, 1, width=7.0)
    params = law_parameters(fit, source=source, seed=seed)
    if plans is None and flops is None:
        raise BayescaleError("give plans={name: (N, D)} or a budget flops=... (the optimum "
                             "against 20 tokens per parameter and Kaplan's rule)")
    chosen = dict(rule_plans(params, flops)) if flops is not None else {}
    chosen |= dict(plans or {})
    for i, (name, plan) in enumerate(chosen.items()):
        N, D = (float(plan["N"]), float(plan["D"])) if not isinstance(plan, tuple) else plan
        loss = plan_loss(params, N, D).values.ravel()
        colour = f"C{i}"
        share = 6 * N * D / flops if flops is not None else 1.0
        other = f"; {share:.0%} of the budget" if abs(share - 1) > 0.05 else ""
        ax.hist(loss, bins=60, density=True, histtype="step", color=colour, linewidth=1.5,
                label=f"{name}: N = {N:.3g}, D = {D:.3g} ({D / N:.3g} tokens/param{other})")
        ax.axvline(np.median(loss), color=colour, linestyle="-", linewidth=1)
        ax.axvline(np.quantile(loss, risk), color=colour, linestyle=":", linewidth=1)
    budget = f" at C = {flops:.3g} FLOPs" if flops is not None else ""
    ax.set(xlabel=LOSS_LABEL, ylabel="posterior density")
    ax.set_title(f"loss of each plan{budget}\n(solid: median, dotted: {risk:.0%} quantile)",
                 fontsize="medium")
    # Below the panel, so that it covers no distribution.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=1,
              frameon=False)
    return fig, ax


def rule_plans(params: xr.Dataset, flops: float) -> dict[str, tuple[float, float]]:
    """Return the plans a budget is usually split by: the optimum and two rules of thumb.

    The expected-loss optimum of the law draws ``params``
    (:func:`bayescale.queries.draws.law_parameters`); 20 tokens per parameter; and Kaplan et
    al.'s N ~ C^0.73, anchored where the runs end (the posterior median N_opt at the largest
    fitted run's compute).
    """
    optimum = optimal_plan(params, flops)
    n_20 = float(np.sqrt(flops / (FLOPS_PER_PARAM_TOKEN * 20)))
    anchor = largest_fitted_compute(params)
    n_anchor = float(frontier(params, xr.DataArray([anchor], dims="flops"))["N_opt"].median())
    n_kaplan = n_anchor * (flops / anchor) ** KAPLAN_EXPONENT
    return {"expected-loss optimum": (float(optimum["N"]), float(optimum["D"])),
            "20 tokens per parameter": (n_20, 20 * n_20),
            "Kaplan's N ~ C^0.73": (n_kaplan, flops / FLOPS_PER_PARAM_TOKEN / n_kaplan)}


def plot_forecast(fit, *, start_year: float, start_flops: float, growth: float,
                  growth_sd: float = 0.0, target_loss: float | None = None, years: float = 10.0,
                  source: str | None = None, axes=None, seed: int = 0):
    """Plot a fan chart of the frontier loss by year under a compute-growth assumption.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    start_year, start_flops, growth, growth_sd : float
        The largest budget in ``start_year`` and its yearly growth (see
        :func:`bayescale.decide.forecast.forecast_year`).
    target_loss : float, optional
        Draws a line at the target, and the 90% interval of the year it is reached.
    years : float, default 10
        Years ahead to draw.
    source : str, optional
        The source whose law is used.
    axes : matplotlib Axes, optional
        Where to draw (default: a new figure).
    seed : int, default 0
        Seed for growth draws and a new source's offsets.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    """
    fig, ax = _axes(axes, 1)
    params = law_parameters(fit, source=source, seed=seed)
    rng = np.random.default_rng(seed)
    first = params[next(iter(params.data_vars))]
    log_growth = first.copy(data=np.log(growth) + growth_sd * rng.standard_normal(first.shape))
    offsets = np.linspace(0.0, years, 60)
    budgets = start_flops * np.exp(log_growth * xr.DataArray(offsets, dims="year"))
    warn_if_far(params, budgets.median(("chain", "draw")).values, "plot")
    loss = frontier(params, budgets)["loss_opt"]
    calendar = start_year + offsets
    _band(ax, calendar, loss, "year", "C0", "median frontier loss", labelled=True)
    if target_loss is not None:
        with warnings.catch_warnings():  # the plot has said how far it reaches
            warnings.simplefilter("ignore", ExtrapolationWarning)
            when = forecast_year(params, start_year=start_year, start_flops=start_flops,
                                 growth=growth, growth_sd=growth_sd, target_loss=target_loss,
                                 seed=seed)["year"].values.ravel()
        ax.axhline(target_loss, color="C3", linestyle="--", label=f"target {target_loss:g}")
        low, high = np.quantile(when, [0.05, 0.95], method="inverted_cdf")
        ax.axvspan(max(low, calendar[0]), min(high, calendar[-1]), color="C3", alpha=0.1,
                   label="90% interval of the year reached")
    _loss_axes(ax, None, xlabel="year")
    ax.set_title(f"frontier loss, largest budget {start_flops:.2g} FLOPs in {start_year:g}\n"
                 f"growing x{growth:g} a year (sd of log {growth_sd:g})", fontsize="medium")
    # Below the panel, so that it covers neither the bands nor the target line.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2,
              frameon=False)
    return fig, ax


PLOTS = {
    "runs": plot_runs, "isoflop": plot_isoflop, "frontier": plot_frontier,
    "extrapolation": plot_extrapolation, "ppc": plot_residuals, "pair": plot_pair,
    "decision": plot_decision, "forecast": plot_forecast,
}


def plot_ranks(result: xr.Dataset, bins: int = 10, axes=None):
    """Plot a rank histogram per quantity, with the 99% band of a uniform histogram.

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    """
    quantities = [str(q) for q in result["quantity"].values]
    if axes is None:
        _, axes = plt.subplots(1, len(quantities), figsize=(2.6 * len(quantities), 2.8),
                                 layout="constrained", squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(axes).ravel()
    n_ranks = result.attrs["n_ranks"]
    for ax, quantity in zip(axes, quantities, strict=True):
        ranks = result["rank"].sel(quantity=quantity).values
        ranks = ranks[np.isfinite(ranks)]
        low, high = binom.ppf([0.005, 0.995], ranks.size, 1 / bins)
        ax.axhspan(low, high, color="0.85", label="99% band if uniform")
        ax.hist(ranks, bins=np.linspace(0, n_ranks + 1, bins + 1), color="C0",
                edgecolor="white")
        ax.set(title=quantity, xlabel=f"rank among {n_ranks} draws", yticks=[])
    axes[0].set_ylabel("simulations")
    return axes[0].figure, axes
