"""Questions to a saved fit: ``optimal``, ``predict``, ``optimality``, ``rule``, ``summary``."""

from __future__ import annotations

from bayescale.cli.common import (
    PROB,
    chosen_source,
    load_fit,
    model_size,
    note_beyond,
    positive_number,
    print_summary,
    print_table,
    probability,
    query_options,
    query_seed,
    query_title,
    reaches_beyond,
    refuse_ignored,
)

# bayescale.queries.famous.KAPLAN_EXPONENT, written out so that building the parser loads no
# query code (tests/test_cli.py checks they agree)
KAPLAN_EXPONENT = 0.73


def register(commands) -> None:
    """Add this group's subcommands to the parser."""
    p = commands.add_parser("optimal", help="posterior of the compute-optimal N, D, D/N, loss")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=positive_number, nargs="+", required=True,
                   help="budgets in FLOPs")
    p.add_argument("--unique-tokens", type=positive_number, metavar="U",
                   help="a budget of unique tokens (data-constrained law): the optimum when "
                        "data beyond U must be repeated")
    p.add_argument("--no-discrepancy", action="store_true",
                   help="the law's answer alone, without the discrepancy beyond the fitted "
                        "runs (to compare with published point estimates)")
    query_options(p)
    p.set_defaults(run=_optimal)

    p = commands.add_parser("predict", help="posterior loss of planned runs at (N, D)")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--params", type=model_size, nargs="+", required=True, help="N of each run")
    p.add_argument("--tokens", type=positive_number, nargs="+", required=True, help="D of each run")
    p.add_argument("--unique-tokens", type=positive_number, nargs="+", metavar="U",
                   help="unique tokens of each run (data-constrained law; default U = D)")
    p.add_argument("--noise", action="store_true",
                   help="include observation noise (the loss one run would report)")
    p.add_argument("--no-discrepancy", action="store_true",
                   help="without the discrepancy beyond the fitted runs (the law and noise "
                        "alone)")
    query_options(p)
    p.set_defaults(run=_predict)

    p = commands.add_parser(
        "optimality", help="how far famous models were from compute-optimal, under a fit")
    p.add_argument("fit", nargs="?", help="a fit file written by 'bayescale fit'")
    p.add_argument("--famous", nargs="+", metavar="KEY",
                   help="famous models, e.g. gpt-3 chinchilla (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the famous models and stop")
    query_options(p)
    p.set_defaults(run=_optimality)

    p = commands.add_parser(
        "rule", help="the loss a sizing rule N ~ C^a (Kaplan's a = 0.73 by default) costs "
                     "against the posterior-optimal allocation")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--flops", type=positive_number, nargs="+", required=True,
                   help="budgets in FLOPs")
    p.add_argument("--exponent", type=positive_number, default=KAPLAN_EXPONENT,
                   help="the rule's exponent a (default 0.73, Kaplan et al. 2020)")
    p.add_argument("--anchor-flops", type=positive_number, metavar="C",
                   help="where the rule is anchored (default: the largest compute in the fit)")
    p.add_argument("--anchor-params", type=model_size, metavar="N",
                   help="the rule's N at --anchor-flops (default: the posterior median N_opt)")
    query_options(p)
    p.set_defaults(run=_rule)

    p = commands.add_parser("summary", help="parameters, diagnostics and provenance of a fit")
    p.add_argument("fit", help="a fit file written by 'bayescale fit'")
    p.add_argument("--prob", type=probability, default=PROB, help="credible interval mass")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_summary)


def _optimal(args) -> int:
    from bayescale.fitting.summary import interval_table
    from bayescale.queries.frontier import compute_optimal

    result = load_fit(args)
    widened = not args.no_discrepancy and reaches_beyond(result, args, args.flops)
    frontier = compute_optimal(result, args.flops, source=chosen_source(args),
                               seed=query_seed(args, result, draws=widened),
                               unique_tokens=args.unique_tokens,
                               discrepancy=not args.no_discrepancy)
    table = interval_table(frontier, prob=args.prob, kind="hdi" if args.hdi else "eti")
    print_table(table, args, title=query_title(
        result, args, f"Posterior of the compute-optimal allocation (C = 6ND) under the "
                      f"{result.spec.law} law"))
    return note_beyond(result, table["decades_beyond"], args, not args.no_discrepancy)


def _predict(args) -> int:
    import numpy as np

    from bayescale.fitting.summary import interval_table
    from bayescale.queries.loss import predict

    result = load_fit(args)
    loss = predict(result, args.params, args.tokens, source=chosen_source(args), noise=args.noise,
                   seed=0 if args.seed is None else args.seed, unique_tokens=args.unique_tokens,
                   discrepancy=not args.no_discrepancy)
    table = _first(interval_table(loss, prob=args.prob, kind="hdi" if args.hdi else "eti"),
                   ["N", "D"])
    # beyond the fitted runs, the discrepancy is drawn at random too
    query_seed(args, result, draws=args.noise or (not args.no_discrepancy and reaches_beyond(
        result, args, 6 * np.asarray(args.params) * np.asarray(args.tokens))))
    kind = ("Posterior predictive loss of one run (with observation noise)" if args.noise
            else "Posterior of the law's loss (without observation noise)")
    print_table(table.set_index(["N", "D"]), args, title=query_title(result, args, kind))
    return note_beyond(result, table["decades_beyond"], args, not args.no_discrepancy)


def _optimality(args) -> int:
    from bayescale.data import datasets
    from bayescale.fitting.summary import interval_table
    from bayescale.queries.famous import optimality

    if args.list:
        refuse_ignored({"FIT": args.fit is not None, "--famous": bool(args.famous),
                        "--source": args.source is not None, "--new-source": args.new_source,
                        "--prob": args.prob != PROB, "--hdi": args.hdi,
                        "--seed": args.seed is not None},
                       "--list lists the famous models and stops (drop --list to ask a fit)")
        table = datasets.famous_models()[["name", "N", "D", "C", "source"]]
        return print_table(table, args)
    if args.fit is None:
        raise ValueError("give a fit file: bayescale optimality FIT.nc [--famous KEY ...]")
    result = load_fit(args)
    gap = optimality(result, args.famous, source=chosen_source(args),
                     seed=query_seed(args, result, draws=reaches_beyond(result, args)))
    shown = ["optimal_tokens_per_param", "tokens_per_param_ratio", "N_over_N_opt",
             "excess_loss"]
    table = interval_table(gap[shown], prob=args.prob, kind="hdi" if args.hdi else "eti")
    table.insert(0, "tokens_per_param", gap["tokens_per_param"].to_numpy())
    table = _first(table.drop(columns=["N", "D", "name"]), ["C"])
    warned = print_table(table, args, title=query_title(
        result, args, "Distance from compute-optimal at each model's own FLOPs (C = 6ND); "
                      "tokens_per_param_ratio > 1 is over-trained; excess_loss is the loss "
                      "left on the table, in the fitted source's nats/token"))
    return warned or note_beyond(result, table["decades_beyond"], args)


def _rule(args) -> int:
    from bayescale.fitting.summary import interval_table
    from bayescale.queries.famous import rule_allocation

    result = load_fit(args)
    gap = rule_allocation(result, args.flops, anchor_flops=args.anchor_flops,
                          anchor_params=args.anchor_params, exponent=args.exponent,
                          source=chosen_source(args), seed=query_seed(
                              args, result, draws=reaches_beyond(result, args, args.flops)))
    shown = ["N_over_N_opt", "tokens_per_param_ratio", "loss", "loss_opt", "excess_loss"]
    table = interval_table(gap[shown], prob=args.prob, kind="hdi" if args.hdi else "eti")
    table = _first(table.drop(columns="C").rename(columns={"N": "rule_N", "D": "rule_D"}),
                   ["rule_N", "rule_D"])
    warned = print_table(table, args, title=query_title(
        result, args, f"The rule N = {gap.attrs['anchor_params']:.4g} (C / "
                      f"{gap.attrs['anchor_flops']:.4g})^{gap.attrs['exponent']:g} against the "
                      "compute-optimal allocation; excess_loss is what the rule costs"))
    return warned or note_beyond(result, table["decades_beyond"], args)


def _first(table, columns):
    """Move ``columns`` of a table to its front, in that order."""
    return table[list(columns) + [c for c in table.columns if c not in columns]]


def _summary(args) -> int:
    return print_summary(load_fit(args), args.prob, args.json)
