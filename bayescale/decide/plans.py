"""Budget decisions under the posterior: which (N, D) to train, and at what risk.

Every function reads the law's parameters per posterior draw (a fit, or its law draws for one
source from :func:`bayescale.queries.draws.law_parameters`) and works with the law's loss,
L(N, D), draw by draw. The draws are kept paired: the loss of two plans under the same draw is
compared, so "plan A beats plan B" is a probability over the posterior, not a comparison of two
intervals.

* :func:`optimal_plan` -- the (N, D) at a FLOP budget that minimises the posterior expected loss
  or, risk-averse, a chosen quantile of it; optionally at a fixed model size, a cap on training
  tokens, or a budget of unique tokens (repeated data, data-constrained law).
* :func:`compare_plans` -- P(loss A < loss B) and the expected difference.
* :func:`regret` -- the loss a plan gives up against each draw's own optimum at its compute.
* :func:`inference_aware_plan` -- the cheapest (N, D) in training plus lifetime inference FLOPs
  that reaches a target loss (after Sardana et al. 2024, arXiv:2401.00448).
* :func:`value_of_next_run` -- which extra small run would most shrink the uncertainty of N_opt
  at a target budget (preposterior analysis by importance reweighting of the draws).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.special import gammaln

from bayescale.errors import BayescaleError, ConvergenceWarning
from bayescale.queries.beyond import decades_beyond, warn_if_far
from bayescale.queries.draws import check_counts, check_reads_unique, law_log_loss, law_parameters
from bayescale.queries.frontier import frontier, run_loss
from bayescale.spec.laws import (
    FLOPS_PER_PARAM_TOKEN,
    LOG_FLOPS_PER_PARAM_TOKEN,
    get_law,
    law_inputs,
)

# Inference costs 2 FLOPs per parameter per token (a forward pass), Sardana et al. 2024.
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
# The search over log N: a grid this wide either side of the start (e^4 ~ 55x), then zooms.
_HALF_WIDTH = 4.0
_POINTS = 161
_ZOOMS = 3


plan_loss = run_loss  # the loss of a planned run, with the discrepancy beyond the fitted runs


def _check_budget(flops: float) -> float:
    flops = float(flops)
    if not (np.isfinite(flops) and flops > 0):
        raise BayescaleError(f"the FLOP budget must be positive and finite, not {flops}")
    return flops


def _objective(loss: xr.DataArray, risk: float | None) -> xr.DataArray:
    """Posterior mean of the loss, or its ``risk`` quantile, over the draws."""
    if risk is None:
        return loss.mean(("chain", "draw"))
    return loss.quantile(risk, dim=("chain", "draw")).drop_vars("quantile")


def optimal_plan(fit, flops: float, *, risk: float | None = None, N: float | None = None,
                 max_tokens: float | None = None, unique_tokens: float | None = None,
                 source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Find the (N, D) with 6ND = ``flops`` that minimises the expected (or a quantile of) loss.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    flops : float
        Training budget in FLOPs (C = 6ND).
    risk : float, optional
        None (default) minimises the posterior mean of the loss. A probability such as 0.9
        minimises that quantile of the loss over the posterior: the risk-averse plan, best in
        the worst 10% of what the law may be.
    N : float, optional
        A fixed model size: then D = C/(6N) and only the loss distribution is computed.
    max_tokens : float, optional
        At most this many training tokens (N >= C/(6 max_tokens)).
    unique_tokens : float, optional
        Unique tokens available; tokens beyond them are repeats, valued by the data-constrained
        law (a fit of ``model='data_constrained'``).
    source : str, optional
        The source whose law is used (a fit only; default: the fit's default source).
    seed : int, default 0
        Seed for a new source's offsets and the discrepancy's draws beyond the fitted runs.

    Returns
    -------
    xarray.Dataset
        Scalars ``N``, ``D``, ``tokens_per_param``, ``flops``, ``expected_loss`` and
        ``loss_quantile`` (at ``risk``, or the median), and ``loss`` per draw (chain, draw).
        ``attrs`` say the objective and the constraints.

    """
    params = law_parameters(fit, source=source, seed=seed)
    flops = _check_budget(flops)
    check_reads_unique(params.attrs["law"], unique_tokens)
    warn_if_far(params, flops, "plan")
    if risk is not None and not 0 < risk < 1:
        raise BayescaleError(f"risk must be a probability in (0, 1), such as 0.9; not {risk}")
    log_tokens_times_params = np.log(flops) - LOG_FLOPS_PER_PARAM_TOKEN
    lower = -np.inf if max_tokens is None else log_tokens_times_params - np.log(max_tokens)
    if N is not None:
        if not (np.isfinite(N) and N > 0):
            raise BayescaleError(f"N must be positive and finite, not {N}")
        if np.log(N) < lower:
            raise BayescaleError(f"N = {N:.3g} needs {flops / 6 / N:.3g} tokens at {flops:.3g} "
                                 f"FLOPs, more than max_tokens = {max_tokens:.3g}")
        N_plan = float(N)
    else:
        N_plan = float(np.exp(_search_log_N(params, log_tokens_times_params, risk, lower,
                                            unique_tokens)))
    D_plan = flops / FLOPS_PER_PARAM_TOKEN / N_plan
    loss = plan_loss(params, N_plan, D_plan, unique_tokens)
    quantile = 0.5 if risk is None else risk
    attrs = {"objective": "mean" if risk is None else f"quantile {risk:g}",
             "fixed_N": "none" if N is None else float(N),
             "max_tokens": "none" if max_tokens is None else float(max_tokens),
             "unique_tokens": "none" if unique_tokens is None else float(unique_tokens)}
    return xr.Dataset({
        "N": N_plan, "D": D_plan, "tokens_per_param": D_plan / N_plan, "flops": flops,
        "decades_beyond": float(decades_beyond(params, flops)),
        "expected_loss": loss.mean(("chain", "draw")),
        "loss_quantile": loss.quantile(quantile, dim=("chain", "draw")).drop_vars("quantile"),
        "loss": loss.rename("loss")}, attrs=attrs | {"quantile": quantile})


def _search_log_N(params, log_ND, risk, lower, unique_tokens) -> float:
    """Minimise the objective over log N, starting from the median of the draws' optima."""
    law = get_law(params.attrs["law"])
    log_C = log_ND + LOG_FLOPS_PER_PARAM_TOKEN
    if law.optimal_log_params is None:
        raise BayescaleError(f"the '{law.name}' law has no (N, D) allocation to plan; fit a law "
                             "of N and D (e.g. model='chinchilla')")
    log_U = None if unique_tokens is None else float(np.log(unique_tokens))
    centre = float(np.median(law.optimal_log_params(log_C, params, log_U=log_U)))

    def objective(log_N):
        return _objective(plan_loss(params, np.exp(log_N), np.exp(log_ND - log_N),
                                    unique_tokens), risk)

    return _grid_minimise(objective, max(centre, lower), _HALF_WIDTH, lower)


def _grid_minimise(objective, centre: float, half_width: float, lower: float = -np.inf,
                   points: int = _POINTS, zooms: int = _ZOOMS) -> float:
    """Minimise ``objective(log_N)`` (over dim ``candidate``) on a grid, then zoom in twice."""
    steps = xr.DataArray(np.linspace(-1.0, 1.0, points), dims="candidate")
    for _ in range(zooms):
        log_N = np.maximum(centre + half_width * steps, lower)
        centre = float(log_N[int(objective(log_N).argmin("candidate"))])
        half_width *= 4.0 / (points - 1)
    return centre


def _as_plan(plan) -> tuple[float, float]:
    try:
        N, D = (float(plan[k]) for k in ("N", "D")) if isinstance(plan, (dict, xr.Dataset)) \
            else (float(v) for v in plan)
    except (TypeError, ValueError, KeyError):
        raise BayescaleError(f"a plan is (N, D), a dict with keys 'N' and 'D', or the Dataset "
                             f"of optimal_plan; got {plan!r}") from None
    check_counts(N, D)
    return N, D


def compare_plans(fit, plan_a, plan_b, *, unique_tokens: float | None = None,
                  source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Compare two plans draw by draw: P(loss A < loss B) and the expected difference.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    plan_a, plan_b : (N, D), dict or Dataset
        Each plan's parameters and training tokens (e.g. ``(70e9, 1.4e12)``), or the result of
        :func:`optimal_plan`.
    unique_tokens : float, optional
        Unique tokens available (data-constrained law).
    source : str, optional
        The source whose law is used (a fit only).
    seed : int, default 0
        Seed for a new source's offsets and the discrepancy's draws beyond the fitted runs.

    Returns
    -------
    xarray.Dataset
        ``prob_a_better`` (share of draws where A's loss is lower), ``expected_difference`` (mean
        of loss A - loss B, nats/token), ``difference_interval`` (its 5% and 95% quantiles),
        ``loss_a``, ``loss_b`` and ``difference`` per draw; ``attrs`` hold both plans and FLOPs.

    """
    params = law_parameters(fit, source=source, seed=seed)
    check_reads_unique(params.attrs["law"], unique_tokens)
    (N_a, D_a), (N_b, D_b) = _as_plan(plan_a), _as_plan(plan_b)
    warn_if_far(params, [FLOPS_PER_PARAM_TOKEN * N_a * D_a, FLOPS_PER_PARAM_TOKEN * N_b * D_b],
                "comparison")
    loss_a = plan_loss(params, N_a, D_a, unique_tokens)
    loss_b = plan_loss(params, N_b, D_b, unique_tokens)
    difference = loss_a - loss_b
    return xr.Dataset({
        "prob_a_better": (loss_a < loss_b).mean(("chain", "draw")),
        "expected_difference": difference.mean(("chain", "draw")),
        "difference_interval": difference.quantile([0.05, 0.95], dim=("chain", "draw")),
        "loss_a": loss_a, "loss_b": loss_b, "difference": difference,
    }, attrs={"plan_a": f"N={N_a:.4g}, D={D_a:.4g}, C={FLOPS_PER_PARAM_TOKEN * N_a * D_a:.4g}",
              "plan_b": f"N={N_b:.4g}, D={D_b:.4g}, C={FLOPS_PER_PARAM_TOKEN * N_b * D_b:.4g}"})


def regret(fit, N: float, D: float, *, unique_tokens: float | None = None,
           source: str | None = None, seed: int = 0) -> xr.DataArray:
    """Loss a plan gives up, per draw, against that draw's own optimum at the same compute.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    N, D : float
        The plan; its compute is C = 6ND.
    unique_tokens : float, optional
        Unique tokens available (data-constrained law): the optimum repeats data too.
    source : str, optional
        The source whose law is used (a fit only).
    seed : int, default 0
        Seed for a new source's offsets and the discrepancy's draws beyond the fitted runs.

    Returns
    -------
    xarray.DataArray
        ``regret`` = L(N, D) - L(N_opt, D_opt) in nats/token per draw (chain, draw), never
        negative up to the optimiser's resolution; its mean is the expected regret.

    """
    params = law_parameters(fit, source=source, seed=seed)
    check_reads_unique(params.attrs["law"], unique_tokens)
    N, D = _as_plan((N, D))
    budget = xr.DataArray([FLOPS_PER_PARAM_TOKEN * N * D], dims="flops")
    best = frontier(params, budget, unique_tokens=unique_tokens)["loss_opt"].isel(
        flops=0, drop=True)
    return (plan_loss(params, N, D, unique_tokens) - best).rename("regret")


def inference_aware_plan(fit, target_loss: float, inference_tokens: float, *,
                         risk: float = 0.5, source: str | None = None,
                         seed: int = 0) -> xr.Dataset:
    """Find the cheapest (N, D), training plus inference FLOPs, that reaches ``target_loss``.

    Total cost 6ND + 2N T for T lifetime inference tokens (Sardana et al. 2024). A bigger
    inference demand favours a smaller model trained on more tokens. The plan must reach the
    target with probability ``risk`` (0.5: its median loss is at the target; 0.9: its loss is
    below the target in 90% of the posterior).

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`).
    target_loss : float
        Loss to reach, nats/token.
    inference_tokens : float
        Tokens the model will serve over its lifetime (0: training cost only, the
        compute-optimal plan for that loss).
    risk : float, default 0.5
        Probability that the plan's loss is at or below the target.
    source : str, optional
        The source whose law is used (a fit only).
    seed : int, default 0
        Seed for a new source's offsets and the discrepancy's draws beyond the fitted runs.

    Returns
    -------
    xarray.Dataset
        Scalars ``N``, ``D``, ``tokens_per_param``, ``training_flops``, ``inference_flops``,
        ``total_flops``; ``loss`` per draw.

    """
    params = law_parameters(fit, source=source, seed=seed)
    if not 0 < risk < 1:
        raise BayescaleError(f"risk must be a probability in (0, 1), not {risk}")
    if not (np.isfinite(inference_tokens) and inference_tokens >= 0):
        raise BayescaleError(f"inference_tokens must be >= 0 and finite, not {inference_tokens}")
    law = get_law(params.attrs["law"])
    if law.optimal_log_params is None:
        raise BayescaleError(f"the '{law.name}' law has no (N, D) allocation to plan")
    floor = float(np.exp(law_log_loss(params, law_inputs(np.log(1e30), np.log(1e34)))
                         .quantile(risk).item()))
    if target_loss <= floor:
        raise BayescaleError(
            f"a loss of {target_loss} is below what the law reaches with probability {risk} "
            f"even at N=1e30, D=1e34 ({floor:.4f}: close to E); choose a higher target")
    lowest, highest = np.log(1e5), np.log(1e15)

    def cost(log_N):
        log_D = _tokens_for_loss(params, log_N, target_loss, risk)
        return FLOPS_PER_PARAM_TOKEN * np.exp(log_N + log_D) + (
            INFERENCE_FLOPS_PER_PARAM_TOKEN * inference_tokens * np.exp(log_N))

    log_N = _grid_minimise(cost, (lowest + highest) / 2, (highest - lowest) / 2, lowest,
                           points=61, zooms=4)
    log_D = float(_tokens_for_loss(params, xr.DataArray([log_N], dims="candidate"),
                                   target_loss, risk)[0])
    N, D = float(np.exp(log_N)), float(np.exp(log_D))
    if not np.isfinite(D) or not lowest + 0.1 < log_N < highest - 0.1:
        raise BayescaleError(f"no plan between N=1e5 and 1e15 reaches a loss of {target_loss} "
                             "at a finite cost; choose a higher target")
    training, inference = FLOPS_PER_PARAM_TOKEN * N * D, INFERENCE_FLOPS_PER_PARAM_TOKEN * \
        inference_tokens * N
    return xr.Dataset({
        "N": N, "D": D, "tokens_per_param": D / N, "training_flops": training,
        "inference_flops": inference, "total_flops": training + inference,
        "loss": plan_loss(params, N, D)},
        attrs={"target_loss": float(target_loss), "inference_tokens": float(inference_tokens),
               "risk": float(risk)})


def _tokens_for_loss(params, log_N, target, risk, iterations: int = 40) -> xr.DataArray:
    """Return log D at which the ``risk`` quantile of L(N, D) equals ``target`` (inf if never)."""
    low = xr.full_like(log_N, np.log(1.0), dtype=float)
    high = xr.full_like(log_N, np.log(1e40), dtype=float)
    reachable = _objective(plan_loss(params, np.exp(log_N), np.exp(high)), risk) <= target
    for _ in range(iterations):
        middle = (low + high) / 2
        above = _objective(plan_loss(params, np.exp(log_N), np.exp(middle)), risk) > target
        low, high = xr.where(above, middle, low), xr.where(above, high, middle)
    return xr.where(reachable, high, np.inf)


MIN_WEIGHT_ESS = 50  # below it a candidate's reweighted posterior rests on too few draws


def value_of_next_run(fit, candidates: Sequence, flops: float, *, outcomes: int = 1000,
                      source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Score candidate runs by how much each would shrink the uncertainty of N_opt at ``flops``.

    For each candidate run (N, D), outcomes are simulated from the posterior predictive; each
    outcome reweights the posterior draws by its likelihood (the posterior after that run,
    without refitting), and the standard deviation of log10 N_opt under those weights is
    averaged over the outcomes. The candidate with the smallest expected posterior sd is the
    most informative next run.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws for one source
        (:func:`bayescale.queries.draws.law_parameters`); its noise model scores the
        simulated outcomes.
    candidates : sequence of (N, D)
        Candidate runs.
    flops : float
        The target budget whose N_opt matters.
    outcomes : int, default 1000
        Simulated outcomes, the same for every candidate (common random numbers).
    source : str, optional
        The source the new run belongs to (default: the fit's default source, your runs).
    seed : int, default 0
        Seed for the simulated outcomes.

    Returns
    -------
    xarray.Dataset
        Over ``candidate``: ``N``, ``D``, ``flops`` of the run, ``expected_sd_log10_N_opt``
        and its Monte Carlo standard error ``mc_error``, ``sd_reduction`` (share of today's sd
        removed; within Monte Carlo error of zero it may come out slightly negative),
        ``worse_than_best`` (True where the candidate's expected sd exceeds the best one's by
        more than three times the Monte Carlo error of their difference; candidates all
        False cannot be told apart) and ``min_weight_ess`` (the smallest effective number of
        reweighted draws; below 50 it warns: the estimate is coarse, and a refit with the run
        is the better check). ``attrs["current_sd_log10_N_opt"]``.

    """
    params = law_parameters(fit, source=source, seed=seed)
    flops = _check_budget(flops)
    pairs = np.array([_as_plan(c) for c in candidates], dtype=float).reshape(-1, 2)
    if pairs.size == 0:
        raise BayescaleError("give at least one candidate run (N, D)")
    budget = xr.DataArray([flops], dims="flops")
    # The parameters' part: one more small run does not shrink the discrepancy beyond the runs.
    log10_opt = np.log10(frontier(params, budget, discrepancy=False)["N_opt"].isel(
        flops=0, drop=True)).values
    log10_opt = log10_opt.reshape(-1)
    flat = params.stack(sample=("chain", "draw"))
    rng = np.random.default_rng(seed)
    mu = law_log_loss(flat, law_inputs(xr.DataArray(np.log(pairs[:, 0]), dims="candidate"),
                                       xr.DataArray(np.log(pairs[:, 1]), dims="candidate")))
    mu = mu.transpose("candidate", "sample").values  # (candidates, draws)
    sigma = flat["sigma"].values
    nu = flat["nu"].values if "nu" in flat else None
    laplace = params.attrs.get("likelihood") == "laplace"
    # Common random numbers: every candidate sees the same draws and standard noise, so their
    # differences carry far less Monte Carlo error than their values.
    pick = rng.integers(mu.shape[1], size=outcomes)
    if nu is not None:
        noise = rng.standard_t(nu[pick])
    else:
        noise = rng.laplace(size=outcomes) if laplace else rng.standard_normal(outcomes)
    sds, ess = np.empty((len(pairs), outcomes)), np.empty(len(pairs))
    for k, mean_k in enumerate(mu):
        y = mean_k[pick] + sigma[pick] * noise
        log_w = _log_density(y[:, None], mean_k[None, :], sigma, nu, laplace)  # (outcomes, draws)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        mean = w @ log10_opt
        sds[k] = np.sqrt(np.maximum(w @ log10_opt**2 - mean**2, 0.0))
        ess[k] = (1.0 / (w**2).sum(axis=1)).min()
    expected = sds.mean(axis=1)
    mc_error = sds.std(axis=1, ddof=1) / np.sqrt(outcomes)
    best = int(np.argmin(expected))
    gap_error = (sds - sds[best]).std(axis=1, ddof=1) / np.sqrt(outcomes)
    current = float(np.std(log10_opt))
    coarse = np.flatnonzero(ess < MIN_WEIGHT_ESS)
    if coarse.size:
        warnings.warn(f"candidate(s) {coarse.tolist()} leave as few as {ess.min():.0f} effective "
                      f"draws after reweighting (< {MIN_WEIGHT_ESS}): their scores are coarse; "
                      "such a run is informative enough that a refit with it is the better "
                      "check", ConvergenceWarning, stacklevel=2)
    return xr.Dataset({
        "N": ("candidate", pairs[:, 0]), "D": ("candidate", pairs[:, 1]),
        "flops": ("candidate", FLOPS_PER_PARAM_TOKEN * pairs[:, 0] * pairs[:, 1]),
        "expected_sd_log10_N_opt": ("candidate", expected),
        "mc_error": ("candidate", mc_error),
        "sd_reduction": ("candidate", 1.0 - expected / current),
        "worse_than_best": ("candidate", expected - expected[best] > 3 * gap_error),
        "min_weight_ess": ("candidate", ess),
    }, coords={"candidate": np.arange(len(pairs))}, attrs={"current_sd_log10_N_opt": current,
                                                 "target_flops": flops, "outcomes": outcomes})


def _log_density(y, mu, sigma, nu, laplace=False):
    """Log density of observed log loss ``y`` under the fit's noise (normal, Student-t, Laplace)."""
    z = (y - mu) / sigma
    if laplace:
        return -np.abs(z) - np.log(sigma)
    if nu is None:
        return -0.5 * z**2 - np.log(sigma)
    return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(sigma)
            - (nu + 1) / 2 * np.log1p(z**2 / nu))
