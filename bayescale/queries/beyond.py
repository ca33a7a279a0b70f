"""How far a question reaches beyond the fitted runs, and the law's discrepancy there.

A law fitted to small runs goes wrong as it reaches further, by more than its posterior says.
Nested held-out fits of the registered data sets (:func:`bayescale.fitting.literature.
learned_discrepancy`) say by how much: per decade of compute beyond the largest fitted run of
the source being asked about, the log loss drifts by ``drift_per_decade`` and spreads by
``per_decade`` (a standard deviation), and the log of the compute-optimal size drifts by
``allocation_drift_per_decade`` and spreads by ``allocation_per_decade``.

Every answer adds it the same way: each posterior draw gets one random slope per quantity,
``drift + spread * z`` with ``z`` standard normal, times the decades beyond. The ``z`` are drawn
once, with the law's draws (:func:`bayescale.queries.draws.law_parameters` stores them as
``discrepancy_z_loss`` and ``discrepancy_z_allocation``), so one set of law draws gives one
answer to every question. One slope per draw means the errors of a draw's answers at several
budgets (or of several planned runs) move together, as a systematic error of the law does, and
paired comparisons stay paired. Inside the fitted range it adds nothing; below the smallest
fitted run the spread grows the same way (the drift, learned above, does not); past the
farthest distance it was learned from (``up_to_decades``, about 4 decades) it grows no further,
and answers more than 3 decades out, either way, warn that nothing has checked the law there.
Compute is 6ND throughout, for the fitted runs as for the questions.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayescale.errors import ExtrapolationWarning
from bayescale.fitting.result import DISCREPANCY_PARTS

FAR_BEYOND_DECADES = 3.0
# The discrepancy's parts, as law draws carry them (attrs) and Fit.discrepancy names them.
LOSS_PARTS = ("drift_per_decade", "per_decade", "discrepancy_z_loss", "up_to_decades")
ALLOCATION_PARTS = ("allocation_drift_per_decade", "allocation_per_decade",
                    "discrepancy_z_allocation", "allocation_up_to_decades")


def discrepancy_draws(params: xr.Dataset, seed) -> xr.Dataset:
    """Return law draws with the discrepancy's standard normal draws added (if it has one).

    Parameters
    ----------
    params : xarray.Dataset
        Law draws whose attrs carry the discrepancy's parts.
    seed : int or sequence of int
        Seed of the draws.

    Returns
    -------
    xarray.Dataset
        ``params`` with ``discrepancy_z_loss`` and ``discrepancy_z_allocation`` (dims chain,
        draw), unless every part is 0.

    """
    if not has_discrepancy(params.attrs):
        return params
    shape = (params.sizes["chain"], params.sizes["draw"])
    z = np.random.default_rng(seed).standard_normal((2, *shape))
    return params.assign(discrepancy_z_loss=(("chain", "draw"), z[0]),
                         discrepancy_z_allocation=(("chain", "draw"), z[1]))


def source_log10_C_max(fit, source: str) -> float:
    """log10 of the largest fitted compute (6ND) of a Fit's ``source`` (new source: any's)."""
    discrepancy = fit.discrepancy
    return float(discrepancy["log10_C_max_by_source"].get(source, discrepancy["log10_C_max"]))


def source_log10_C_min(fit, source: str) -> float:
    """log10 of the smallest fitted compute (6ND) of a Fit's ``source`` (new source: any's)."""
    discrepancy = fit.discrepancy
    return float(discrepancy["log10_C_min_by_source"].get(source, discrepancy["log10_C_min"]))


def has_discrepancy(parts) -> bool:
    """Whether a fit's discrepancy (or law draws' attrs) adds anything beyond the runs."""
    return any(float(parts.get(name, 0.0)) for name in DISCREPANCY_PARTS)


def log10_C_max(fit) -> float:
    """log10 of the largest fitted compute of the source asked about (NaN: unknown)."""
    if isinstance(fit, xr.Dataset):
        return float(fit.attrs.get("log10_C_max", np.nan))
    return float(fit.discrepancy["log10_C_max"])


def log10_C_min(fit) -> float:
    """log10 of the smallest fitted compute of the source asked about (NaN: unknown)."""
    if isinstance(fit, xr.Dataset):
        return float(fit.attrs.get("log10_C_min", -np.inf))
    return float(fit.discrepancy["log10_C_min"])


def decades_outside(fit, flops) -> np.ndarray:
    """Return each budget's decades outside the fitted compute: + above it, - below, 0 inside.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws (:func:`bayescale.queries.draws.law_parameters`),
        which measure from the runs of their own source.
    flops : array_like
        Training compute of each query, C = 6ND (the fitted range is on 6ND as well).

    Returns
    -------
    numpy.ndarray
        log10(C / C_max) above the largest fitted run, log10(C / C_min) (negative) below the
        smallest, else 0; NaN for law draws built by hand without a fitted range.

    """
    log10_C = np.log10(np.asarray(flops, dtype=float))
    return (np.maximum(0.0, log10_C - log10_C_max(fit))
            + np.minimum(0.0, log10_C - log10_C_min(fit)))


def decades_beyond(fit, flops) -> np.ndarray:
    """Return how many decades of compute each budget lies outside the fitted runs (>= 0).

    The distance in either direction: beyond the largest fitted run, or below the smallest
    (:func:`decades_outside`, without its sign). NaN for law draws built by hand without a
    fitted range (``attrs["log10_C_max"]``).
    """
    return np.abs(decades_outside(fit, flops))


def warn_if_far(fit, flops, what: str = "query") -> None:
    """Warn (:class:`ExtrapolationWarning`) when a query lies far outside the fitted compute."""
    outside = np.atleast_1d(decades_outside(fit, flops))
    far = np.nan_to_num(np.abs(outside))
    if not far.size or np.max(far, initial=0.0) <= FAR_BEYOND_DECADES:
        return
    worst = float(outside[np.argmax(far)])
    where = (f"beyond the largest fitted run ({10 ** log10_C_max(fit):.3g} FLOPs)" if worst > 0
             else f"below the smallest fitted run ({10 ** log10_C_min(fit):.3g} FLOPs)")
    warnings.warn(
        f"this {what} reaches {abs(worst):.1f} decades of compute {where}: the law has not "
        "been checked that far, and its intervals widen with the distance (see "
        "fit.discrepancy)", ExtrapolationWarning, stacklevel=3)


def discrepancy_shift(params: xr.Dataset, outside, parts: tuple[str, ...]):
    """Return each draw's discrepancy at ``outside`` decades from the fitted runs, or None.

    The spread grows with the distance in either direction, capped where it was learned
    (``parts[3]``); the drift, learned beyond the largest runs, only above them. NaN (no fitted
    range known) counts as 0.
    """
    drift, spread = (float(params.attrs.get(name, 0.0)) for name in parts[:2])
    if drift == 0 and spread == 0:
        return None
    if parts[2] not in params:
        params = discrepancy_draws(params, 0)
    cap = float(params.attrs.get(parts[3], np.inf))
    outside = (outside.fillna(0.0) if isinstance(outside, xr.DataArray)
               else np.nan_to_num(outside))
    above = np.minimum(np.maximum(outside, 0.0), cap)
    return drift * above + spread * params[parts[2]] * np.minimum(abs(outside), cap)


def add_discrepancy(values: xr.DataArray, params: xr.Dataset, outside,
                    parts: tuple[str, ...]) -> xr.DataArray:
    """Add the discrepancy to log values (log loss or log N_opt) ``outside`` the fitted runs.

    Parameters
    ----------
    values : xarray.DataArray
        Logs per draw, with dims chain, draw and the query's dimension.
    params : xarray.Dataset
        Law draws, whose attrs carry the discrepancy.
    outside : xarray.DataArray
        Decades outside the fitted runs (:func:`decades_outside`: + above, - below), along the
        query's dimension (NaN: unknown, adds none).
    parts : tuple of str
        Which discrepancy: :data:`LOSS_PARTS` or :data:`ALLOCATION_PARTS`.

    Returns
    -------
    xarray.DataArray
        ``values`` plus the draw's slope x the distance (:func:`discrepancy_shift`), in the
        dims order of ``values``.

    """
    shift = discrepancy_shift(params, outside, parts)
    if shift is None:
        return values
    return (values + shift).transpose(*values.dims)
