"""The compute-optimal frontier, per posterior draw: N_opt, D_opt, D/N and the loss there."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescale.laws import FLOPS_PER_PARAM_TOKEN, chinchilla_log_loss, chinchilla_optimal_log_params
from bayescale.posterior import law_parameters


def compute_optimal(fit, flops, source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Posterior of the compute-optimal allocation at one or more FLOP budgets (C = 6ND).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    flops : float or sequence of float
        Training budgets in FLOPs.
    source : str, optional
        A fitted source, ``bayescale.NEW_SOURCE``, or None for the fit's default source (see
        :func:`bayescale.posterior.law_parameters`).
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    xarray.Dataset
        ``N_opt`` (parameters), ``D_opt`` (tokens), ``tokens_per_param`` (D_opt / N_opt) and
        ``loss_opt`` (the law's loss at the optimum, nats/token), dims (chain, draw, flops).

    """
    budgets = xr.DataArray(np.atleast_1d(np.asarray(flops, dtype=float)), dims="flops")
    budgets = budgets.assign_coords(flops=budgets.values)
    if not np.all(np.isfinite(budgets)) or np.any(budgets <= 0):
        raise ValueError(f"flops must be positive and finite, got {budgets.values}")
    return frontier(law_parameters(fit, source=source, seed=seed), budgets)


def frontier(params: xr.Dataset, budgets: xr.DataArray) -> xr.Dataset:
    """Return the compute-optimal allocation for law parameters (see :func:`compute_optimal`).

    Parameters
    ----------
    params : xarray.Dataset
        ``log_E``, ``log_A``, ``log_B``, ``alpha``, ``beta`` per draw (from
        :func:`bayescale.posterior.law_parameters`).
    budgets : xarray.DataArray
        FLOP budgets along one dimension.

    Returns
    -------
    xarray.Dataset
        ``N_opt``, ``D_opt``, ``tokens_per_param`` and ``loss_opt``.

    """
    log_C = np.log(budgets)
    log_N = chinchilla_optimal_log_params(log_C, params["log_A"], params["log_B"],
                                          params["alpha"], params["beta"])
    log_D = log_C - np.log(FLOPS_PER_PARAM_TOKEN) - log_N
    log_loss = chinchilla_log_loss(log_N, log_D, params["log_E"], params["log_A"],
                                   params["log_B"], params["alpha"], params["beta"])
    return xr.Dataset({
        "N_opt": np.exp(log_N),
        "D_opt": np.exp(log_D),
        "tokens_per_param": np.exp(log_D - log_N),
        "loss_opt": np.exp(log_loss),
    }).transpose("chain", "draw", *budgets.dims)
