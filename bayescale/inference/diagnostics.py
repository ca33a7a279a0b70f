"""Each posterior variable's convergence diagnostics: bulk and tail ESS, and R-hat.

A fit measures them once, when it is sampled, and keeps them in its ``convergence`` group, so
that a summary of a saved fit needs no ArviZ (importing it takes seconds). Light on purpose:
ArviZ's statistics are loaded only when the diagnostics are computed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import xarray as xr

DIAGNOSTICS = ("ess_bulk", "ess_tail", "r_hat")


def variable_diagnostics(posterior: xr.Dataset) -> xr.Dataset:
    """Return bulk ESS, tail ESS and R-hat of each posterior variable, per element.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior variables with dims (chain, draw, ...).

    Returns
    -------
    xarray.Dataset
        The same variables without (chain, draw), along a new dim ``diagnostic``
        (``"ess_bulk"``, ``"ess_tail"``, ``"r_hat"``). A constant variable (a parameter the
        model holds fixed) gets NaN.

    """
    import arviz_stats as az  # ArviZ's statistics alone: its plots would cost a second more

    with np.errstate(invalid="ignore", divide="ignore"):
        parts = [az.ess(posterior, method="bulk"), az.ess(posterior, method="tail"),
                 az.rhat(posterior)]
    return xr.concat(parts, dim=pd.Index(list(DIAGNOSTICS), name="diagnostic"))


def elements(name: str, array: xr.DataArray, skip=()) -> Iterator[tuple[str, dict]]:
    """Yield each element of a variable, labelled as ArviZ labels it (``sigma[runs]``).

    Parameters
    ----------
    name : str
        The variable's name.
    array : xarray.DataArray
        Its values.
    skip : iterable of str, optional
        Dims not to run over (e.g. ``("chain", "draw")``).

    Yields
    ------
    tuple of (str, dict)
        The label, and the element's position as ``{dim: index}`` for ``array.isel``.

    """
    dims = [dim for dim in array.dims if dim not in skip]
    for index in np.ndindex(*(array.sizes[dim] for dim in dims)):
        labels = [str(array[dim].values[i]) for dim, i in zip(dims, index, strict=True)]
        yield (f"{name}[{', '.join(labels)}]" if labels else name), dict(
            zip(dims, index, strict=True))
