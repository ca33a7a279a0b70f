"""Build the PyMC model of a scaling law from validated runs and a specification.

Parameterisation (chosen for NUTS, see ../shared/DESIGN.md):

* Inputs are measured from reference scales (N0, D0, C0: the geometric means of the fitted
  runs), so for the Chinchilla law the sampled ``log_A_ref = log(A / N0^alpha)`` and
  ``log_B_ref = log(B / D0^beta)`` are what the runs pin down; this removes the A-alpha and
  B-beta ridges. Each law says how its parameters shift (:attr:`bayescale.spec.laws.Law.shifts`).
* With several sources, the parameters in the model's ``pooling.offsets`` (and, when pooled,
  the exponents) get per-source values around a shared mean, centred by default since each
  source's runs pin its own values (``models/chinchilla.toml`` gives the measurements); the
  noise scale ``sigma`` is per source.
* Every source's parameters are recorded as ``*_source`` variables (dim ``source``), so queries
  read them the same way whatever the pooling.
* The law is computed on a grid of blocks of runs, each block from one source, and read back per
  run (:func:`block_layout`); the likelihood stays one observed variable over the runs, in the
  table's order.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayescale.data.runs import Runs, unique_tokens
from bayescale.spec.laws import law_inputs, reference_inputs
from bayescale.spec.model_spec import ModelSpec


class _FusedOps:
    """``pytensor.tensor`` for a law's log loss in the model, with a ``log_sum_exp`` that fuses.

    ``pt.logaddexp`` is one opaque op, so PyTensor cannot fuse it into the elementwise loop over
    the runs. The Chinchilla law's terms are losses in nats, so adding them unshifted cannot
    overflow where the posterior has mass, and a proposal that did would get log density -inf
    and be rejected. Measured: gradients 1.4x faster on 100,000 runs in 100 sources (10.5 ms
    against 7.2 ms per gradient on this 2-core machine).
    """

    def __getattr__(self, name):
        return getattr(pt, name)

    @staticmethod
    def log_sum_exp(*terms):
        return pt.log(sum(pt.exp(term) for term in terms))


FUSED_OPS = _FusedOps()

# Inputs whose reference scales a fit stores (as constant data log_N0, log_D0, log_C0).
REFERENCE_INPUTS = ("N", "D", "C")


def reference_scales(runs: Runs) -> dict[str, float]:
    """Return the log reference scale of every law input over the fitted runs.

    N0, D0 and C0 are the geometric means of N, D and C; U shares D's scale and M0 = D0/N0
    (see :func:`bayescale.spec.laws.reference_inputs`).
    """
    table = runs.table
    return reference_inputs(*(float(np.log(table[name]).mean()) for name in REFERENCE_INPUTS))


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
    problems = _too_few_runs(runs, spec)
    if spec.law_object.log_scale[:3] != ("E", "A", "B"):
        return problems + _short_inputs(runs, spec)
    sources = runs.sources
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


def _too_few_runs(runs: Runs, spec: ModelSpec) -> list[str]:
    """Say when a one-source fit has no more runs than its law has parameters."""
    free = [name for name in spec.law_object.parameters if name not in spec.fixed_values]
    if len(runs.sources) != 1 or len(runs) > len(free):
        return []
    return [f"{len(runs)} runs for the {len(free)} free parameters of the {spec.law} law "
            f"({', '.join(free)}): the runs cannot determine them, and the posterior rests on "
            "the priors (with with_datasets=, CLI --with, on the published runs'); add runs to "
            "pin them"]


def _short_inputs(runs: Runs, spec: ModelSpec) -> list[str]:
    """Check the inputs of laws other than E + A/N^a + B/D^b (see identification_problems)."""
    law = spec.law_object
    logs = law_inputs(np.log(runs.table["N"]), np.log(runs.table["D"]),
                      log_C=np.log(runs.table["C"]))
    problems = []
    for name, group in runs.table.groupby("source", sort=False):
        counts = {axis: distinct_values(np.exp(logs[axis][group.index]))
                  for axis in law.inputs if axis in ("N", "D", "C", "M")}
        short = [f"{count} distinct {axis}" for axis, count in counts.items()
                 if count < MIN_DISTINCT]
        if short:
            problems.append(
                f"source '{name}' has only {' and '.join(short)} value(s) in {len(group)} runs: "
                f"too few to pin the {law.name} law's parameters from its runs alone, so they "
                "lean on the priors (and, with pooling, on the other sources); add runs over a "
                "wider range")
    return problems


# Runs of a source whose compute spans less than this many decades pin no compute scaling: over
# a factor of 3 the loss barely moves with compute, whatever the law's exponents.
MIN_COMPUTE_DECADES = 0.5


def narrow_compute(runs: Runs) -> list[str]:
    """Say which sources' runs span too little compute to pin how the loss falls with it.

    Parameters
    ----------
    runs : Runs
        Validated runs (the user's: published sources span decades).

    Returns
    -------
    list of str
        One message per source whose runs span less than :data:`MIN_COMPUTE_DECADES` decades
        of compute (e.g. one isoFLOP curve); empty if none.

    """
    problems = []
    for name, group in runs.table.groupby("source", sort=False):
        low, high = float(group["C"].min()), float(group["C"].max())
        span = np.log10(high / low)
        if span >= MIN_COMPUTE_DECADES:
            continue
        who = "the runs span" if len(runs.sources) == 1 else f"source '{name}' spans"
        problems.append(
            f"{who} only {span:.2f} decades of compute ({low:.3g} to {high:.3g} FLOPs): too "
            "little to pin how the loss falls with compute, so predictions at other budgets "
            "rest largely on the priors (with published runs, on your set-up scaling like "
            "theirs); add runs at compute budgets at least 10x apart, and compare the fit "
            "alone with the borrowed one")
    return problems


# Runs are laid out in blocks of up to this many runs of one source (see block_layout).
MAX_BLOCK = 64
# The widest block is taken whose padding adds at most this fraction to the runs.
MAX_PADDING = 0.25


def block_layout(source_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lay the runs out in equal blocks, each holding runs of one source.

    The law is then computed on a (blocks, width) grid with each block's parameters broadcast
    over its row, and read back per run. Gathering each parameter per run instead, as
    ``value[source_index]``, costs a scatter per parameter in every gradient: measured with JAX
    at 100,000 runs in 100 sources, 3.4-3.5 ms per gradient against 2.1-2.8 ms with blocks
    (7.9 against 2.8 ms in PyTensor's C backend).

    Parameters
    ----------
    source_codes : numpy.ndarray
        Each run's source, as an integer code.

    Returns
    -------
    run_of_cell : numpy.ndarray
        The run in each cell of the (blocks, width) grid. A source's last block is filled up
        with copies of that block's first run, so that no cell computes anything a run does not.
    cell_of_run : numpy.ndarray
        Each run's cell in the raveled grid: ``run_of_cell.ravel()[cell_of_run]`` is every run.

    """
    counts = np.bincount(source_codes)
    width = next(w for w in 2 ** np.arange(int(np.log2(MAX_BLOCK)), -1, -1)
                 if (-(-counts // w) * w).sum() <= (1 + MAX_PADDING) * len(source_codes))
    blocks = -(-counts // width)
    order = np.argsort(source_codes, kind="stable")
    position = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    first_block = np.repeat(np.cumsum(blocks) - blocks, counts)
    cell_of_run = np.empty(len(order), dtype="int64")
    cell_of_run[order] = first_block * width + position
    run_of_cell = np.repeat(order[position % width == 0], width)  # each block's first run
    run_of_cell[cell_of_run] = np.arange(len(order))
    return run_of_cell.reshape(-1, width), cell_of_run


def build_model(runs: Runs, spec: ModelSpec) -> pm.Model:
    """Return the PyMC model of ``spec`` for ``runs``.

    Parameters
    ----------
    runs : Runs
        Validated runs (see :func:`bayescale.data.runs.as_runs`).
    spec : ModelSpec
        Law, priors, likelihood and pooling.

    Returns
    -------
    pymc.Model
        The model, with data in ``pm.Data`` containers and coords ``run`` and ``source``.

    """
    table = runs.table
    sources = runs.sources
    law = spec.law_object
    reference = reference_scales(runs)
    unique = unique_tokens(table)
    logs = law_inputs(*(np.log(table[name].to_numpy()) for name in ("N", "D")),
                      log_U=None if unique is None else np.log(unique),
                      log_C=np.log(table["C"].to_numpy()))
    codes = pd.Categorical(table["source"], categories=sources).codes.astype("int64")
    run_of_cell, cell_of_run = block_layout(codes)
    coords = {"source": sources, "run": table.index.to_numpy()}
    with pm.Model(coords=coords) as model:
        # Law inputs on the grid of blocks (see block_layout).
        x = {name: pm.Data(f"log_{name}_rel", (logs[name] - reference[name])[run_of_cell])
             for name in law.inputs}
        block_source = pm.Data("block_source", codes[run_of_cell[:, 0]])
        cell = pm.Data("run_cell", cell_of_run, dims="run")
        index = pm.Data("source_index", codes, dims="run")
        for name in REFERENCE_INPUTS:
            pm.Data(f"log_{name}0", reference[name])

        joint = _correlated_logs(spec)
        per_source = {name: _parameter(spec, name, len(sources), reference, joint.get(name))
                      for name in law.parameters}
        on_grid = law.log_loss(x, {law.key(name): value[block_source][:, None]
                                   for name, value in per_source.items()}, xp=FUSED_OPS)
        mu = on_grid.ravel()[cell]
        sigma = _noise_prior(spec)
        # Data too, so that a compiled model can be reused with other runs of the same shape.
        observed = pm.Data("log_loss_observed", np.log(table["loss"].to_numpy()), dims="run")
        if spec.likelihood == "student_t":
            nu = _prior(spec.priors["nu"], "nu")
            pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma[index], observed=observed,
                        dims="run")
        elif spec.likelihood == "laplace":
            pm.Laplace("log_loss", mu=mu, b=sigma[index], observed=observed, dims="run")
        else:
            pm.Normal("log_loss", mu=mu, sigma=sigma[index], observed=observed, dims="run")

        # The law's log-scale constants for a typical source, in raw units, for summaries.
        shared = {name: model[law.sampled_name(name)] for name in law.parameters}
        raw = law.to_raw(shared, reference)
        for name in law.log_scale:
            pm.Deterministic(name, pt.exp(raw[law.key(name)]))
    return model


def _correlated_logs(spec: ModelSpec) -> dict:
    """Sample the logs of the correlated LogNormal priors jointly (see ModelSpec.correlation).

    Returns each correlated parameter's log as a tensor: the prior's mu plus its sigma times
    a correlated standard normal (non-centred: ``prior_z`` ~ Normal(0, 1), times the Cholesky
    factor of the correlation matrix). Empty when the priors are independent.
    """
    correlation = spec.correlation
    if not correlation:
        return {}
    names = list(correlation["parameters"])
    pm.modelcontext(None).add_coord("correlated", names)
    # Data, not constants: a literature prior differs for every set of runs, and its fits
    # share one compiled model (see model_structure).
    mu = pm.Data("prior_mu", np.array([spec.priors[name]["mu"] for name in names]),
                 dims="correlated")
    sigma = pm.Data("prior_sigma", np.array([spec.priors[name]["sigma"] for name in names]),
                    dims="correlated")
    factor = pm.Data("prior_cholesky",
                     np.linalg.cholesky(np.asarray(correlation["matrix"], dtype=float)))
    z = pm.Normal("prior_z", 0.0, 1.0, dims="correlated")
    logs = mu + sigma * pt.dot(factor, z)
    return {name: logs[i] for i, name in enumerate(names)}


def model_structure(spec: ModelSpec, n_sources: int) -> str:
    """Return the key of what a compiled model of ``spec`` depends on.

    Fits whose keys are equal differ only in their data, so one compiled model serves them all
    (:func:`bayescale.inference.sampling.sample`). The data are the runs and, for priors sampled
    jointly (:attr:`ModelSpec.correlation`), their means, scales and correlations, which
    :func:`build_model` keeps as ``pm.Data``: a literature prior, set anew for every set of runs,
    then compiles once per law and named data sets, not once per fit.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    n_sources : int
        How many sources the runs have.

    Returns
    -------
    str
        The key.

    """
    layout = json.loads(spec.to_json())
    correlation = layout.get("correlation") or {}
    for name in _priors_as_data(spec):
        layout["priors"][name] = {key: value for key, value in layout["priors"][name].items()
                                  if key not in ("mu", "sigma", "why")}
    if correlation:
        correlation["matrix"] = len(correlation["matrix"])
        correlation.pop("why", None)
    return f"{json.dumps(layout, sort_keys=True)}|sources={n_sources}"


def _priors_as_data(spec: ModelSpec) -> list[str]:
    """Return the priors whose mu and sigma :func:`build_model` keeps as data.

    Those sampled jointly, and with them a LogNormal prior on the noise scale: a literature
    prior sets both anew for every set of runs (see :func:`model_structure`).
    """
    names = list((spec.correlation or {}).get("parameters", ()))
    if names and spec.priors["sigma"]["dist"] == "LogNormal":
        names.append("sigma")
    return names


def _noise_prior(spec: ModelSpec):
    """Return the noise scale of log loss per source (prior parameters as data if they vary)."""
    entry = spec.priors["sigma"]
    if "sigma" not in _priors_as_data(spec):
        return _prior(entry, "sigma", dims="source")
    return pm.LogNormal("sigma", mu=pm.Data("sigma_prior_mu", float(entry["mu"])),
                        sigma=pm.Data("sigma_prior_sigma", float(entry["sigma"])),
                        dims="source")


def _parameter(spec: ModelSpec, name: str, n_sources: int, reference: dict[str, float],
               joint_log=None):
    """Create the shared parameter ``name`` and its per-source values (a length-S tensor).

    ``joint_log``: the parameter's log, already sampled jointly with others
    (:func:`_correlated_logs`), instead of its own prior.
    """
    law = spec.law_object
    entry = dict(spec.priors[name])
    log_scale = name in law.log_scale
    sampled = law.sampled_name(name)
    fixed = spec.fixed_values
    if name in fixed:  # held at its raw value, carried to the sampled (reference) scale
        value = np.log(fixed[name]) if log_scale else fixed[name]
        if name in law.shifts:
            exponent, coefficients = law.shifts[name]
            offset = sum(c * reference[i] for i, c in coefficients.items())
            value -= offset if exponent is None else fixed[exponent] * offset
        shared = pm.Deterministic(sampled, pt.as_tensor_variable(float(value)))
        return pm.Deterministic(f"{sampled}_source", pt.ones(n_sources) * shared,
                                dims="source")
    if joint_log is not None:
        shared = pm.Deterministic(sampled, joint_log if log_scale else pt.exp(joint_log))
    elif log_scale:  # LogNormal(mu, sigma) on the parameter = Normal(mu, sigma) on its log
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
