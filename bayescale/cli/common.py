"""What the command line's groups share: argument groups, runs loading, table and JSON output."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bayescale.errors import BayescaleError
from bayescale.inference.settings import DEFAULT_SAMPLER, INITS, SAMPLERS

if TYPE_CHECKING:
    import pandas as pd

    from bayescale.fitting.result import Fit

PRIOR_PATTERN = re.compile(r"^(\w+)=(\w+)\((.*)\)$")


# Numbers on the command line: each option's type refuses what cannot be meant (nan, inf, a
# negative budget, a probability of 2), naming the option, before any work.
SMALLEST_MODEL = 1e5  # parameters; bayescale.data.runs.SMALLEST_PLAUSIBLE


def _number(text: str, check, what: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not {'an integer' if kind is int else 'a number'}") from None
    if not (math.isfinite(value) and check(value)):
        raise argparse.ArgumentTypeError(f"'{text}' is not {what}")
    return value


def finite_number(text: str) -> float:
    """Parse an argument that must be a finite number (not nan or inf)."""
    return _number(text, lambda value: True, "a finite number")


def positive_number(text: str) -> float:
    """Parse an argument that must be a finite number > 0 (a budget, a size, a loss)."""
    return _number(text, lambda value: value > 0, "a finite number > 0")


def nonnegative_number(text: str) -> float:
    """Parse an argument that must be a finite number >= 0 (a spread)."""
    return _number(text, lambda value: value >= 0, "a finite number >= 0")


def probability(text: str) -> float:
    """Parse an argument that must lie strictly between 0 and 1 (a probability, a share)."""
    return _number(text, lambda value: 0 < value < 1, "a number between 0 and 1 (e.g. 0.9)")


def model_size(text: str) -> float:
    """Parse a number of parameters no smaller than any language model's."""
    return _number(text, lambda value: value >= SMALLEST_MODEL,
                   f"a number of parameters >= {SMALLEST_MODEL:.0e} (raw counts: 7e9 for 7B)")


def positive_int(text: str) -> int:
    """Parse an argument that must be an integer >= 1 (draws, chains, simulations)."""
    return _number(text, lambda value: value >= 1, "an integer >= 1", kind=int)


def nonnegative_int(text: str) -> int:
    """Parse an argument that must be an integer >= 0 (a random seed, tuning steps)."""
    return _number(text, lambda value: value >= 0, "an integer >= 0", kind=int)


def runs_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments that name a runs table and how to read it."""
    p.add_argument("runs", help="a .csv or .parquet runs table, or a registered data set name "
                                "(see 'bayescale datasets')")
    p.add_argument("--column", action="append", default=[], metavar="YOURS=OURS",
                   help="map a column name, e.g. --column 'Model Size=N' (repeatable)")
    p.add_argument("--source-col", help="column naming each run's source")
    p.add_argument("--source", help="one source name for all runs (default 'runs')")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a data-set loader option, e.g. --option drop_outliers=false")
    p.add_argument("--with", dest="with_datasets", nargs="+", default=[], metavar="DATASET",
                   help="borrow strength from these registered data sets (e.g. --with "
                        "epoch-chinchilla gadre2024, or --with all); how: see --borrow")
    p.add_argument("--borrow", choices=["prior", "joint"], default="prior",
                   help="prior (default): fit your runs alone under the literature prior "
                        "learned from the --with data sets (measured best; costs no more than "
                        "a fit alone); joint: fit the published runs with yours, each source "
                        "with its own offsets")
    p.add_argument("--with-option", action="append", default=[], metavar="DATASET:KEY=VALUE",
                   help="a loader option of a --with data set, e.g. gadre2024:eval=openlm")
    p.add_argument("--unusual-units", action="store_true",
                   help="accept a runs file whose values look like the wrong unit (N or D "
                        "below 1e5, D < N on every row, a loss outside 0.3-20 nats/token)")
    p.add_argument("--split-by", nargs="+", metavar="COLUMN",
                   help="make these columns' values part of each run's source (e.g. a column "
                        "saying how N was counted), so each value gets its own offsets")


def sampler_arguments(p: argparse.ArgumentParser, retry: bool = False) -> None:
    """Add the sampler's arguments (sampler, draws, chains, seed, device, init).

    ``retry``: the draws and tuning steps default to None, the fit's own schedule (1000, and
    2000, then 4000, while it has not converged; :data:`bayescale.fitting.fitter.DEFAULT_DRAWS`);
    otherwise to 1000 each.
    """
    p.add_argument("--sampler", choices=sorted(SAMPLERS), default=DEFAULT_SAMPLER,
                   help="NUTS implementation (numpyro and blackjax need the jax extra)")
    draws_help, tune_help = (
        ("draws per chain (default: 1000, and again with 2000, then 4000, while the fit "
         "has not converged)",
         "tuning steps per chain (default: 1000; with --draws left out, as many as the draws)")
        if retry else ("draws per chain", "tuning steps per chain"))
    p.add_argument("--draws", type=positive_int, default=None if retry else 1000, help=draws_help)
    p.add_argument("--tune", type=nonnegative_int, default=None if retry else 1000, help=tune_help)
    p.add_argument("--chains", type=positive_int, default=4, help="chains")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    p.add_argument("--target-accept", type=probability, default=0.9,
                   help="NUTS target acceptance rate (raise it if the fit has divergences)")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                   help="where a JAX sampler (numpyro, blackjax) runs; gpu falls back to the "
                        "CPU with a message when JAX sees none")
    p.add_argument("--init", choices=list(INITS), default="adapt",
                   help="laplace: start the chains from the Laplace approximation, with its "
                        "covariance as a dense mass matrix (samplers pymc, numpyro); much "
                        "faster on many sources")


def sampler_options(args) -> dict:
    """Return the sampler arguments as keywords of :func:`bayescale.fit`."""
    return dict(sampler=args.sampler, draws=args.draws, tune=args.tune, chains=args.chains,
                seed=args.seed, target_accept=args.target_accept, device=args.device,
                init=args.init, split_sources_by=getattr(args, "split_by", None))


PROB = 0.94  # the queries' default credible interval mass


def query_options(p: argparse.ArgumentParser, interval: bool = True) -> None:
    """Add the arguments the queries of a fit take (source, interval, seed, JSON).

    ``interval``: the query reports credible intervals (``--prob``, ``--hdi``); those that
    report fixed quantiles (``plan``, ``forecast``) do not take them.
    """
    which = p.add_mutually_exclusive_group()
    which.add_argument("--source", help="a fitted source (default: your own source in a joint "
                                        "fit, the only source, or else a new source)")
    which.add_argument("--new-source", action="store_true",
                       help="a source not in the fit: integrate over the spread between sources")
    if interval:
        p.add_argument("--prob", type=probability, default=PROB, help="credible interval mass")
        p.add_argument("--hdi", action="store_true",
                       help="highest-density instead of equal-tailed")
    p.add_argument("--seed", type=nonnegative_int,
                   help="seed of the query's random draws (a new source's offsets, observation "
                        "noise, the discrepancy beyond the fitted runs, compute growth); refused "
                        "by a query that draws none (default: 0)")
    p.add_argument("--json", action="store_true", help="print JSON")


def query_seed(args, result: Fit, draws: bool = False) -> int:
    """Return the seed of a query's random draws; refuse ``--seed`` where it draws none.

    Parameters
    ----------
    args : argparse.Namespace
        The query's arguments (``--seed`` left out: None).
    result : Fit
        The fit it asks.
    draws : bool, default False
        Whether the query draws at random whatever the source (observation noise, a
        prediction's discrepancy beyond the fitted runs, simulated outcomes, compute growth).
        A query of a new source always draws: the new source's offsets.

    Returns
    -------
    int
        ``--seed``, or 0 when it was left out.

    Raises
    ------
    ValueError
        ``--seed`` was given to a query whose answer does not depend on it.

    """
    from bayescale.data.runs import NEW_SOURCE
    from bayescale.queries.draws import resolve_source

    if args.seed is None:
        return 0
    source = resolve_source(result, chosen_source(args))
    if not draws and source != NEW_SOURCE:
        raise ValueError(f"--seed seeds a query's random draws, and this query of source "
                         f"'{source}' draws nothing at random (its answer is the same for every "
                         "seed): drop --seed")
    return args.seed


def runs_from(args, load_with: bool = True):
    """Load the runs of ``args`` (and the --with data sets, unless told not to)."""
    options = dict(column=args.column, source_col=args.source_col, source=args.source)
    if args.unusual_units:
        options["check_units"] = False
    runs = load_runs(args.runs, args.option, options)
    if not load_with:
        return runs
    return runs, load_with_datasets(args.with_datasets, args.with_option)


def load_runs(name: str, loader_options: list[str], options: dict):
    """Load a runs file or a registered data set, with loader and table options."""
    from bayescale.data import datasets

    columns = key_values(options.pop("column"), "--column", unique_values=True)
    if Path(name).exists() or Path(name).suffix.lower() in (".csv", ".parquet"):
        if loader_options:
            raise ValueError("--option applies to registered data sets only")
        from bayescale.data.runs import as_runs

        return as_runs(Path(name), columns=columns, **options)
    if name not in datasets.available():
        raise BayescaleError(f"'{name}' is neither a runs file nor a registered data set "
                             f"({', '.join(datasets.available())})")
    if columns or any(options.values()) or "check_units" in options:
        raise ValueError("--column, --source-col, --source and --unusual-units apply to runs "
                         "files only")
    parsed = {key: literal_value(value) for key, value in
              key_values(loader_options, "--option").items()}
    return datasets.load(name, **parsed)


def load_with_datasets(names: list[str], items: list[str]) -> list:
    """Load the --with data sets, each with its --with-option settings."""
    from bayescale.data import datasets

    options: dict[str, dict] = {name: {} for name in names}
    for item in items:
        name, sep, rest = item.partition(":")
        if not sep or name not in options:
            raise ValueError(f"--with-option '{item}' must look like DATASET:KEY=VALUE with "
                             f"DATASET one of the --with data sets ({', '.join(names) or 'none'})")
        key, value = key_value(rest, "--with-option")
        options[name][key] = literal_value(value)
    check_registered(names)
    return [datasets.load(name, **options[name]) for name in names]


def check_registered(names: list[str]) -> None:
    """Raise if a name is not a registered data set."""
    from bayescale.data import datasets

    unknown = [name for name in names if name not in datasets.available()]
    if unknown:
        raise BayescaleError(f"--with {', '.join(unknown)}: not registered data set(s); the "
                             f"registered ones are {', '.join(datasets.available())}")


def plan_pair(text: str) -> tuple[float, float]:
    """Parse an N:D plan."""
    try:
        N, D = (float(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"a plan is N:D, e.g. 70e9:1.4e12, not '{text}'") from None
    return N, D


def print_sections(sections: dict, args) -> int:
    """Print titled tables (or one JSON object of them); return the exit status."""
    if args.json:
        print(json.dumps({key: json_records(table, args) for key, (_, table) in sections.items()},
                         indent=2))
        return 0
    for number, (title, table) in enumerate(sections.values()):
        if number:
            print()
        print(title)
        print(readable_table(table).to_string())
    print_verdict(args)
    return 0


# The compute-growth assumption of a forecast, by default
GROWTH = {"start_year": 2024.0, "start_flops": 5e25, "growth": 4.0, "growth_sd": 0.25}


def growth_arguments(p: argparse.ArgumentParser, what: str = "") -> None:
    """Add the compute-growth assumption of a forecast (``what`` prefixes each help).

    They default to None, so that a command can tell whether they were given;
    :func:`growth_values` fills in :data:`GROWTH`.
    """
    p.add_argument("--start-year", type=finite_number,
                   help=f"{what}year of --start-flops (default: {GROWTH['start_year']:g})")
    p.add_argument("--start-flops", type=positive_number,
                   help=f"{what}largest training budget in the start year, FLOPs (default: "
                        f"{GROWTH['start_flops']:g})")
    p.add_argument("--growth", type=positive_number,
                   help=f"{what}median yearly growth factor of that budget (default: "
                        f"{GROWTH['growth']:g})")
    p.add_argument("--growth-sd", type=nonnegative_number,
                   help=f"{what}sd of the log of the yearly growth factor (default: "
                        f"{GROWTH['growth_sd']:g})")


def growth_values(args) -> dict:
    """Return the compute-growth assumption of ``args``, with :data:`GROWTH` where left out."""
    return {name: default if getattr(args, name) is None else getattr(args, name)
            for name, default in GROWTH.items()}


WORKERS = 2  # bayescale.checks.sweep.DEFAULT_WORKERS: a sweep's local Dask cluster, by default


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of a sweep of fits (workers, Dask scheduler)."""
    p.add_argument("--dask", action="store_true",
                   help="run the fits on a local Dask cluster (pip install 'bayescale[dask]')")
    p.add_argument("--workers", type=positive_int,
                   help=f"workers of the local Dask cluster (default {WORKERS})")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the fits on an existing Dask scheduler, e.g. tcp://host:8786")


def sweep_runner(args):
    """Return the map function a sweep runs its fits with (here, or on Dask)."""
    if args.workers is not None and (args.scheduler or not args.dask):
        refuse_ignored({"--workers": True}, "--workers sizes the local Dask cluster of --dask, "
                       + ("and --scheduler runs the fits on an existing one" if args.scheduler
                          else "and without --dask the fits run in this process"))
    if not (args.dask or args.scheduler):
        return None
    from functools import partial

    from bayescale.checks.sweep import dask_map

    return partial(dask_map, scheduler=args.scheduler,
                   workers=WORKERS if args.workers is None else args.workers)


def refuse_ignored(given: dict[str, bool], reason: str) -> None:
    """Refuse the options a command would ignore, naming them and why.

    Parameters
    ----------
    given : dict of str to bool
        Each option the command would ignore, and whether it was given.
    reason : str
        Why it would be ignored, e.g. "--no-refit runs the first pass only".

    Raises
    ------
    ValueError
        One line: the reason, the options given and "drop it" (or them).

    """
    ignored = [option for option, was_given in given.items() if was_given]
    if ignored:
        raise ValueError(f"{reason}, so {', '.join(ignored)} would be ignored: drop "
                         f"{'them' if len(ignored) > 1 else 'it'}")


def overwrite_argument(p: argparse.ArgumentParser, what: str = "the output files") -> None:
    """Add --overwrite: without it an existing output file is refused before any work."""
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace {what} if they exist (checked before any work)")


def command_inputs(args) -> list[str]:
    """Return the files a command reads (its runs file, its fit): never written over."""
    return [value for value in (getattr(args, "runs", None), getattr(args, "fit", None))
            if isinstance(value, str)]


def check_outputs(args, *paths: str | None, image: tuple[str | None, ...] = ()) -> None:
    """Refuse, before any work, output paths that cannot take their file.

    ``paths`` are data files, ``image`` figure files (whose extension must be a format
    matplotlib writes); None (not asked for) is skipped. Two outputs on one path are refused.
    """
    from bayescale.data.outputs import check_output

    given = [path for path in (*paths, *image) if path is not None]
    if len(set(map(_same_path, given))) < len(given):
        raise ValueError(f"two outputs of this command go to one file ({', '.join(given)}): "
                         "give each its own path")
    for path in given:
        check_output(path, getattr(args, "overwrite", False), command_inputs(args))
    for path in (path for path in image if path is not None):
        image_format(path)


def _same_path(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def image_format(path: str) -> str:
    """Return the image format of ``path`` from its extension, refusing one matplotlib lacks."""
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in kinds:
        raise ValueError(f"'{path}': the image format is chosen by the extension, and "
                         f"'{Path(path).suffix or '(none)'}' is not one; end the name with one "
                         f"of {', '.join('.' + kind for kind in sorted(kinds))}")
    return suffix


def write_output(args, path: str, write) -> None:
    """Write a command's output file atomically (``write(temporary)``); say so on stderr."""
    import sys

    from bayescale.data.outputs import write_atomic

    written = write_atomic(path, write, getattr(args, "overwrite", False), command_inputs(args))
    if getattr(args, "verbosity", 0) >= 0:  # -q: warnings and errors only
        print(f"wrote {written}", file=sys.stderr)


def save_figure(fig, path: str, args, dpi: float) -> None:
    """Save a matplotlib figure atomically to ``path`` in the format its extension names.

    A figure of a fit that did not converge says so across its top (a warning on stderr can
    be silenced; the figure is what is shared).
    """
    import matplotlib.pyplot as plt

    kind = image_format(path)
    status = getattr(args, "fit_status", None)
    if status is not None and not status["converged"]:  # the verdict on the figure itself
        fig.text(0.5, 0.995, "NOT CONVERGED: " + "; ".join(status["problems"])[:150],
                 ha="center", va="top", color="tab:red", fontsize="small", wrap=True)
    try:
        write_output(args, path, lambda temporary: fig.savefig(temporary, dpi=dpi, format=kind))
    finally:
        plt.close(fig)


def load_fit(args) -> Fit:
    """Load ``args.fit``; its convergence goes into every --json record (see json_records)."""
    from bayescale.fitting.result import Fit

    result = Fit.load(args.fit)
    args.fit_status = {"converged": bool(result.converged),
                       "problems": list(result.diagnostics["problems"])}
    return result


def print_summary(result: Fit, prob: float, as_json: bool) -> int:
    """Print a fit's parameters, diagnostics and provenance; return the status."""
    table = result.parameter_summary(prob=prob)
    diagnostics = result.diagnostics
    if as_json:
        print(json.dumps({
            "parameters": json_records(table),
            "diagnostics": diagnostics,
            "method": result.method,
            "sampler": result.sampler,
            "provenance": result.provenance,
            "spec": json.loads(result.spec.to_json()),
        }, indent=2))
        return 0
    verdict = "converged" if diagnostics["converged"] else "NOT CONVERGED"
    if result.method != "bayes":
        table = table[["median", "lo", "hi"]]
        point = ", ".join(f"{k} {v:.4g}" for k, v in result.point_estimate.items())
        print(f"{result!r}\n\nPoint estimate (best of the grid): {point}")
        print(f"Bootstrap median and {prob:.0%} percentile interval:")
        print(table.to_string(float_format=lambda value: f"{value:.4g}"))
        print(f"\nDiagnostics: {verdict}; {diagnostics['bootstrap_failed_refits']} refits "
              f"did not converge; {diagnostics['seconds']:.1f} s")
    else:
        print(f"{result!r}\n\nParameters (median and {prob:.0%} equal-tailed interval):")
        print(table.to_string(float_format=lambda value: f"{value:.4g}"))
        print(f"\nDiagnostics: {verdict}; max R-hat {diagnostics['max_rhat']:.4f}, "
              f"min bulk ESS {diagnostics['min_ess_bulk']:.0f}, min tail ESS "
              f"{diagnostics['min_ess_tail']:.0f}, divergences {diagnostics['divergences']}")
    for problem in diagnostics["problems"]:
        print(f"  problem: {problem}")
    for attempt in diagnostics.get("retried", []):
        print(f"  sampled again: {attempt['draws']} draws per chain fell short ("
              + "; ".join(attempt["problems"]) + ")")
    provenance = result.provenance
    for line in borrowing_lines(provenance.get("literature_prior")):
        print(line)
    print(f"Data sha256 {provenance['data_sha256'][:16]}..., created {provenance['created']}")
    for note in provenance["runs_notes"]:
        print(f"  runs: {note}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in provenance["versions"].items()))
    settings = result.sampler
    print("Sampler: " + ", ".join(f"{k} {v}" for k, v in settings.items())
          + f"; ran on {result.tree.attrs.get('device', 'cpu')}")
    return 0


def borrowing_lines(record: dict | None) -> list[str]:
    """Say what a fit under the literature prior took from the published sources."""
    if not record:
        return []
    lines = [f"Borrowed: the literature prior of {record['sources']} published sources in "
             f"{len(record['datasets'])} data set(s) ({', '.join(record['datasets'])})"]
    leaned = record.get("leaned_on")
    if not leaned:  # fits saved before this was recorded
        return lines
    share = ", ".join(f"{name} {value:.0%}" for name, value in leaned["prior_share"].items())
    nearest = ", ".join(f"{item['source']} {item['weight']:.0%}" for item in leaned["nearest"]
                        if item["weight"] >= 0.01)
    lines += [f"  the prior's share of what the fit knows (posterior / prior variance): {share}",
              f"  your runs' law most resembles: {nearest}",
              f"  distance from the prior's centre {leaned['distance']:.2f} (95% of the "
              f"published sources lie within {leaned['typical_distance']:.2f})"]
    if leaned["unusual"]:
        lines.append("  NOTE: your runs are unlike the published sources (farther from their "
                     "centre than 95% of them): the borrowed prior is no evidence about them; "
                     "compare with a fit alone (without --with) before trusting either")
    return lines


def note_beyond(result: Fit, beyond, args, widened: bool = True) -> int:
    """Say below a table how far beyond the fitted runs its answers reach; return 0.

    ``widened``: whether the answers carry the fit's discrepancy (False: asked without it).
    """
    import numpy as np

    from bayescale.queries.beyond import (
        has_discrepancy,
        source_log10_C_max,
        source_log10_C_min,
    )
    from bayescale.queries.draws import resolve_source

    far = float(np.nanmax(np.asarray(beyond, dtype=float), initial=0.0))
    if far > 0 and not args.json:
        discrepancy = result.discrepancy
        source = resolve_source(result, chosen_source(args))
        largest = source_log10_C_max(result, source)
        smallest = source_log10_C_min(result, source)
        parts = [discrepancy[name] for name in ("drift_per_decade", "per_decade",
                                                "allocation_drift_per_decade",
                                                "allocation_per_decade")]
        how = ("the intervals carry the law's parameter uncertainty alone (asked with "
               "--no-discrepancy)" if not widened else
               "this fit adds no discrepancy beyond its runs: its intervals carry the law's "
               "parameter uncertainty alone" if not has_discrepancy(discrepancy) else
               f"the answers carry the law's discrepancy there, per decade beyond: log loss "
               f"{parts[0]:+.3g} (drift) with sd {parts[1]:.3g}, log N_opt {parts[2]:+.3g} "
               f"with sd {parts[3]:.3g}, growing up to {discrepancy['up_to_decades']:.2g} "
               f"decades beyond ({discrepancy['origin']})")
        print(f"note: decades_beyond is how far each answer lies outside the fitted runs of its "
              f"source ({10 ** smallest:.3g} to {10 ** largest:.3g} FLOPs, 6ND), beyond the "
              f"largest or below the smallest, up to {far:.2g} decades here; {how}")
    return 0


def reaches_beyond(result: Fit, args, flops=None) -> bool:
    """Whether a query's answer draws the discrepancy beyond the fitted runs at random.

    Parameters
    ----------
    result : Fit
        The fit asked.
    args : argparse.Namespace
        The query's arguments (its source).
    flops : array_like, optional
        The compute of the query's answers; None: answers at budgets the query chooses itself
        (a forecast, famous models, a rule), taken to reach beyond.

    Returns
    -------
    bool
        True when the fit has a discrepancy and some answer lies outside the runs of its source
        (above the largest or below the smallest).

    """
    import numpy as np

    from bayescale.queries.beyond import has_discrepancy, source_log10_C_max, source_log10_C_min
    from bayescale.queries.draws import resolve_source

    if not has_discrepancy(result.discrepancy):
        return False
    if flops is None:
        return True
    source = resolve_source(result, chosen_source(args))
    log10_C = np.log10(np.asarray(flops, dtype=float))
    return bool(np.any((log10_C > source_log10_C_max(result, source))
                       | (log10_C < source_log10_C_min(result, source))))


def print_table(table: pd.DataFrame, args, title: str | None = None) -> int:
    """Print a table readably (or as JSON with --json); return the exit status."""
    if args.json:
        print(json.dumps(json_records(table, args), indent=2))
        return 0
    if title:
        print(title)
    print(readable_table(table).to_string())
    print_verdict(args)
    return 0


def print_verdict(args) -> None:
    """Print, under an answer from a fit that did not converge, that it did not (stdout).

    The warning on stderr can be silenced (``PYTHONWARNINGS=ignore``, ``2>/dev/null``); this
    line is part of the answer.
    """
    status = getattr(args, "fit_status", None)
    if status is not None and not status["converged"]:
        print("NOT CONVERGED: the fit these answers come from failed its convergence checks ("
              + "; ".join(status["problems"]) + "); do not rely on them: refit (more draws, "
              "bayescale fit --draws 4000) before acting on them")


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return the table with intervals joined into one readable column each."""
    import pandas as pd

    """Collapse X, X_lo, X_hi columns into one 'X [lo, hi]' text column each."""
    shown = {}
    for name in table.columns:
        if name.endswith(("_lo", "_hi")) and name[:-3] in table.columns:
            continue
        if f"{name}_lo" in table.columns:
            shown[f"{name} [interval]"] = [
                f"{m:.4g} [{lo:.4g}, {hi:.4g}]" for m, lo, hi in
                zip(table[name], table[f"{name}_lo"], table[f"{name}_hi"], strict=True)]
        elif pd.api.types.is_float_dtype(table[name]):
            style = ".1f" if name == "year" else ".4g"  # calendar years to a tenth
            shown[name] = [f"{value:{style}}" for value in table[name]]
        else:
            shown[name] = table[name]
    index = table.index
    if isinstance(index, pd.MultiIndex):
        index = pd.MultiIndex.from_tuples(
            [tuple(f"{v:.4g}" if isinstance(v, float) else v for v in row) for row in index],
            names=index.names)
    elif index.dtype.kind == "f":
        index = pd.Index([f"{value:.4g}" for value in index], name=index.name)
    return pd.DataFrame(shown).set_index(index)


def json_records(table: pd.DataFrame, args=None) -> list[dict]:
    """Return the table as JSON records, with the fit's convergence in each."""
    import pandas as pd

    """Rows as JSON records; answers drawn from a fit carry its ``converged`` and ``problems``."""
    frame = table.reset_index() if table.index.name or table.index.nlevels > 1 else table
    if frame is table and not isinstance(table.index, pd.RangeIndex):
        frame = table.rename_axis("name").reset_index()
    records = json.loads(frame.to_json(orient="records", double_precision=15))
    status = getattr(args, "fit_status", None)
    return [record | status for record in records] if status else records


def chosen_source(args) -> str | None:
    """Return the source a query asks about (None: the fit's default)."""
    from bayescale.data.runs import NEW_SOURCE

    return NEW_SOURCE if args.new_source else args.source


def query_title(result: Fit, args, kind: str, interval: bool = True) -> str:
    """Return the title line of a query's table (source, interval, law)."""
    from bayescale.data.runs import NEW_SOURCE
    from bayescale.queries.draws import resolve_source

    source = resolve_source(result, chosen_source(args))
    if source == NEW_SOURCE and len(result.sources) > 1:
        who = "a new source (integrating over the spread between sources)"
    elif args.source is not None:
        who = f"source '{source}'"
    elif source in result.user_sources:
        who = f"source '{source}' (your runs in this joint fit)"
    else:
        who = f"source '{result.sources[0]}' (the fit's only source)"
    if result.method != "bayes":
        kind = f"{kind} [{result.method} baseline: bootstrap distribution, not a posterior]"
    if not interval:
        return f"{kind}; for {who}:"
    interval = "highest-density" if args.hdi else "equal-tailed"
    return f"{kind}, median [{args.prob:.0%} {interval} interval], for {who}:"


def parse_priors(items: list[str]) -> dict:
    """Parse --prior NAME=DIST(k=v,...) items into prior overrides."""
    priors = {}
    for item in items:
        match = PRIOR_PATTERN.match(item.replace(" ", ""))
        if not match:
            raise ValueError(f"--prior '{item}' must look like NAME=DIST(k=v,...), e.g. "
                             "'alpha=LogNormal(mu=-1.05,sigma=0.2)'")
        name, dist, body = match.groups()
        if name in priors:
            raise ValueError(f"--prior gives the prior of '{name}' twice: give it once (the "
                             "later one would silently replace the earlier)")
        params = key_values([part for part in body.split(",") if part], f"--prior '{item}'")
        values = {}
        for key, text in params.items():
            try:
                values[key] = float(text)
            except ValueError:
                raise ValueError(f"--prior '{item}': {key}={text} is not a number") from None
            if not math.isfinite(values[key]):
                raise ValueError(f"--prior '{item}': {key}={text} is not a finite number; give "
                                 "a finite one (a prior cannot be sampled from otherwise)")
        priors[name] = {"dist": dist} | values
    return priors


def key_value(item: str, flag: str) -> tuple[str, str]:
    """Split a KEY=VALUE option, naming the flag in the error."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"{flag} '{item}' must look like KEY=VALUE")
    return key, value


def key_values(items: list[str], flag: str, unique_values: bool = False) -> dict[str, str]:
    """Parse repeated KEY=VALUE options into a dict, refusing a key given twice.

    With ``unique_values`` two keys mapped onto one value are refused as well (two columns
    onto one of bayescale's). Nothing the user typed is silently dropped.
    """
    pairs = [key_value(item, flag) for item in items]
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"{flag} gives {', '.join(map(repr, repeated))} more than once: give "
                         "each once (the later one would silently replace the earlier)")
    if unique_values:
        values = [value for _, value in pairs]
        clashing = sorted({value for value in values if values.count(value) > 1})
        if clashing:
            sources = [key for key, value in pairs if value in clashing]
            raise ValueError(f"{flag} maps {', '.join(map(repr, sources))} all onto "
                             f"{', '.join(map(repr, clashing))}: map one column onto each")
    return dict(pairs)


def literal_value(value: str):
    """Read an option's value as a bool, int, float or string."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in lowered \
        else number


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Format a warning as one line on stderr."""
    return f"bayescale: warning ({category.__name__}): {' '.join(str(message).split())}\n"
