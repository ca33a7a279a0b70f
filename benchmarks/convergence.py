"""Benchmark: do default fits of real published runs pass their own convergence gates?

Usage: ``./run.sh bench convergence [--label NAME] [--sets all|many] [--limit K]``
(or ``python benchmarks/convergence.py``).

Every source of every registered data set the literature uses
(:data:`bayescale.fitting.literature.LITERATURE_DATASETS`, 28 sources) is fitted with the
default settings of ``bayescale fit`` (nutpie, 1000 draws, the automatic retry), in three
regimes: all its runs; its lower 80% by compute (the transfer benchmark's many-run regime);
and its 8 lowest-compute runs spanning 3 sizes borrowing from every published data set
(``--with all``, the few-run fit the README recommends). Each fit is one row of
``benchmarks/results/convergence.csv``, written as it finishes; a rerun with the same
``--label`` skips the rows already there, so a run can be stopped and resumed. ``--label``
names the code under test (e.g. ``before``, ``after``), so that two versions' rows sit side by
side; the summary prints the pass rate per label, with the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.errors import BayescaleError
from bayescale.fitting import fitter
from bayescale.fitting.fitter import fit
from bayescale.fitting.literature import (
    LITERATURE_DATASETS,
    literature_runs,
    lowest_compute_runs,
)

RESULTS = Path(__file__).parent / "results"
REGIMES = ("all runs", "lower 80%", "8 runs, with all")


def cases():
    """Yield (data set, source, regime, runs, fit options) for every fit the benchmark makes."""
    for name in LITERATURE_DATASETS:
        runs = literature_runs(name)
        for source in runs.sources:
            part = runs.select(runs.table["source"].to_numpy() == source)
            yield name, source, REGIMES[0], part, {}
            below = part.table["C"] <= np.quantile(part.table["C"], 0.8)
            yield name, source, REGIMES[1], part.select(below.to_numpy()), {}
            try:
                few = lowest_compute_runs(part.table, 8)
            except BayescaleError:  # fewer than 8 runs spanning 3 sizes
                continue
            yield (name, source, REGIMES[2], part.select(part.table.index.isin(few)),
                   {"with_datasets": ["all"]})


def one_row(label: str, name: str, source: str, regime: str, runs, options: dict) -> dict:
    """Fit one case with the defaults and return its convergence record."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the verdict is recorded, not warned
        fitted = fit(runs, log_likelihood=False, **options)
    wall = time.perf_counter() - start
    report = fitted.diagnostics
    return {"label": label, "dataset": name, "source": source, "regime": regime,
            "runs": len(runs), "converged": report["converged"],
            "divergences": report.get("divergences", np.nan),
            "max_rhat": report.get("max_rhat", np.nan),
            "min_ess_bulk": report.get("min_ess_bulk", np.nan),
            "min_ess_tail": report.get("min_ess_tail", np.nan),
            "retried": len(report.get("retried", [])),
            "draws": fitted.sampler["draws"], "target_accept": fitted.sampler["target_accept"],
            "problems": "; ".join(report["problems"]), "wall_s": round(wall, 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current", help="names the code under test")
    parser.add_argument("--limit", type=int, help="stop after this many new fits")
    parser.add_argument("--output", type=Path, default=RESULTS / "convergence.csv")
    parser.add_argument("--no-remedy", action="store_true",
                        help="retry with more draws only, without raising target_accept (the "
                             "behaviour before the remedy; for the before/after table)")
    args = parser.parse_args(argv)
    if args.no_remedy:
        fitter.RETRY_TARGET_ACCEPT = None
    logging.basicConfig(level=logging.WARNING)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(args.output) if args.output.exists() else pd.DataFrame(
        columns=["label", "source", "regime"])
    seen = set(zip(done["label"], done["source"], done["regime"], strict=True))
    made = 0
    for name, source, regime, runs, options in cases():
        if (args.label, source, regime) in seen:
            continue
        if args.limit is not None and made >= args.limit:
            break
        row = one_row(args.label, name, source, regime, runs, options)
        pd.DataFrame([row]).to_csv(args.output, mode="a", index=False,
                                   header=not args.output.exists())
        made += 1
        print(f"{row['label']:>8} {source:<55} {regime:<10} {row['runs']:>4} runs  "
              f"{'ok ' if row['converged'] else 'NOT'} {row['wall_s']:6.1f} s  "
              f"{row['problems']}", flush=True)
    table = pd.read_csv(args.output)
    summary = table.groupby(["label", "regime"]).agg(
        fits=("converged", "size"), converged=("converged", "mean"),
        with_divergences=("divergences", lambda d: float((d > 0).mean())),
        retried=("retried", "mean"), wall_s=("wall_s", "median"))
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}")
    print(summary.to_string(float_format=lambda x: f"{x:.3g}"))
    summary.to_csv(args.output.with_name("convergence_summary.csv"))


if __name__ == "__main__":
    main()
