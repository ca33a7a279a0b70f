"""Summary tables of posterior quantities: medians, credible intervals, ESS and R-hat.

ArviZ is loaded only for what needs it, so a query of a saved fit stays fast.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from bayescale.inference.diagnostics import DIAGNOSTICS, elements, variable_diagnostics

SAMPLE_DIMS = ("chain", "draw")
INTERVAL_KINDS = ("eti", "hdi")


def interval_table(data: xr.Dataset | xr.DataArray, prob: float = 0.94,
                   kind: str = "eti") -> pd.DataFrame:
    """Tabulate the median and a credible interval of each variable, per non-sample coordinate.

    Parameters
    ----------
    data : xarray.Dataset or DataArray
        Posterior quantities with dims (chain, draw, ...), e.g. from
        :func:`bayescale.compute_optimal` or :func:`bayescale.predict`.
    prob : float, default 0.94
        Probability mass of the interval.
    kind : {"eti", "hdi"}, default "eti"
        Equal-tailed or highest-density interval.

    Returns
    -------
    pandas.DataFrame
        Indexed by the remaining dims (e.g. ``flops``); for each variable ``X`` the columns
        ``X`` (median), ``X_lo`` and ``X_hi`` (the interval's bounds), then the coordinates
        along those dims (e.g. ``decades_beyond``: how far beyond the fitted runs each row
        reaches; ``N`` and ``D`` of a prediction).

    """
    if kind not in INTERVAL_KINDS:
        raise ValueError(f"kind must be one of {INTERVAL_KINDS}, not '{kind}'")
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, not {prob}")
    if isinstance(data, xr.DataArray):
        data = data.to_dataset(name=data.name or "value")
    median = data.median(SAMPLE_DIMS)
    if kind == "hdi":
        import arviz as az

        bounds = az.hdi(data, prob=prob, dim=list(SAMPLE_DIMS))
        lower, upper = (bounds.sel(ci_bound=side, drop=True) for side in ("lower", "upper"))
    else:  # equal-tailed: the same quantiles as ArviZ's eti
        tails = data.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=list(SAMPLE_DIMS))
        lower, upper = (tails.isel(quantile=i, drop=True) for i in (0, 1))
    columns = {}
    for name in data.data_vars:
        columns[name] = median[name]
        columns[f"{name}_lo"] = lower[name]
        columns[f"{name}_hi"] = upper[name]
    table = xr.Dataset(columns)
    if not table.dims:
        return pd.DataFrame([{name: float(value) for name, value in table.items()}])
    labels = [name for name, coord in data.coords.items()
              if coord.dims and name not in coord.dims and set(coord.dims) <= set(table.dims)]
    return table.to_dataframe()[list(columns) + labels]


def parameter_table(posterior: xr.Dataset, prob: float = 0.94,
                    diagnostics: xr.Dataset | None = None) -> pd.DataFrame:
    """Tabulate median, equal-tailed interval, ESS and R-hat of posterior variables.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior variables with dims (chain, draw, ...).
    prob : float, default 0.94
        Probability mass of the interval.
    diagnostics : xarray.Dataset, optional
        Their :func:`~bayescale.inference.diagnostics.variable_diagnostics`, as a fit keeps
        them; computed (with ArviZ) when not given.

    Returns
    -------
    pandas.DataFrame
        One row per scalar element, labelled as ArviZ labels them (``sigma[runs]``):
        ``median``, ``lo``, ``hi``, ``ess_bulk``, ``ess_tail``, ``r_hat``.

    """
    if diagnostics is None:
        diagnostics = variable_diagnostics(posterior)
    tails = posterior.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=list(SAMPLE_DIMS))
    columns = {"median": posterior.median(SAMPLE_DIMS),
               "lo": tails.isel(quantile=0, drop=True), "hi": tails.isel(quantile=1, drop=True)}
    columns |= {name: diagnostics[list(posterior.data_vars)].sel(diagnostic=name, drop=True)
                for name in DIAGNOSTICS}
    rows = {label: {column: float(values[name].isel(where)) for column, values in columns.items()}
            for name, array in posterior.data_vars.items()
            for label, where in elements(name, array, skip=SAMPLE_DIMS)}
    return pd.DataFrame.from_dict(rows, orient="index")
