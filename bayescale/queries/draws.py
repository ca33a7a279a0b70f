"""Law parameters per posterior draw, for a known source or for a new one.

A known source uses its own fitted offsets. A *new* source (``source=NEW_SOURCE``) draws its
offsets from the fitted between-source distribution, one draw per posterior draw, so its
predictions carry the spread between sources as well as the parameter uncertainty.

``source=None`` means the fit's default source (:attr:`bayescale.Fit.default_source`): your own
runs' source in a joint fit with published data, the only source of a one-source fit, and
otherwise a new source.

**Law draws.** :func:`law_parameters` returns the law's parameters per posterior draw for one
source as an :class:`xarray.Dataset` that carries what every answer needs in its attributes:
the law, the likelihood, the source, the fitted compute range and discrepancy, and whether the
fit converged. Every query, decision and law-only plot accepts these draws wherever it accepts
a Fit, so a source (or a new source's offsets) is chosen once::

    draws = bs.queries.law_parameters(fit, source=bs.NEW_SOURCE, seed=1)
    bs.compute_optimal(draws, 1e24)
    bs.decide.optimal_plan(draws, 1e24)
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayescale.data.runs import NEW_SOURCE
from bayescale.errors import BayescaleError, ConvergenceWarning, QueryError
from bayescale.fitting.result import DISCREPANCY_LIMITS, DISCREPANCY_PARTS
from bayescale.queries.beyond import (
    discrepancy_draws,
    source_log10_C_max,
    source_log10_C_min,
)
from bayescale.spec.laws import get_law


def resolve_source(fit, source: str | None) -> str:
    """Return the source a query is about: a fitted source's name or :data:`NEW_SOURCE`.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    source : str or None
        A fitted source, :data:`NEW_SOURCE`, or None for the fit's default source.

    Returns
    -------
    str
        The source's name, or :data:`NEW_SOURCE`.

    """
    sources = fit.sources
    if source is None:
        return fit.default_source
    if source != NEW_SOURCE and source not in sources:
        raise BayescaleError(f"unknown source '{source}': this fit's sources are {sources}; "
                             f"or ask for a new source with source=bayescale.NEW_SOURCE "
                             "(CLI --new-source)")
    return source


SMALLEST_QUERY_COUNT = 1e5  # below it N or D was probably given in millions or billions


def check_counts(N, D) -> None:
    """Refuse N or D that are not positive finite counts, or look like millions/billions."""
    for name, values, example in (("N", N, "7e10 for a 70B model"),
                                  ("D", D, "1.4e12 for 1.4T tokens")):
        values = np.asarray(values, dtype=float)
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            raise QueryError(f"{name} must be positive and finite, not {values.tolist()}")
        if np.any(values < SMALLEST_QUERY_COUNT):
            raise QueryError(f"{name} = {values.min():g} looks like millions or billions "
                                 f"rather than a count: give raw counts, e.g. {example}")


def check_reads_unique(law_name: str, unique_tokens, what: str = "unique_tokens") -> None:
    """Refuse unique tokens for a law that does not read them, and bad values."""
    if unique_tokens is None:
        return
    law = get_law(law_name)
    if "U" not in law.inputs:
        raise QueryError(
            f"{what} needs a law that models repeated data; the '{law.name}' law does not read "
            "unique tokens. Fit with model='data_constrained' (CLI --model data_constrained), "
            "or cap the tokens with max_tokens (CLI --max-tokens)")
    values = np.asarray(unique_tokens, dtype=float)
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise QueryError(f"{what} must be positive and finite, not {unique_tokens}")


def warn_if_not_converged(fit) -> None:
    """Warn (:class:`ConvergenceWarning`) that answers from ``fit`` rest on a failed fit.

    ``fit`` is a Fit or law draws (:func:`law_parameters`), which carry the fit's verdict.
    """
    if is_law_draws(fit):
        converged, problems = fit.attrs.get("converged", True), fit.attrs.get("problems", [])
    else:
        converged, problems = fit.converged, fit.diagnostics["problems"]
    if not converged:
        warnings.warn("this fit did not pass its convergence checks ("
                      + "; ".join(problems) + "): answers drawn from it may "
                      "be wrong; refit with more tuning steps or draws (or a higher "
                      "target_accept)", ConvergenceWarning, stacklevel=3)


# What law draws carry in their attributes, besides the law's name.
LAW_DRAWS_ATTRS = ("law", "likelihood", "source", "log10_C_max", "log10_C_min",
                   *DISCREPANCY_PARTS,
                   *DISCREPANCY_LIMITS, "converged", "problems")


def is_law_draws(value) -> bool:
    """Whether ``value`` is law draws (a Dataset from :func:`law_parameters`), not a Fit."""
    return isinstance(value, xr.Dataset)


def law_parameters(fit, *, source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Return the law's draws for one source: its parameters per posterior draw, in raw units.

    Parameters
    ----------
    fit : Fit or xarray.Dataset
        A fitted model, or law draws this function returned before (passed through as they
        are, after the checks below).
    source : str, optional
        A fitted source's name, :data:`NEW_SOURCE`, or None for the fit's default source (see
        the module docstring). Law draws already belong to one source: a different one is
        refused.
    seed : int, default 0
        Seed for drawing a new source's offsets and the standard normal draws of the
        discrepancy beyond the fitted runs (results are reproducible).

    Returns
    -------
    xarray.Dataset
        The parameters ``p`` of the fitted law's ``log_loss`` (for the Chinchilla law
        ``log_E``, ``log_A``, ``log_B``, ``alpha``, ``beta``, with A and B for N and D in raw
        units), the noise ``sigma`` (plus ``nu`` for a Student-t likelihood), each with dims
        (chain, draw). Attributes (:data:`LAW_DRAWS_ATTRS`): ``law``, ``likelihood``,
        ``source``, ``log10_C_max`` (the largest fitted compute of that source; of any source
        for a new one), the discrepancy's parts ``per_decade``, ``drift_per_decade``,
        ``allocation_per_decade``, ``allocation_drift_per_decade``, ``up_to_decades``,
        ``allocation_up_to_decades`` (see :attr:`bayescale.Fit.discrepancy`), ``converged``
        and ``problems``. With a discrepancy,
        also its standard normal draws ``discrepancy_z_loss`` and ``discrepancy_z_allocation``
        (dims chain, draw; :mod:`bayescale.queries.beyond`), so that every answer drawn from
        these draws agrees. A fit that
        did not converge warns (:class:`bayescale.errors.ConvergenceWarning`) here and on
        every answer drawn from its draws. Draws built by hand need only ``law``.

    """
    if is_law_draws(fit):
        return _checked_draws(fit, source)
    warn_if_not_converged(fit)
    post = fit.posterior
    law = fit.spec.law_object
    sources = fit.sources
    chosen = resolve_source(fit, source)
    rng = np.random.default_rng(seed)
    values = {}
    if chosen == NEW_SOURCE and len(sources) == 1:
        raise BayescaleError(f"a new source draws from the spread between a fit's sources, and "
                             f"this fit has one ('{sources[0]}'): query that source, or fit "
                             "several sources together (with_datasets=..., --with)")
    if chosen != NEW_SOURCE:
        raw = fit.source_parameters(chosen)
        sigma = post["sigma"].sel(source=chosen, drop=True)
    else:
        for name in law.parameters:
            values[name] = _new_source_value(post, law, name, rng)
        raw = law.to_raw(values, fit.reference_scales)
        # The noise of a new source: that of a fitted source picked at random, per draw.
        shape = (post.sizes["chain"], post.sizes["draw"])
        pick = rng.integers(len(sources), size=shape)
        sigma = post["sigma"].isel(source=0, drop=True).copy(
            data=np.take_along_axis(post["sigma"].values, pick[..., None], axis=-1)[..., 0])

    discrepancy = fit.discrepancy
    attrs = {"law": law.name, "likelihood": fit.spec.likelihood, "source": chosen,
             # beyond which runs: the source's own (a new source: the largest of any source)
             "log10_C_max": source_log10_C_max(fit, chosen),
             "log10_C_min": source_log10_C_min(fit, chosen),
             **{name: float(discrepancy[name]) for name in DISCREPANCY_PARTS
                + DISCREPANCY_LIMITS},
             "converged": fit.converged, "problems": list(fit.diagnostics["problems"])}
    params = xr.Dataset(raw | {"sigma": sigma}, attrs=attrs)
    if "nu" in post:
        params["nu"] = post["nu"]
    return discrepancy_draws(params, [seed, 1])


def _checked_draws(draws: xr.Dataset, source: str | None) -> xr.Dataset:
    """Check law draws passed where a Fit could be, and warn if their fit did not converge.

    Draws built by hand need only ``attrs["law"]``; without ``log10_C_max`` nothing is known of
    the fitted range (``decades_beyond`` is NaN and no discrepancy is added).
    """
    if "law" not in draws.attrs:
        raise BayescaleError("law draws need their law's name in attrs['law']: get them from "
                             "bayescale.queries.law_parameters(fit, source=...), which records "
                             "the law, the source and the fitted range with the draws")
    get_law(draws.attrs["law"])  # an unknown law is refused here, by name
    if source is not None and source != draws.attrs.get("source", source):
        raise BayescaleError(f"these law draws are of source '{draws.attrs['source']}', not "
                             f"'{source}': drop source=, or draw that source's law from the fit")
    warn_if_not_converged(draws)
    return draws


def law_log_loss(params: xr.Dataset, x: dict) -> xr.DataArray:
    """Return the log loss of the law of ``params`` (from :func:`law_parameters`) at inputs ``x``.

    Parameters
    ----------
    params : xarray.Dataset
        Law parameters per draw, with the law's name in ``attrs["law"]``.
    x : dict
        Log inputs, from :func:`bayescale.spec.laws.law_inputs`.

    Returns
    -------
    xarray.DataArray
        log L, broadcast over draws and inputs.

    """
    return get_law(params.attrs["law"]).log_loss(x, params)


def _new_source_value(post: xr.Dataset, law, name: str, rng: np.random.Generator):
    shared = post[law.sampled_name(name)]
    spread_name = f"{name}_spread"
    if spread_name not in post:  # shared across sources: no offset
        return shared
    z = shared.copy(data=rng.standard_normal(shared.shape))
    if name in law.log_scale:  # already sampled as a logarithm
        return shared + post[spread_name] * z
    return np.exp(np.log(shared) + post[spread_name] * z)  # exponents: pooled on the log scale
