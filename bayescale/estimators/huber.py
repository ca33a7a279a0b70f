"""The classical baseline: Hoffmann et al.'s Approach-3 fit as Epoch AI reproduced it.

Faithful to Besiroglu et al. (2024): the law in log form,
``log L = LSE(a - alpha log N, b - beta log D, e)`` (so ``A = exp(a)``, ``B = exp(b)``,
``E = exp(e)``), fitted by minimising the Huber loss (delta = 1e-3) of log-loss residuals,
*summed* over runs, with L-BFGS-B from every point of the initialisation grid
alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25} (4500 starts),
keeping the best. Intervals come from bootstrap resamples of the runs (Epoch: 4000); each
resample is refitted by L-BFGS-B from the full-data optimum (re-running the 4500-start grid per
resample would multiply the cost by 4500 for the same optimum in practice).

The result is a :class:`bayescale.Fit` whose "posterior" holds the bootstrap estimates as one
chain of draws, so every query (``compute_optimal``, ``predict``, ``optimality``, interval
tables) works on it unchanged; ``fit.method`` is ``"huber-bootstrap"``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import xarray as xr

from bayescale.data.records import FORMAT, provenance, table_to_dataset
from bayescale.data.runs import Runs
from bayescale.errors import BayescaleError
from bayescale.inference.model import REFERENCE_INPUTS, reference_scales
from bayescale.spec.laws import chinchilla_log_loss
from bayescale.spec.model_spec import ModelSpec

METHOD = "huber-bootstrap"
# Bootstrap resamples of the runs by default, as in Epoch AI's replication.
RESAMPLES = 4000
HUBER_DELTA = 1e-3
GRID = {
    "a": np.arange(0.0, 25.1, 5.0),
    "b": np.arange(0.0, 25.1, 5.0),
    "e": np.arange(-1.0, 1.01, 0.5),
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
}
# A coarser grid (3 values per axis, 243 starts) for many fits of few runs, where a degenerate
# optimum makes each of the full grid's 4500 starts run to the iteration cap.
COARSE_GRID = {
    "a": np.array([0.0, 10.0, 20.0]),
    "b": np.array([0.0, 10.0, 20.0]),
    "e": np.array([-1.0, 0.0, 1.0]),
    "alpha": np.array([0.0, 0.5, 1.0]),
    "beta": np.array([0.0, 0.5, 1.0]),
}
# The grids by name, as ``bayescale.fit(..., method="huber-bootstrap", starts=...)`` takes them.
STARTS = {"epoch": GRID, "coarse": COARSE_GRID}
# Tight tolerances: the optimum must not depend on where L-BFGS-B stopped early.
OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000, "maxcor": 20}
MAD_TO_SIGMA = 1.4826
# L-BFGS-B at ftol 1e-15 often ends in its line search at machine precision ("ABNORMAL"); a run
# counts as converged when it reports success or its largest gradient component is below this.
GRADIENT_TOLERANCE = 1e-6


def _converged(result) -> bool:
    return bool(result.success or np.max(np.abs(result.jac)) < GRADIENT_TOLERANCE)


def huber_objective(theta, log_N, log_D, log_L, delta=HUBER_DELTA, weights=None):
    """Return the summed Huber loss of log-loss residuals and its gradient.

    Parameters
    ----------
    theta : array of 5 floats
        ``(a, b, e, alpha, beta)``: log A, log B, log E and the exponents.
    log_N, log_D, log_L : arrays
        Logs of parameters, tokens and loss of each run.
    delta : float, default 1e-3
        The Huber threshold on log-loss residuals.
    weights : array, optional
        A count per run (bootstrap resamples), default one each.

    Returns
    -------
    (float, numpy.ndarray)
        The objective and its gradient with respect to ``theta``.

    """
    a, b, e, alpha, beta = theta
    predicted = chinchilla_log_loss(log_N, log_D, e, a, b, alpha, beta)
    residual = predicted - log_L
    size = np.abs(residual)
    loss = np.where(size <= delta, 0.5 * residual**2, delta * (size - 0.5 * delta))
    slope = np.clip(residual, -delta, delta)
    if weights is not None:
        loss, slope = loss * weights, slope * weights
    # d log L / d(term) is each term's share of the sum: exp(term - log L)
    share_A = np.exp(a - alpha * log_N - predicted)
    share_B = np.exp(b - beta * log_D - predicted)
    share_E = np.exp(e - predicted)
    grad = np.array([
        np.sum(slope * share_A), np.sum(slope * share_B), np.sum(slope * share_E),
        -np.sum(slope * share_A * log_N), -np.sum(slope * share_B * log_D),
    ])
    return float(loss.sum()), grad


def grid_fit(log_N, log_D, log_L, delta=HUBER_DELTA, grid=None,
             maxiter: int | None = None) -> tuple[np.ndarray, float, int, bool]:
    """Fit from every start of the initialisation grid and keep the best.

    ``grid`` (default :data:`GRID`, Epoch's) maps each of a, b, e, alpha, beta to its start
    values; ``maxiter`` caps L-BFGS-B's iterations per start (default 10,000).

    Returns
    -------
    (numpy.ndarray, float, int, bool)
        The best ``(a, b, e, alpha, beta)``, its objective, the number of starts whose
        L-BFGS-B run did not converge (most are far-off starts that stall; only the best
        matters), and whether the best one converged.

    """
    from scipy.optimize import minimize  # SciPy's optimizers: only when fitting

    best, best_value, failures, best_converged = None, np.inf, 0, False
    axes = np.meshgrid(*(GRID if grid is None else grid).values(), indexing="ij")
    starts = np.stack([axis.ravel() for axis in axes], axis=1)
    options = OPTIONS | ({} if maxiter is None else {"maxiter": maxiter})
    for start in starts:
        result = minimize(huber_objective, start, args=(log_N, log_D, log_L, delta),
                          jac=True, method="L-BFGS-B", options=options)
        failures += not _converged(result)
        if result.fun < best_value:
            best, best_value, best_converged = result.x, float(result.fun), _converged(result)
    return best, best_value, failures, best_converged


def huber_bootstrap(runs: Runs, resamples: int = RESAMPLES, seed: int = 42,
                    delta: float = HUBER_DELTA, spec: ModelSpec | None = None,
                    grid: dict | None = None, maxiter: int | None = None):
    """Fit the Chinchilla law the classical way and bootstrap it (see the module docstring).

    Parameters
    ----------
    runs : Runs
        Validated runs of one source.
    resamples : int, default 4000
        Bootstrap resamples of the runs (Epoch used 4000).
    seed : int, default 42
        Seed of the resampling (Epoch's).
    delta : float, default 1e-3
        Huber threshold on log-loss residuals.
    spec : ModelSpec, optional
        Recorded with the result (the law is always Chinchilla's).
    grid : dict, optional
        Start values per parameter (default :data:`GRID`, Epoch's 4500 starts;
        :data:`COARSE_GRID` has 243).
    maxiter : int, optional
        L-BFGS-B iterations per start and per refit (default 10,000).

    Returns
    -------
    xarray.DataTree
        A fit's tree (``bayescale.Fit(tree)`` reads it; ``bayescale.fit(runs,
        method="huber-bootstrap")`` returns that Fit): its ``method`` attribute is
        ``"huber-bootstrap"``, the posterior group holds the bootstrap estimates (1 chain x
        ``resamples`` draws), and the diagnostics the full-data optimum
        (``fit.point_estimate``).

    """
    from scipy.optimize import minimize  # SciPy's optimizers: only when fitting

    if len(runs.sources) != 1:
        raise BayescaleError(f"method='{METHOD}' fits one source (Epoch's recipe has no "
                             f"per-source offsets); these runs have {len(runs.sources)}: fit "
                             "one source, or use the Bayesian fit for several")
    if resamples < 1:
        raise BayescaleError(f"resamples must be a positive integer, not {resamples}")
    table = runs.table
    log_N, log_D, log_L = (np.log(table[name].to_numpy()) for name in ("N", "D", "loss"))
    started = time.perf_counter()
    point, objective, grid_failures, point_converged = grid_fit(log_N, log_D, log_L, delta,
                                                                grid, maxiter)
    options = OPTIONS | ({} if maxiter is None else {"maxiter": maxiter})
    grid_seconds = time.perf_counter() - started

    rng = np.random.default_rng(seed)
    estimates = np.empty((resamples, 5))
    sigmas = np.empty(resamples)
    failures = 0
    for draw in range(resamples):
        counts = np.bincount(rng.integers(len(table), size=len(table)), minlength=len(table))
        result = minimize(huber_objective, point, args=(log_N, log_D, log_L, delta, counts),
                          jac=True, method="L-BFGS-B", options=options)
        failures += not _converged(result)
        estimates[draw] = result.x
        a, b, e, alpha, beta = result.x
        residual = chinchilla_log_loss(log_N, log_D, e, a, b, alpha, beta) - log_L
        sigmas[draw] = MAD_TO_SIGMA * np.median(np.abs(np.repeat(residual, counts)))
    seconds = time.perf_counter() - started

    source = runs.sources[0]
    reference = reference_scales(runs)
    log_N0, log_D0 = reference["N"], reference["D"]
    a, b, e, alpha, beta = (estimates[None, :, i] for i in range(5))
    dims, source_dims = ("chain", "draw"), ("chain", "draw", "source")
    values = {
        "log_E": e, "log_A_ref": a - alpha * log_N0, "log_B_ref": b - beta * log_D0,
        "alpha": alpha, "beta": beta,
    }
    posterior = xr.Dataset(
        {name: (dims, value) for name, value in values.items()}
        | {f"{name}_source": (source_dims, value[..., None]) for name, value in values.items()}
        | {"E": (dims, np.exp(e)), "A": (dims, np.exp(a)), "B": (dims, np.exp(b)),
           "sigma": (source_dims, sigmas[None, :, None])},
        coords={"chain": [0], "draw": np.arange(resamples), "source": [source]})
    problems = [] if point_converged else ["the best start of the grid did not converge"]
    if failures:
        problems.append(f"{failures} of {resamples} bootstrap refits did not report "
                        "convergence")
    point_estimate = dict(zip(("A", "B", "E"), np.exp(point[:3]).tolist(), strict=True)) | {
        "alpha": float(point[3]), "beta": float(point[4])}
    tree = xr.DataTree.from_dict({
        "posterior": posterior,
        "constant_data": xr.Dataset({f"log_{name}0": reference[name]
                                     for name in REFERENCE_INPUTS}),
        "runs": table_to_dataset(table),
    })
    tree.attrs.update({
        "bayescale_format": FORMAT,
        "method": METHOD,
        "spec": (spec or _chinchilla_spec()).to_json(),
        "sampler": json.dumps({"method": METHOD, "resamples": resamples, "seed": seed,
                               "delta": delta, "grid_starts": int(np.prod(
                                   [len(v) for v in (GRID if grid is None else grid).values()])),
                               "maxiter": options["maxiter"]}),
        "diagnostics": json.dumps({
            "converged": not problems, "problems": problems,
            "point_estimate": point_estimate, "objective": objective,
            "grid_failed_starts": grid_failures, "bootstrap_failed_refits": failures,
            "grid_seconds": grid_seconds, "seconds": seconds,
        }),
        "provenance": json.dumps(provenance(runs)),
    })
    return tree


def _chinchilla_spec() -> ModelSpec:
    from bayescale.spec.model_spec import load_spec

    return load_spec("chinchilla")
