"""Benchmark: the Bayesian fit beside the Huber-bootstrap baseline on Epoch's 240 runs.

Usage: ``./run.sh bench baseline`` (or ``python benchmarks/baseline_vs_bayes.py``).

Both in one process on the same runs: the Bayesian fit (nutpie, 4 chains x 1000 draws, after a
warm-up fit that pays the compile) and Epoch's recipe (Huber loss, 4500-start L-BFGS-B grid,
4000 bootstrap refits). Prints wall time, 95% intervals of E, A, B, alpha, beta and tokens per
parameter at 5.76e23 FLOPs, beside Epoch's published numbers; writes
``benchmarks/results/baseline_vs_bayes.csv``.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale import datasets

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


def main() -> None:
    logging.getLogger("bayescale").setLevel(logging.WARNING)
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
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "baseline_vs_bayes.csv")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; medians with 95% intervals")
    print(table.T.to_string())
    print(f"\nWall-time ratio huber-bootstrap / bayes: {huber_s / bayes_s:.1f}")


if __name__ == "__main__":
    main()
