"""Fit a scaling law to runs: check them, choose the priors, sample, and record how.

:func:`fit` validates the runs, adds the literature prior or the published runs when asked,
samples the model (or runs the Huber-bootstrap baseline), and returns a :class:`Fit`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayescale.data import datasets
from bayescale.data.records import FORMAT, provenance, table_to_dataset
from bayescale.data.runs import Runs, as_runs, combine_runs
from bayescale.errors import BayescaleError, RunsError, RunsWarning
from bayescale.estimators.huber import RESAMPLES, STARTS, huber_bootstrap
from bayescale.fitting.literature import (
    LiteraturePrior,
    leaned_on,
    learned_discrepancy,
    shape_draws,
)
from bayescale.fitting.result import (
    DISCREPANCY_LIMITS,
    DISCREPANCY_PARTS,
    METHODS,
    Fit,
    fitted_range,
)
from bayescale.inference.diagnostics import variable_diagnostics
from bayescale.inference.model import (
    build_model,
    identification_problems,
    model_structure,
    narrow_compute,
    reference_scales,
)
from bayescale.inference.sampling import convergence_report, sample, warn_if_unconverged
from bayescale.inference.settings import DEFAULT_SAMPLER, SamplerSettings
from bayescale.spec.model_spec import ModelSpec, load_spec, restrict_correlation

log = logging.getLogger("bayescale")

BORROW = ("prior", "joint")
# Draws (and tuning steps) per chain when fit() is not told how many: the first run, and,
# while it has not converged, one more run with the next count. Most fits of real runs pass at
# 1000; the slow mixers of benchmarks/convergence.py (docs/validation/convergence.md) need the
# longer tuning and draws of the later runs.
DEFAULT_DRAWS = (1000, 2000, 4000)
# The automatic retries' remedy for divergences: NUTS with a higher target acceptance takes
# smaller steps, which is what a divergence asks for (more draws alone do not remove one). The
# k-th retry after a run with divergences samples with the k-th target (never lower than the
# one asked for). Measured by benchmarks/convergence.py. None: no remedy.
RETRY_TARGET_ACCEPT = (0.99, 0.995)
SETTING_DEFAULTS = {field.name: field.default for field in fields(SamplerSettings)}


def fit(
    runs: Any,
    *,
    method: str = "bayes",
    resamples: int = RESAMPLES,
    starts: str = "epoch",
    with_datasets: Sequence[str | Runs] = (),
    borrow: str = "prior",
    discrepancy: float | str | Mapping[str, float] = "learned",
    split_sources_by: str | Sequence[str] | None = None,
    model: str | Path | ModelSpec = "chinchilla",
    priors: dict | None = None,
    likelihood: str | None = None,
    pooling: dict | None = None,
    sampler: str | Mapping[str, Any] | SamplerSettings = DEFAULT_SAMPLER,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    seed: int = 0,
    target_accept: float = 0.9,
    device: str = "auto",
    init: str = "adapt",
    progressbar: bool = False,
    log_likelihood: bool = True,
    **runs_options: Any,
) -> Fit:
    """Fit a scaling law to training runs and return its posterior.

    Parameters
    ----------
    runs : DataFrame, dict, path, Runs or str
        The runs (see :func:`bayescale.as_runs` for the columns), or the name of a registered
        data set (``"epoch-chinchilla"``; :func:`bayescale.datasets.load` with its default
        options), as on the command line.
    method : {"bayes", "huber-bootstrap"}, default "bayes"
        ``bayes``: the PyMC posterior. ``huber-bootstrap``: the classical Hoffmann/Epoch fit
        (Huber loss, L-BFGS-B from a grid, bootstrap intervals; see
        :mod:`bayescale.estimators.huber`), returned as a Fit whose draws are the bootstrap
        estimates; sampler settings and priors do not apply to it.
    resamples : int, default 4000
        Bootstrap resamples of the ``huber-bootstrap`` method (``seed`` seeds them).
    starts : {"epoch", "coarse"}, default "epoch"
        The ``huber-bootstrap`` method's grid of L-BFGS-B starts: Epoch's 4500, or 243 (three
        values per parameter: the same optimum on well-spread runs in a tenth of the time;
        with a handful of runs, where the optimum is degenerate, minutes instead of hours).
    with_datasets : sequence of str or Runs, optional
        Published runs to fit jointly with yours: registered data-set names (see
        ``bayescale.datasets.list()``; ``"all"`` for every one the literature prior knows), or,
        with ``borrow="joint"``, runs loaded with options
        (``bayescale.datasets.load("gadre2024", eval="openlm")``). How they inform your fit
        is ``borrow``'s choice.
    borrow : {"prior", "joint"}, default "prior"
        How published runs inform your fit. ``"prior"`` (default): your runs are fitted alone
        under the *literature prior*, the distribution of a new source's E, A, B, alpha and
        beta centred on the published sources of ``with_datasets``, each fitted alone, and
        spread as widely as all registered sources differ (:mod:`bayescale.fitting.literature`; it
        costs no more than a fit alone). Measured by the
        leave-one-data-set-out benchmark (``benchmarks/transfer.py``), it helps most when
        you have few runs and does not hurt when you have many. Priors you give in
        ``priors=`` override it. ``"joint"``: the published runs are fitted with yours, each
        source with its own offsets and, by default, shared exponents.
    discrepancy : "learned", float or dict, default "learned"
        The law's misspecification beyond the fitted runs, on top of its parameter
        uncertainty and noise, per decade of compute by which an answer lies beyond the
        largest fitted run of its source (:mod:`bayescale.queries.beyond`). ``"learned"``:
        learned by nested held-out fits of the published runs
        (:func:`bayescale.fitting.literature.learned_discrepancy`): the drift and spread of
        log loss and of log N_opt. A number: the spread of log loss alone (no drift, none on
        the allocation); 0 turns it off. A dict: any of ``per_decade``, ``drift_per_decade``,
        ``allocation_per_decade`` and ``allocation_drift_per_decade`` (the others 0), and
        ``up_to_decades`` and ``allocation_up_to_decades`` (how far each grows; default: no
        limit), as :func:`~bayescale.fitting.literature.learned_discrepancy` returns them.
    split_sources_by : str or sequence of str, optional
        Columns of your runs whose values become part of the source (see
        :meth:`bayescale.Runs.split_by`), e.g. a column saying how N or C was counted: each
        convention then gets its own offsets instead of being mixed in one source.
    model : str, path or ModelSpec, default "chinchilla"
        A named model from ``models/``, a TOML file, or a specification.
    priors, likelihood, pooling : optional
        Overrides of the model's priors, likelihood and pooling (see :func:`load_spec`).
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, dict or SamplerSettings
        The NUTS implementation (default ``"nutpie"``; numpyro and blackjax:
        ``pip install 'bayescale[jax]'``), or all the sampler settings in one object: a dict of
        the fields of :class:`bayescale.inference.settings.SamplerSettings` (``sampler``,
        ``draws``, ``tune``, ``chains``, ``seed``, ``target_accept``, ``device``, ``init``),
        e.g. another fit's ``fit.sampler`` to sample the same way. The keywords below fill
        the fields it leaves out; a keyword that contradicts it is an error.
    draws, tune : int, optional
        Posterior draws and tuning steps per chain. With the draws left out: 1000, and while
        the fit has not converged (R-hat, ESS, divergences), once more with 2000, then 4000
        (:data:`DEFAULT_DRAWS`); the last run is kept; the tuning steps follow the draws unless
        given. A try with divergences is retried with ``target_accept`` raised to the next of
        :data:`RETRY_TARGET_ACCEPT` (smaller steps) as well. ``fit.sampler`` then says the
        draws (and the target) kept and ``fit.diagnostics["retried"]`` what fell short before. Draws
        given (here or in ``sampler``) are sampled exactly, once, with 1000 tuning steps unless
        ``tune`` says otherwise.
    chains : int, default 4
        The number of chains.
    seed : int, default 0
        Random seed; the same seed gives identical draws.
    target_accept : float, default 0.9
        NUTS target acceptance rate (raise it if there are divergences).
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where a JAX sampler runs: ``"auto"`` uses a GPU when JAX sees one; ``"gpu"`` without
        one falls back to the CPU with a message. The chains run vectorised on a GPU, so many
        chains (``chains=64`` to ``1024``) cost little more than a few. The fit records the
        device in ``fit.device``.
    init : {"adapt", "laplace"}, default "adapt"
        How the chains start. ``"adapt"``: the sampler's own initialisation and mass-matrix
        adaptation. ``"laplace"`` (samplers ``pymc`` and ``numpyro``): from draws of the
        Laplace approximation (the posterior mode and the inverse Hessian there, see
        :mod:`bayescale.inference.laplace`), whose covariance is then the fixed dense mass matrix,
        so tuning only adapts the step size; a few hundred tuning steps suffice. Measured to make
        fits of many sources far faster (docs/performance/speed.md).
    progressbar : bool, default False
        Show a progress bar while sampling.
    log_likelihood : bool, default True
        Store each run's pointwise log likelihood (needed for LOO, ``compare_laws``). Its size
        is chains x draws x runs doubles (3.2 GB at 100,000 runs and 4 x 1000 draws): leave it
        out for very large tables.
    **runs_options
        Passed to :func:`bayescale.as_runs` (``columns``, ``source_col``, ``source``,
        ``exclude``, ``exclude_reason``).

    Returns
    -------
    Fit
        The fit. If it did not converge a :class:`ConvergenceWarning` says so and what to try,
        and ``fit.diagnostics`` records it.

    """
    spec = load_spec(model, priors=priors, likelihood=likelihood, pooling=pooling)
    check_options(spec, method=method, resamples=resamples, starts=starts,
                  with_datasets=with_datasets, borrow=borrow, discrepancy=discrepancy,
                  split_sources_by=split_sources_by, priors=priors, likelihood=likelihood,
                  pooling=pooling, sampler=sampler, draws=draws, tune=tune, chains=chains,
                  target_accept=target_accept, device=device, init=init)
    if method == "huber-bootstrap":
        runs = as_runs(registered(runs, runs_options), **runs_options)
        for message in narrow_compute(runs):
            warnings.warn(message, RunsWarning, stacklevel=2)
        log.info("bayescale: Huber-bootstrap baseline on %d runs (%d resamples)", len(runs),
                 resamples)
        return Fit(huber_bootstrap(runs, resamples=resamples, seed=seed, spec=spec,
                                   grid=STARTS[starts]))
    schedule = draw_schedule(sampler, draws, tune, dict(
        chains=chains, seed=seed, target_accept=target_accept, device=device, init=init))
    runs = as_runs(registered(runs, runs_options), **runs_options)
    if split_sources_by is not None:
        runs = runs.split_by(split_sources_by)
    for message in narrow_compute(runs):
        warnings.warn(message, RunsWarning, stacklevel=2)
    discrepancy_parts = _discrepancy(discrepancy)
    borrowed = None
    if with_datasets and borrow == "prior":
        spec, borrowed = _literature_spec(spec, runs, with_datasets, priors or {})
        with_datasets = ()
    user_sources = runs.sources if with_datasets else []
    if with_datasets:
        runs = combine_runs(runs, *(
            item if isinstance(item, Runs) else datasets.load(item) for item in with_datasets))
    if "U" in spec.law_object.inputs and "U" not in runs.table.columns:
        raise RunsError(f"the {spec.law} law reads each run's unique tokens, and the runs have "
                        "no column U: add one (U = D for a run that saw every token once), or "
                        "fit a law without repeated data (model='chinchilla')")
    for message in identification_problems(runs, spec):
        warnings.warn(message, RunsWarning, stacklevel=2)
    reference = reference_scales(runs)
    log.info("bayescale: fitting %s to %d runs from %d source(s) (N0 = %.3g, D0 = %.3g)",
             spec.name, len(runs), len(runs.sources), np.exp(reference["N"]),
             np.exp(reference["D"]))
    # Fits that differ only in their data share a structure, and so one compiled model.
    structure = model_structure(spec, len(runs.sources))
    model_of_runs = build_model(runs, spec)
    retried = []
    for attempt, settings in enumerate(schedule):
        if retried and RETRY_TARGET_ACCEPT is not None:
            settings = replace(settings, target_accept=retry_target_accept(
                settings.target_accept, retried))
        tree = sample(model_of_runs, settings, progressbar=progressbar, structure=structure,
                      log_likelihood=log_likelihood)
        convergence = variable_diagnostics(tree["posterior"].to_dataset())
        report = convergence_report(tree, convergence)
        if report["converged"] or attempt == len(schedule) - 1:
            break
        retried.append({"draws": settings.draws, "tune": settings.tune,
                        "target_accept": settings.target_accept,
                        "divergences": report["divergences"], "problems": report["problems"]})
        log.info("bayescale: not converged with %d draws and %d tuning steps per chain (%s); "
                 "sampling again with more%s", settings.draws, settings.tune,
                 "; ".join(report["problems"]),
                 " and a higher target_accept" if report["divergences"]
                 and RETRY_TARGET_ACCEPT is not None else "")
    if retried:
        report["retried"] = retried
    if borrowed:
        borrowed = borrowed | {"leaned_on": leaned_on_record(tree["posterior"].to_dataset(),
                                                             borrowed)}
    tree["convergence"] = xr.DataTree(convergence)
    tree["runs"] = xr.DataTree(table_to_dataset(runs.table))
    if not runs.excluded.empty:
        tree["excluded_runs"] = xr.DataTree(table_to_dataset(runs.excluded))
    tree.attrs.update({
        "bayescale_format": FORMAT,
        "spec": spec.to_json(),
        "sampler": json.dumps(settings.to_dict()),
        "diagnostics": json.dumps(report),
        "provenance": json.dumps(provenance(runs, user_sources, settings.sampler) | (
            {"literature_prior": borrowed} if borrowed else {})),
        "discrepancy": json.dumps(discrepancy_parts | fitted_range(runs.table)),
    })
    warn_if_unconverged(report, n_sources=len(runs.sources), init=settings.init,
                        draws=settings.draws)
    if borrowed and borrowed["leaned_on"]["unusual"]:
        leaned = borrowed["leaned_on"]
        warnings.warn(f"these runs' law is unlike the published sources' (distance "
                      f"{leaned['distance']:.2f} from the literature prior's centre, where 95% "
                      f"of them lie within {leaned['typical_distance']:.2f}): the borrowed prior "
                      "is no evidence about them; compare with a fit alone before trusting "
                      "either", RunsWarning, stacklevel=2)
    return Fit(tree)


def retry_target_accept(asked: float, retried: Sequence[Mapping[str, Any]]) -> float:
    """Return the target acceptance of the next try after the tries ``retried``.

    The highest target tried so far is kept (a target that removed divergences stays); after a
    try with divergences, the next of :data:`RETRY_TARGET_ACCEPT` is taken, one step per try
    that had them.
    """
    target = max([asked, *(entry["target_accept"] for entry in retried)])
    steps = sum(1 for entry in retried if entry["divergences"])
    if retried[-1]["divergences"]:
        target = max(target, RETRY_TARGET_ACCEPT[min(steps, len(RETRY_TARGET_ACCEPT)) - 1])
    return target


def registered(runs: Any, runs_options: Mapping[str, Any]) -> Any:
    """Return the registered data set ``runs`` names (a name that is no file), else ``runs``."""
    if not isinstance(runs, str) or Path(runs).exists() or runs not in datasets.available():
        return runs
    if runs_options:
        raise BayescaleError(f"{', '.join(sorted(runs_options))} apply to runs tables, and "
                             f"'{runs}' is a registered data set: load it with its own options "
                             f"(bs.datasets.load('{runs}', ...)) and pass the result")
    return datasets.load(runs)


def check_options(spec: ModelSpec, *, method: str, resamples: int, starts: str,
                  with_datasets: Sequence, borrow: str, discrepancy: float | str,
                  split_sources_by, priors, likelihood, pooling, sampler, draws, tune, chains,
                  target_accept, device, init) -> None:
    """Refuse options of :func:`fit` that contradict each other or that its method would ignore.

    Called by :func:`fit` before it reads any runs, and by the command line before it loads
    them.

    Parameters
    ----------
    spec : ModelSpec
        The model, with the overrides ``priors`` and ``likelihood`` applied.
    method, resamples, starts, with_datasets, borrow, discrepancy, split_sources_by, priors, \
likelihood, pooling, sampler, draws, tune, chains, target_accept, device, init
        As given to :func:`fit`.

    Raises
    ------
    BayescaleError
        Naming the option and what to do instead.

    """
    if method not in METHODS:
        raise BayescaleError(f"unknown method '{method}': choose one of {METHODS}")
    if starts not in STARTS:
        raise BayescaleError(f"starts must be one of {sorted(STARTS)}, not '{starts}'")
    if starts != "epoch" and method != "huber-bootstrap":
        raise BayescaleError("starts= chooses the huber-bootstrap baseline's grid of starts; "
                             "the Bayesian fit has none: drop it, or use "
                             "method='huber-bootstrap'")
    if resamples != RESAMPLES and method != "huber-bootstrap":
        raise BayescaleError("resamples= is the huber-bootstrap baseline's number of bootstrap "
                             "resamples; the Bayesian fit draws from the posterior instead "
                             "(draws=): drop it, or use method='huber-bootstrap'")
    if borrow not in BORROW:
        raise BayescaleError(f"unknown borrow='{borrow}': choose one of {BORROW}")
    if borrow != "prior" and not with_datasets:
        raise BayescaleError(f"borrow='{borrow}' says how the published runs of with_datasets= "
                             "inform your fit, and none are named: add with_datasets= (CLI "
                             "--with), or drop it")
    if method == "huber-bootstrap":
        asked = dict(draws=draws, tune=tune, chains=chains, target_accept=target_accept,
                     device=device, init=init)
        chosen = [name for name, value in asked.items()
                  if value is not None and value != SETTING_DEFAULTS[name]]
        if not isinstance(sampler, str) or sampler != DEFAULT_SAMPLER or chosen:
            given = ", ".join(chosen) if chosen else "sampler"
            raise BayescaleError(f"method='huber-bootstrap' takes no sampler settings ({given}); "
                                 "give resamples= and seed=, or use method='bayes'")
        overrides = [f"{name}=" for name, value in (("priors", priors), ("likelihood",
                     likelihood), ("pooling", pooling)) if value] + (
                     ["discrepancy="] if discrepancy != "learned" else [])
        if overrides:
            raise BayescaleError(f"method='huber-bootstrap' minimises a Huber loss, with no "
                                 f"priors, likelihood, pooling or discrepancy: "
                                 f"{', '.join(overrides)} would be ignored; drop it, or use "
                                 "method='bayes'")
        if with_datasets or split_sources_by is not None:
            given = "with_datasets=" if with_datasets else "split_sources_by="
            raise BayescaleError(f"method='huber-bootstrap' fits one source; {given} needs "
                                 "the Bayesian fit (method='bayes')")
        if spec.law != "chinchilla":
            raise BayescaleError(f"method='huber-bootstrap' is Hoffmann/Epoch's fit of the "
                                 f"Chinchilla law; model '{spec.name}' has the {spec.law} law: "
                                 "use method='bayes' for it")


def _discrepancy(discrepancy: float | str | Mapping[str, float]) -> dict:
    """Return the discrepancy's parts per decade of compute, and where they came from."""
    if isinstance(discrepancy, str):
        if discrepancy != "learned":
            raise BayescaleError(f"discrepancy must be 'learned', a number >= 0 or a dict of "
                                 f"{list(DISCREPANCY_PARTS)}, not '{discrepancy}'")
        return learned_discrepancy() | {
            "origin": "learned from nested held-out fits of the registered data sets "
                      "(models/literature/)"}
    limits = dict.fromkeys(DISCREPANCY_LIMITS, np.inf)
    if isinstance(discrepancy, Mapping):
        known = DISCREPANCY_PARTS + DISCREPANCY_LIMITS
        unknown = sorted(set(discrepancy) - set(known))
        if unknown:
            raise BayescaleError(f"discrepancy has no part(s) {unknown}: give some of "
                                 f"{list(known)}")
        parts = {name: float(discrepancy.get(name, 0.0)) for name in DISCREPANCY_PARTS}
        limits |= {name: float(discrepancy[name]) for name in DISCREPANCY_LIMITS
                   if name in discrepancy}
    else:
        parts = dict.fromkeys(DISCREPANCY_PARTS, 0.0) | {"per_decade": float(discrepancy)}
    for name, value in parts.items():
        if not np.isfinite(value) or (value < 0 and not name.endswith("drift_per_decade")):
            raise BayescaleError(f"discrepancy {name} must be a finite number (>= 0 for a "
                                 f"spread), not {value}")
    for name, value in limits.items():
        if not value > 0:
            raise BayescaleError(f"discrepancy {name} must be a positive number of decades "
                                 f"(inf: no limit), not {value}")
    return parts | limits | {"origin": "given"}


def draw_schedule(sampler: str | Mapping[str, Any] | SamplerSettings, draws: int | None,
                  tune: int | None, keywords: dict[str, Any]) -> list[SamplerSettings]:
    """Return the settings of ``fit(sampler=..., draws=..., tune=..., **keywords)`` in turn.

    With the draws left out (None, and not in ``sampler``), one settings per entry of
    :data:`DEFAULT_DRAWS`, the tuning steps following the draws unless given; the fit samples
    with each until one converges. Otherwise the one settings asked for (tuning steps left out:
    1000).
    """
    given = _given_settings(sampler)
    automatic = draws is None and "draws" not in given
    schedule = []
    for count in DEFAULT_DRAWS if automatic else (draws,):
        steps = count if automatic and tune is None and "tune" not in given else tune
        chosen = keywords | {name: value for name, value in (("draws", count), ("tune", steps))
                             if value is not None}
        schedule.append(sampler_settings(sampler, chosen))
    return schedule


def sampler_settings(sampler: str | Mapping[str, Any] | SamplerSettings,
                     keywords: dict[str, Any]) -> SamplerSettings:
    """Return the settings of ``fit(sampler=..., **keywords)``, refusing contradictions.

    ``sampler`` is a sampler's name, or a mapping (or :class:`SamplerSettings`) of settings;
    ``keywords`` are fit()'s individual sampler keywords. A mapping's fields win over
    keywords left at their defaults; a keyword set to something else that the mapping also
    sets differently is an error (nothing the user typed is silently dropped).
    """
    if isinstance(sampler, str):
        return SamplerSettings(sampler=sampler, **keywords)
    given = _given_settings(sampler)
    unknown = sorted(set(given) - set(SETTING_DEFAULTS))
    if unknown:
        raise BayescaleError(f"sampler settings {unknown} are not sampler settings; give some "
                             f"of {sorted(SETTING_DEFAULTS)}")
    for name, value in keywords.items():
        if name in given and value != SETTING_DEFAULTS[name] and value != given[name]:
            raise BayescaleError(f"{name}={value!r} contradicts the sampler settings' "
                                 f"{name}={given[name]!r}: give it once")
    return SamplerSettings(**(keywords | given))


# The sampled variable whose spread each literature prior entry sets (A and B at the runs'
# reference scales, the exponents on the log scale of their LogNormal priors)
PRIOR_VARIABLES = {"E": "log_E", "A": "log_A_ref", "B": "log_B_ref", "alpha": "alpha",
                   "beta": "beta"}


def leaned_on_record(posterior: xr.Dataset, borrowed: dict) -> dict:
    """Return what a fit under the literature prior took from it.

    :func:`bayescale.fitting.literature.leaned_on` (the published sources its posterior
    resembles, and whether it is unlike them all), and ``prior_share``: per parameter, the
    posterior variance of its log over the prior's, about the prior's share of what the fit
    knows of it (1: all borrowed, 0: all from the runs).
    """
    one = posterior.isel(source=0) if "source" in posterior.dims else posterior
    draws = shape_draws(*(one[name].values for name in ("E", "A", "B", "alpha", "beta")))
    record = leaned_on(draws, borrowed)
    shares = {}
    for name, variable in PRIOR_VARIABLES.items():
        if name in borrowed["priors"] and variable in one:
            values = one[variable].values.ravel()
            values = np.log(values) if name in ("alpha", "beta") else values
            shares[name] = round(float(np.var(values) / borrowed["priors"][name]["sigma"] ** 2),
                                 3)
    return record | {"prior_share": shares}


def _literature_spec(spec: ModelSpec, runs: Runs, names: Sequence[str | Runs],
                     priors: dict) -> tuple[ModelSpec, dict]:
    """Return ``spec`` with the literature prior of ``names`` (user priors win), and its record."""
    if any(not isinstance(name, str) for name in names):
        raise BayescaleError("with_datasets= as loaded runs needs borrow='joint' (the "
                             "literature prior is learned from registered data sets by name)")
    if spec.law != "chinchilla":
        raise BayescaleError(f"the literature prior (borrow='prior') is for the Chinchilla law; "
                             f"model '{spec.name}' has the {spec.law} law: use borrow='joint' "
                             "(CLI --borrow joint)")
    if len(runs.sources) != 1:
        raise BayescaleError(f"the literature prior is for one source of runs; yours have "
                             f"{len(runs.sources)} ({runs.sources}): fit them one at a time, "
                             "or jointly with borrow='joint' (CLI --borrow joint)")
    names = [str(name) for name in names]
    prior = LiteraturePrior.from_table(None if "all" in names else names)
    entries, correlation = prior.for_runs(runs)
    entries = {name: entry for name, entry in entries.items() if name not in priors}
    correlation = restrict_correlation(correlation, entries)
    record = {"datasets": list(prior.datasets), "sources": prior.sources,
              "spread_datasets": list(prior.spread_datasets), "widening": prior.widening,
              "priors": {name: {k: v for k, v in entry.items() if k != "why"}
                         for name, entry in entries.items()},
              "correlation": {k: v for k, v in correlation.items() if k != "why"}}
    return spec.with_overrides(priors=entries, correlation=correlation), record


def _given_settings(sampler: str | Mapping[str, Any] | SamplerSettings) -> dict[str, Any]:
    """Return the settings ``sampler`` sets itself (none for a sampler's name)."""
    if isinstance(sampler, str):
        return {}
    return sampler.to_dict() if isinstance(sampler, SamplerSettings) else dict(sampler)
