"""Benchmark: the benefit of pooling your few small runs with published runs (Gadre et al.).

Usage: ``./run.sh bench pooling`` (or ``python benchmarks/pooling_gadre.py [--draws 1000]``).

For each of Gadre et al.'s three training sets in turn, its small runs play "your runs":

* design ``paper-5``: the paper's fit design (11M, 79M, 154M, 411M at 20 tokens/param plus 11M
  at 320), and
* design ``C<=2e19``: every run of that set with C <= 2.03e19 FLOPs (the paper's "C <= 2e19",
  whose largest run, 411M at M = 20, has C = 2.03e19 under C = 6ND).

Each is fitted (a) alone and (b) jointly with the other two training sets (all their runs, each
its own source), and both fits predict the set's held-out 1.4B and 6.9B runs (C4 eval loss) with
observation noise. The table gives, per held-out run, the relative error of the posterior
median, whether the 90% predictive interval covers the observed loss, the interval's relative
width, the fit's convergence, and Gadre et al.'s published error where it applies (RedPajama).
Written to ``benchmarks/results/pooling_gadre.csv``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale.data import datasets

RESULTS = Path(__file__).parent / "results"
SETS = ("rpj", "c4_original", "rw_original")
SMALL_C = 2.03e19
HELD_OUT_N = 1.4e9


def designs(table: pd.DataFrame, name: str, paper: list[str]) -> dict[str, pd.DataFrame]:
    mine = table[table["source"] == f"gadre2024/{name}"]
    return {"paper-5": mine.loc[[f"{name}-{run}" for run in paper]],
            "C<=2e19": mine[mine["C"] <= SMALL_C]}


def score(fit, held_out: pd.DataFrame, seed: int) -> pd.DataFrame:
    loss = bs.predict(fit, held_out["N"], held_out["D"], noise=True, seed=seed)
    median = loss.median(("chain", "draw")).to_numpy()
    low, high = loss.quantile([0.05, 0.95], ("chain", "draw")).to_numpy()
    observed = held_out["loss"].to_numpy()
    return pd.DataFrame({
        "held_out_run": held_out.index, "observed": observed, "median": median,
        "rel_error_pct": 100 * (median / observed - 1),
        "pi90_low": low, "pi90_high": high,
        "pi90_width_pct": 100 * (high - low) / observed,
        "covered_90": (low <= observed) & (observed <= high),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("bayescale").setLevel(logging.WARNING)

    gadre = datasets.load("gadre2024")
    card = datasets.info("gadre2024")
    published = {"rpj-open_lm_1b-32.0": 100 * card["published"]["relative_error_rpj_1b_M640"],
                 "rpj-open_lm_7b-1.0": 100 * card["published"]["relative_error_rpj_7b_M20"]}
    table = gadre.table
    rows = []
    for name in SETS:
        source = f"gadre2024/{name}"
        held_out = table[(table["source"] == source) & (table["N"] >= HELD_OUT_N)]
        others = gadre.select(lambda t, s=source: t["source"] != s)
        for design, mine in designs(table, name, card["published"]["fit_design"]).items():
            user = bs.as_runs(mine[["N", "D", "loss"]], source=source)
            for method, extra in (("alone", ()), ("joint", (others,))):
                start = time.perf_counter()
                with warnings.catch_warnings():  # recorded in the table instead
                    warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
                    fit = bs.fit(user, with_datasets=extra, draws=args.draws, tune=args.tune,
                                 seed=args.seed, **({"borrow": "joint"} if extra else {}))
                wall = time.perf_counter() - start
                diagnostics = fit.diagnostics
                scored = score(fit, held_out, seed=args.seed).assign(
                    training_set=name, design=design, user_runs=len(user), method=method,
                    fit_s=wall, max_rhat=diagnostics["max_rhat"],
                    min_bulk_ess=diagnostics["min_ess_bulk"],
                    divergences=diagnostics["divergences"])
                scored["published_error_pct"] = scored["held_out_run"].map(published)
                rows.append(scored)
                print(f"{name:12s} {design:8s} {method:6s} {wall:5.1f} s", flush=True)

    result = pd.concat(rows, ignore_index=True)
    columns = ["training_set", "design", "user_runs", "method", "held_out_run", "observed",
               "median", "rel_error_pct", "covered_90", "pi90_width_pct",
               "published_error_pct", "max_rhat", "min_bulk_ess", "divergences", "fit_s"]
    result = result[columns]
    RESULTS.mkdir(exist_ok=True)
    result.to_csv(RESULTS / "pooling_gadre.csv", index=False)
    print(f"\nMachine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.draws} draws x 4 chains, seed {args.seed}")
    print(result.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    summary = result.groupby(["design", "method"]).agg(
        mean_abs_error_pct=("rel_error_pct", lambda e: float(np.mean(np.abs(e)))),
        coverage_90=("covered_90", "mean"),
        mean_pi90_width_pct=("pi90_width_pct", "mean"),
        fits_with_divergences=("divergences", lambda d: int((d > 0).sum() // 3)))
    print("\nSummary over the 3 training sets x 3 held-out runs:")
    print(summary.to_string(float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
