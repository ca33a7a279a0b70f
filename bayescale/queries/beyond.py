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
paired comparisons stay paired. Inside the fitted range it adds nothing; past the farthest
distance it was learned from (``up_to_decades``, about 4 decades) it grows no further, and the
answers warn that nothing has checked the law that far.
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
    """log10 of the largest fitted compute of a Fit's ``source`` (a new source: of any source)."""
    discrepancy = fit.discrepancy
    return float(discrepancy["log10_C_max_by_source"].get(source, discrepancy["log10_C_max"]))


def has_discrepancy(parts) -> bool:
    """Whether a fit's discrepancy (or law draws' attrs) adds anything beyond the runs."""
    return any(float(parts.get(name, 0.0)) for name in DISCREPANCY_PARTS)


def log10_C_max(fit) -> float:
    """log10 of the largest fitted compute of the source asked about (NaN: unknown)."""
    if isinstance(fit, xr.Dataset):
        return float(fit.attrs.get("log10_C_max", np.nan))
    return float(fit.discrepancy["log10_C_max"])


def decades_beyond(fit, flops) -> np.ndarray:
    """Return how many decades of compute each budget lies beyond the fitted runs (>= 0).

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or its law draws (:func:`bayescale.queries.draws.law_parameters`),
        which measure from the largest run of their own source.
    flops : array_like
        Training compute of each query (C = 6ND).

    Returns
    -------
    numpy.ndarray
        log10(C / C_max) where positive, else 0; NaN for law draws built by hand without a
        fitted range (``attrs["log10_C_max"]``).

    """
    log10_C = np.log10(np.asarray(flops, dtype=float))
    return np.maximum(0.0, log10_C - log10_C_max(fit))


def warn_if_far(fit, flops, what: str = "query") -> None:
    """Warn (:class:`ExtrapolationWarning`) when a query lies far beyond the fitted compute."""
    beyond = decades_beyond(fit, flops)
    if beyond.size and np.max(np.nan_to_num(beyond), initial=0.0) > FAR_BEYOND_DECADES:
        warnings.warn(
            f"this {what} reaches {np.nanmax(beyond):.1f} decades of compute beyond the largest "
            f"fitted run ({10 ** log10_C_max(fit):.3g} FLOPs): the law has not "
            "been checked that far, and its intervals widen with the distance "
            "(see fit.discrepancy)", ExtrapolationWarning, stacklevel=3)


def discrepancy_slope(params: xr.Dataset, parts: tuple[str, ...]) -> xr.DataArray | None:
    """Return each draw's slope of the discrepancy per decade (dims chain, draw), or None.

    Parameters
    ----------
    params : xarray.Dataset
        Law draws, whose attrs carry the discrepancy's parts and whose variables its standard
        normal draws (:func:`discrepancy_draws`; law draws built by hand without them get them
        from seed 0).
    parts : tuple of str
        The names of the drift, the spread, the standard normal draws and the cap on the
        distance (:data:`LOSS_PARTS`, :data:`ALLOCATION_PARTS`).

    Returns
    -------
    xarray.DataArray or None
        None when both parts are 0 or unknown.

    """
    drift, spread = (float(params.attrs.get(name, 0.0)) for name in parts[:2])
    if drift == 0 and spread == 0:
        return None
    if parts[2] not in params:
        params = discrepancy_draws(params, 0)
    return drift + spread * params[parts[2]]


def discrepancy_distance(params: xr.Dataset, beyond, parts: tuple[str, ...]):
    """Return the decades the discrepancy grows over: ``beyond``, capped where it was learned.

    NaN (no fitted range known) counts as 0.
    """
    cap = float(params.attrs.get(parts[3], np.inf))
    distance = beyond.fillna(0.0) if isinstance(beyond, xr.DataArray) else np.nan_to_num(beyond)
    return np.minimum(distance, cap)


def add_discrepancy(values: xr.DataArray, params: xr.Dataset, beyond,
                    parts: tuple[str, ...]) -> xr.DataArray:
    """Add the discrepancy to log values (log loss or log N_opt) that lie ``beyond`` decades out.

    Parameters
    ----------
    values : xarray.DataArray
        Logs per draw, with dims chain, draw and the query's dimension.
    params : xarray.Dataset
        Law draws, whose attrs carry the discrepancy.
    beyond : xarray.DataArray
        Decades beyond the fitted runs, along the query's dimension (NaN: unknown, adds none).
    parts : tuple of str
        Which discrepancy: :data:`LOSS_PARTS` or :data:`ALLOCATION_PARTS`.

    Returns
    -------
    xarray.DataArray
        ``values`` plus slope x decades beyond (capped, :func:`discrepancy_distance`), in the
        dims order of ``values``.

    """
    slope = discrepancy_slope(params, parts)
    if slope is None:
        return values
    return (values + slope * discrepancy_distance(params, beyond, parts)
            ).transpose(*values.dims)
