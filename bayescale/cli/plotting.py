"""Figures of a saved fit: ``bayescale plot``."""

from __future__ import annotations

from bayescale.cli.common import (
    GROWTH,
    check_outputs,
    growth_arguments,
    growth_values,
    load_fit,
    nonnegative_int,
    overwrite_argument,
    plan_pair,
    positive_number,
    refuse_ignored,
    save_figure,
)

# --dpi: below, text is unreadable; above, one figure takes gigabytes of memory
DPI_RANGE = (20, 1200)


def register(commands) -> None:
    """Add this group's subcommands to the parser."""
    p = commands.add_parser("plot", help="draw a plot of a fit to an image file")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("kind", choices=sorted(PLOT_KINDS),
                   help="which plot: ppc is each run's residual against N, D and D/N with its "
                        "predictive interval; ppc-dist and prior-ppc the distribution of the "
                        "runs' log loss against posterior or prior predictive draws")
    p.add_argument("-o", "--output", required=True, help="image file (.png, .pdf, .svg)")
    overwrite_argument(p, "the -o file")
    p.add_argument("--flops", type=positive_number, nargs="+",
                   help="budgets: IsoFLOP curves (default 1e19 1e21 1e23), the span of the "
                        "frontier and extrapolation plots, the decision plot's budget")
    p.add_argument("--plans", nargs="+", metavar="N:D",
                   help="decision plot: your plans, drawn beside the expected-loss optimum, 20 "
                        "tokens per parameter and Kaplan's rule at --flops (or alone)")
    p.add_argument("--target-loss", type=positive_number, help="forecast plot: the target loss")
    growth_arguments(p, what="forecast plot: ")
    p.add_argument("--source", help="a fitted source (default: the fit's default source; "
                                    "the ppc plots show every source)")
    p.add_argument("--dpi", type=int, default=150,
                   help=f"image resolution, {DPI_RANGE[0]}-{DPI_RANGE[1]} dots per inch")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    p.set_defaults(run=_plot)


PLOT_KINDS = ("runs", "isoflop", "frontier", "extrapolation", "ppc", "ppc-dist", "prior-ppc",
              "pair", "decision", "forecast")

# The options each plot reads, besides the fit, --output, --dpi and --seed (another given to it
# would be ignored, so it is refused)
PLOT_OPTIONS = {"runs": {"source"}, "isoflop": {"flops", "source"},
                "frontier": {"flops", "source"}, "extrapolation": {"flops", "source"},
                "ppc": set(), "ppc-dist": set(), "prior-ppc": set(), "pair": {"source"},
                "decision": {"flops", "plans", "source"},
                "forecast": {"target_loss", "source", *GROWTH}}


def _plot(args) -> int:
    kind, flops = args.kind, args.flops
    refuse_ignored({"--" + name.replace("_", "-"): getattr(args, name) is not None
                    for name in ("flops", "plans", "target_loss", "source", *GROWTH)
                    if name not in PLOT_OPTIONS[kind]},
                   f"the {kind} plot reads fewer options than others ('bayescale plot "
                   "--help' says which plot reads what)")
    if not DPI_RANGE[0] <= args.dpi <= DPI_RANGE[1]:
        raise ValueError(f"--dpi {args.dpi}: give {DPI_RANGE[0]} to {DPI_RANGE[1]} dots per "
                         "inch (300 prints sharply)")
    if kind == "decision" and flops and len(flops) > 1:
        raise ValueError(f"the decision plot is drawn at one budget: give one --flops, not "
                         f"{len(flops)}")
    if kind == "decision" and not args.plans and not flops:
        raise ValueError("the decision plot needs --flops C (or --plans N:D ...)")
    check_outputs(args, image=(args.output,))
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from bayescale import plots

    result = load_fit(args)
    common = dict(source=args.source, seed=args.seed)
    if kind == "runs":
        fig, _ = plots.plot_runs(result, **common)
    elif kind == "isoflop":
        fig, _ = plots.plot_isoflop(result, flops or [1e19, 1e21, 1e23], **common)
    elif kind == "frontier":
        fig, _ = plots.plot_frontier(result, flops, **common)
    elif kind == "extrapolation":
        fig, _ = plots.plot_extrapolation(result, flops, **common)
    elif kind == "ppc":
        fig, _ = plots.plot_residuals(result, seed=args.seed)
    elif kind == "ppc-dist":
        fig, _ = plots.plot_predictive_check(result, "posterior", seed=args.seed)
    elif kind == "prior-ppc":
        fig, _ = plots.plot_predictive_check(result, "prior", seed=args.seed)
    elif kind == "pair":
        fig, _ = plots.plot_pair(result, **common)
    elif kind == "decision":
        plans = None if not args.plans else {text: plan_pair(text) for text in args.plans}
        fig, _ = plots.plot_decision(result, plans, flops[0] if flops else None, **common)
    else:
        fig, _ = plots.plot_forecast(result, **growth_values(args),
                                     target_loss=args.target_loss, **common)
    save_figure(fig, args.output, args, dpi=args.dpi)
    return 0
