"""Posterior (predictive) loss of planned runs at any (N, D)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescale.errors import BayescaleError
from bayescale.queries.beyond import (  # noqa: F401 (FAR_BEYOND_DECADES: re-exported)
    FAR_BEYOND_DECADES,
    decades_beyond,
    log10_C_max,
    warn_if_far,
)
from bayescale.queries.draws import (
    check_counts,
    check_reads_unique,
    law_parameters,
)
from bayescale.queries.frontier import run_loss


def largest_fitted_compute(fit) -> float:
    """Return the largest fitted run's compute in FLOPs (of a Fit, or of its law draws).

    Raises
    ------
    bayescale.errors.BayescaleError
        For law draws built by hand, which know no fitted runs.

    """
    largest = log10_C_max(fit)
    if not np.isfinite(largest):
        raise BayescaleError("these law draws know no fitted runs (no attrs['log10_C_max']): "
                             "give the anchor budget, or draw them with "
                             "bayescale.queries.law_parameters(fit)")
    return float(10 ** largest)


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
        Add the law's discrepancy beyond the fitted runs (see :mod:`bayescale.queries.beyond`):
        per decade of compute beyond the largest fitted run of the source asked about, a drift
        of ``fit.discrepancy["drift_per_decade"]`` and a spread of ``["per_decade"]`` in log
        loss (nothing inside the fitted range).

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
    rng = np.random.default_rng([seed, 2])  # the noise; the law's draws take the seed itself
    params = law_parameters(fit, source=source, seed=seed)
    U = None
    if unique_tokens is not None:
        check_reads_unique(params.attrs["law"], unique_tokens, what="unique_tokens")
        U = xr.DataArray(np.broadcast_to(np.asarray(unique_tokens, dtype=float), N.shape),
                         dims="run")
    beyond = decades_beyond(params, 6 * N * D)
    warn_if_far(params, 6 * N * D, "prediction")
    log_loss = np.log(run_loss(params, xr.DataArray(N, dims="run"), xr.DataArray(D, dims="run"),
                               U, discrepancy=discrepancy)
                      ).transpose("chain", "draw", "run")
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
