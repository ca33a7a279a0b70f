"""Is a fit to be trusted: compare, approaches, sensitivity, metrics, validate."""

from __future__ import annotations

import json
import warnings

from bayescale.cli.common import (
    check_outputs,
    json_records,
    key_values,
    load_fit,
    load_runs,
    nonnegative_int,
    overwrite_argument,
    parse_priors,
    positive_int,
    positive_number,
    print_table,
    probability,
    readable_table,
    refuse_ignored,
    runs_arguments,
    runs_from,
    sampler_arguments,
    sampler_options,
    save_figure,
    sweep_arguments,
    sweep_runner,
    write_output,
)

# Defaults of options that a command refuses when another option makes it ignore them (so they
# default to None, to tell whether they were given): the library's defaults, written out so that
# building the parser loads no check code (tests/test_package.py checks they agree)
HOLDOUT = 0.2  # compare: the share of runs, largest compute first, held out
SENSITIVITY_FLOPS = 1e24  # sensitivity: the refits' budget
FACTORS = (0.5, 2.0)  # sensitivity: the refits' multipliers of every prior scale
HELDOUT_RESAMPLES = 500  # validate heldout: the baseline's bootstrap resamples
TRANSFER_RESAMPLES = 1000  # validate transfer: the huber method's bootstrap resamples


def register(commands) -> None:
    """Add this group's subcommands to the parser."""
    from bayescale.spec.model_spec import available_specs

    p = commands.add_parser(
        "compare", help="compare laws on the same runs: PSIS-LOO and a held-out extrapolation "
                        "check of the largest-compute runs")
    runs_arguments(p)
    p.add_argument("--models", nargs="+", default=["chinchilla", "kaplan"], metavar="MODEL",
                   help=f"named models to compare ({', '.join(available_specs())})")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--holdout", type=probability,
                      help=f"fraction of runs, largest compute first, to hold out (default "
                           f"{HOLDOUT:g})")
    held.add_argument("--holdout-above", type=positive_number, metavar="FLOPS",
                      help="hold out the runs with C >= FLOPS instead")
    p.add_argument("--no-extrapolation", action="store_true",
                   help="PSIS-LOO only (skip the held-out refits)")
    p.add_argument("--plot", metavar="FILE",
                   help="draw each law's held-out runs, predicted against observed, to this "
                        "image file (.png, .pdf, .svg)")
    overwrite_argument(p, "the --plot file")
    sampler_arguments(p)
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
    p.add_argument("--flops", type=positive_number,
                   help="budget at which to compare N_opt (default: the largest compute "
                        "among the runs)")
    p.add_argument("--draws", type=positive_int, default=1000, help="draws per chain")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_approaches)

    p = commands.add_parser(
        "sensitivity", help="how much the priors matter: power-scaling sensitivity without "
                            "refits, then how far N_opt at a budget moves under narrower and "
                            "wider priors")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=positive_number, help=f"target budget of the refits (default "
                                                f"{SENSITIVITY_FLOPS:g})")
    p.add_argument("--factors", type=positive_number, nargs="+",
                   help="multipliers of every prior scale in the refits (default "
                        f"{' '.join(f'{factor:g}' for factor in FACTORS)})")
    p.add_argument("--no-refit", action="store_true",
                   help="the first pass only (power-scaling, seconds): no refits")
    sweep_arguments(p)
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
    p.add_argument("--flops", type=positive_number, default=1e24,
                   help="budget of the N_opt column (default 1e24)")
    sampler_arguments(p)
    sweep_arguments(p)
    p.add_argument("-o", "--output", help="also write the gathered Dataset (.nc)")
    overwrite_argument(p, "the -o file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_metrics)

    p = commands.add_parser("validate", help="calibration: simulation-based calibration (sbc), "
                                             "held-out scoring on published data (heldout) and "
                                             "leave-one-data-set-out transfer (transfer)")
    checks = p.add_subparsers(dest="check", required=True)
    q = checks.add_parser("sbc", help="simulation-based calibration of a model on a design")
    q.add_argument("--model", default="chinchilla", help="named model or .toml file")
    q.add_argument("--sims", type=positive_int, default=200,
                   help="simulated data sets (default 200)")
    q.add_argument("--design", default="epoch-chinchilla",
                   help="registered data set whose (N, D) the simulations use")
    q.add_argument("--flops", type=positive_number, default=1e24, help="budget of the N_opt ranks")
    q.add_argument("--draws", type=positive_int, default=500, help="draws per chain of each fit")
    q.add_argument("--tune", type=nonnegative_int, default=500,
                   help="tuning steps per chain of each fit")
    q.add_argument("--chains", type=positive_int, default=2, help="chains of each fit")
    q.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    q.add_argument("--bins", type=positive_int, default=10, help="rank bins of the uniformity test")
    q.add_argument("--plot", help="write the rank histograms to this image file")
    q.add_argument("-o", "--output", help="save the ranks (.nc)")
    overwrite_argument(q, "the -o and --plot files")
    sweep_arguments(q)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(run=_validate_sbc)
    q = checks.add_parser("heldout", help="fit the smaller runs of each data set, score the "
                                          "largest: Bayes against the Huber bootstrap")
    q.add_argument("--datasets", nargs="+", help="data sets (default: all with >= 2 decades "
                                                 "of compute)")
    q.add_argument("--holdout", type=probability, default=0.2, help="share held out (default 0.2)")
    q.add_argument("--draws", type=positive_int, default=1000,
                   help="draws per chain (default 1000); a fit that does not converge is "
                        "refitted once with twice the draws and tuning steps")
    q.add_argument("--tune", type=nonnegative_int, default=1000, help="tuning steps per chain")
    q.add_argument("--resamples", type=positive_int,
                   help=f"baseline bootstrap resamples (default {HELDOUT_RESAMPLES})")
    q.add_argument("--starts", choices=["epoch", "coarse"],
                   help="the baseline's L-BFGS-B starts: Epoch's 4500, or 243 (default: epoch)")
    q.add_argument("--no-baseline", action="store_true", help="score the Bayesian fits only")
    sweep_arguments(q)
    q.add_argument("-o", "--output", help="also write the table as CSV")
    overwrite_argument(q, "the -o file")
    q.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
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
    q.add_argument("--draws", type=positive_int, default=None,
                   help="draws and tuning steps per chain (default: the fit's own, 1000 and "
                        "2000 and 4000 while not converged)")
    q.add_argument("--resamples", type=positive_int,
                   help=f"the huber method's bootstrap resamples (default {TRANSFER_RESAMPLES})")
    q.add_argument("--methods", nargs="+", choices=["alone", "with", "with-pair", "huber"],
                   default=["alone", "with", "with-pair", "huber"],
                   help="ways of fitting (default: all four)")
    q.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    q.add_argument("-o", "--output", help="also write the per-turn table as CSV")
    overwrite_argument(q, "the -o file")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(run=_validate_transfer)


def _compare(args) -> int:
    import pandas as pd

    from bayescale.checks.compare import PARETO_K_LIMIT, compare_laws, extrapolation_check

    # before any fit
    check_outputs(args, image=(args.plot,))
    if args.no_extrapolation:
        refuse_ignored({"--holdout": args.holdout is not None,
                        "--holdout-above": args.holdout_above is not None,
                        "--plot": args.plot is not None},
                       "--no-extrapolation skips the held-out refits")
    elif args.with_datasets:
        raise ValueError("the extrapolation check holds out your runs' largest-compute "
                         "runs from a one-table fit: drop --with, or use --no-extrapolation")
    runs, published = runs_from(args)
    options = sampler_options(args) | ({"with_datasets": published, "borrow": "joint"}
                                       if published else {})
    comparison = compare_laws(runs, args.models, **options)
    loo = comparison.table[["rank", "elpd", "se", "elpd_diff", "dse", "p", "weight",
                            "bad_pareto_k", "converged"]]
    scores, held_out = {}, {}
    if not args.no_extrapolation:
        for name in args.models:
            held_out[name] = extrapolation_check(
                runs, name, holdout=HOLDOUT if args.holdout is None else args.holdout,
                holdout_above=args.holdout_above, **options)
            scores[name] = held_out[name].summary
    if args.plot:
        _plot_heldout(held_out, args.plot, args)
    if args.json:
        print(json.dumps({"loo": json_records(loo), "extrapolation": scores}, indent=2))
        return 0
    print("PSIS-LOO of log loss (higher elpd is better; elpd_diff against the best law; "
          f"bad_pareto_k: runs with k > {PARETO_K_LIMIT}):")
    print(readable_table(loo).to_string())
    if scores:
        table = pd.DataFrame(scores).T
        first = next(iter(scores.values()))
        print(f"\nExtrapolation: fitted {first['n_fit']} runs, scored the {first['n_held_out']} "
              f"with C >= {first['threshold_flops']:.3g} FLOPs (predictive with noise):")
        print(table[["lpd_mean", "coverage50", "coverage90", "median_abs_rel_error",
                     "converged"]].to_string(float_format=lambda value: f"{value:.4g}"))
    return 0


def _plot_heldout(held_out: dict, path: str, args) -> None:
    """Draw each law's held-out check side by side into one image file."""
    import matplotlib.pyplot as plt

    from bayescale import plots

    fig, axes = plt.subplots(1, len(held_out), figsize=(5.5 * len(held_out), 4.5),
                             squeeze=False, layout="constrained")
    for ax, (name, score) in zip(axes[0], held_out.items(), strict=True):
        plots.plot_heldout(score, axes=ax)
        ax.set_title(f"{name}: " + ax.get_title(), fontsize="small")
    save_figure(fig, path, args, dpi=150)


def _approaches(args) -> int:
    from bayescale.checks.approaches import compare_approaches

    refuse_ignored({"--final-option": bool(args.final_option) and not args.final},
                   "--final-option is a loader option of --final, and no --final is given")
    empty = {"column": [], "source_col": None, "source": None}
    runs = load_runs(args.runs, args.option, dict(empty))
    final = (load_runs(args.final, args.final_option, dict(empty)) if args.final else None)
    table, _ = compare_approaches(runs, budget=args.budget, group=args.group, flops=args.flops,
                                  final_runs=final, seed=args.seed, draws=args.draws)
    if args.json:
        return print_table(table, args)
    flops = float(table["flops"].iloc[0])
    print(f"Chinchilla's three approaches on {args.runs}: exponent a of N_opt ~ C^a and N_opt "
          f"at {flops:.3g} FLOPs, median [95% interval]:")
    shown = readable_table(table.drop(columns=["flops"])).fillna("")
    print(shown.replace("nan [nan, nan]", "-").to_string())
    return 0


def _sensitivity(args) -> int:
    from bayescale.checks.sensitivity import PSENSE_THRESHOLD, power_scaling, prior_sensitivity

    if args.no_refit:
        refuse_ignored({"--flops": args.flops is not None, "--factors": args.factors is not None,
                        "--dask": args.dask, "--workers": args.workers is not None,
                        "--scheduler": args.scheduler is not None},
                       "--no-refit runs the first pass only, with no refits")
    flops = SENSITIVITY_FLOPS if args.flops is None else args.flops
    result = load_fit(args)
    scaling = power_scaling(result)
    refits = None
    if not args.no_refit:
        refits = prior_sensitivity(result, flops, factors=args.factors or list(FACTORS),
                                   run=sweep_runner(args))
    if args.json:
        print(json.dumps({"power_scaling": json_records(scaling, args),
                          "refits": None if refits is None else json_records(refits, args)},
                         indent=2))
        return 0
    print_table(scaling, args, title=(
        "First pass, no refits: power-scaling sensitivity of each parameter to the prior and to "
        f"the likelihood (cumulative Jensen-Shannon distance; above {PSENSE_THRESHOLD} the prior "
        "still shapes the parameter):"))
    if refits is not None:
        print()
        print_table(refits, args, title=(
            f"Refits: N_opt at {flops:.4g} FLOPs under every prior scale multiplied (5%, "
            "median, 95%); median_shift is relative to the fit, width_ratio compares the 90% "
            f"intervals; source '{result.default_source}':"))
    return 0


def _metrics(args) -> int:
    import pandas as pd

    from bayescale.checks.sweep import SUMMARY_PROBS, fit_metrics
    from bayescale.data import datasets
    from bayescale.spec.model_spec import load_spec

    check_outputs(args, args.output)
    table_options = {key: value for key, value in (("source_col", args.source_col),
                                                   ("source", args.source)) if value}
    columns = key_values(args.column, "--column", unique_values=True)
    if args.runs in datasets.available() and (columns or table_options):
        raise ValueError("--column, --source-col and --source apply to runs files only")
    spec = load_spec(args.model, priors=parse_priors(args.prior))
    result = fit_metrics(args.runs, args.metrics, flops=args.flops, run=sweep_runner(args),
                         columns=columns, model=spec, progressbar=False,
                         **table_options, **sampler_options(args))
    if args.output:
        write_output(args, args.output, lambda temporary: result.to_netcdf(temporary))
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
    return print_table(table, args, title=title)


def _validate_sbc(args) -> int:
    from bayescale.checks import validate

    check_outputs(args, args.output, image=(args.plot,))
    result = validate.sbc(args.model, args.sims, design=args.design, flops=args.flops,
                          draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                          run=sweep_runner(args))
    if args.output:
        write_output(args, args.output, lambda temporary: result.to_netcdf(temporary))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from bayescale.plots import plot_ranks

        fig, _ = plot_ranks(result, bins=args.bins)
        save_figure(fig, args.plot, args, dpi=120)
    table = validate.uniformity(result, bins=args.bins)
    failed = int((result["error"] != "").sum())
    title = (f"SBC of '{args.model}' on the (N, D) of {args.design}: {args.sims} simulations "
             f"({failed} failed; {int(result['converged'].sum())} met the convergence bar), "
             f"ranks among {result.attrs['n_ranks']} draws; chi-square test of uniform ranks in "
             f"{args.bins} bins (passed: p > 0.01):")
    return print_table(table, args, title=title)


def _validate_heldout(args) -> int:
    from bayescale.checks import validate

    check_outputs(args, args.output)
    if args.no_baseline:
        refuse_ignored({"--resamples": args.resamples is not None,
                        "--starts": args.starts is not None},
                       "--no-baseline scores the Bayesian fits only")
    table = validate.heldout_calibration(args.datasets, holdout=args.holdout, draws=args.draws,
                                         tune=args.tune, resamples=HELDOUT_RESAMPLES
                                         if args.resamples is None else args.resamples,
                                         starts=args.starts or "epoch", seed=args.seed,
                                         baseline=not args.no_baseline,
                                         run=sweep_runner(args))
    if args.output:
        write_output(args, args.output, lambda temporary: table.to_csv(temporary))
    title = (f"Held-out calibration: fit the runs below the top {args.holdout:.0%} of compute, "
             "score the rest (coverage of 50/80/90/95% predictive intervals, mean log "
             "predictive density, median |relative error|):")
    return print_table(table, args, title=title)


def _validate_transfer(args) -> int:
    from bayescale.checks import transfer

    check_outputs(args, args.output)
    refuse_ignored({"--resamples": args.resamples is not None and "huber" not in args.methods},
                   "--resamples sets the huber method's resamples, and --methods leaves it out")
    known = [user.label for user in transfer.USER_SETS]
    unknown = [name for name in args.sets or [] if name not in known]
    if unknown:
        raise ValueError(f"--sets {', '.join(unknown)}: not a user set; choose from "
                         f"{', '.join(known)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each turn records its convergence in the table
        table = transfer.transfer_table(args.sets, args.regimes, args.methods,
                                        draws=args.draws, resamples=TRANSFER_RESAMPLES
                                        if args.resamples is None else args.resamples,
                                        seed=args.seed)
    if args.output:
        write_output(args, args.output, lambda temporary: table.to_csv(temporary, index=False))
    if args.json:
        return print_table(table, args)
    print_table(table.set_index(["user_set", "regime", "method"]).drop(columns=["dataset"]),
                 args, title="Leave-one-data-set-out transfer: the top 20% of each set's "
                             "compute held out and predicted with noise:")
    print()
    return print_table(transfer.summarise(table).set_index(["method", "regime"]), args,
                        title="Summary (errors: mean over sets of each median |relative "
                              "error|; coverage pooled over held-out runs):")
