"""The Fit: a fitted law's posterior, its runs and how it was made, as one DataTree.

A :class:`Fit` is a thin view over one ArviZ ``xarray.DataTree``: posterior, sample_stats,
observed_data, constant_data, log_likelihood, plus a ``runs`` group (the validated runs with their
metadata) and root attributes carrying the model specification, the sampler settings, the
convergence report, the data's sha256 and the package versions. Saving writes that tree to
netCDF; loading reads it back, exactly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.data.records import FORMAT, READABLE_FORMATS
from bayescale.data.runs import NEW_SOURCE, Runs
from bayescale.errors import FitFileError
from bayescale.fitting import fitfile
from bayescale.spec.laws import reference_inputs
from bayescale.spec.model_spec import ModelSpec

# The parts of the law's discrepancy beyond the fitted runs, per decade of compute: spread and
# drift of log loss, spread and drift of log N_opt (bayescale.queries.beyond adds them); and
# how far beyond the fitted runs each grows (decades; past it, no further): loss, allocation.
DISCREPANCY_PARTS = ("per_decade", "drift_per_decade", "allocation_per_decade",
                     "allocation_drift_per_decade")
DISCREPANCY_LIMITS = ("up_to_decades", "allocation_up_to_decades")

log = logging.getLogger("bayescale")

# How a fit can be made: the Bayesian posterior, or the Huber-bootstrap baseline.
METHODS = ("bayes", "huber-bootstrap")


def fitted_range(table: pd.DataFrame) -> dict:
    """Return log10 of the smallest and largest fitted compute, 6ND, overall and per source.

    Compute is 6ND here as in every query, whatever a C column says (another FLOP count would
    put the fitted range and the questions on different scales).
    """
    log10_C = np.log10(6.0 * table["N"].astype(float) * table["D"].astype(float))
    by_source = log10_C.groupby(table["source"].astype(str))
    return {"log10_C_max": float(log10_C.max()), "log10_C_min": float(log10_C.min()),
            "log10_C_max_by_source": {str(k): float(v) for k, v in by_source.max().items()},
            "log10_C_min_by_source": {str(k): float(v) for k, v in by_source.min().items()}}


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
        if tree.attrs.get("bayescale_format") not in READABLE_FORMATS:
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
    def sampler(self) -> dict:
        """How the fit was made, as plain settings.

        For a Bayesian fit the fields of :class:`bayescale.inference.settings.SamplerSettings`
        (sampler, draws, tune, chains, seed, target_accept, device asked for, init); for the
        Huber-bootstrap baseline its own (method, resamples, seed, delta, grid_starts, maxiter).
        """
        return json.loads(self.tree.attrs["sampler"])

    @property
    def device(self) -> str:
        """Where the fit ran: ``"cpu"`` or ``"gpu"`` (the baseline always runs on the CPU)."""
        return str(self.tree.attrs.get("device", "cpu"))

    @property
    def diagnostics(self) -> dict:
        """The convergence report (R-hat, ESS, divergences, problems, converged)."""
        return json.loads(self.tree.attrs["diagnostics"])

    @property
    def discrepancy(self) -> dict:
        """How answers beyond the fitted runs move and widen (:mod:`bayescale.queries.beyond`).

        Per decade of compute beyond the largest fitted run of the source asked about:
        ``per_decade`` and ``drift_per_decade`` (standard deviation and mean added to log
        loss), ``allocation_per_decade`` and ``allocation_drift_per_decade`` (the same for log
        N_opt); ``up_to_decades`` and ``allocation_up_to_decades`` (the distance beyond which
        each grows no further: the farthest it was learned from); ``log10_C_max`` and
        ``log10_C_min`` (log10 of the largest and smallest fitted compute, 6ND),
        ``log10_C_max_by_source``, ``log10_C_min_by_source`` and ``origin``. Parts a fit
        does not record are 0: fits without the setting (the Huber baseline, older files) add
        none.
        """
        stored = json.loads(self.tree.attrs.get("discrepancy", "{}"))
        defaults = (dict.fromkeys(DISCREPANCY_PARTS, 0.0)
                    | dict.fromkeys(DISCREPANCY_LIMITS, np.inf) | {"origin": "none"})
        if "log10_C_min_by_source" not in stored:  # older files, the Huber baseline
            frame = self.tree["runs"].to_dataset()[["source", "N", "D"]].to_dataframe()
            stored = stored | fitted_range(frame)
        return defaults | stored

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
            bulk and tail ESS and R-hat. With several sources, the pooled parameters' rows are
            labelled ``E (centre of sources)`` (the centre the sources' offsets spread around,
            no source's law) and each source's own values follow as ``E[source]``.

        """
        from bayescale.fitting.summary import parameter_table

        names = [name for name in (*self.spec.law_object.parameters, "nu", "sigma")
                 if name in self.posterior]
        # Kept by the fit when it was sampled; else measured now (ArviZ, seconds to import).
        kept = self.tree["convergence"].to_dataset() if "convergence" in self.tree else None
        table = parameter_table(self.posterior[names], prob=prob, diagnostics=kept)
        pooled = [name for name in self.spec.pooled_parameters if name in table.index]
        if len(self.sources) < 2 or not pooled:
            return table
        # Several sources: the pooled parameters' rows above are the centre of the sources,
        # not any source's law; each source's own values follow them.
        table = table.rename(index={name: f"{name} (centre of sources)" for name in pooled})
        return pd.concat([table, self._per_source_rows(pooled, prob, kept)])

    def source_parameters(self, source: str) -> dict[str, xr.DataArray]:
        """Return a fitted source's law parameters per draw, in raw units (dims chain, draw).

        The law's ``to_raw`` of that source's sampled draws: for the Chinchilla law ``log_E``,
        ``log_A``, ``log_B``, ``alpha``, ``beta``. :func:`bayescale.queries.draws.
        law_parameters` adds the noise, a new source and what answers need.
        """
        law = self.spec.law_object
        sampled = {name: self.posterior[f"{law.sampled_name(name)}_source"].sel(
            source=source, drop=True) for name in law.parameters}
        return law.to_raw(sampled, self.reference_scales)

    def _per_source_rows(self, names: list[str], prob: float,
                         kept: xr.Dataset | None) -> pd.DataFrame:
        """Median and interval of each source's own pooled parameters, in raw units."""
        law = self.spec.law_object
        rows = {}
        for source in self.sources:
            raw = self.source_parameters(source)
            for name in names:
                values = np.asarray(np.exp(raw[f"log_{name}"]) if f"log_{name}" in raw
                                    else raw[name]).ravel()
                low, median, high = np.quantile(values, [(1 - prob) / 2, 0.5, (1 + prob) / 2])
                variable = f"{law.sampled_name(name)}_source"  # the sampled variable behind it
                diagnostics = {} if kept is None or variable not in kept else {
                    column: float(kept[variable].sel(source=source, diagnostic=column))
                    for column in ("ess_bulk", "ess_tail", "r_hat")}
                rows[f"{name}[{source}]"] = {"median": median, "lo": low, "hi": high,
                                             **diagnostics}
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_arviz(self, predictive: bool = True, log_prior: bool = True,
                 seed: int = 0) -> xr.DataTree:
        """Return the fit as ArviZ expects it, with the groups its checks need.

        ``az.summary(fit.to_arviz())``, ``az.loo``, ``az.plot_ppc_pit``, ``az.plot_loo_pit``
        and ``az.psense_summary`` work on it directly. It holds the ``posterior``,
        ``sample_stats``, ``observed_data`` (each run's log loss) and ``log_likelihood`` groups,
        ``constant_data`` with each run's N, D, C and source (not the model's internal layout),
        and, computed here, ``posterior_predictive`` (each run's log loss drawn with its noise
        at every posterior draw) and ``log_prior``. ArviZ's functions take
        :class:`xarray.DataTree` objects, not a Fit: use this, or ``fit.tree`` for the raw
        stored tree.

        Parameters
        ----------
        predictive : bool, default True
            Compute the ``posterior_predictive`` group.
        log_prior : bool, default True
            Compute the ``log_prior`` group (each free variable's prior log density per
            draw, for ``az.psense_summary``).
        seed : int, default 0
            Seed of the predictive draws.

        Returns
        -------
        xarray.DataTree
            A new tree; the fit is unchanged.

        """
        if self.method != "bayes":
            raise FitFileError(f"the {self.method} baseline has bootstrap estimates, not a "
                               "posterior of a model: ArviZ's checks need a Bayesian fit")
        key = (predictive, log_prior, seed)
        cached = self.__dict__.setdefault("_arviz", {})
        if key not in cached:  # drawn once per fit and settings (1.5 s), then copied
            cached[key] = self._arviz_tree(predictive, log_prior, seed)
        return cached[key].copy(deep=True)

    def _arviz_tree(self, predictive: bool, log_prior: bool, seed: int) -> xr.DataTree:
        """Build :meth:`to_arviz`'s tree (PyMC's "Sampling: ..." note kept out of the log)."""
        from bayescale.inference.model import build_model

        table = self.runs.table
        groups = {name: self.tree[name].to_dataset() for name in
                  ("posterior", "sample_stats", "observed_data", "log_likelihood")
                  if name in self.tree}
        groups["constant_data"] = xr.Dataset(
            {name: ("run", table[name].to_numpy()) for name in ("N", "D", "C", "source")},
            coords={"run": groups["observed_data"]["run"].values})
        tree = xr.DataTree.from_dict(groups)
        tree.attrs = {"bayescale_fit": repr(self)}
        model = build_model(self.runs, self.spec)
        pymc_log = logging.getLogger("pymc")
        level = pymc_log.level
        pymc_log.setLevel(max(level, logging.WARNING))
        try:
            self._add_arviz_groups(tree, model, predictive, log_prior, seed)
        finally:
            pymc_log.setLevel(level)
        return tree

    @staticmethod
    def _add_arviz_groups(tree: xr.DataTree, model, predictive: bool, log_prior: bool,
                          seed: int) -> None:
        import pymc as pm

        from bayescale.inference.pointwise import derived

        with model:
            if "log_likelihood" not in tree:
                tree["log_likelihood"] = xr.DataTree(derived(
                    model, tree["posterior"].to_dataset(), deterministics=False)[1])
            if log_prior:
                pm.stats.compute_log_prior(tree, progressbar=False)
            if predictive:
                drawn = pm.sample_posterior_predictive(tree, random_seed=seed,
                                                       progressbar=False,
                                                       var_names=["log_loss"])
                tree["posterior_predictive"] = drawn["posterior_predictive"]

    def _repr_html_(self) -> str:
        """Return a notebook's view: what was fitted and how, and the parameters' summary."""
        import html

        table = self.parameter_summary() if self.method == "bayes" else pd.DataFrame(
            self.point_estimate or {}, index=["point estimate"]).T
        return (f"<p><b>{html.escape(repr(self))}</b></p>"
                + table.to_html(float_format=lambda value: f"{value:.4g}"))

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
        result = cls(fitfile.read(path))
        try:  # what every query reads first; a file missing any of it is not a whole fit
            _ = (result.spec, result.sampler, result.diagnostics, result.provenance,
                 result.tree["runs"].sizes["row"],
                 result.sources if result.method == "bayes" else None)
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise FitFileError(f"'{path}' is not a complete bayescale fit ({type(error).__name__}"
                               f": {' '.join(str(error).split())[:120]}): refit, or restore it "
                               "from a copy") from None
        return result

    def __repr__(self) -> str:
        sampler = self.sampler
        status = "converged" if self.converged else "NOT CONVERGED: " + "; ".join(
            self.diagnostics["problems"])
        if self.method != "bayes":
            how = (f"{self.method}, {sampler['resamples']} resamples, seed {sampler['seed']}")
        else:
            how = (f"{sampler['chains']} chains x {sampler['draws']} draws "
                   f"({sampler['sampler']}, seed {sampler['seed']})")
        leaned = self.leaned_on
        borrowed = "" if leaned is None else (
            f"; borrowing from {self.provenance['literature_prior']['sources']} published "
            "sources, nearest " + ", ".join(f"{name} ({weight:.0%})" for name, weight in
                                            list(leaned["datasets"].items())[:2])
            + (" (UNLIKE ALL)" if leaned["unusual"] else ""))
        return (f"<bayescale.Fit {self.spec.name}: {self.tree['runs'].sizes['row']} runs, "
                f"{len(self.sources)} source(s){borrowed}; {how}; {status}>")

    @property
    def leaned_on(self) -> dict | None:
        """What a fit under the literature prior took from the published sources, else None.

        ``nearest`` (the published sources whose law shapes the posterior resembles, with
        weights), ``datasets`` (the weights per data set), ``distance`` and
        ``typical_distance`` (from the prior's centre), ``unusual`` (farther than 95% of the
        published sources: borrowing is then no evidence about these runs) and ``prior_share``
        (per parameter, posterior over prior variance). See
        :func:`bayescale.fitting.literature.leaned_on`.
        """
        return self.provenance.get("literature_prior", {}).get("leaned_on")


load_fit = Fit.load
