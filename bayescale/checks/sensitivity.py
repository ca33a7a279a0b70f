"""Prior sensitivity: a first pass without refits, then how far N_opt moves under other priors.

:func:`power_scaling` is the fast first pass: ArviZ's power-scaling sensitivity of each
parameter (Kallioinen et al. 2024), from the fit's own draws, no refit.
:func:`prior_sensitivity` is the direct check, with refits: every prior scale of the fit's
model (the ``sigma`` of its Normal, LogNormal and HalfNormal priors, the between-source spreads
included) is multiplied by each factor, the runs are refitted with the fit's own sampler
settings, and the posterior of N_opt is compared with the original. A posterior that the data
pin barely moves; one that leans on its priors moves with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from bayescale.checks.sweep import SUMMARY_PROBS, run_fits
from bayescale.errors import BayescaleError
from bayescale.queries.frontier import compute_optimal
from bayescale.spec.model_spec import ModelSpec

DEFAULT_FACTORS = (0.5, 2.0)
PSENSE_THRESHOLD = 0.05  # ArviZ's: a CJS distance above it flags a sensitive parameter
SCALED = ("sigma",)  # the scale parameter of Normal, LogNormal and HalfNormal priors


def scaled_spec(spec: ModelSpec, factor: float) -> ModelSpec:
    """Return ``spec`` with every prior scale (and between-source spread scale) times ``factor``.

    Priors without a ``sigma`` (e.g. the Gamma prior of the Student-t's ``nu``) are kept.
    """
    if not (np.isfinite(factor) and factor > 0):
        raise BayescaleError(f"a prior scale factor must be positive, not {factor}")

    def scale(entry):
        return {k: (v * factor if k in SCALED else v) for k, v in entry.items()}

    priors = {name: scale(entry) for name, entry in spec.priors.items()}
    pooling = dict(spec.pooling)
    if "scales" in pooling:
        pooling["scales"] = {name: scale(entry) for name, entry in pooling["scales"].items()}
    return ModelSpec(name=f"{spec.name} (prior scales x{factor:g})", law=spec.law,
                     likelihood=spec.likelihood, priors=priors, pooling=pooling,
                     description=spec.description)


def power_scaling(fit) -> pd.DataFrame:
    """Power-scaling sensitivity of each parameter to its prior and to the likelihood, no refit.

    The posterior draws are importance-weighted as if the prior (or the likelihood) were raised
    to a power near 1, and the change of each parameter's distribution is measured by the
    cumulative Jensen-Shannon distance (:func:`arviz.psense_summary`). A distance above
    :data:`PSENSE_THRESHOLD` for the prior means the prior still shapes that parameter; for
    both at once, a prior-data conflict.

    Parameters
    ----------
    fit : Fit
        A Bayesian fit.

    Returns
    -------
    pandas.DataFrame
        One row per parameter of the law and the noise: ``prior`` and ``likelihood``
        (the distances) and ArviZ's ``diagnosis``.

    """
    import arviz as az

    if fit.method != "bayes":
        raise BayescaleError(f"prior sensitivity needs a Bayesian fit, not the {fit.method} "
                             "baseline (it has no priors)")
    tree = fit.to_arviz(predictive=False)
    names = [name for name in tree["posterior"].data_vars
             if not name.endswith("_source") and name != "prior_z"]
    table = az.psense_summary(tree, var_names=names)
    return table.rename_axis("parameter")


def prior_sensitivity(fit, flops: float = 1e24, *, factors: Sequence[float] = DEFAULT_FACTORS,
                      run: Callable | None = None) -> pd.DataFrame:
    """Refit under scaled priors and report how far N_opt at ``flops`` moves.

    Parameters
    ----------
    fit : Fit
        A Bayesian fit (its runs, model and sampler settings are reused).
    flops : float, default 1e24
        The target budget.
    factors : sequence of float, default (0.5, 2.0)
        Multipliers of every prior scale (< 1 narrower, > 1 wider).
    run : callable, optional
        ``run(function, items)``, e.g. :func:`bayescale.checks.sweep.dask_map` (default: here).

    Returns
    -------
    pandas.DataFrame
        One row per prior (``as fitted`` first): N_opt's 5%, 50% and 95% quantiles,
        ``median_shift`` (relative to the fit's median), ``width_ratio`` (of the 90% interval),
        ``converged`` and ``error``.

    """
    if fit.method != "bayes":
        raise BayescaleError(f"prior sensitivity needs a Bayesian fit, not the {fit.method} "
                             "baseline (it has no priors)")
    if fit.spec.law_object.optimal_log_params is None:
        raise BayescaleError(f"the '{fit.spec.law}' law has no N_opt to compare")
    settings = dict(fit.sampler)
    options = {key: settings[key] for key in ("sampler", "draws", "tune", "chains", "seed",
                                              "target_accept")}
    source = fit.default_source
    tasks = {f"prior scales x{factor:g}": {"runs": fit.runs, "model": scaled_spec(fit.spec,
                                                                                  factor),
                                            **options}
             for factor in factors}
    swept = run_fits(tasks, flops=flops, source=source, run=run)
    base = compute_optimal(fit, [flops], discrepancy=False)["N_opt"].values.reshape(-1)
    base_q = np.quantile(base, SUMMARY_PROBS)
    rows = [{"prior": "as fitted", "N_opt_q05": base_q[0], "N_opt": base_q[1],
             "N_opt_q95": base_q[2], "median_shift": 0.0, "width_ratio": 1.0,
             "converged": fit.converged, "error": ""}]
    for name in swept["fit"].values:
        q = swept["N_opt"].sel(fit=name).values if "N_opt" in swept else np.full(3, np.nan)
        rows.append({"prior": str(name), "N_opt_q05": q[0], "N_opt": q[1], "N_opt_q95": q[2],
                     "median_shift": q[1] / base_q[1] - 1,
                     "width_ratio": (q[2] - q[0]) / (base_q[2] - base_q[0]),
                     "converged": bool(swept["converged"].sel(fit=name)),
                     "error": str(swept["error"].sel(fit=name).values)})
    return pd.DataFrame(rows).set_index("prior")
