"""The compute-optimal frontier, per posterior draw: N_opt, D_opt, D/N and the loss there."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescale.queries.beyond import (
    ALLOCATION_PARTS,
    LOSS_PARTS,
    add_discrepancy,
    decades_beyond,
    decades_outside,
    discrepancy_shift,
    warn_if_far,
)
from bayescale.queries.draws import check_reads_unique, law_log_loss, law_parameters
from bayescale.spec.laws import LOG_FLOPS_PER_PARAM_TOKEN, get_law, law_inputs


def compute_optimal(fit, flops, *, source: str | None = None, seed: int = 0,
                    unique_tokens=None, discrepancy: bool = True) -> xr.Dataset:
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
        Seed for a new source's offsets and the discrepancy's draws (a fit only: law draws
        carry their own).
    unique_tokens : float, optional
        A budget of unique tokens, for the data-constrained law: the optimum when data beyond
        it must be repeated (default: unlimited). Other laws do not depend on it.
    discrepancy : bool, default True
        Add the law's discrepancy beyond the fitted runs (:mod:`bayescale.queries.beyond`)
        to the optimal size (and so to D_opt and tokens per parameter) and to the loss there;
        False: the law's parameter uncertainty alone.

    Returns
    -------
    xarray.Dataset
        ``N_opt`` (parameters), ``D_opt`` (tokens), ``tokens_per_param`` (D_opt / N_opt) and
        ``loss_opt`` (the loss at the optimum, nats/token), dims (chain, draw, flops).
        The loss-compute envelope law has no allocation: it gives ``loss_opt`` only.
        Coordinate ``decades_beyond`` says how many decades of compute each budget lies beyond
        the largest fitted run of the source asked about; more than 3 warns
        (:class:`bayescale.errors.ExtrapolationWarning`).

    """
    budgets = xr.DataArray(np.atleast_1d(np.asarray(flops, dtype=float)), dims="flops")
    budgets = budgets.assign_coords(flops=budgets.values)
    if not np.all(np.isfinite(budgets)) or np.any(budgets <= 0):
        raise ValueError(f"flops must be positive and finite, got {budgets.values}")
    params = law_parameters(fit, source=source, seed=seed)
    check_reads_unique(params.attrs["law"], unique_tokens)
    warn_if_far(params, budgets.values, "frontier")
    result = frontier(params, budgets, unique_tokens=unique_tokens, discrepancy=discrepancy)
    return result.assign_coords(decades_beyond=("flops", decades_beyond(params,
                                                                        budgets.values)))


def frontier(params: xr.Dataset, budgets: xr.DataArray, unique_tokens=None, *,
             discrepancy: bool = True) -> xr.Dataset:
    """Return the compute-optimal allocation for law parameters (see :func:`compute_optimal`).

    Parameters
    ----------
    params : xarray.Dataset
        Law parameters per draw (from :func:`bayescale.queries.draws.law_parameters`).
    budgets : xarray.DataArray
        FLOP budgets along one dimension.
    unique_tokens : float, optional
        Unique-token budget (data-constrained law only).
    discrepancy : bool, default True
        Add the law's discrepancy beyond the fitted runs (see :func:`compute_optimal`; its
        draws are those of ``params``).

    Returns
    -------
    xarray.Dataset
        ``N_opt``, ``D_opt``, ``tokens_per_param`` and ``loss_opt`` (``loss_opt`` only for the
        envelope law).

    """
    law = get_law(params.attrs["law"])
    log_U = None if unique_tokens is None else float(np.log(unique_tokens))
    log_C = np.log(budgets)
    if law.optimal_log_params is None:
        log_N, log_loss = None, law_log_loss(params, {"C": log_C})
    else:
        log_N = law.optimal_log_params(log_C, params, log_U=log_U)
        log_D = log_C - LOG_FLOPS_PER_PARAM_TOKEN - log_N
        log_loss = law_log_loss(params, law_inputs(log_N, log_D, log_U=log_U, log_C=log_C))
    if discrepancy:
        outside = budgets.copy(data=decades_outside(params, budgets.values)).fillna(0.0)
        log_loss = add_discrepancy(log_loss.transpose("chain", "draw", ...), params, outside,
                                   LOSS_PARTS)
        if log_N is not None:
            log_N = add_discrepancy(log_N.transpose("chain", "draw", ...), params, outside,
                                    ALLOCATION_PARTS)
    if log_N is None:
        return xr.Dataset({"loss_opt": np.exp(log_loss)}).transpose("chain", "draw", ...)
    log_D = log_C - LOG_FLOPS_PER_PARAM_TOKEN - log_N
    return xr.Dataset({
        "N_opt": np.exp(log_N),
        "D_opt": np.exp(log_D),
        "tokens_per_param": np.exp(log_D - log_N),
        "loss_opt": np.exp(log_loss),
    }).transpose("chain", "draw", ...)


def run_loss(params: xr.Dataset, N, D, unique_tokens=None, *,
             discrepancy: bool = True) -> xr.DataArray:
    """Return the loss per draw of a run at (N, D): dims (chain, draw) plus those of N and D.

    Beyond the fitted runs the law's discrepancy (:mod:`bayescale.queries.beyond`) moves a
    run's loss as it moves the frontier: each draw's IsoFLOP profile is shifted along log N by
    the allocation's discrepancy (so that its optimum is the frontier's N_opt, from the same
    draws), and its log loss by the loss's. Runs at one budget share both draws, so
    comparisons between plans stay paired.

    Parameters
    ----------
    params : xarray.Dataset
        Law parameters per draw.
    N, D : float or xarray.DataArray
        Parameters and training tokens (broadcast against each other).
    unique_tokens : float or xarray.DataArray, optional
        Unique tokens (data-constrained law); default: every token is new.
    discrepancy : bool, default True
        False: the law's loss alone.

    Returns
    -------
    xarray.DataArray
        Loss in nats/token.

    """
    log_U = None if unique_tokens is None else np.log(unique_tokens)
    log_N, log_D = np.log(N), np.log(D)
    if discrepancy:
        flops = np.exp(log_N + log_D + LOG_FLOPS_PER_PARAM_TOKEN)
        outside = (flops.copy(data=decades_outside(params, flops)) if isinstance(
            flops, xr.DataArray) else xr.DataArray(decades_outside(params, flops))).fillna(0.0)
        shift = (discrepancy_shift(params, outside, ALLOCATION_PARTS)
                 if get_law(params.attrs["law"]).optimal_log_params is not None else None)
        if shift is not None:  # the profile along log N, shifted with its optimum
            log_N, log_D = log_N - shift, log_D + shift
    log_loss = law_log_loss(params, law_inputs(log_N, log_D, log_U=log_U))
    if discrepancy:
        log_loss = add_discrepancy(log_loss.transpose("chain", "draw", ...), params, outside,
                                   LOSS_PARTS)
    return np.exp(log_loss)
