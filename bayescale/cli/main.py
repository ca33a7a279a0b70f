"""The ``bayescale`` command line: fit runs, then query the saved fit.

Every subcommand prints a table readable in a terminal, or JSON with ``--json``. Bad input exits
with status 2 and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale import decide
from bayescale.checks.approaches import compare_approaches
from bayescale.checks.compare import PARETO_K_LIMIT, compare_laws, extrapolation_check
from bayescale.checks.sweep import SUMMARY_PROBS
from bayescale.data import datasets
from bayescale.data.runs import NEW_SOURCE
from bayescale.decide.forecast import forecast_table, forecast_year
from bayescale.errors import BayescaleError
from bayescale.fitting.fitfile import check_output
from bayescale.fitting.fitter import METHODS, fit
from bayescale.fitting.result import Fit
from bayescale.fitting.summary import interval_table
from bayescale.inference.interrupts import interrupts_as_keyboard_interrupt
from bayescale.inference.settings import DEFAULT_SAMPLER, INITS, SAMPLERS
from bayescale.queries.draws import resolve_source
from bayescale.queries.famous import KAPLAN_EXPONENT, optimality, rule_allocation
from bayescale.queries.frontier import compute_optimal
from bayescale.queries.loss import predict
from bayescale.spec.model_spec import available_specs, load_spec

PRIOR_PATTERN = re.compile(r"^(\w+)=(\w+)\((.*)\)$")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbosity)
    warnings.formatwarning = _one_line_warning
    try:
        with interrupts_as_keyboard_interrupt():
            return args.run(args)
    except KeyboardInterrupt:
        print("bayescale: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except (BayescaleError, ImportError, ValueError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"bayescale: error: {message}", file=sys.stderr)
        return 2


class _StderrHandler(logging.StreamHandler):
    """Write to whatever ``sys.stderr`` is at the time of each message."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _configure_logging(verbosity: int) -> None:
    """Print bayescale's messages on stderr: notes and progress unless --quiet."""
    log = logging.getLogger("bayescale")
    if not any(isinstance(handler, _StderrHandler) for handler in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def _parser() -> argparse.ArgumentParser:
    from bayescale import __version__

    parser = argparse.ArgumentParser(
        prog="bayescale",
        description="Bayesian inference of neural scaling laws: fit training runs, then query "
                    "the compute-optimal frontier and the loss of planned runs.")
    parser.add_argument("--version", action="version", version=f"bayescale {__version__}")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                       default=0, help="print only warnings and errors on stderr")
    noise.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       help="also print debugging messages")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("fit", help="fit a scaling law to runs and save the posterior")
    _runs_arguments(p)
    p.add_argument("-o", "--output", required=True, help="where to write the fit (.nc)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the file at -o if there is one (checked before sampling)")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 when the fit fails its convergence checks "
                        "(it is still saved)")
    p.add_argument("--model", default="chinchilla",
                   help=f"named model ({', '.join(available_specs())}) or a .toml file")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=DIST(k=v,...)",
                   help="override a prior, e.g. --prior 'alpha=LogNormal(mu=-1.05,sigma=0.2)'")
    p.add_argument("--likelihood", choices=["student_t", "normal", "laplace"])
    p.add_argument("--method", choices=list(METHODS), default="bayes",
                   help="bayes (PyMC posterior) or huber-bootstrap (the classical Hoffmann/"
                        "Epoch fit with bootstrap intervals, as a baseline)")
    p.add_argument("--resamples", type=int, default=4000,
                   help="bootstrap resamples of --method huber-bootstrap")
    _sampler_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-log-likelihood", action="store_true",
                   help="do not store the pointwise log likelihood (LOO needs it; it takes "
                        "chains x draws x runs doubles, 3.2 GB at 100k runs)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_fit)

    p = commands.add_parser(
        "compare", help="compare laws on the same runs: PSIS-LOO and a held-out extrapolation "
                        "check of the largest-compute runs")
    _runs_arguments(p)
    p.add_argument("--laws", nargs="+", default=["chinchilla", "kaplan"], metavar="MODEL",
                   help=f"named models to compare ({', '.join(available_specs())})")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--holdout", type=float, default=0.2,
                      help="fraction of runs, largest compute first, to hold out (default 0.2)")
    held.add_argument("--holdout-above", type=float, metavar="FLOPS",
                      help="hold out the runs with C >= FLOPS instead")
    p.add_argument("--no-extrapolation", action="store_true",
                   help="PSIS-LOO only (skip the held-out refits)")
    _sampler_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_compare)

    p = commands.add_parser(
        "approaches", help="Chinchilla's Approaches 1, 2 and 3 side by side on one data set: "
                           "posteriors of the allocation exponent a in N_opt ~ C^a")
    p.add_argument("runs", help="a runs file or registered data set (one source)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a data-set loader option, e.g. --option configurations=...")
    p.add_argument("--budget", default="budget",
                   help="column naming each IsoFLOP run's budget (Approach 2)")
    p.add_argument("--group", default="run_name",
                   help="column naming each checkpoint's training run (Approach 1)")
    p.add_argument("--final", metavar="RUNS",
                   help="runs file or data set of final losses for Approach 3 (default: the "
                        "runs, or each training curve's last checkpoint)")
    p.add_argument("--final-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a loader option of --final, e.g. table=cool_end")
    p.add_argument("--flops", type=float, help="budget at which to compare N_opt (default: "
                                               "the largest compute among the runs)")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_approaches)

    p = commands.add_parser("optimal", help="posterior of the compute-optimal N, D, D/N, loss")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=float, nargs="+", required=True, help="budgets in FLOPs")
    p.add_argument("--unique-tokens", type=float, metavar="U",
                   help="a budget of unique tokens (data-constrained law): the optimum when "
                        "data beyond U must be repeated")
    _query_options(p)
    p.set_defaults(run=_optimal)

    p = commands.add_parser("predict", help="posterior loss of planned runs at (N, D)")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--params", type=float, nargs="+", required=True, help="N of each run")
    p.add_argument("--tokens", type=float, nargs="+", required=True, help="D of each run")
    p.add_argument("--unique", type=float, nargs="+", metavar="U",
                   help="unique tokens of each run (data-constrained law; default U = D)")
    p.add_argument("--noise", action="store_true",
                   help="include observation noise (the loss one run would report)")
    _query_options(p)
    p.set_defaults(run=_predict)

    p = commands.add_parser(
        "optimality", help="how far famous models were from compute-optimal, under a fit")
    p.add_argument("fit", nargs="?", help="a fit file written by 'bayescale fit'")
    p.add_argument("--model", nargs="+", metavar="KEY",
                   help="famous models, e.g. gpt-3 chinchilla (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the famous models and stop")
    _query_options(p)
    p.set_defaults(run=_optimality)

    p = commands.add_parser(
        "rule", help="the loss a sizing rule N ~ C^a (Kaplan's a = 0.73 by default) costs "
                     "against the posterior-optimal allocation")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=float, nargs="+", required=True, help="budgets in FLOPs")
    p.add_argument("--exponent", type=float, default=KAPLAN_EXPONENT,
                   help="the rule's exponent a (default 0.73, Kaplan et al. 2020)")
    p.add_argument("--anchor-flops", type=float, metavar="C",
                   help="where the rule is anchored (default: the largest compute in the fit)")
    p.add_argument("--anchor-params", type=float, metavar="N",
                   help="the rule's N at --anchor-flops (default: the posterior median N_opt)")
    _query_options(p)
    p.set_defaults(run=_rule)

    p = commands.add_parser(
        "plan", help="the (N, D) to train at a FLOP budget: expected-loss and risk-averse "
                     "optima, plan comparisons, inference-aware sizing, the next run to make")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=float, required=True, help="training budget in FLOPs")
    p.add_argument("--risk", type=float, default=0.9,
                   help="quantile of the loss the risk-averse plan minimises (default 0.9)")
    p.add_argument("--params", type=float, metavar="N", help="also show a plan of fixed size N")
    p.add_argument("--max-tokens", type=float, metavar="D", help="at most D training tokens")
    p.add_argument("--unique-tokens", type=float, metavar="U",
                   help="unique tokens available; repeats valued by the data-constrained law")
    p.add_argument("--compare", nargs=2, metavar="N:D",
                   help="two plans to compare draw by draw, e.g. 70e9:1.4e12 35e9:2.8e12")
    p.add_argument("--target-loss", type=float,
                   help="with --inference-tokens: the cheapest plan reaching this loss")
    p.add_argument("--inference-tokens", type=float, metavar="T",
                   help="lifetime inference tokens (cost 2N per token, Sardana et al. 2024)")
    p.add_argument("--next-run", nargs="+", metavar="N:D",
                   help="candidate small runs: how much each would shrink the uncertainty of "
                        "N_opt at --flops")
    _query_options(p)
    p.set_defaults(run=_plan)

    p = commands.add_parser(
        "forecast", help="compute needed for a target loss (or N_opt), and the year it is "
                         "reached under a compute-growth assumption")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-loss", type=float, help="loss to reach, nats/token")
    target.add_argument("--target-params", type=float, help="compute-optimal N to reach")
    p.add_argument("--start-year", type=float, default=2024.0,
                   help="year of --start-flops (default 2024)")
    p.add_argument("--start-flops", type=float, default=5e25,
                   help="largest training budget in the start year (default 5e25 FLOPs)")
    p.add_argument("--growth", type=float, default=4.0,
                   help="median yearly growth factor of that budget (default 4)")
    p.add_argument("--growth-sd", type=float, default=0.25,
                   help="sd of the log of the yearly growth factor (default 0.25)")
    _query_options(p)
    p.set_defaults(run=_forecast)

    p = commands.add_parser("plot", help="draw a plot of a fit to an image file")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("kind", choices=sorted(PLOT_KINDS), help="which plot")
    p.add_argument("-o", "--output", required=True, help="image file (.png, .pdf, .svg)")
    p.add_argument("--flops", type=float, nargs="+",
                   help="budgets: IsoFLOP curves (default 1e19 1e21 1e23), the span of the "
                        "frontier and extrapolation plots, the decision plot's budget")
    p.add_argument("--plans", nargs="+", metavar="N:D",
                   help="decision plot: plans to compare (default: the expected-loss and "
                        "risk-averse optima at --flops)")
    p.add_argument("--target-loss", type=float, help="forecast plot: the target loss")
    p.add_argument("--start-year", type=float, default=2024.0)
    p.add_argument("--start-flops", type=float, default=5e25)
    p.add_argument("--growth", type=float, default=4.0)
    p.add_argument("--growth-sd", type=float, default=0.25)
    p.add_argument("--source", help="a fitted source (default: the fit's default source)")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_plot)

    p = commands.add_parser(
        "sensitivity", help="how far N_opt at a budget moves under narrower and wider priors")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=float, default=1e24, help="target budget (default 1e24)")
    p.add_argument("--factors", type=float, nargs="+", default=[0.5, 2.0],
                   help="multipliers of every prior scale (default 0.5 2)")
    _sweep_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_sensitivity)

    p = commands.add_parser(
        "metrics", help="one fit per metric of the same runs (each eval set's loss, a "
                        "downstream error rate), on Dask if asked: N_opt and exponents side by "
                        "side")
    p.add_argument("runs", help="a runs table with one column per metric, or a registered "
                                "data set with eval splits (gadre2024)")
    p.add_argument("--metrics", nargs="+", required=True, metavar="METRIC",
                   help="columns of the table, or eval splits of the data set, each fitted "
                        "as the loss")
    p.add_argument("--column", action="append", default=[], metavar="YOURS=OURS",
                   help="map another column name, e.g. --column 'Model Size=N' (repeatable)")
    p.add_argument("--source-col", help="column naming each run's source")
    p.add_argument("--source", help="one source name for all runs of a table")
    p.add_argument("--model", default="chinchilla",
                   help=f"named model ({', '.join(available_specs())}) or a .toml file")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=DIST(k=v,...)",
                   help="override a prior, e.g. --prior 'E=LogNormal(mu=-1.0,sigma=0.5)' for "
                        "a metric that is not a loss in nats (repeatable)")
    p.add_argument("--flops", type=float, default=1e24,
                   help="budget of the N_opt column (default 1e24)")
    _sampler_arguments(p)
    _sweep_arguments(p)
    p.add_argument("-o", "--output", help="also write the gathered Dataset (.nc)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_metrics)

    p = commands.add_parser("validate", help="calibration: simulation-based calibration (sbc) "
                                             "or held-out scoring on published data (heldout)")
    checks = p.add_subparsers(dest="check", required=True)
    q = checks.add_parser("sbc", help="simulation-based calibration of a model on a design")
    q.add_argument("--model", default="chinchilla", help="named model or .toml file")
    q.add_argument("--sims", type=int, default=200, help="simulated data sets (default 200)")
    q.add_argument("--design", default="epoch-chinchilla",
                   help="registered data set whose (N, D) the simulations use")
    q.add_argument("--flops", type=float, default=1e24, help="budget of the N_opt ranks")
    q.add_argument("--draws", type=int, default=500)
    q.add_argument("--tune", type=int, default=500)
    q.add_argument("--chains", type=int, default=2)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--bins", type=int, default=10, help="rank bins of the uniformity test")
    q.add_argument("--plot", help="write the rank histograms to this image file")
    q.add_argument("-o", "--output", help="save the ranks (.nc)")
    _sweep_arguments(q)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(run=_validate_sbc)
    q = checks.add_parser("heldout", help="fit the smaller runs of each data set, score the "
                                          "largest: Bayes against the Huber bootstrap")
    q.add_argument("--datasets", nargs="+", help="data sets (default: all with >= 2 decades "
                                                 "of compute)")
    q.add_argument("--holdout", type=float, default=0.2, help="share held out (default 0.2)")
    q.add_argument("--draws", type=int, default=1000,
                   help="draws per chain (default 1000); a fit that does not converge is "
                        "refitted once with twice the draws and tuning steps")
    q.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    q.add_argument("--resamples", type=int, default=500, help="baseline bootstrap resamples")
    q.add_argument("--no-baseline", action="store_true", help="score the Bayesian fits only")
    _sweep_arguments(q)
    q.add_argument("-o", "--output", help="also write the table as CSV")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(run=_validate_heldout)
    q = checks.add_parser("transfer", help="leave-one-data-set-out: each published source as "
                                           "your runs (5, 8 or 80%% of them), fitted alone, "
                                           "with the others (all, or two named), and by the "
                                           "Huber baseline")
    q.add_argument("--sets", nargs="+", metavar="SOURCE",
                   help="user sets to run (default: all; e.g. gadre2024/rpj epoch-chinchilla)")
    q.add_argument("--regimes", nargs="+", choices=["few-5", "few-8", "many"],
                   default=["few-5", "few-8", "many"], help="regimes (default: all three)")
    q.add_argument("--draws", type=int, default=1000, help="draws and tuning steps per chain")
    q.add_argument("--resamples", type=int, default=1000, help="baseline bootstrap resamples")
    q.add_argument("--methods", nargs="+", choices=["alone", "with", "with-pair", "huber"],
                   default=["alone", "with", "with-pair", "huber"],
                   help="ways of fitting (default: all four)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("-o", "--output", help="also write the per-turn table as CSV")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(run=_validate_transfer)

    p = commands.add_parser("summary", help="parameters, diagnostics and provenance of a fit")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--prob", type=float, default=0.94, help="credible interval mass")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_summary)

    p = commands.add_parser("models", help="list the named models, or show one's priors")
    p.add_argument("name", nargs="?", help="a model name or .toml file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_models)

    p = commands.add_parser("datasets", help="list the registered data sets, or show one's card")
    p.add_argument("name", nargs="?", help="a data set name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_datasets)
    return parser


def _runs_arguments(p: argparse.ArgumentParser) -> None:
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


def _sampler_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", choices=sorted(SAMPLERS), default=DEFAULT_SAMPLER)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                   help="where a JAX sampler (numpyro, blackjax) runs; gpu falls back to the "
                        "CPU with a message when JAX sees none")
    p.add_argument("--init", choices=list(INITS), default="adapt",
                   help="laplace: start the chains from the Laplace approximation, with its "
                        "covariance as a dense mass matrix (samplers pymc, numpyro); much "
                        "faster on many sources")


def _sampler_options(args) -> dict:
    return dict(sampler=args.sampler, draws=args.draws, tune=args.tune, chains=args.chains,
                seed=args.seed, target_accept=args.target_accept, device=args.device,
                init=args.init, split_sources_by=getattr(args, "split_by", None))


def _query_options(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--source", help="a fitted source (default: your own source in a joint "
                                        "fit, the only source, or else a new source)")
    which.add_argument("--new-source", action="store_true",
                       help="a source not in the fit: integrate over the spread between sources")
    p.add_argument("--prob", type=float, default=0.94, help="credible interval mass")
    p.add_argument("--hdi", action="store_true", help="highest-density instead of equal-tailed")
    p.add_argument("--seed", type=int, default=0, help="seed for new-source and noise draws")
    p.add_argument("--json", action="store_true", help="print JSON")


def _fit(args) -> int:
    check_output(args.output, overwrite=args.overwrite)
    spec = load_spec(args.model, priors=_parse_priors(args.prior), likelihood=args.likelihood)
    if args.borrow == "prior" and args.with_datasets:
        if args.with_option:
            raise ValueError("--with-option loads a data set with options, which needs "
                             "--borrow joint (the literature prior is learned from the "
                             "registered data sets as they are)")
        _check_registered([name for name in args.with_datasets if name != "all"])
        runs, published = _runs_from(args, load_with=False), args.with_datasets
    else:
        runs, published = _runs_from(args)
    result = fit(runs, method=args.method, resamples=args.resamples, with_datasets=published,
                 borrow=args.borrow, model=spec, progressbar=not args.no_progress,
                 log_likelihood=not args.no_log_likelihood, **_sampler_options(args))
    path = result.save(args.output, overwrite=args.overwrite)
    print(f"saved {result!r} to {path}", file=sys.stderr)
    status = _print_summary(result, 0.94, args.json)
    if args.strict and not result.converged:
        print("bayescale: --strict: the fit did not converge ("
              + "; ".join(result.diagnostics["problems"]) + ")", file=sys.stderr)
        return 3
    return status


def _runs_from(args, load_with: bool = True):
    options = dict(column=args.column, source_col=args.source_col, source=args.source)
    if args.unusual_units:
        options["check_units"] = False
    runs = _load_runs(args.runs, args.option, options)
    if not load_with:
        return runs
    return runs, _load_with(args.with_datasets, args.with_option)


def _compare(args) -> int:
    runs, published = _runs_from(args)
    options = _sampler_options(args) | {"with_datasets": published, "borrow": "joint"}
    comparison = compare_laws(runs, args.laws, **options)
    loo = comparison.table[["rank", "elpd", "se", "elpd_diff", "dse", "p", "weight",
                            "bad_pareto_k", "converged"]]
    scores = {}
    if not args.no_extrapolation:
        if published:
            raise ValueError("the extrapolation check holds out your runs' largest-compute "
                             "runs from a one-table fit: drop --with, or use --no-extrapolation")
        for name in args.laws:
            score = extrapolation_check(runs, name, holdout=args.holdout,
                                        holdout_above=args.holdout_above, **options)
            scores[name] = score.summary
    if args.json:
        print(json.dumps({"loo": _records(loo), "extrapolation": scores}, indent=2))
        return 0
    print("PSIS-LOO of log loss (higher elpd is better; elpd_diff against the best law; "
          f"bad_pareto_k: runs with k > {PARETO_K_LIMIT}):")
    print(_readable(loo).to_string())
    if scores:
        table = pd.DataFrame(scores).T
        first = next(iter(scores.values()))
        print(f"\nExtrapolation: fitted {first['n_fit']} runs, scored the {first['n_held_out']} "
              f"with C >= {first['threshold_flops']:.3g} FLOPs (predictive with noise):")
        print(table[["lpd_mean", "coverage50", "coverage90", "median_abs_rel_error",
                     "converged"]].to_string(float_format=lambda value: f"{value:.4g}"))
    return 0


def _load_runs(name: str, loader_options: list[str], options: dict):
    columns = dict(_key_value(item, "--column") for item in options.pop("column"))
    if Path(name).is_file() or Path(name).suffix.lower() in (".csv", ".parquet"):
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
    parsed = {key: _literal(value) for key, value in
              (_key_value(item, "--option") for item in loader_options)}
    return datasets.load(name, **parsed)


def _load_with(names: list[str], items: list[str]) -> list:
    options: dict[str, dict] = {name: {} for name in names}
    for item in items:
        name, sep, rest = item.partition(":")
        if not sep or name not in options:
            raise ValueError(f"--with-option '{item}' must look like DATASET:KEY=VALUE with "
                             f"DATASET one of the --with data sets ({', '.join(names) or 'none'})")
        key, value = _key_value(rest, "--with-option")
        options[name][key] = _literal(value)
    _check_registered(names)
    return [datasets.load(name, **options[name]) for name in names]


def _check_registered(names: list[str]) -> None:
    unknown = [name for name in names if name not in datasets.available()]
    if unknown:
        raise BayescaleError(f"--with {', '.join(unknown)}: not registered data set(s); the "
                             f"registered ones are {', '.join(datasets.available())}")


def _approaches(args) -> int:
    empty = {"column": [], "source_col": None, "source": None}
    runs = _load_runs(args.runs, args.option, dict(empty))
    final = (_load_runs(args.final, args.final_option, dict(empty)) if args.final else None)
    table, _ = compare_approaches(runs, budget=args.budget, group=args.group, flops=args.flops,
                                  final_runs=final, seed=args.seed, draws=args.draws)
    if args.json:
        return _print_table(table, args)
    flops = float(table["flops"].iloc[0])
    print(f"Chinchilla's three approaches on {args.runs}: exponent a of N_opt ~ C^a and N_opt "
          f"at {flops:.3g} FLOPs, median [95% interval]:")
    shown = _readable(table.drop(columns=["flops"])).fillna("")
    print(shown.replace("nan [nan, nan]", "-").to_string())
    return 0


def _optimal(args) -> int:
    result = _load_fit(args)
    frontier = compute_optimal(result, args.flops, source=_source(args), seed=args.seed,
                               unique_tokens=args.unique_tokens)
    table = interval_table(frontier, prob=args.prob, kind="hdi" if args.hdi else "eti")
    table["decades_beyond"] = frontier["decades_beyond"].values
    _print_table(table, args, title=_query_title(
        result, args, f"Posterior of the compute-optimal allocation (C = 6ND) under the "
                      f"{result.spec.law} law"))
    return _note_beyond(result, table["decades_beyond"], args, widened=False)


def _predict(args) -> int:
    result = _load_fit(args)
    loss = predict(result, args.params, args.tokens, source=_source(args), noise=args.noise,
                   seed=args.seed, U=args.unique)
    table = interval_table(loss, prob=args.prob, kind="hdi" if args.hdi else "eti")
    table.insert(0, "D", args.tokens)
    table.insert(0, "N", args.params)
    table["decades_beyond"] = loss["decades_beyond"].values
    kind = ("Posterior predictive loss of one run (with observation noise)" if args.noise
            else "Posterior of the law's loss (without observation noise)")
    _print_table(table.set_index(["N", "D"]), args, title=_query_title(result, args, kind))
    return _note_beyond(result, table["decades_beyond"], args)


def _optimality(args) -> int:
    if args.list:
        table = datasets.famous_models()[["name", "N", "D", "C", "source"]]
        return _print_table(table, args)
    if args.fit is None:
        raise ValueError("give a fit file: bayescale optimality FIT.nc [--model KEY ...]")
    result = _load_fit(args)
    gap = optimality(result, args.model, source=_source(args), seed=args.seed)
    shown = ["optimal_tokens_per_param", "tokens_per_param_ratio", "N_over_N_opt",
             "excess_loss"]
    table = interval_table(gap[shown], prob=args.prob, kind="hdi" if args.hdi else "eti")
    table.insert(0, "tokens_per_param", gap["tokens_per_param"].to_numpy())
    table.insert(0, "C", gap["C"].to_numpy())
    return _print_table(table, args, title=_query_title(
        result, args, "Distance from compute-optimal at each model's own FLOPs (C = 6ND); "
                      "tokens_per_param_ratio > 1 is over-trained; excess_loss is the loss "
                      "left on the table, in the fitted source's nats/token"))


def _rule(args) -> int:
    result = _load_fit(args)
    gap = rule_allocation(result, args.flops, anchor_flops=args.anchor_flops,
                          anchor_params=args.anchor_params, exponent=args.exponent,
                          source=_source(args), seed=args.seed)
    shown = ["N_over_N_opt", "tokens_per_param_ratio", "loss", "loss_opt", "excess_loss"]
    table = interval_table(gap[shown], prob=args.prob, kind="hdi" if args.hdi else "eti")
    table.insert(0, "rule_D", gap["D"].to_numpy())
    table.insert(0, "rule_N", gap["N"].to_numpy())
    return _print_table(table, args, title=_query_title(
        result, args, f"The rule N = {gap.attrs['anchor_params']:.4g} (C / "
                      f"{gap.attrs['anchor_flops']:.4g})^{gap.attrs['exponent']:g} against the "
                      "compute-optimal allocation; excess_loss is what the rule costs"))


def _plan(args) -> int:
    result = _load_fit(args)
    query = dict(source=_source(args), seed=args.seed)
    constraints = dict(max_tokens=args.max_tokens, unique_tokens=args.unique_tokens)
    plans = {"expected loss": decide.optimal_plan(result, args.flops, **constraints, **query),
             f"risk-averse (q={args.risk:g})": decide.optimal_plan(
                 result, args.flops, risk=args.risk, **constraints, **query)}
    if args.params is not None:
        plans[f"fixed N={args.params:.4g}"] = decide.optimal_plan(
            result, args.flops, N=args.params, **constraints, **query)
    rows = []
    for name, plan in plans.items():
        regret = decide.regret(result, float(plan.N), float(plan.D),
                               unique_tokens=args.unique_tokens, **query)
        rows.append({"plan": name, "N": float(plan.N), "D": float(plan.D),
                     "tokens_per_param": float(plan.tokens_per_param),
                     "expected_loss": float(plan.expected_loss),
                     f"loss_q{args.risk:g}": float(plan.loss.quantile(args.risk)),
                     "expected_regret": float(regret.mean())})
    sections = {"plans": (_query_title(result, args, f"Plans at {args.flops:.4g} FLOPs (C = 6ND): "
                                           "losses in nats/token; expected_regret is the loss "
                                           "given up against each draw's own optimum",
                             interval=False), pd.DataFrame(rows).set_index("plan"))}
    if args.compare:
        a, b = (_plan_pair(text) for text in args.compare)
        comparison = decide.compare_plans(result, a, b, unique_tokens=args.unique_tokens,
                                          **query)
        low, high = comparison.difference_interval.values
        sections["comparison"] = (
            f"Plan A ({args.compare[0]}) against plan B ({args.compare[1]}), draw by draw "
            "(difference = loss A - loss B):",
            pd.DataFrame([{"prob_a_better": float(comparison.prob_a_better),
                           "expected_difference": float(comparison.expected_difference),
                           "difference_q0.05": low, "difference_q0.95": high}]))
    if (args.target_loss is None) != (args.inference_tokens is None):
        raise ValueError("give --target-loss and --inference-tokens together")
    if args.target_loss is not None:
        plan = decide.inference_aware_plan(result, args.target_loss, args.inference_tokens,
                                           **query)
        sections["inference_aware"] = (
            f"Cheapest plan reaching a median loss of {args.target_loss:g} with "
            f"{args.inference_tokens:.4g} inference tokens (training 6ND + inference 2NT):",
            pd.DataFrame([{name: float(plan[name]) for name in (
                "N", "D", "tokens_per_param", "training_flops", "inference_flops",
                "total_flops")}]))
    if args.next_run:
        value = decide.value_of_next_run(result, [_plan_pair(t) for t in args.next_run],
                                          args.flops, **query)
        table = value.to_dataframe().sort_values("expected_sd_log10_N_opt")
        sections["next_run"] = (
            f"Value of one more run: expected sd of log10 N_opt at {args.flops:.4g} FLOPs "
            f"after it (today {value.attrs['current_sd_log10_N_opt']:.4g}), best first; "
            f"mc_error is its Monte Carlo standard error ({value.attrs['outcomes']} simulated "
            "outcomes); worse_than_best False: not distinguishable from the best:", table)
    return _print_sections(sections, args)


def _plan_pair(text: str) -> tuple[float, float]:
    try:
        N, D = (float(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"a plan is N:D, e.g. 70e9:1.4e12, not '{text}'") from None
    return N, D


def _forecast(args) -> int:
    result = _load_fit(args)
    outcome = forecast_year(result, start_year=args.start_year, start_flops=args.start_flops,
                            growth=args.growth, growth_sd=args.growth_sd,
                            target_loss=args.target_loss, target_params=args.target_params,
                            source=_source(args), seed=args.seed)
    table = forecast_table(outcome)
    title = _query_title(
        result, args, f"When is {outcome.attrs['target']} reached? Compute of the "
                      f"compute-optimal run that reaches it, and the year, with the largest "
                      f"budget {args.start_flops:.3g} FLOPs in {args.start_year:g} growing "
                      f"{args.growth:g}x a year (sd of log {args.growth_sd:g}); quantiles over "
                      "the posterior", interval=False)
    if table.loc["year"].iloc[0] < args.start_year:
        title += (f" (a year before {args.start_year:g} means the {args.start_year:g} budget "
                  "already reaches the target)")
    return _print_sections({"forecast": (title, table.T)}, args)


def _print_sections(sections: dict, args) -> int:
    if args.json:
        print(json.dumps({key: _records(table, args) for key, (_, table) in sections.items()},
                         indent=2))
        return 0
    for number, (title, table) in enumerate(sections.values()):
        if number:
            print()
        print(title)
        print(_readable(table).to_string())
    return 0


PLOT_KINDS = ("runs", "isoflop", "frontier", "extrapolation", "ppc", "prior-ppc", "pair",
              "decision", "forecast")


def _plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from bayescale import plots

    result = _load_fit(args)
    common = dict(source=args.source, seed=args.seed)
    kind, flops = args.kind, args.flops
    if kind == "runs":
        fig, _ = plots.plot_runs(result, **common)
    elif kind == "isoflop":
        fig, _ = plots.plot_isoflop(result, flops or [1e19, 1e21, 1e23], **common)
    elif kind == "frontier":
        fig, _ = plots.plot_frontier(result, flops, **common)
    elif kind == "extrapolation":
        fig, _ = plots.plot_extrapolation(result, flops, **common)
    elif kind in ("ppc", "prior-ppc"):
        fig, _ = plots.plot_predictive_check(result, "prior" if kind == "prior-ppc"
                                             else "posterior", seed=args.seed)
    elif kind == "pair":
        fig, _ = plots.plot_pair(result, **common)
    elif kind == "decision":
        plans = None if not args.plans else {text: _plan_pair(text) for text in args.plans}
        if plans is None and not flops:
            raise ValueError("the decision plot needs --flops C (or --plans N:D ...)")
        fig, _ = plots.plot_decision(result, plans, flops[0] if flops else None, **common)
    else:
        fig, _ = plots.plot_forecast(result, start_year=args.start_year,
                                     start_flops=args.start_flops, growth=args.growth,
                                     growth_sd=args.growth_sd, target_loss=args.target_loss,
                                     **common)
    fig.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dask", action="store_true",
                   help="run the fits on a local Dask cluster (pip install 'bayescale[dask]')")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers (default 2)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the fits on an existing Dask scheduler, e.g. tcp://host:8786")


def _runner(args):
    if not (args.dask or args.scheduler):
        return None
    from functools import partial

    from bayescale.checks.sweep import dask_map

    return partial(dask_map, scheduler=args.scheduler, workers=args.workers)


def _sensitivity(args) -> int:
    from bayescale.checks.sensitivity import prior_sensitivity

    result = _load_fit(args)
    table = prior_sensitivity(result, args.flops, factors=args.factors, run=_runner(args))
    title = (f"N_opt at {args.flops:.4g} FLOPs under every prior scale multiplied (5%, median, "
             f"95%); median_shift is relative to the fit, width_ratio compares the 90% "
             f"intervals; source '{result.default_source}':")
    return _print_table(table, args, title=title)


def _metrics(args) -> int:
    from bayescale.checks.sweep import fit_metrics

    table_options = {key: value for key, value in (("source_col", args.source_col),
                                                   ("source", args.source)) if value}
    columns = dict(_key_value(item, "--column") for item in args.column)
    if args.runs in datasets.available() and (columns or table_options):
        raise ValueError("--column, --source-col and --source apply to runs files only")
    spec = load_spec(args.model, priors=_parse_priors(args.prior))
    result = fit_metrics(args.runs, args.metrics, flops=args.flops, run=_runner(args),
                         columns=columns, model=spec, progressbar=False,
                         **table_options, **_sampler_options(args))
    if args.output:
        result.to_netcdf(args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    table = pd.DataFrame(index=pd.Index(result["fit"].values, name="metric"))
    shown = [name for name in ("N_opt", "alpha", "beta", "E") if name in result]
    for name in shown:
        low, median, high = (result[name].sel(quantile=q).values for q in SUMMARY_PROBS)
        table[name], table[f"{name}_lo"], table[f"{name}_hi"] = median, low, high
    table["source"] = result["source"].values
    table["converged"] = result["converged"].values
    table["problems"] = result["problems"].values
    table["error"] = result["error"].values
    title = (f"One fit per metric ({args.model}), median [5%, 95%]; N_opt at {args.flops:.4g} "
             "FLOPs (C = 6ND):")
    return _print_table(table, args, title=title)


def _validate_sbc(args) -> int:
    from bayescale.checks import validate

    result = validate.sbc(args.model, args.sims, design=args.design, flops=args.flops,
                          draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                          run=_runner(args))
    if args.output:
        result.to_netcdf(args.output)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from bayescale.plots import plot_ranks

        fig, _ = plot_ranks(result, bins=args.bins)
        fig.savefig(args.plot, dpi=120)
    table = validate.uniformity(result, bins=args.bins)
    failed = int((result["error"] != "").sum())
    title = (f"SBC of '{args.model}' on the (N, D) of {args.design}: {args.sims} simulations "
             f"({failed} failed; {int(result['converged'].sum())} met the convergence bar), "
             f"ranks among {result.attrs['n_ranks']} draws; chi-square test of uniform ranks in "
             f"{args.bins} bins (passed: p > 0.01):")
    return _print_table(table, args, title=title)


def _validate_heldout(args) -> int:
    from bayescale.checks import validate

    table = validate.heldout_calibration(args.datasets, holdout=args.holdout, draws=args.draws,
                                         tune=args.tune, resamples=args.resamples,
                                         seed=args.seed, baseline=not args.no_baseline,
                                         run=_runner(args))
    if args.output:
        table.to_csv(args.output)
    title = (f"Held-out calibration: fit the runs below the top {args.holdout:.0%} of compute, "
             "score the rest (coverage of 50/80/90/95% predictive intervals, mean log "
             "predictive density, median |relative error|):")
    return _print_table(table, args, title=title)


def _validate_transfer(args) -> int:
    from bayescale.checks import transfer

    known = [user.label for user in transfer.USER_SETS]
    unknown = [name for name in args.sets or [] if name not in known]
    if unknown:
        raise ValueError(f"--sets {', '.join(unknown)}: not a user set; choose from "
                         f"{', '.join(known)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each turn records its convergence in the table
        table = transfer.transfer_table(args.sets, args.regimes, args.methods,
                                        draws=args.draws, resamples=args.resamples,
                                        seed=args.seed)
    if args.output:
        table.to_csv(args.output, index=False)
    if args.json:
        return _print_table(table, args)
    _print_table(table.set_index(["user_set", "regime", "method"]).drop(columns=["dataset"]),
                 args, title="Leave-one-data-set-out transfer: the top 20% of each set's "
                             "compute held out and predicted with noise:")
    print()
    return _print_table(transfer.summarise(table).set_index(["method", "regime"]), args,
                        title="Summary (errors: mean over sets of each median |relative "
                              "error|; coverage pooled over held-out runs):")


def _summary(args) -> int:
    return _print_summary(_load_fit(args), args.prob, args.json)


def _models(args) -> int:
    if args.name is None:
        rows = [{"model": name, "description": load_spec(name).description}
                for name in available_specs()]
        return _print_table(pd.DataFrame(rows).set_index("model"), args)
    spec = load_spec(args.name)
    if args.json:
        print(spec.to_json())
        return 0
    pooling = {k: v for k, v in spec.pooling.items() if k not in ("scales", "why")}
    print(f"{spec.name}: {spec.description}\nlaw: {spec.law}; likelihood: {spec.likelihood}; "
          f"pooling: {json.dumps(pooling)}\n")
    for row in spec.prior_table().itertuples():
        print(f"{row.parameter} ~ {row.prior}\n    {row.why}")
    return 0


def _datasets(args) -> int:
    if args.name is None:
        rows = [{"data set": name, "title": datasets.info(name)["title"]}
                for name in datasets.available()]
        return _print_table(pd.DataFrame(rows).set_index("data set"), args)
    card = datasets.info(args.name)
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    for key in ("title", "citation", "license", "repo", "commit"):
        print(f"{key}: {' '.join(str(card[key]).split())}")
    for key, value in card.get("conventions", {}).items():
        print(f"convention {key}: {value}")
    paths = [entry["path"] for entry in card["files"]]
    shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
    print(f"files ({len(paths)}): {shown}")
    print("loader options: " + (", ".join(datasets.loader_options(args.name)) or "none"))
    return 0


def _load_fit(args) -> Fit:
    """Load ``args.fit``; its convergence goes into every --json record (see _records)."""
    result = Fit.load(args.fit)
    args.fit_status = {"converged": bool(result.converged),
                       "problems": list(result.diagnostics["problems"])}
    return result


def _print_summary(result: Fit, prob: float, as_json: bool) -> int:
    table = result.parameter_summary(prob=prob)
    diagnostics = result.diagnostics
    if as_json:
        print(json.dumps({
            "parameters": _records(table),
            "diagnostics": diagnostics,
            "method": result.method,
            "sampler": (result.sampler.to_dict() if result.method == "bayes"
                        else result.sampler),
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
    provenance = result.provenance
    print(f"Data sha256 {provenance['data_sha256'][:16]}..., created {provenance['created']}")
    for note in provenance["runs_notes"]:
        print(f"  runs: {note}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in provenance["versions"].items()))
    settings = result.sampler if isinstance(result.sampler, dict) else result.sampler.to_dict()
    print("Sampler: " + ", ".join(f"{k} {v}" for k, v in settings.items())
          + f"; ran on {result.tree.attrs.get('device', 'cpu')}")
    return 0


def _note_beyond(result: Fit, beyond, args, widened: bool = True) -> int:
    """Say below a table how far beyond the fitted runs its queries reach; return 0."""
    far = float(np.max(beyond))
    if far > 0 and not args.json:
        discrepancy = result.discrepancy
        how = ("these losses carry" if widened else
               "loss_opt here is the law's, without it; 'bayescale predict' adds")
        print(f"note: decades_beyond is how far each query lies beyond the largest fitted run "
              f"({10 ** discrepancy['log10_C_max']:.3g} FLOPs), up to {far:.2g} decades here; "
              f"{how} a discrepancy of {discrepancy['per_decade']:.3g} in log loss per decade "
              "beyond, on top of the posterior")
    return 0


def _print_table(table: pd.DataFrame, args, title: str | None = None) -> int:
    if args.json:
        print(json.dumps(_records(table, args), indent=2))
        return 0
    if title:
        print(title)
    print(_readable(table).to_string())
    return 0


def _readable(table: pd.DataFrame) -> pd.DataFrame:
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


def _records(table: pd.DataFrame, args=None) -> list[dict]:
    """Rows as JSON records; answers drawn from a fit carry its ``converged`` and ``problems``."""
    frame = table.reset_index() if table.index.name or table.index.nlevels > 1 else table
    if frame is table and not isinstance(table.index, pd.RangeIndex):
        frame = table.rename_axis("name").reset_index()
    records = json.loads(frame.to_json(orient="records", double_precision=15))
    status = getattr(args, "fit_status", None)
    return [record | status for record in records] if status else records


def _source(args) -> str | None:
    return NEW_SOURCE if args.new_source else args.source


def _query_title(result: Fit, args, kind: str, interval: bool = True) -> str:
    source = resolve_source(result, _source(args))
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


def _parse_priors(items: list[str]) -> dict:
    priors = {}
    for item in items:
        match = PRIOR_PATTERN.match(item.replace(" ", ""))
        if not match:
            raise ValueError(f"--prior '{item}' must look like NAME=DIST(k=v,...), e.g. "
                             "'alpha=LogNormal(mu=-1.05,sigma=0.2)'")
        name, dist, body = match.groups()
        params = dict(_key_value(part, "--prior") for part in body.split(",") if part)
        priors[name] = {"dist": dist} | {k: float(v) for k, v in params.items()}
    return priors


def _key_value(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"{flag} '{item}' must look like KEY=VALUE")
    return key, value


def _literal(value: str):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in lowered \
        else number


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"bayescale: warning ({category.__name__}): {' '.join(str(message).split())}\n"


if __name__ == "__main__":
    raise SystemExit(main())

