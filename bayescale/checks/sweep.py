"""Sweeps of many fits on Dask (``pip install 'bayescale[dask]'``): one result per fit.

:func:`dask_map` runs a function over items on a local cluster (default) or on an existing
scheduler, shows progress, and returns one result per item in order: a failure is returned as
``{"error": ...}`` for that item and loses none of the others. :func:`run_fits` sweeps fits and
gathers their summaries into one xarray Dataset; :func:`bayescale.checks.validate.sbc` and
:func:`prior_sensitivity` take ``run=`` to go through it. :func:`fit_metrics` fits one law
per metric (a loss on each eval set, a downstream error rate) of the same runs.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from bayescale.data import datasets
from bayescale.data.runs import read_table
from bayescale.errors import BayescaleError, ConvergenceWarning, RunsError
from bayescale.fitting.fitter import fit
from bayescale.queries.draws import law_parameters, resolve_source
from bayescale.queries.frontier import compute_optimal

log = logging.getLogger("bayescale")

DEFAULT_WORKERS = 2
SUMMARY_PROBS = (0.05, 0.5, 0.95)


def dask_map(function: Callable, items: Sequence, *, scheduler: str | None = None,
             workers: int = DEFAULT_WORKERS, progress: bool = True) -> list:
    """Apply ``function`` to every item on a Dask cluster; return the results in order.

    Parameters
    ----------
    function : callable
        A picklable function of one item.
    items : sequence
        Its inputs.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); default: a local cluster of
        ``workers`` single-threaded processes, closed afterwards.
    workers : int, default 2
        Workers of the local cluster.
    progress : bool, default True
        Log a line as each item finishes.

    Returns
    -------
    list
        ``function(item)`` per item; ``{"error": "<type>: <message>"}`` for an item whose call
        raised (or whose worker died).

    """
    if importlib.util.find_spec("distributed") is None:
        raise ImportError("Dask sweeps require package(s): distributed — "
                          "pip install 'bayescale[dask]'")
    from distributed import Client, LocalCluster, as_completed

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:
        futures = client.map(function, list(items), pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        results: list = [None] * len(futures)
        for done, future in enumerate(as_completed(futures), start=1):
            i = position[future.key]
            try:
                results[i] = future.result()
            except Exception as error:  # the others go on
                results[i] = {"error": f"{type(error).__name__}: {error}"}
            if progress:
                log.info("bayescale: sweep %d/%d done%s", done, len(futures),
                         " (failed)" if is_failure(results[i]) else "")
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def is_failure(result) -> bool:
    """Say whether ``result``, from :func:`dask_map` or :func:`local_map`, is a failed item."""
    return isinstance(result, dict) and bool(result.get("error"))


def local_map(function: Callable, items: Sequence, progress: bool = False) -> list:
    """Apply ``function`` to every item here, one after another, catching each failure."""
    results = []
    for done, item in enumerate(items, start=1):
        try:
            results.append(function(item))
        except Exception as error:
            results.append({"error": f"{type(error).__name__}: {error}"})
        if progress:
            log.info("bayescale: sweep %d/%d done", done, len(items))
    return results


class FitSummary:
    """Fit one set of options and summarise it (picklable, for Dask workers)."""

    def __init__(self, flops: float, source: str | None = None) -> None:
        self.flops, self.source = flops, source

    def __call__(self, options: Mapping) -> dict:
        """Fit with ``options`` (``runs`` and fit options); return quantiles and diagnostics."""
        options = dict(options)
        runs = options.pop("runs")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as `converged`
            fitted = fit(runs, **options)
            source = self.source if self.source in fitted.sources else None
            params = law_parameters(fitted, source=source)
            law = fitted.spec.law_object
            values = {name: (np.exp(params[law.key(name)]) if name in law.log_scale
                             else params[law.key(name)]) for name in law.parameters}
            if law.optimal_log_params is not None:
                values["N_opt"] = compute_optimal(fitted, [self.flops], source=source,
                                                   discrepancy=False)[
                    "N_opt"].isel(flops=0, drop=True)
        summary = {name: np.quantile(np.asarray(value), SUMMARY_PROBS).tolist()
                   for name, value in values.items()}
        return {"summary": summary, "converged": fitted.converged,
                "diagnostics": fitted.diagnostics, "source": resolve_source(fitted, source)}


def run_fits(tasks: Mapping[str, Mapping], *, flops: float = 1e24, source: str | None = None,
             run: Callable | None = None) -> xr.Dataset:
    """Run many fits and gather their summaries into one Dataset.

    Parameters
    ----------
    tasks : mapping of name to fit options
        Each value holds ``runs`` and any :func:`bayescale.fit` options (``model``, ``priors``,
        ``draws``, ``seed``, ...).
    flops : float, default 1e24
        Budget of the N_opt summary.
    source : str, optional
        The source summarised, where a fit has it (default: each fit's default source).
    run : callable, optional
        ``run(function, items)`` (default :func:`local_map`; :func:`dask_map` for Dask).

    Returns
    -------
    xarray.Dataset
        Over dims ``fit`` and ``quantile`` (5%, 50%, 95%): one variable per law parameter and
        ``N_opt``; ``converged`` and ``error`` (empty, or why the fit failed: its values are
        NaN), ``problems`` (why a fit did not converge: R-hat, ESS, divergences) and
        ``source`` (the source summarised: a fitted one, or a new source) per fit.

    """
    if not tasks:
        raise BayescaleError("give at least one fit to sweep")
    names = list(tasks)
    results = (run or local_map)(FitSummary(flops, source), [tasks[name] for name in names])
    quantities = sorted({q for r in results if not is_failure(r) for q in r["summary"]})
    data = {q: np.full((len(names), len(SUMMARY_PROBS)), np.nan) for q in quantities}
    converged = np.zeros(len(names), dtype=bool)
    errors, summarised, problems = [], [], []
    for i, result in enumerate(results):
        if is_failure(result):
            errors.append(result["error"])
            summarised.append("")
            problems.append("")
            log.warning("bayescale: fit '%s' failed: %s", names[i], result["error"])
            continue
        errors.append("")
        summarised.append(result["source"])
        problems.append("; ".join(result["diagnostics"].get("problems", [])))
        converged[i] = result["converged"]
        for q, values in result["summary"].items():
            data[q][i] = values
    return xr.Dataset(
        {q: (("fit", "quantile"), values) for q, values in data.items()}
        | {"converged": ("fit", converged), "error": ("fit", np.array(errors, dtype=str)),
           "source": ("fit", np.array(summarised, dtype=str)),
           "problems": ("fit", np.array(problems, dtype=str))},
        coords={"fit": names, "quantile": list(SUMMARY_PROBS)}, attrs={"flops": float(flops)})


# The loader option that picks a registered data set's metric (its eval split).
METRIC_OPTION = "eval"


def metric_tasks(data, metrics: Sequence[str], *, columns: Mapping[str, str] | None = None,
                 **options) -> dict[str, dict]:
    """Return one fit's options per metric of the same runs, for :func:`run_fits`.

    Parameters
    ----------
    data : str, path, DataFrame or dict of columns
        A registered data set whose loader has an ``eval`` option (e.g. ``"gadre2024"``: each
        metric is an eval split), or a runs table with one column per metric.
    metrics : sequence of str
        The metrics: eval splits of the data set, or columns of the table. Each is fitted as
        ``loss`` in its own fit. A table's own ``loss`` column, when it is not the metric
        fitted, is kept as metadata under ``"loss (not fitted)"``.
    columns : mapping, optional
        Other column mappings of the table (see :func:`bayescale.as_runs`).
    **options
        Options of every fit (:func:`bayescale.fit`: ``model``, ``draws``, ``seed``, ...).

    Returns
    -------
    dict
        Metric name to fit options (``runs`` and ``options``). A table's values are checked in
        each fit, so a metric with bad values fails alone.

    Raises
    ------
    BayescaleError
        For no metrics, repeated metrics, a data set without an ``eval`` option, or a metric
        that is not one of the table's columns.

    """
    metrics = list(metrics)
    if not metrics or len(set(metrics)) < len(metrics):
        raise BayescaleError(f"give one or more distinct metrics to fit, not {metrics}")
    if isinstance(data, str) and data in datasets.available():
        if columns:
            raise BayescaleError("columns= applies to runs tables, not to registered data sets")
        accepted = datasets.loader_options(data)
        if METRIC_OPTION not in accepted:
            raise BayescaleError(
                f"data set '{data}' has one loss per run (its loader options are "
                f"{accepted or 'none'}): give a table with one column per metric instead")
        return {metric: {"runs": datasets.load(data, **{METRIC_OPTION: metric})} | options
                for metric in metrics}
    frame = read_table(data)
    mapped = dict(columns or {})
    missing = [metric for metric in metrics if metric not in frame.columns]
    if missing:
        raise RunsError(f"metric(s) {missing} are not columns of the runs table; its columns "
                        f"are {list(frame.columns)}")
    tasks = {}
    for metric in metrics:
        table = frame
        if metric != "loss" and "loss" in frame.columns:
            table = frame.rename(columns={"loss": "loss (not fitted)"})
        tasks[metric] = {"runs": table, "columns": mapped | {metric: "loss"}} | options
    return tasks


def fit_metrics(data, metrics: Sequence[str], *, flops: float = 1e24,
                run: Callable | None = None, columns: Mapping[str, str] | None = None,
                **options) -> xr.Dataset:
    """Fit one law per metric of the same runs and gather them into one Dataset.

    Parameters
    ----------
    data, metrics, columns
        The runs and their metrics (see :func:`metric_tasks`). A metric must be positive and
        fall with scale, as losses and error rates do; the named models' priors are set for
        losses in nats, so give ``priors=`` for E, A and B on another metric.
    flops : float, default 1e24
        Budget of the N_opt summary, which is of each fit's default source (the table's one
        source, or a new source where it has several).
    run : callable, optional
        ``run(function, items)`` (default: here, one after another; :func:`dask_map` on Dask).
    **options
        Options of every fit (:func:`bayescale.fit`), a table's ``source`` and
        ``source_col`` included.

    Returns
    -------
    xarray.Dataset
        As :func:`run_fits`, with one ``fit`` per metric.

    """
    tasks = metric_tasks(data, metrics, columns=columns, **options)
    return run_fits(tasks, flops=flops, run=run)
