"""Law parameters per posterior draw, for a known source or for a new one.

A known source uses its own fitted offsets. A *new* source (``source=NEW_SOURCE``) draws its
offsets from the fitted between-source distribution, one draw per posterior draw, so its
predictions carry the spread between sources as well as the parameter uncertainty.

``source=None`` means the fit's default source (:attr:`bayescale.Fit.default_source`): your own
runs' source in a joint fit with published data, the only source of a one-source fit, and
otherwise a new source.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescale.errors import BayescaleError
from bayescale.model import SAMPLED_NAME
from bayescale.spec import LOG_SCALE

LAW_VARIABLES = ("E", "A", "B", "alpha", "beta")
# Ask for a source not in the fit: offsets drawn from the between-source distribution.
NEW_SOURCE = "(new source)"


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


def law_parameters(fit, source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Return the law's parameters per posterior draw, in raw units, in log form.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    source : str, optional
        A fitted source's name, :data:`NEW_SOURCE`, or None for the fit's default source (see
        the module docstring).
    seed : int, default 0
        Seed for drawing a new source's offsets (results are reproducible).

    Returns
    -------
    xarray.Dataset
        ``log_E``, ``log_A``, ``log_B``, ``alpha``, ``beta`` and the noise ``sigma`` (plus ``nu``
        for a Student-t likelihood), each with dims (chain, draw). ``log_A`` and ``log_B`` are
        for N and D in raw units (parameters, tokens).

    """
    post = fit.posterior
    sources = fit.sources
    chosen = resolve_source(fit, source)
    rng = np.random.default_rng(seed)
    values = {}
    if chosen != NEW_SOURCE or len(sources) == 1:
        chosen = chosen if chosen != NEW_SOURCE else sources[0]
        for name in LAW_VARIABLES:
            values[name] = post[f"{SAMPLED_NAME[name]}_source"].sel(source=chosen, drop=True)
        values["sigma"] = post["sigma"].sel(source=chosen, drop=True)
    else:
        for name in LAW_VARIABLES:
            values[name] = _new_source_value(post, name, rng)
        # The noise of a new source: that of a fitted source picked at random, per draw.
        pick = rng.integers(len(sources), size=post.sizes["draw"] * post.sizes["chain"])
        sigma = post["sigma"].values.reshape(-1, len(sources))
        values["sigma"] = post["alpha"].copy(data=sigma[np.arange(len(pick)), pick].reshape(
            post["alpha"].shape))

    log_N0, log_D0 = fit.reference_scales
    params = xr.Dataset({
        "log_E": values["E"],
        "log_A": values["A"] + values["alpha"] * log_N0,
        "log_B": values["B"] + values["beta"] * log_D0,
        "alpha": values["alpha"],
        "beta": values["beta"],
        "sigma": values["sigma"],
    })
    if "nu" in post:
        params["nu"] = post["nu"]
    return params


def _new_source_value(post: xr.Dataset, name: str, rng: np.random.Generator) -> xr.DataArray:
    shared = post[SAMPLED_NAME[name]]
    spread_name = f"{name}_spread"
    if spread_name not in post:  # shared across sources: no offset
        return shared
    z = shared.copy(data=rng.standard_normal(shared.shape))
    if name in LOG_SCALE:  # already sampled as a logarithm
        return shared + post[spread_name] * z
    return np.exp(np.log(shared) + post[spread_name] * z)  # exponents: pooled on the log scale
