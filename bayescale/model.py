"""Build the PyMC model of a scaling law from validated runs and a specification.

Parameterisation (chosen for NUTS, see ../shared/DESIGN.md):

* N and D are measured from reference scales N0 and D0, the geometric means of the fitted runs,
  so the sampled ``log_A_ref = log(A / N0^alpha)`` and ``log_B_ref = log(B / D0^beta)`` are what
  the runs pin down; this removes the A-alpha and B-beta ridges.
* With several sources, ``log_E``, ``log_A_ref``, ``log_B_ref`` (and, when pooled, ``log alpha``
  and ``log beta``) get per-source values around a shared mean, centred by default since each
  source's runs pin its own values (``models/chinchilla.toml`` gives the measurements); the
  noise scale ``sigma`` is per source.
* Every source's parameters are recorded as ``*_source`` variables (dim ``source``), so queries
  read them the same way whatever the pooling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayescale.laws import chinchilla_log_loss
from bayescale.runs import Runs
from bayescale.spec import LOG_SCALE, ModelSpec

# Names in the posterior of each law parameter's log-scale, reference-scale variable.
SAMPLED_NAME = {"E": "log_E", "A": "log_A_ref", "B": "log_B_ref", "alpha": "alpha",
                "beta": "beta"}


def reference_scales(runs: Runs) -> tuple[float, float]:
    """Return (log N0, log D0): the means of log N and log D over the fitted runs."""
    return float(np.log(runs.table["N"]).mean()), float(np.log(runs.table["D"]).mean())


# Fewer distinct values of N (or D) than this leave a source's size (or data) term unidentified:
# E, A/N^alpha and B/D^beta need variation in both N and D to be told apart.
MIN_DISTINCT = 3


def distinct_values(values, decimals: int = 2) -> int:
    """Count distinct values on a log10 scale, to ``decimals`` (default: within ~2%)."""
    return int(np.unique(np.round(np.log10(np.asarray(values, dtype=float)), decimals)).size)


def identification_problems(runs: Runs, spec: ModelSpec) -> list[str]:
    """Say which sources have too few distinct N or D to identify their own parameters.

    Parameters
    ----------
    runs : Runs
        Validated runs.
    spec : ModelSpec
        The model (its pooling decides what a short source borrows from the others).

    Returns
    -------
    list of str
        One message per short source, saying what the fit does about it; empty if none.

    """
    sources = runs.sources
    problems = []
    for name, group in runs.table.groupby("source", sort=False):
        n_N, n_D = distinct_values(group["N"]), distinct_values(group["D"])
        if min(n_N, n_D) >= MIN_DISTINCT:
            continue
        short = [f"{count} distinct {axis}" for axis, count in (("N", n_N), ("D", n_D))
                 if count < MIN_DISTINCT]
        terms = (["A (and alpha)"] if n_N < MIN_DISTINCT else []) + (
            ["B (and beta)"] if n_D < MIN_DISTINCT else [])
        if len(sources) == 1:
            problems.append(
                f"the runs have only {' and '.join(short)} value(s) in {len(group)} runs: "
                f"E and {' and '.join(terms)} cannot be told apart by the data, so their "
                "posteriors follow the priors; add runs at more sizes and token counts, or fit "
                "jointly with published runs (with_datasets=..., CLI --with)")
            continue
        affected = ["E"] + (["A"] if n_N < MIN_DISTINCT else []) + (
            ["B"] if n_D < MIN_DISTINCT else [])
        pooled = [term for term in affected if term in spec.pooled_parameters]
        problems.append(
            f"source '{name}' has only {' and '.join(short)} value(s) in {len(group)} runs: "
            f"too few to identify its own offsets of {', '.join(pooled) or 'E'} from its runs "
            "alone. "
            "The pooling draws them toward the other sources' values (within the spreads in "
            "the model's [pooling.scales]) and its exponents are shared, so its fit and "
            "predictions lean on the other sources; add runs at more sizes and token counts "
            "to pin them")
    return problems


def build_model(runs: Runs, spec: ModelSpec) -> pm.Model:
    """Return the PyMC model of ``spec`` for ``runs``.

    Parameters
    ----------
    runs : Runs
        Validated runs (see :func:`bayescale.runs.as_runs`).
    spec : ModelSpec
        Law, priors, likelihood and pooling.

    Returns
    -------
    pymc.Model
        The model, with data in ``pm.Data`` containers and coords ``run`` and ``source``.

    """
    table = runs.table
    sources = runs.sources
    log_N0, log_D0 = reference_scales(runs)
    coords = {"source": sources, "run": table.index.to_numpy()}
    with pm.Model(coords=coords) as model:
        x = pm.Data("log_N_rel", np.log(table["N"].to_numpy()) - log_N0, dims="run")
        y = pm.Data("log_D_rel", np.log(table["D"].to_numpy()) - log_D0, dims="run")
        index = pm.Data("source_index",
                        pd.Categorical(table["source"], categories=sources).codes.astype("int64"),
                        dims="run")
        pm.Data("log_N0", log_N0)
        pm.Data("log_D0", log_D0)

        per_source = {}
        for name in ("E", "A", "B", "alpha", "beta"):
            per_source[name] = _parameter(spec, name, len(sources))

        sigma = _prior(spec.priors["sigma"], "sigma", dims="source")
        mu = chinchilla_log_loss(
            x, y,
            per_source["E"][index], per_source["A"][index], per_source["B"][index],
            per_source["alpha"][index], per_source["beta"][index], xp=pt,
        )
        observed = np.log(table["loss"].to_numpy())
        if spec.likelihood == "student_t":
            nu = _prior(spec.priors["nu"], "nu")
            pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma[index], observed=observed,
                        dims="run")
        else:
            pm.Normal("log_loss", mu=mu, sigma=sigma[index], observed=observed, dims="run")

        # The law's constants for a typical source, in raw units, for summaries.
        pm.Deterministic("E", pt.exp(model["log_E"]))
        pm.Deterministic("A", pt.exp(model["log_A_ref"] + model["alpha"] * log_N0))
        pm.Deterministic("B", pt.exp(model["log_B_ref"] + model["beta"] * log_D0))
    return model


def _parameter(spec: ModelSpec, name: str, n_sources: int):
    """Create the shared parameter ``name`` and its per-source values (a length-S tensor)."""
    entry = dict(spec.priors[name])
    log_scale = name in LOG_SCALE
    sampled = SAMPLED_NAME[name]
    if log_scale:  # LogNormal(mu, sigma) on the parameter = Normal(mu, sigma) on its log
        shared = pm.Normal(sampled, mu=entry["mu"], sigma=entry["sigma"])
    else:
        shared = _prior(entry, sampled)

    pooling = spec.pooling
    source_name = f"{sampled}_source"
    if n_sources == 1 or name not in spec.pooled_parameters:
        return pm.Deterministic(source_name, pt.ones(n_sources) * shared, dims="source")

    spread = _prior(pooling["scales"][name], f"{name}_spread")
    centre = shared if log_scale else pt.log(shared)
    if pooling.get("parameterization") == "centered":
        value = pm.Normal(f"{source_name}_log" if not log_scale else source_name,
                          mu=centre, sigma=spread, dims="source")
    else:
        z = pm.Normal(f"{name}_offset_z", 0.0, 1.0, dims="source")
        value = centre + spread * z
        if log_scale:
            value = pm.Deterministic(source_name, value, dims="source")
    if not log_scale:
        value = pm.Deterministic(source_name, pt.exp(value), dims="source")
    return value


def _prior(entry, name, dims=None):
    params = {k: v for k, v in entry.items() if k not in ("dist", "why")}
    return getattr(pm, entry["dist"])(name, **params, dims=dims)
