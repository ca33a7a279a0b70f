"""Decisions from a saved fit: ``plan`` and ``forecast``."""

from __future__ import annotations

from bayescale import decide
from bayescale.cli.common import (
    chosen_source,
    growth_arguments,
    growth_values,
    load_fit,
    model_size,
    nonnegative_number,
    plan_pair,
    positive_number,
    print_sections,
    probability,
    query_options,
    query_seed,
    query_title,
    reaches_beyond,
)


def register(commands) -> None:
    """Add this group's subcommands to the parser."""
    p = commands.add_parser(
        "plan", help="the (N, D) to train at a FLOP budget: expected-loss and risk-averse "
                     "optima, plan comparisons, inference-aware sizing, the next run to make")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=positive_number, required=True, help="training budget in FLOPs")
    p.add_argument("--risk", type=probability, default=0.9,
                   help="quantile of the loss the risk-averse plan minimises (default 0.9)")
    p.add_argument("--params", type=model_size, metavar="N",
                   help="also show a plan of fixed size N")
    p.add_argument("--max-tokens", type=positive_number, metavar="D",
                   help="at most D training tokens")
    p.add_argument("--unique-tokens", type=positive_number, metavar="U",
                   help="unique tokens available; repeats valued by the data-constrained law")
    p.add_argument("--compare", nargs=2, metavar="N:D",
                   help="two plans to compare draw by draw, e.g. 70e9:1.4e12 35e9:2.8e12")
    p.add_argument("--target-loss", type=positive_number,
                   help="with --inference-tokens: the cheapest plan reaching this loss")
    p.add_argument("--inference-tokens", type=nonnegative_number, metavar="T",
                   help="lifetime inference tokens (cost 2N per token, Sardana et al. 2024)")
    p.add_argument("--next-run", nargs="+", metavar="N:D",
                   help="candidate small runs: how much each would shrink the uncertainty of "
                        "N_opt at --flops")
    query_options(p, interval=False)
    p.set_defaults(run=_plan)

    p = commands.add_parser(
        "forecast", help="compute needed for a target loss (or N_opt), and the year it is "
                         "reached under a compute-growth assumption")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-loss", type=positive_number, help="loss to reach, nats/token")
    target.add_argument("--target-params", type=model_size, help="compute-optimal N to reach")
    growth_arguments(p)
    query_options(p, interval=False)
    p.set_defaults(run=_forecast)


# A compared plan whose 6ND differs from the budget by more than this share is pointed out
BUDGET_TOLERANCE = 0.05


def _plan(args) -> int:
    import pandas as pd

    if (args.target_loss is None) != (args.inference_tokens is None):
        raise ValueError("give --target-loss and --inference-tokens together")
    if args.target_loss is not None and not (args.max_tokens is None
                                             and args.unique_tokens is None):
        raise ValueError("the inference-aware plan (--target-loss, --inference-tokens) takes no "
                         "--max-tokens or --unique-tokens, which would be ignored for it: ask "
                         "for it in a plan of its own")
    result = load_fit(args)
    query = dict(source=chosen_source(args),
                 seed=query_seed(args, result, draws=bool(args.next_run) or reaches_beyond(
                     result, args, [args.flops])))
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
                     "decades_beyond": float(plan.decades_beyond),
                     "expected_loss": float(plan.expected_loss),
                     f"loss_q{args.risk:g}": float(plan.loss.quantile(args.risk)),
                     "expected_regret": float(regret.mean())})
    sections = {"plans": (query_title(result, args, f"Plans at {args.flops:.4g} FLOPs (C = 6ND): "
                                           "losses in nats/token; expected_regret is the loss "
                                           "given up against each draw's own optimum",
                             interval=False), pd.DataFrame(rows).set_index("plan"))}
    if args.compare:
        a, b = (plan_pair(text) for text in args.compare)
        comparison = decide.compare_plans(result, a, b, unique_tokens=args.unique_tokens,
                                          **query)
        low, high = comparison.difference_interval.values
        shares = [6 * N * D / args.flops for N, D in (a, b)]
        off = [f"{label} uses {share:.0%} of it" for label, share in zip("AB", shares,
                                                                           strict=True)
               if abs(share - 1) > BUDGET_TOLERANCE]
        sections["comparison"] = (
            f"Plan A ({args.compare[0]}) against plan B ({args.compare[1]}), draw by draw "
            "(difference = loss A - loss B)"
            + (f"; NOTE: the budget is {args.flops:.4g} FLOPs and plan {' and plan '.join(off)}"
               " (C = 6ND): the comparison is of the plans as given, not at equal compute"
               if off else "") + ":",
            pd.DataFrame([{"prob_a_better": float(comparison.prob_a_better),
                           "expected_difference": float(comparison.expected_difference),
                           "difference_q0.05": low, "difference_q0.95": high,
                           "flops_share_a": shares[0], "flops_share_b": shares[1]}]))
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
        value = decide.value_of_next_run(result, [plan_pair(t) for t in args.next_run],
                                          args.flops, **query)
        table = value.to_dataframe().sort_values("expected_sd_log10_N_opt")
        sections["next_run"] = (
            f"Value of one more run: expected sd of log10 N_opt at {args.flops:.4g} FLOPs "
            f"after it (today {value.attrs['current_sd_log10_N_opt']:.4g}), best first; "
            f"mc_error is its Monte Carlo standard error ({value.attrs['outcomes']} simulated "
            "outcomes); worse_than_best False: not distinguishable from the best:", table)
    return print_sections(sections, args)


def _forecast(args) -> int:
    from bayescale.decide.forecast import forecast_table, forecast_year

    result = load_fit(args)
    growth = growth_values(args)
    outcome = forecast_year(result, **growth, target_loss=args.target_loss,
                            target_params=args.target_params, source=chosen_source(args),
                            seed=query_seed(args, result, draws=growth["growth_sd"] > 0
                                            or reaches_beyond(result, args)))
    table = forecast_table(outcome)
    start_year = growth["start_year"]
    title = query_title(
        result, args, f"When is {outcome.attrs['target']} reached? Compute of the "
                      f"compute-optimal run that reaches it, and the year, with the largest "
                      f"budget {growth['start_flops']:.3g} FLOPs in {start_year:g} growing "
                      f"{growth['growth']:g}x a year (sd of log {growth['growth_sd']:g}); "
                      "quantiles over the posterior", interval=False)
    if table.loc["year"].iloc[0] < start_year:
        title += (f" (a year before {start_year:g} means the {start_year:g} budget "
                  "already reaches the target)")
    return print_sections({"forecast": (title, table.T)}, args)
