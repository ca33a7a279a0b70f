"""Regenerate the literature tables: fit every published source, and its nested held-out splits.

``python -m bayescale.checks.literature_tables [FOLDER]`` (about 10 minutes on 2 cores) writes
``models/literature/chinchilla_sources.csv``, ``chinchilla_extrapolation.csv`` and
``chinchilla_allocation.csv``, which :mod:`bayescale.fitting.literature` reads (see there for
what they hold).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.checks.optima import observed_optima
from bayescale.data.records import package_versions
from bayescale.data.resources import data_folder
from bayescale.errors import BayescaleError
from bayescale.fitting.fitter import fit
from bayescale.fitting.literature import (
    ALLOCATION_FILE,
    BUDGET_COLUMNS,
    D_LIT,
    EXTRAPOLATION_FILE,
    LITERATURE_DATASETS,
    N_LIT,
    PARAMETERS,
    SOURCES_FILE,
    _read,
    literature_runs,
    lowest_compute_runs,
)
from bayescale.queries.draws import law_parameters
from bayescale.queries.frontier import compute_optimal
from bayescale.queries.loss import predict

log = logging.getLogger("bayescale")


def _source_draws(fitted) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws of :data:`PARAMETERS` (draws x 5) and of the log level, for one source."""
    params = law_parameters(fitted)
    terms = [np.asarray(term).reshape(-1) for term in (
        params["log_E"], params["log_A"] - params["alpha"] * np.log(N_LIT),
        params["log_B"] - params["beta"] * np.log(D_LIT))]
    level = np.logaddexp(np.logaddexp(*terms[:2]), terms[2])
    shape = [term - level for term in terms] + [
        np.log(np.asarray(params[name]).reshape(-1)) for name in ("alpha", "beta")]
    return np.column_stack(shape), level


def _fit_quietly(runs, **options):

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(runs, **options)


def source_estimates(names: Iterable[str] = tuple(LITERATURE_DATASETS), *, draws: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """Fit every published source alone and return its posterior mean and covariance.

    Parameters
    ----------
    names : iterable of str
        Data sets from :data:`LITERATURE_DATASETS`.
    draws : int, default 1000
        Draws (and tuning steps) per chain, 4 chains.
    seed : int, default 0
        Seed of every fit.

    Returns
    -------
    pandas.DataFrame
        One row per source: ``dataset``, ``source``, ``runs``, ``log10_C_min``,
        ``log10_C_max``, ``converged``, ``loss_at_lit`` (its loss at N_LIT, D_LIT),
        ``mean_<p>`` and ``cov_<p>_<q>`` for the :data:`PARAMETERS`, and the posterior mean
        and variance of its log noise scale (``mean_log_sigma``, ``var_log_sigma``).

    """
    rows = []
    for name in names:
        runs = literature_runs(name)
        for source in runs.sources:
            part = runs.select(runs.table["source"].to_numpy() == source)
            fitted = _fit_quietly(part, draws=draws, tune=draws, seed=seed, discrepancy=0.0)
            values, level = _source_draws(fitted)
            mean, cov = values.mean(axis=0), np.cov(values, rowvar=False)
            log_sigma = np.log(fitted.posterior["sigma"].values.reshape(-1))
            row = {"dataset": name, "source": source, "runs": len(part),
                   "log10_C_min": float(np.log10(part.table["C"].min())),
                   "log10_C_max": float(np.log10(part.table["C"].max())),
                   "converged": fitted.converged, "loss_at_lit": float(np.exp(level.mean())),
                   "mean_log_sigma": float(log_sigma.mean()),
                   "var_log_sigma": float(log_sigma.var())}
            row |= {f"mean_{p}": float(m) for p, m in zip(PARAMETERS, mean, strict=True)}
            row |= {f"cov_{p}_{q}": float(cov[i, j]) for i, p in enumerate(PARAMETERS)
                    for j, q in enumerate(PARAMETERS) if j >= i}
            log.info("bayescale: literature source %s (%d runs): alpha %.3f, beta %.3f, E "
                     "%.0f%% of the loss at N=1e8, D=1e10", source, len(part), np.exp(mean[3]),
                     np.exp(mean[4]), 100 * np.exp(mean[0]))
            rows.append(row)
    return pd.DataFrame(rows)


# Nested splits inside each published source: (name, how the fitted runs are chosen).
NESTED_SPLITS = ("lower 64%", "lowest 8", "lowest 5")


def nested_split(table: pd.DataFrame, split: str) -> pd.Index:
    """Return the rows a nested extrapolation split fits (see :data:`NESTED_SPLITS`)."""
    if split == "lower 64%":
        threshold = np.quantile(table["C"], 0.64)
        return table.index[table["C"] <= threshold]
    count = int(split.split()[-1])
    return lowest_compute_runs(table, count)


def extrapolation_residuals(names: Iterable[str] = tuple(LITERATURE_DATASETS), *,
                            draws: int = 500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each published source's smaller runs and score the runs and budgets beyond them.

    For every source and every split of :data:`NESTED_SPLITS`, the chosen runs are fitted
    alone (no discrepancy); every run with more compute than the largest fitted one is
    predicted with observation noise, and, where the data set has IsoFLOP budgets
    (:data:`bayescale.fitting.literature.BUDGET_COLUMNS`), the compute-optimal size of every
    budget beyond the fitted runs is compared with its observed optimum
    (:func:`bayescale.checks.optima.observed_optima`).

    Parameters
    ----------
    names : iterable of str
        Data sets from :data:`LITERATURE_DATASETS`.
    draws : int, default 500
        Draws and tuning steps per chain, 4 chains.
    seed : int, default 0
        Seed of every fit and prediction.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The loss table, one row per predicted run: ``dataset``, ``source``, ``split``,
        ``fitted_runs``, ``fitted_span`` (decades of compute the fitted runs span),
        ``decades`` (log10 of its compute over the largest fitted compute), ``residual``
        (observed log loss minus the predictive median), ``scale`` (half the predictive
        16-84% range of log loss), ``sigma`` (the fit's posterior median noise scale of log
        loss). The allocation table, one row per budget beyond: the same split columns,
        ``decades``, ``residual`` (the observed optimum's log N minus the posterior median of
        log N_opt), ``scale`` (half the posterior 16-84% range of log N_opt) and ``se`` (the
        observed optimum's standard error).

    """
    rows, allocation = [], []
    for name in names:
        runs = literature_runs(name)
        for source in runs.sources:
            table = runs.table[runs.table["source"] == source]
            optima = (observed_optima(table, BUDGET_COLUMNS[name]) if name in BUDGET_COLUMNS
                      else None)
            for split in NESTED_SPLITS:
                try:
                    kept = nested_split(table, split)
                except BayescaleError:
                    continue
                c_max = table.loc[kept, "C"].max()
                beyond = table[table["C"] > c_max]
                if len(kept) < 5 or beyond.empty:
                    continue
                part = runs.select(runs.table.index.isin(kept))
                fitted = _fit_quietly(part, draws=draws, tune=draws, seed=seed,
                                      discrepancy=0.0, log_likelihood=False)
                about = {"dataset": name, "source": source, "split": split,
                         "fitted_runs": len(kept), "fitted_span": float(np.log10(
                             c_max / table.loc[kept, "C"].min()))}
                with warnings.catch_warnings(), np.errstate(divide="ignore"):
                    warnings.simplefilter("ignore")  # far-beyond warnings: expected here
                    loss = predict(fitted, beyond["N"], beyond["D"], noise=True, seed=seed)
                    logs = np.log(loss.values.reshape(-1, len(beyond)))
                q16, q50, q84 = np.quantile(logs, [0.16, 0.5, 0.84], axis=0)
                rows.append(pd.DataFrame(about | {
                    "decades": np.log10(beyond["C"].to_numpy() / c_max),
                    "residual": np.log(beyond["loss"].to_numpy()) - q50,
                    "scale": (q84 - q16) / 2,
                    "sigma": float(fitted.posterior["sigma"].median()),
                }))
                later = None if optima is None else optima[optima["budget"] > c_max]
                if later is not None and len(later):
                    allocation.append(_allocation_rows(fitted, later, c_max, about))
                log.info("bayescale: nested split %s / %s: %d fitted, %d predicted", source,
                         split, len(kept), len(beyond))
    return pd.concat(rows, ignore_index=True), pd.concat(allocation, ignore_index=True)


def _allocation_rows(fitted, optima: pd.DataFrame, c_max: float, about: dict) -> pd.DataFrame:
    """Compare a nested fit's N_opt at later budgets with their observed optima."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frontier = compute_optimal(fitted, optima["budget"].to_numpy())
    log_N = np.log(frontier["N_opt"].values.reshape(-1, len(optima)))
    q16, q50, q84 = np.quantile(log_N, [0.16, 0.5, 0.84], axis=0)
    return pd.DataFrame(about | {
        "budget": optima["budget"].to_numpy(),
        "decades": np.log10(optima["budget"].to_numpy() / c_max),
        "residual": optima["log_N_opt"].to_numpy() - q50,
        "scale": (q84 - q16) / 2,
        "se": optima["se"].to_numpy(),
    })


def build(folder: str | Path | None = None, *, draws: int = 1000, seed: int = 0) -> list[Path]:
    """Regenerate the literature tables from the registered data sets.

    Parameters
    ----------
    folder : str or pathlib.Path, optional
        Where to write (default: the package's ``models/literature/``).
    draws : int, default 1000
        Draws and tuning steps per chain of the per-source fits (the nested fits use half).
    seed : int, default 0
        Seed of every fit.

    Returns
    -------
    list of pathlib.Path
        The files written.

    """
    folder = Path(folder) if folder is not None else data_folder("models") / "literature"
    folder.mkdir(parents=True, exist_ok=True)
    versions = package_versions()
    header = (f"# Regenerate with: python -m bayescale.checks.literature_tables (seed {seed}, "
              f"{draws} draws)\n"
              f"# bayescale {versions['bayescale']}, pymc {versions['pymc']}, nutpie "
              f"{versions['nutpie']}; data: the registered data sets at their pinned commits\n")
    written = []
    loss_table, allocation_table = extrapolation_residuals(draws=draws // 2, seed=seed)
    for filename, table in ((SOURCES_FILE, source_estimates(draws=draws, seed=seed)),
                            (EXTRAPOLATION_FILE, loss_table),
                            (ALLOCATION_FILE, allocation_table)):
        path = folder / filename
        path.write_text(header + table.to_csv(index=False, float_format="%.6g"))
        written.append(path)
    _read.cache_clear()  # later reads in this process see the new tables
    return written


if __name__ == "__main__":  # python -m bayescale.checks.literature_tables [FOLDER]
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for written_path in build(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"wrote {written_path}")
