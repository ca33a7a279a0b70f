"""Fit runs and save the posterior: ``bayescale fit``."""

from __future__ import annotations

import argparse
import sys

from bayescale.cli.common import (
    check_registered,
    command_inputs,
    parse_priors,
    positive_int,
    print_summary,
    refuse_ignored,
    runs_arguments,
    runs_from,
    sampler_arguments,
    sampler_options,
)

# bayescale.fitting.result.METHODS, written out so that building the parser loads no fitting
# code (tests/test_cli.py checks they agree)
METHODS = ("bayes", "huber-bootstrap")
RESAMPLES = 4000  # bayescale.estimators.huber.RESAMPLES


def register(commands) -> None:
    """Add this group's subcommands to the parser."""
    from bayescale.spec.model_spec import available_specs

    p = commands.add_parser("fit", help="fit a scaling law to runs and save the posterior")
    runs_arguments(p)
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
    p.add_argument("--likelihood", choices=["student_t", "normal", "laplace"],
                   help="noise distribution of log loss (default: the model's)")
    p.add_argument("--method", choices=list(METHODS), default="bayes",
                   help="bayes (PyMC posterior) or huber-bootstrap (the classical Hoffmann/"
                        "Epoch fit with bootstrap intervals, as a baseline)")
    p.add_argument("--resamples", type=positive_int, default=RESAMPLES,
                   help="bootstrap resamples of --method huber-bootstrap")
    p.add_argument("--starts", choices=["epoch", "coarse"], default="epoch",
                   help="--method huber-bootstrap: L-BFGS-B from Epoch's 4500 starts, or 243")
    sampler_arguments(p, retry=True)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the sampler's progress bar (default: when stderr is a terminal, "
                        "so logs and notebooks get no bar)")
    p.add_argument("--no-log-likelihood", action="store_true",
                   help="do not store the pointwise log likelihood (LOO needs it; it takes "
                        "chains x draws x runs doubles, 3.2 GB at 100k runs)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_fit)


def _show_progress(args) -> bool:
    """--progress / --no-progress, else a bar only on a terminal (not in logs or notebooks)."""
    return sys.stderr.isatty() if args.progress is None else args.progress


def _fit(args) -> int:
    from bayescale.fitting import fitfile
    from bayescale.fitting.fitfile import check_output
    from bayescale.fitting.fitter import check_options, fit
    from bayescale.inference.settings import SamplerSettings
    from bayescale.spec.model_spec import load_spec

    check_output(args.output, overwrite=args.overwrite, inputs=command_inputs(args))
    if args.method == "huber-bootstrap":
        refuse_ignored({"--no-log-likelihood": args.no_log_likelihood,
                        "--progress/--no-progress": args.progress is not None},
                       "--method huber-bootstrap stores no log likelihood and shows no "
                       "sampler progress")
    # refuse a bad model, prior, likelihood, or options that contradict each other or would be
    # ignored, before reading any runs
    options = dict(method=args.method, resamples=args.resamples, starts=args.starts,
                   with_datasets=args.with_datasets or (), borrow=args.borrow,
                   priors=parse_priors(args.prior), likelihood=args.likelihood,
                   **sampler_options(args))
    spec = load_spec(args.model, priors=options["priors"], likelihood=args.likelihood)
    check_options(spec, discrepancy="learned", pooling=None,
                  **{name: value for name, value in options.items() if name != "seed"})
    if args.method == "bayes":  # refuse bad sampler settings before reading any runs
        SamplerSettings(**{name: options[name] for name in SamplerSettings.__dataclass_fields__
                           if options[name] is not None})
    if args.borrow == "prior" and args.with_datasets:
        if args.with_option:
            raise ValueError("--with-option loads a data set with options, which needs "
                             "--borrow joint (the literature prior is learned from the "
                             "registered data sets as they are)")
        check_registered([name for name in args.with_datasets if name != "all"])
        runs, published = runs_from(args, load_with=False), args.with_datasets
    else:
        runs, published = runs_from(args)
    result = fit(runs, model=args.model, progressbar=_show_progress(args),
                 log_likelihood=not args.no_log_likelihood,
                 **options | {"with_datasets": published})
    path = fitfile.write(result.tree, args.output, overwrite=args.overwrite,
                         inputs=command_inputs(args))
    if args.verbosity >= 0:  # -q: warnings and errors only
        print(f"saved {result!r} to {path}", file=sys.stderr)
    status = print_summary(result, 0.94, args.json)
    if args.strict and not result.converged:
        print("bayescale: --strict: the fit did not converge ("
              + "; ".join(result.diagnostics["problems"]) + ")", file=sys.stderr)
        return 3
    return status
