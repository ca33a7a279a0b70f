"""The compute-optimal frontier, per posterior draw: N_opt, D_opt, D/N and the loss there."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescale.queries.draws import check_reads_unique, law_log_loss, law_parameters
from bayescale.queries.loss import decades_beyond, warn_if_far
from bayescale.spec.laws import LOG_FLOPS_PER_PARAM_TOKEN, get_law, law_inputs


def compute_optimal(fit, flops, *, source: str | None = None, seed: int = 0,
                    unique_tokens=None) -> xr.Dataset:
    """Posterior of the compute-optimal allocation at one or more FLOP budgets (C = 6ND).

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    flops : float or sequence of float
        Training budgets in FLOPs.
    source : str, optional
        A fitted source, ``bayescale.NEW_SOURCE``, or None for the fit's default source (see
        :func:`bayescale.queries.draws.law_parameters`).
    seed : int, default 0
        Seed for a new source's offsets.
    unique_tokens : float, optional
        A budget of unique tokens, for the data-constrained law: the optimum when data beyond
        it must be repeated (default: unlimited). Other laws do not depend on it.

    Returns
    -------
    xarray.Dataset
        ``N_opt`` (parameters), ``D_opt`` (tokens), ``tokens_per_param`` (D_opt / N_opt) and
        ``loss_opt`` (the law's loss at the optimum, nats/token), dims (chain, draw, flops).
        The loss-compute envelope law has no allocation: it gives ``loss_opt`` only.
        Coordinate ``decades_beyond`` says how many decades of compute each budget lies beyond
        the largest fitted run; more than 3 warns (:class:`bayescale.errors.ExtrapolationWarning`).

    """
    budgets = xr.DataArray(np.atleast_1d(np.asarray(flops, dtype=float)), dims="flops")
    budgets = budgets.assign_coords(flops=budgets.values)
    if not np.all(np.isfinite(budgets)) or np.any(budgets <= 0):
        raise ValueError(f"flops must be positive and finite, got {budgets.values}")
    params = law_parameters(fit, source=source, seed=seed)
    check_reads_unique(params.attrs["law"], unique_tokens)
    warn_if_far(params, budgets.values, "frontier")
    result = frontier(params, budgets, unique_tokens=unique_tokens)
    return result.assign_coords(decades_beyond=("flops", decades_beyond(params,
                                                                        budgets.values)))


def frontier(params: xr.Dataset, budgets: xr.DataArray, unique_tokens=None) -> xr.Dataset:
    """Return the compute-optimal allocation for law parameters (see :func:`compute_optimal`).

    Parameters
    ----------
    params : xarray.Dataset
        Law parameters per draw (from :func:`bayescale.queries.draws.law_parameters`).
    budgets : xarray.DataArray
        FLOP budgets along one dimension.
    unique_tokens : float, optional
        Unique-token budget (data-constrained law only).

    Returns
    -------
    xarray.Dataset
        ``N_opt``, ``D_opt``, ``tokens_per_param`` and ``loss_opt`` (``loss_opt`` only for the
        envelope law).

    """
    law = get_law(params.attrs["law"])
    log_C = np.log(budgets)
    log_U = None if unique_tokens is None else float(np.log(unique_tokens))
    if law.optimal_log_params is None:
        loss = np.exp(law_log_loss(params, {"C": log_C}))
        return xr.Dataset({"loss_opt": loss}).transpose("chain", "draw", ...)
    log_N = law.optimal_log_params(log_C, params, log_U=log_U)
    log_D = log_C - LOG_FLOPS_PER_PARAM_TOKEN - log_N
    log_loss = law_log_loss(params, law_inputs(log_N, log_D, log_U=log_U, log_C=log_C))
    return xr.Dataset({
        "N_opt": np.exp(log_N),
        "D_opt": np.exp(log_D),
        "tokens_per_param": np.exp(log_D - log_N),
        "loss_opt": np.exp(log_loss),
    }).transpose("chain", "draw", ...)
