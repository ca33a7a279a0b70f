"""Fit a scaling law to runs, and the Fit object that holds the result.

A :class:`Fit` is a thin view over one ArviZ ``xarray.DataTree``: posterior, sample_stats,
observed_data, constant_data, log_likelihood, plus a ``runs`` group (the validated runs with their
metadata) and root attributes carrying the model specification, the sampler settings, the
convergence report, the data's sha256 and the package versions. Saving writes that tree to
netCDF; loading reads it back, exactly.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale import datasets, fitfile
from bayescale.errors import BayescaleError, FitFileError, RunsError, RunsWarning
from bayescale.laws import reference_inputs
from bayescale.model import build_model, identification_problems, reference_scales
from bayescale.runs import Runs, as_runs, combine_runs
from bayescale.sampling import (
    DEFAULT_SAMPLER,
    SamplerSettings,
    convergence_report,
    sample,
    warn_if_unconverged,
)
from bayescale.spec import ModelSpec, load_spec

log = logging.getLogger("bayescale")

FORMAT = "bayescale-fit/1"
PACKAGES = ("bayescale", "pymc", "pytensor", "arviz", "numpy", "pandas", "xarray", "nutpie")
METHODS = ("bayes", "huber-bootstrap")
BORROW = ("prior", "joint")


class Fit:
    """The posterior of a scaling law fitted to runs.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit's tree, as made by :func:`fit` or read by :meth:`load`.

    Notes
    -----
    Use :func:`bayescale.compute_optimal` and :func:`bayescale.predict` to query it.

    """

    def __init__(self, tree: xr.DataTree) -> None:
        if tree.attrs.get("bayescale_format") != FORMAT:
            raise FitFileError("this DataTree was not made by bayescale.fit (no "
                               f"'bayescale_format = {FORMAT}' attribute)")
        self.tree = tree

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws (dims chain, draw, ...)."""
        return self.tree["posterior"].to_dataset()

    @property
    def method(self) -> str:
        """``"bayes"`` (a PyMC posterior) or ``"huber-bootstrap"`` (the classical baseline)."""
        return str(self.tree.attrs.get("method", "bayes"))

    @property
    def point_estimate(self) -> dict | None:
        """The baseline's full-data optimum (A, B, E, alpha, beta); None for a Bayesian fit."""
        return self.diagnostics.get("point_estimate")

    @property
    def spec(self) -> ModelSpec:
        """The model specification that was fitted."""
        return ModelSpec.from_json(self.tree.attrs["spec"])

    @property
    def sampler(self) -> SamplerSettings | dict:
        """Sampler name, draws, tuning, chains, seed and target acceptance.

        For the Huber-bootstrap baseline: a dict of its settings (resamples, seed, delta).
        """
        settings = json.loads(self.tree.attrs["sampler"])
        return settings if self.method != "bayes" else SamplerSettings(**settings)

    @property
    def diagnostics(self) -> dict:
        """The convergence report (R-hat, ESS, divergences, problems, converged)."""
        return json.loads(self.tree.attrs["diagnostics"])

    @property
    def discrepancy(self) -> dict:
        """How predictions beyond the fitted runs widen.

        ``per_decade`` (standard deviation of log loss added per decade of compute beyond the
        fitted runs), ``log10_C_max`` (log10 of the largest fitted compute) and ``origin``;
        fits without the setting (the Huber baseline, older files) add none.
        """
        if "discrepancy" in self.tree.attrs:
            return json.loads(self.tree.attrs["discrepancy"])
        log10_C_max = float(np.log10(np.max(self.tree["runs"]["C"].values)))
        return {"per_decade": 0.0, "origin": "none", "log10_C_max": log10_C_max}

    @property
    def converged(self) -> bool:
        """Whether R-hat, bulk and tail ESS and divergences all met their thresholds."""
        return bool(self.diagnostics["converged"])

    @property
    def provenance(self) -> dict:
        """Package versions, data sha256, creation time and notes on the runs."""
        return json.loads(self.tree.attrs["provenance"])

    @property
    def runs(self) -> Runs:
        """The runs that were fitted (with their metadata), as validated."""
        table = self.tree["runs"].to_dataset().to_dataframe()
        excluded = (self.tree["excluded_runs"].to_dataset().to_dataframe()
                    if "excluded_runs" in self.tree.children else pd.DataFrame())
        provenance = self.provenance
        return Runs(table=table, excluded=excluded, notes=tuple(provenance["runs_notes"]),
                    conventions=provenance.get("conventions", {}))

    @property
    def sources(self) -> list[str]:
        """The fitted sources."""
        return [str(name) for name in self.posterior["source"].values]

    @property
    def user_sources(self) -> list[str]:
        """Your own runs' sources in a joint fit with published data sets (else empty)."""
        return list(self.provenance.get("user_sources", []))

    @property
    def default_source(self) -> str:
        """The source that queries use when none is named.

        Your own runs' source in a joint fit with published data (when they are one source),
        the only source of a one-source fit, and otherwise ``bayescale.NEW_SOURCE``.
        """
        from bayescale.posterior import NEW_SOURCE

        if len(self.user_sources) == 1:
            return self.user_sources[0]
        if len(self.sources) == 1:
            return self.sources[0]
        return NEW_SOURCE

    @property
    def reference_scales(self) -> dict[str, float]:
        """Log reference scale of each law input (N, D, U, C, M) the model measured from."""
        constant = self.tree["constant_data"]
        return reference_inputs(*(float(constant[f"log_{name}0"]) for name in ("N", "D", "C")))

    def parameter_summary(self, prob: float = 0.94) -> pd.DataFrame:
        """Return median and a central credible interval of the law's parameters and noise.

        Parameters
        ----------
        prob : float, default 0.94
            Probability mass of the equal-tailed interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (per source for per-source ones) with median, lower, upper,
            bulk and tail ESS and R-hat.

        """
        from bayescale.summary import parameter_table

        names = [name for name in (*self.spec.law_object.parameters, "nu", "sigma")
                 if name in self.posterior]
        return parameter_table(self.posterior[names], prob=prob)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the fit to a netCDF file; :meth:`load` reads it back exactly.

        The file is written beside the target and renamed into place only when complete, with
        a SHA-256 digest of its contents that :meth:`load` checks.

        Parameters
        ----------
        path : str or pathlib.Path
            Where to write (conventionally ``*.nc``).
        overwrite : bool, default False
            Replace an existing file; without it an existing file is an error.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        FitFileError
            If the path exists (and not ``overwrite``), is a directory or cannot be written.

        """
        return fitfile.write(self.tree, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> Fit:
        """Read a fit written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            The netCDF file.

        Returns
        -------
        Fit
            The fit.

        Raises
        ------
        FitFileError
            If the file is missing, unreadable, damaged or edited since it was saved.

        """
        return cls(fitfile.read(path))

    def __repr__(self) -> str:
        sampler = self.sampler
        status = "converged" if self.converged else "NOT CONVERGED: " + "; ".join(
            self.diagnostics["problems"])
        if self.method != "bayes":
            how = (f"{self.method}, {sampler['resamples']} resamples, seed {sampler['seed']}")
        else:
            how = (f"{sampler.chains} chains x {sampler.draws} draws ({sampler.sampler}, seed "
                   f"{sampler.seed})")
        return (f"<bayescale.Fit {self.spec.name}: {self.tree['runs'].sizes['row']} runs, "
                f"{len(self.sources)} source(s); {how}; {status}>")


def fit(
    runs: Any,
    *,
    method: str = "bayes",
    resamples: int = 4000,
    with_datasets: Sequence[str | Runs] = (),
    borrow: str = "prior",
    discrepancy: float | str = "learned",
    split_sources_by: str | Sequence[str] | None = None,
    model: str | Path | ModelSpec = "chinchilla",
    priors: dict | None = None,
    likelihood: str | None = None,
    pooling: dict | None = None,
    sampler: str = DEFAULT_SAMPLER,
    draws: int = 1000,
    tune: int = 1000,
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
    runs : DataFrame, dict, path or Runs
        The runs (see :func:`bayescale.as_runs` for the columns).
    method : {"bayes", "huber-bootstrap"}, default "bayes"
        ``bayes``: the PyMC posterior. ``huber-bootstrap``: the classical Hoffmann/Epoch fit
        (Huber loss, L-BFGS-B from a grid, bootstrap intervals; see
        :mod:`bayescale.baseline`), returned as a Fit whose draws are the bootstrap estimates;
        sampler settings and priors do not apply to it.
    resamples : int, default 4000
        Bootstrap resamples of the ``huber-bootstrap`` method (``seed`` seeds them).
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
        spread as widely as all registered sources differ (:mod:`bayescale.literature`; it
        costs no more than a fit alone). Measured by the
        leave-one-data-set-out benchmark (``benchmarks/transfer.py``), it helps most when
        you have few runs and does not hurt when you have many. Priors you give in
        ``priors=`` override it. ``"joint"``: the published runs are fitted with yours, each
        source with its own offsets and, by default, shared exponents.
    discrepancy : float or "learned", default "learned"
        Standard deviation of log loss added per decade of compute by which a prediction
        lies beyond the fitted runs (the law's misspecification, on top of its parameter
        uncertainty and noise; :func:`bayescale.predict`). ``"learned"``: the value learned by
        nested held-out fits of the published runs
        (:func:`bayescale.literature.discrepancy_per_decade`); 0 turns it off.
    split_sources_by : str or sequence of str, optional
        Columns of your runs whose values become part of the source (see
        :meth:`bayescale.Runs.split_by`), e.g. a column saying how N or C was counted: each
        convention then gets its own offsets instead of being mixed in one source.
    model : str, path or ModelSpec, default "chinchilla"
        A named model from ``models/``, a TOML file, or a specification.
    priors, likelihood, pooling : optional
        Overrides of the model's priors, likelihood and pooling (see :func:`load_spec`).
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, default "nutpie"
        The NUTS implementation (numpyro and blackjax: ``pip install 'bayescale[jax]'``).
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains.
    seed : int, default 0
        Random seed; the same seed gives identical draws.
    target_accept : float, default 0.9
        NUTS target acceptance rate (raise it if there are divergences).
    device : {"auto", "cpu", "gpu"}, default "auto"
        Where a JAX sampler runs: ``"auto"`` uses a GPU when JAX sees one; ``"gpu"`` without
        one falls back to the CPU with a message. The chains run vectorised on a GPU, so many
        chains (``chains=64`` to ``1024``) cost little more than a few. The fit records the
        device in ``fit.tree.attrs["device"]``.
    init : {"adapt", "laplace"}, default "adapt"
        How the chains start. ``"adapt"``: the sampler's own initialisation and mass-matrix
        adaptation. ``"laplace"`` (samplers ``pymc`` and ``numpyro``): from draws of the
        Laplace approximation (the posterior mode and the inverse Hessian there, see
        :mod:`bayescale.laplace`), whose covariance is then the fixed dense mass matrix, so
        tuning only adapts the step size; a few hundred tuning steps suffice. Measured to make
        fits of many sources far faster (docs/speed.md).
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
    if method not in METHODS:
        raise BayescaleError(f"unknown method '{method}': choose one of {METHODS}")
    if method == "huber-bootstrap":
        from bayescale.baseline import huber_bootstrap

        runs = as_runs(runs, **runs_options)
        if with_datasets:
            raise BayescaleError("method='huber-bootstrap' fits one source; with_datasets= "
                                 "needs the Bayesian fit (method='bayes')")
        if spec.law != "chinchilla":
            raise BayescaleError(f"method='huber-bootstrap' is Hoffmann/Epoch's fit of the "
                                 f"Chinchilla law; model '{spec.name}' has the {spec.law} law: "
                                 "use method='bayes' for it")
        log.info("bayescale: Huber-bootstrap baseline on %d runs (%d resamples)", len(runs),
                 resamples)
        return huber_bootstrap(runs, resamples=resamples, seed=seed, spec=spec)
    settings = SamplerSettings(sampler=sampler, draws=draws, tune=tune, chains=chains,
                               seed=seed, target_accept=target_accept, device=device,
                               init=init)
    runs = as_runs(runs, **runs_options)
    if split_sources_by is not None:
        runs = runs.split_by(split_sources_by)
    tau, tau_origin = _discrepancy(discrepancy)
    borrowed = None
    if borrow not in BORROW:
        raise BayescaleError(f"unknown borrow='{borrow}': choose one of {BORROW}")
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
    # Fits that differ only in their runs share a structure, and so one compiled model.
    structure = f"{spec.to_json()}|sources={len(runs.sources)}"
    tree = sample(build_model(runs, spec), settings, progressbar=progressbar, structure=structure,
                  log_likelihood=log_likelihood)

    report = convergence_report(tree)
    tree["runs"] = xr.DataTree(table_to_dataset(runs.table))
    if not runs.excluded.empty:
        tree["excluded_runs"] = xr.DataTree(table_to_dataset(runs.excluded))
    tree.attrs.update({
        "bayescale_format": FORMAT,
        "spec": spec.to_json(),
        "sampler": json.dumps(settings.to_dict()),
        "diagnostics": json.dumps(report),
        "provenance": json.dumps(provenance(runs, user_sources) | (
            {"literature_prior": borrowed} if borrowed else {})),
        "discrepancy": json.dumps({"per_decade": tau, "origin": tau_origin,
                                   "log10_C_max": float(np.log10(runs.table["C"].max()))}),
    })
    warn_if_unconverged(report, n_sources=len(runs.sources), init=settings.init)
    return Fit(tree)


def _discrepancy(discrepancy: float | str) -> tuple[float, str]:
    """Return the discrepancy's growth per decade of compute and where it came from."""
    if isinstance(discrepancy, str):
        if discrepancy != "learned":
            raise BayescaleError(f"discrepancy must be a number >= 0 or 'learned', not "
                                 f"'{discrepancy}'")
        from bayescale.literature import discrepancy_per_decade

        return discrepancy_per_decade(), ("learned from nested held-out fits of the registered "
                                          "data sets (models/literature/)")
    value = float(discrepancy)
    if not (np.isfinite(value) and value >= 0):
        raise BayescaleError(f"discrepancy must be a number >= 0 or 'learned', not {discrepancy}")
    return value, "given"


def _literature_spec(spec: ModelSpec, runs: Runs, names: Sequence[str | Runs],
                     priors: dict) -> tuple[ModelSpec, dict]:
    """Return ``spec`` with the literature prior of ``names`` (user priors win), and its record."""
    from bayescale.literature import LiteraturePrior

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
    entries = prior.priors(runs)
    entries = {name: entry for name, entry in entries.items() if name not in priors}
    record = {"datasets": list(prior.datasets), "sources": prior.sources,
              "spread_datasets": list(prior.spread_datasets), "widening": prior.widening,
              "priors": {name: {k: v for k, v in entry.items() if k != "why"}
                         for name, entry in entries.items()}}
    return spec.with_overrides(priors=entries), record


def provenance(runs: Runs, user_sources: Sequence[str] = ()) -> dict:
    """Return what a fit records about its data: hash, notes, conventions, versions, time."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_sha256": runs.digest(),
        "runs_notes": list(runs.notes),
        "conventions": runs.conventions,
        "user_sources": list(user_sources),
        "versions": package_versions(),
    }


def package_versions() -> dict[str, str]:
    """Return the installed versions of bayescale and the packages a fit depends on."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def table_to_dataset(table: pd.DataFrame) -> xr.Dataset:
    """Store a runs table as a Dataset over dim ``row``; text columns as fixed strings."""
    table = table.copy()
    for name in table.columns:
        if not (pd.api.types.is_numeric_dtype(table[name])
                or pd.api.types.is_bool_dtype(table[name])):
            table[name] = table[name].astype(str).to_numpy(dtype=str)
    return xr.Dataset.from_dataframe(table)
