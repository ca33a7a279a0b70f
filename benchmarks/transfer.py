"""Benchmark: leave-one-data-set-out transfer (does borrowing from published runs help?).

Usage: ``./run.sh bench transfer [--quick] [--draws N] [--resamples 1000]``
(or ``python benchmarks/transfer.py``).

Every registered data set (gadre2024's three training sets, three of porian2024's
configurations) takes a turn as "the user's runs", its top 20% by compute held out, in three
regimes (its 5 and 8 lowest-compute runs spanning 3 sizes; its lower 80%), fitted alone, with
every other data set (the default ``with_datasets`` borrowing), and by the Huber-bootstrap
baseline (see :mod:`bayescale.checks.transfer`). Prints the per-turn table and the summary and
writes ``benchmarks/results/transfer.csv`` and ``transfer_summary.csv``. Resumable: each turn is
appended to ``transfer_rows.csv`` as it finishes, and a rerun with the same draws and
resamples skips the turns already there (``--fresh`` starts again); ``--sets`` and
``--methods`` run a sample of it. ``--quick`` runs one set
(gadre2024/rpj) with few draws: the smoke test CI runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import pandas as pd

from bayescale.checks import transfer

RESULTS = Path(__file__).parent / "results"


def markdown(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    """The tables of docs/validation/transfer.md: per set and regime, then the summary."""
    wide = table.pivot_table(index=["user_set", "regime"], columns="method", sort=False,
                             values=["median_rel_error", "coverage90", "coverage50",
                                     "median_width90", "interval_score90",
                                     "decades_beyond_max"])
    methods = [m for m in transfer.METHODS if m in set(table["method"])]
    names = " / ".join(methods)
    lines = [f"| user set | regime | n fit / held out | decades beyond | median error: {names} | "
             f"90% coverage: {names} | 50% coverage: {names} | 90% width: {names} | "
             f"90% interval score: {names} |",
             "|---" * 9 + "|"]
    counts = table.groupby(["user_set", "regime"], sort=False)[["n_fit", "n_held_out"]].first()
    for (user, regime), row in wide.iterrows():

        def cells(name, style, row=row):
            return " / ".join(format(row[(name, m)], style) for m in methods)

        n_fit, n_held = counts.loc[(user, regime)]
        lines.append(f"| {user} | {regime} | {n_fit} / {n_held} | "
                     f"{row[('decades_beyond_max', methods[0])]:.2f} | "
                     f"{cells('median_rel_error', '.2%')} | {cells('coverage90', '.0%')} | "
                     f"{cells('coverage50', '.0%')} | {cells('median_width90', '.0%')} | "
                     f"{cells('interval_score90', '.3f')} |")
    lines += ["", "| method | regime | mean of median errors | 50% | 80% | 90% | 95% coverage "
              "(pooled) | 90% coverage, worst / best set | mean 90% interval score | mean lpd | "
              "N_opt 90% coverage (budgets) | N_opt interval score | wall (s) | converged |",
              "|---" * 13 + "|"]
    for _, row in summary.iterrows():
        lines.append(
            f"| {row['method']} | {row['regime']} | {row['mean_median_rel_error']:.2%} | "
            f"{row['coverage50_pooled']:.0%} | {row['coverage80_pooled']:.0%} | "
            f"{row['coverage90_pooled']:.0%} | {row['coverage95_pooled']:.0%} | "
            f"{row['coverage90_min']:.0%} / {row['coverage90_max']:.0%} | "
            f"{row['interval_score90_mean']:.3f} | {row['lpd_mean']:.3g} | "
            f"{row['N_opt_coverage90_pooled']:.0%} ({row['n_budgets']:.0f}) | "
            f"{row['N_opt_interval_score90_mean']:.2f} | {row['wall_s']:.0f} | "
            f"{row['converged']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one user set, regime few-8, 300 draws, 200 resamples")
    parser.add_argument("--draws", type=int, default=None,
                        help="draws and tuning steps per chain (default: the fit's own, 1000 "
                             "then 2000 and 4000 while not converged)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="Huber bootstrap resamples (default 1000)")
    parser.add_argument("--sets", nargs="+", default=None, help="user-set labels to run")
    parser.add_argument("--methods", nargs="+", default=None, choices=transfer.METHODS,
                        help="ways of fitting (default: all; --quick: alone, with, huber)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the CSV files")
    parser.add_argument("--fresh", action="store_true",
                        help="start again instead of resuming: delete the rows of earlier runs")
    args = parser.parse_args(argv)
    logging.getLogger("bayescale").setLevel(logging.WARNING)
    sets, regimes = args.sets, transfer.REGIMES
    draws, resamples = args.draws, args.resamples
    methods = args.methods or list(transfer.METHODS)
    if args.quick:
        sets, regimes = sets or list(transfer.QUICK_SETS), ("few-8",)
        draws, resamples = min(draws or 300, 300), min(resamples, 200)
        methods = args.methods or list(transfer.QUICK_METHODS)
    # Resumable: each row is appended to transfer_rows.csv as it finishes; a rerun with the
    # same draws and resamples skips the (set, regime, method) turns already there.
    args.out.mkdir(parents=True, exist_ok=True)
    rows_file = args.out / ("transfer_rows_quick.csv" if args.quick else "transfer_rows.csv")
    if args.fresh and rows_file.exists():
        rows_file.unlink()
    earlier = pd.read_csv(rows_file) if rows_file.exists() else pd.DataFrame()
    setting = f"draws={draws or 'auto'} resamples={resamples}"
    if len(earlier):
        earlier = earlier[earlier["setting"] == setting]
    done = set(zip(earlier.get("user_set", []), earlier.get("regime", []),
                   earlier.get("method", []), strict=True))

    made = []

    def append(row):
        made.append(row)
        pd.DataFrame([row | {"setting": setting}]).to_csv(
            rows_file, mode="a", index=False, header=not rows_file.exists())

    start = time.perf_counter()
    transfer.transfer_table(sets, regimes, methods, draws=draws, resamples=resamples,
                            progress=True, done=done, on_row=append)
    wall = time.perf_counter() - start
    table = pd.read_csv(rows_file)
    table = table[(table["setting"] == setting) & table["method"].isin(methods)
                  & table["regime"].isin(regimes)
                  & (table["user_set"].isin(sets) if sets else True)].drop(columns="setting")
    summary = transfer.summarise(table.reset_index(drop=True))
    table.to_csv(args.out / "transfer.csv", index=False)
    summary.to_csv(args.out / "transfer_summary.csv", index=False)
    (args.out / "transfer.md").write_text(markdown(table, summary))
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.float_format", "{:.3g}".format):
        print(table.drop(columns=["dataset"]).to_string(index=False))
        print()
        print(summary.to_string(index=False))
    print(f"\n{len(table)} fits ({len(made)} this sitting, {wall:.0f} s) on "
          f"{platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; draws {draws or 'as bayescale.fit chooses'}, "
          f"resamples {resamples}; "
          f"CSV in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
