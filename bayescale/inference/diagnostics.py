"""Each posterior variable's convergence diagnostics: bulk and tail ESS, and R-hat.

A fit measures them once, when it is sampled, and keeps them in its ``convergence`` group, so
that a summary of a saved fit needs no ArviZ (importing it takes seconds). Light on purpose:
ArviZ's statistics are loaded only when the diagnostics are computed.
"""

from __future__ import annotations

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
