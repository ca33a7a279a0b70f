"""Posterior (predictive) loss of planned runs at any (N, D)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayescale.errors import BayescaleError, ExtrapolationWarning
from bayescale.queries.draws import (
    check_counts,
    check_reads_unique,
    is_law_draws,
    law_log_loss,
    law_parameters,
)
from bayescale.spec.laws import law_inputs

FAR_BEYOND_DECADES = 3.0


def _log10_C_max(fit) -> float:
    """log10 of the largest fitted compute; NaN for law draws built without a fitted range."""
    if is_law_draws(fit):
        return float(fit.attrs.get("log10_C_max", np.nan))
    return float(fit.discrepancy["log10_C_max"])


def largest_fitted_compute(fit) -> float:
    """Return the largest fitted run's compute in FLOPs (of a Fit, or of its law draws).

    Raises
    ------
    bayescale.errors.BayescaleError
        For law draws built by hand, which know no fitted runs.

    """
    log10_C_max = _log10_C_max(fit)
    if not np.isfinite(log10_C_max):
        raise BayescaleError("these law draws know no fitted runs (no attrs['log10_C_max']): "
                             "give the anchor budget, or draw them with "
                             "bayescale.queries.law_parameters(fit)")
    return float(10 ** log10_C_max)


def decades_beyond(fit, flops) -> np.ndarray:
    """Return how many decades of compute each budget lies beyond the fit's largest run (>= 0).

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws (:func:`bayescale.queries.draws.law_parameters`).
    flops : array_like
        Training compute of each query (C = 6ND).

    Returns
    -------
    numpy.ndarray
        log10(C / C_max) where positive, else 0; NaN for law draws built by hand without a
        fitted range (``attrs["log10_C_max"]``).

    """
    log10_C = np.log10(np.asarray(flops, dtype=float))
    return np.maximum(0.0, log10_C - _log10_C_max(fit))


def warn_if_far(fit, flops, what: str = "query") -> None:
    """Warn (:class:`ExtrapolationWarning`) when a query lies far beyond the fitted compute."""
    beyond = decades_beyond(fit, flops)
    if beyond.size and beyond.max() > FAR_BEYOND_DECADES:
        warnings.warn(
            f"this {what} reaches {beyond.max():.1f} decades of compute beyond the largest "
            f"fitted run ({10 ** _log10_C_max(fit):.3g} FLOPs): the law has not "
            "been checked that far, and its predictive intervals widen with the distance "
            "(see fit.discrepancy)", ExtrapolationWarning, stacklevel=3)


def predict(fit, N, D, *, source: str | None = None, noise: bool = False,
            seed: int = 0, unique_tokens=None, discrepancy: bool = True) -> xr.DataArray:
    """Posterior of the loss of runs with N parameters trained on D tokens.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    N, D : float or sequence of float
        Parameters and training tokens of each planned run (paired, same length).
    source : str, optional
        A fitted source, ``bayescale.NEW_SOURCE``, or None for the fit's default source (see
        :func:`bayescale.queries.draws.law_parameters`).
    noise : bool, default False
        False: the law's loss (uncertainty in the law only). True: the posterior predictive
        loss of one observed run, adding the fitted observation noise on log loss. With a
        Student-t likelihood whose ``nu`` is near 1 a few draws are huge (even ``inf``):
        summarise predictive draws by quantiles, not by mean or standard deviation.
    seed : int, default 0
        Seed for a new source's offsets and for the observation noise.
    unique_tokens : float or sequence of float, optional
        Unique tokens U of each run, read by the data-constrained law (default: U = D, every token
        seen once). Laws of compute alone (envelope, over-training) read C = 6ND and M = D/N.
    discrepancy : bool, default True
        Add the law's discrepancy beyond the fitted runs: a Normal error on log loss whose
        standard deviation is ``fit.discrepancy["per_decade"]`` times the decades of compute
        by which the run lies beyond the largest fitted run (0 inside the fitted range).

    Returns
    -------
    xarray.DataArray
        ``loss`` in nats/token, dims (chain, draw, run) with coords ``N``, ``D`` and
        ``decades_beyond`` (of compute, beyond the largest fitted run) on ``run``. A query
        more than 3 decades beyond warns (:class:`bayescale.errors.ExtrapolationWarning`).

    """
    N = np.atleast_1d(np.asarray(N, dtype=float))
    D = np.atleast_1d(np.asarray(D, dtype=float))
    if N.shape != D.shape or N.ndim != 1:
        raise ValueError(f"N and D must pair up one to one; got {N.size} N and {D.size} D values")
    check_counts(N, D)
    rng = np.random.default_rng(seed)
    params = law_parameters(fit, source=source, seed=int(rng.integers(2**31)))
    log_U = None
    if unique_tokens is not None:
        check_reads_unique(params.attrs["law"], unique_tokens, what="unique_tokens")
        U = np.broadcast_to(np.asarray(unique_tokens, dtype=float), N.shape)
        log_U = xr.DataArray(np.log(U), dims="run")
    x = law_inputs(xr.DataArray(np.log(N), dims="run"), xr.DataArray(np.log(D), dims="run"),
                   log_U=log_U)
    log_loss = law_log_loss(params, x).transpose("chain", "draw", "run")
    beyond = decades_beyond(params, 6 * N * D)
    warn_if_far(params, 6 * N * D, "prediction")
    scale = params.attrs.get("discrepancy_per_decade", 0.0) * beyond
    if discrepancy and np.any(scale > 0):  # NaN (no fitted range known) adds none
        # Its own stream, so the observation noise is the same with and without it.
        extra = np.random.default_rng([seed, 1]).standard_normal(log_loss.shape) * scale
        log_loss = log_loss + log_loss.copy(data=extra)
    if noise:
        shape = log_loss.shape
        if "nu" in params:
            standard = rng.standard_t(params["nu"].values[..., None], size=shape)
        elif params.attrs.get("likelihood") == "laplace":
            standard = rng.laplace(size=shape)
        else:
            standard = rng.standard_normal(shape)
        log_loss = log_loss + params["sigma"] * log_loss.copy(data=standard)
    with np.errstate(over="ignore"):  # Student-t noise with nu near 1 can exceed exp's range
        loss = np.exp(log_loss).rename("loss")
    return loss.assign_coords(N=("run", N), D=("run", D), decades_beyond=("run", beyond)
                              ).transpose("chain", "draw", "run")
