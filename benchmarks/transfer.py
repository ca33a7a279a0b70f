"""Benchmark: leave-one-data-set-out transfer (does borrowing from published runs help?).

Usage: ``./run.sh bench transfer [--quick] [--draws 1000] [--resamples 1000]``
(or ``python benchmarks/transfer.py``).

Every registered data set (gadre2024's three training sets, three of porian2024's
configurations) takes a turn as "the user's runs", its top 20% by compute held out, in three
regimes (its 5 and 8 lowest-compute runs spanning 3 sizes; its lower 80%), fitted alone, with
every other data set (the default ``with_datasets`` borrowing), and by the Huber-bootstrap
baseline (see :mod:`bayescale.transfer`). Prints the per-turn table and the summary and writes
``benchmarks/results/transfer.csv`` and ``transfer_summary.csv``. ``--quick`` runs one set
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

from bayescale import transfer

RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one user set, regimes few-8 and many, 300 draws, 200 resamples")
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="Huber bootstrap resamples (default 1000)")
    parser.add_argument("--sets", nargs="+", default=None, help="user-set labels to run")
    parser.add_argument("--methods", nargs="+", default=list(transfer.METHODS),
                        choices=transfer.METHODS, help="ways of fitting (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the CSV files")
    args = parser.parse_args(argv)
    logging.getLogger("bayescale").setLevel(logging.WARNING)
    sets, regimes = args.sets, transfer.REGIMES
    draws, resamples = args.draws, args.resamples
    if args.quick:
        sets, regimes = sets or list(transfer.QUICK_SETS), ("few-8", "many")
        draws, resamples = min(draws, 300), min(resamples, 200)
    start = time.perf_counter()
    table = transfer.transfer_table(sets, regimes, args.methods, draws=draws,
                                    resamples=resamples, progress=True)
    summary = transfer.summarise(table)
    wall = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "transfer.csv", index=False)
    summary.to_csv(args.out / "transfer_summary.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.float_format", "{:.3g}".format):
        print(table.drop(columns=["dataset"]).to_string(index=False))
        print()
        print(summary.to_string(index=False))
    print(f"\n{len(table)} fits in {wall:.0f} s on {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; draws {draws}, resamples {resamples}; "
          f"CSV in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
