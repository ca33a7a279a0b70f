"""Benchmark: the Bayesian fit beside the Huber-bootstrap baseline.

Usage: ``./run.sh bench baseline [fit|extrapolation|starts]`` (or
``python benchmarks/baseline_vs_bayes.py [fit|extrapolation|starts]``; default all three).

**fit** (Epoch's 240 runs):
Both in one process on the same runs: the Bayesian fit (nutpie, 4 chains x 1000 draws, after a
warm-up fit that pays the compile) and Epoch's recipe (Huber loss, 4500-start L-BFGS-B grid,
4000 bootstrap refits). Prints wall time, 95% intervals of E, A, B, alpha, beta and tokens per
parameter at 5.76e23 FLOPs, beside Epoch's published numbers; writes
``benchmarks/results/baseline_vs_bayes.csv``.

**extrapolation**: on each data set with enough compute range, both methods fit the Chinchilla
law to the smaller runs and predict the held-out largest-compute ones
(:func:`bayescale.checks.extrapolation_check`): mean log predictive density of log loss, coverage of
the 50% and 90% predictive intervals, median absolute relative error. The baseline's predictive
is its bootstrap draws plus normal noise with each refit's robust residual scale. Writes
``benchmarks/results/extrapolation.csv``. datablations is left out: its repeated-data runs
need the data-constrained law, and the baseline fits only the Chinchilla law.

**starts** (Epoch's 240 runs): the baseline's full-data optimum from Epoch's 4500-start grid
(``starts="epoch"``) beside the 243-start grid (``starts="coarse"``) that tests and the
transfer benchmark use: wall time of each grid search and the largest relative difference
between the two optima. Writes ``benchmarks/results/huber_starts.csv``.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale.data import datasets

RESULTS = Path(__file__).parent / "results"
QUANTITIES = ("E", "A", "B", "alpha", "beta")


def intervals(fit) -> dict:
    post = fit.posterior
    row = {}
    for name in QUANTITIES:
        low, mid, high = np.quantile(post[name].values, [0.025, 0.5, 0.975])
        row[name] = f"{mid:.4g} [{low:.4g}, {high:.4g}]"
    ratio = bs.compute_optimal(fit, 5.76e23)["tokens_per_param"].values
    low, mid, high = np.quantile(ratio, [0.025, 0.5, 0.975])
    row["tokens_per_param_5.76e23"] = f"{mid:.3g} [{low:.3g}, {high:.3g}]"
    return row


# (label, loader options, hold-out rule); Gadre's: fit the paper's range (C <= 2.03e19).
EXTRAPOLATION_SETS = [
    ("epoch-chinchilla", {}, {"holdout": 0.2}),
    ("gadre2024/rpj (C4 eval)", {"name": "gadre2024", "source": "gadre2024/rpj"},
     {"holdout_above": 2.1e19}),
    ("gadre2024/c4 (C4 eval)", {"name": "gadre2024", "source": "gadre2024/c4_original"},
     {"holdout_above": 2.1e19}),
    ("gadre2024/rw (C4 eval)", {"name": "gadre2024", "source": "gadre2024/rw_original"},
     {"holdout_above": 2.1e19}),
    ("porian2024 tuned RefinedWeb", {"name": "porian2024", "configurations": [
        "porian2024/rw-tuned-short-const-standard-val"]}, {"holdout": 0.2}),
    ("gemstones cool-down ends", {"name": "gemstones", "table": "cool_end"}, {"holdout": 0.2}),
]
SCORES = ("n_fit", "n_held_out", "threshold_flops", "lpd_mean", "coverage50", "coverage90",
          "median_abs_rel_error", "converged")


def load_set(options: dict):
    options = dict(options)
    name = options.pop("name", None)
    source = options.pop("source", None)
    runs = datasets.load(name, **options)
    return runs.select(runs.table["source"] == source) if source else runs


def extrapolation(resamples: int = 1000) -> pd.DataFrame:
    rows = []
    for label, options, holdout in EXTRAPOLATION_SETS:
        runs = load_set(options or {"name": label})
        for method, extra in (("bayes", {}), ("huber-bootstrap", {"resamples": resamples})):
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                score = bs.checks.extrapolation_check(runs, method=method,
                                                      seed=0, **holdout, **extra)
            problems = "; ".join(str(w.message)[:80] for w in caught
                                 if issubclass(w.category, bs.errors.ConvergenceWarning))
            rows.append({"data set": label, "method": method} | {
                k: score.summary[k] for k in SCORES} | {
                "wall_s": round(time.perf_counter() - start, 1), "problems": problems})
    return pd.DataFrame(rows).set_index(["data set", "method"])


def main() -> None:
    logging.getLogger("bayescale").setLevel(logging.WARNING)
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    if part not in ("fit", "extrapolation", "starts", "all"):
        raise SystemExit("usage: baseline_vs_bayes.py [fit|extrapolation|starts|all]")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    RESULTS.mkdir(exist_ok=True)
    if part in ("fit", "all"):
        fit_comparison()
    if part in ("starts", "all"):
        starts_comparison()
    if part in ("extrapolation", "all"):
        table = extrapolation()
        table.to_csv(RESULTS / "extrapolation.csv")
        print("\nHeld-out extrapolation (Chinchilla law; fit the smaller runs, predict the "
              "largest-compute ones with noise):")
        print(table.drop(columns=["problems"]).to_string(
            float_format=lambda value: f"{value:.4g}"))
        for (label, method), problem in table["problems"].items():
            if problem:
                print(f"  {label}, {method}: {problem}")


def fit_comparison() -> None:
    runs = datasets.load("epoch-chinchilla")
    bs.fit(runs, seed=1)  # pays the compile; the timed fit below is warm
    start = time.perf_counter()
    bayes = bs.fit(runs, seed=0)
    bayes_s = time.perf_counter() - start
    start = time.perf_counter()
    huber = bs.fit(runs, method="huber-bootstrap", resamples=4000, seed=42)
    huber_s = time.perf_counter() - start
    published = datasets.info("epoch-chinchilla")["published"]
    rows = [
        {"method": "bayes (nutpie, warm)", "wall_s": round(bayes_s, 1)} | intervals(bayes),
        {"method": "huber-bootstrap (4000)", "wall_s": round(huber_s, 1)} | intervals(huber),
        {"method": "Epoch 2024 published", "wall_s": float("nan")} | {
            name: f"{v[0]:.4g} [{v[1]:.4g}, {v[2]:.4g}]" for name, v in published.items()}
        | {"tokens_per_param_5.76e23": "~18-20"},
    ]
    table = pd.DataFrame(rows).set_index("method")
    table.to_csv(RESULTS / "baseline_vs_bayes.csv")
    print("Epoch's runs: medians with 95% intervals")
    print(table.T.to_string())
    print(f"\nWall-time ratio huber-bootstrap / bayes: {huber_s / bayes_s:.1f}")


def starts_comparison() -> None:
    from bayescale.estimators.huber import COARSE_GRID, GRID, HUBER_DELTA, grid_fit

    table = datasets.load("epoch-chinchilla").table
    log_N, log_D, log_L = (np.log(table[name].to_numpy()) for name in ("N", "D", "loss"))
    rows, optima = [], {}
    for starts, grid in (("epoch", GRID), ("coarse", COARSE_GRID)):
        start = time.perf_counter()
        point, objective, _, converged = grid_fit(log_N, log_D, log_L, HUBER_DELTA, grid, None)
        seconds = time.perf_counter() - start
        optima[starts] = np.concatenate([np.exp(point[:3]), point[3:]])
        rows.append({"starts": starts, "n_starts": int(np.prod([len(v) for v in grid.values()])),
                     "grid_s": round(seconds, 1), "objective": objective, "converged": converged}
                    | dict(zip(("A", "B", "E", "alpha", "beta"), optima[starts], strict=True)))
    table = pd.DataFrame(rows).set_index("starts")
    difference = np.max(np.abs(optima["coarse"] / optima["epoch"] - 1))
    table.to_csv(RESULTS / "huber_starts.csv")
    print("Huber baseline on Epoch's runs: the full-data optimum from each grid of starts")
    print(table.to_string(float_format=lambda value: f"{value:.7g}"))
    print(f"largest relative difference between the two optima: {difference:.2g}")


if __name__ == "__main__":
    main()
