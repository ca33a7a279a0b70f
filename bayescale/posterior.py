"""Law parameters per posterior draw, for a known source or for a new one.

A known source uses its own fitted offsets. A *new* source (``source=None`` in a fit of several
sources) draws its offsets from the fitted between-source distribution, one draw per posterior
draw, so its predictions carry the spread between sources as well as the parameter uncertainty.
In a fit of one source there is no between-source spread to integrate over: ``source=None`` is
that source.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescale.errors import BayescaleError
from bayescale.model import SAMPLED_NAME
from bayescale.spec import LOG_SCALE

LAW_VARIABLES = ("E", "A", "B", "alpha", "beta")


def law_parameters(fit, source: str | None = None, seed: int = 0) -> xr.Dataset:
    """Return the law's parameters per posterior draw, in raw units, in log form.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    source : str, optional
        A fitted source's name, or None for a new source (see the module docstring).
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
    if source is not None and source not in sources:
        raise BayescaleError(f"unknown source '{source}': this fit's sources are {sources}; "
                             "or leave the source out for a new source")
    rng = np.random.default_rng(seed)
    values = {}
    if source is not None or len(sources) == 1:
        chosen = source if source is not None else sources[0]
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
