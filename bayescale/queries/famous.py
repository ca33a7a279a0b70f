"""How far famous (or any) models were from compute-optimal, under a fitted law.

For a model trained with N parameters on D tokens (C = 6ND FLOPs), per posterior draw: the
compute-optimal allocation at the same C, its tokens per parameter against the model's, and
the loss the model left on the table, L(N, D) - L(N_opt, D_opt), both read off the fitted law
of one source. Losses are in that source's units (its eval set and tokenizer): the excess is
what the fitted law says, not a measured loss of the famous model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from bayescale.data import datasets
from bayescale.errors import BayescaleError
from bayescale.queries.beyond import decades_beyond, warn_if_far
from bayescale.queries.draws import law_parameters
from bayescale.queries.frontier import frontier, run_loss
from bayescale.queries.loss import largest_fitted_compute
from bayescale.spec.laws import FLOPS_PER_PARAM_TOKEN, get_law


def optimality(fit, famous: str | Sequence[str] | None = None, *, source: str | None = None,
               seed: int = 0) -> xr.Dataset:
    """Posterior of how far famous models were from compute-optimal for their FLOPs.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    famous : str or sequence of str, optional
        Keys of :func:`bayescale.datasets.famous_models` (e.g. ``"gpt-3"``); default all.
    source : str, optional
        A fitted source, ``bayescale.NEW_SOURCE``, or None for the fit's default source.
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    xarray.Dataset
        Dims (chain, draw, model), coords ``N``, ``D``, ``C`` and ``name`` on ``model``:
        ``tokens_per_param`` (the model's D/N, fixed), ``optimal_tokens_per_param``,
        ``tokens_per_param_ratio`` (model's / optimal: > 1 over-trained, < 1 under-trained),
        ``N_over_N_opt``, ``loss`` (the law's loss at the model's N, D), ``loss_opt`` and
        ``excess_loss`` (loss - loss_opt, nats/token: the loss left on the table).

    """
    table = datasets.famous_models()
    keys = table.index.tolist() if famous is None else (
        [famous] if isinstance(famous, str) else list(famous))
    unknown = [key for key in keys if key not in table.index]
    if unknown:
        raise BayescaleError(f"unknown model(s) {unknown}: the famous models are "
                             f"{', '.join(table.index)}")
    chosen = table.loc[keys]
    return allocation_gap(fit, chosen["N"].to_numpy(), chosen["D"].to_numpy(), labels=keys,
                          source=source, seed=seed).assign_coords(
        name=("model", chosen["name"].to_numpy()))


KAPLAN_EXPONENT = 0.73  # Kaplan et al. 2020, Section 6: N_opt ~ C^0.73


def rule_allocation(fit, flops, *, anchor_flops: float | None = None,
                    anchor_params: float | None = None, exponent: float = KAPLAN_EXPONENT,
                    source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Posterior of the loss a power-law sizing rule (Kaplan's by default) costs at budgets.

    The rule sizes models as N = N_a (C / C_a)^exponent, anchored at (C_a, N_a); with
    exponent 0.73 it is Kaplan et al.'s compute-efficient frontier, which agrees with the
    posterior optimum where it is anchored and drifts from it as the budget moves away. Per
    posterior draw, it compares the rule's allocation with the optimal one at each budget.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model (a law with a compute-optimal rule), or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    flops : float or sequence of float
        Budgets in FLOPs.
    anchor_flops : float, optional
        Where the rule is anchored; default the largest compute among the fitted runs (the
        rule is taken to agree with the data where the data end).
    anchor_params : float, optional
        N of the rule at ``anchor_flops``; default the posterior median of N_opt there.
    exponent : float, default 0.73
        The rule's exponent (0.73: Kaplan et al. 2020; 0.5: Chinchilla's).
    source : str, optional
        A fitted source, ``bayescale.NEW_SOURCE``, or None for the fit's default source.
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    xarray.Dataset
        As :func:`allocation_gap` with dimension ``flops``: ``N`` and ``D`` coords are the
        rule's allocation; ``excess_loss`` is the loss the rule costs against the optimum
        (nats/token, >= 0 for every draw), ``N_over_N_opt`` how oversized its models are.
        Attributes record the anchor and the exponent.

    """
    budgets = np.atleast_1d(np.asarray(flops, dtype=float))
    if not (np.all(np.isfinite(budgets)) and np.all(budgets > 0)):
        raise ValueError(f"flops must be positive and finite, got {budgets}")
    if not 0 < exponent < 1:
        raise ValueError(f"exponent must lie between 0 and 1, not {exponent}")
    params = law_parameters(fit, source=source, seed=seed)
    _check_has_optimum(params, "for a sizing rule to be compared with")
    if anchor_flops is None:
        anchor_flops = largest_fitted_compute(params)
    if anchor_params is None:
        anchor = frontier(params, xr.DataArray([anchor_flops], dims="flops"))
        anchor_params = float(anchor["N_opt"].median())
    N = anchor_params * (budgets / anchor_flops) ** exponent
    D = budgets / (FLOPS_PER_PARAM_TOKEN * N)
    gap = allocation_gap(params, N, D, labels=list(budgets))
    return gap.rename(model="flops").assign_attrs(
        anchor_flops=anchor_flops, anchor_params=anchor_params, exponent=exponent)


def _check_has_optimum(params: xr.Dataset, what: str) -> None:
    law = get_law(params.attrs["law"])
    if law.optimal_log_params is None:
        raise BayescaleError(f"the {law.name} law has no compute-optimal allocation {what}: "
                             "fit a law of N and D (e.g. model='chinchilla')")


def allocation_gap(fit, N, D, labels: Sequence[str] | None = None, *,
                   source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Posterior of how far runs of N parameters on D tokens were from compute-optimal.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    N, D : sequence of float
        Parameters and training tokens of each model (paired).
    labels : sequence of str, optional
        Names for the ``model`` dimension (default ``0, 1, ...``).
    source : str, optional
        A fitted source, ``bayescale.NEW_SOURCE``, or None for the fit's default source.
    seed : int, default 0
        Seed for a new source's offsets.

    Returns
    -------
    xarray.Dataset
        As :func:`optimality`.

    """
    N = np.atleast_1d(np.asarray(N, dtype=float))
    D = np.atleast_1d(np.asarray(D, dtype=float))
    if N.shape != D.shape or N.ndim != 1:
        raise ValueError(f"N and D must pair up one to one; got {N.size} N and {D.size} D values")
    labels = list(labels) if labels is not None else list(range(N.size))
    flops = FLOPS_PER_PARAM_TOKEN * N * D
    params = law_parameters(fit, source=source, seed=seed)
    _check_has_optimum(params, "to compare with")
    warn_if_far(params, flops, "comparison with the compute-optimal allocation")
    optimum = frontier(params, xr.DataArray(flops, dims="model", coords={"model": labels}))
    log_N = xr.DataArray(np.log(N), dims="model", coords={"model": labels})
    loss = run_loss(params, np.exp(log_N), xr.DataArray(D, dims="model",
                                                        coords={"model": labels}))
    ratio = xr.DataArray(D / N, dims="model", coords={"model": labels})
    result = xr.Dataset({
        "tokens_per_param": ratio,
        "optimal_tokens_per_param": optimum["tokens_per_param"],
        "tokens_per_param_ratio": ratio / optimum["tokens_per_param"],
        "N_over_N_opt": np.exp(log_N) / optimum["N_opt"],
        "loss": loss,
        "loss_opt": optimum["loss_opt"],
        "excess_loss": loss - optimum["loss_opt"],
    })
    return result.transpose("chain", "draw", "model").assign_coords(
        N=("model", N), D=("model", D), C=("model", flops),
        decades_beyond=("model", decades_beyond(params, flops)))
