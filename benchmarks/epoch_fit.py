"""Benchmark: fit Epoch's 240 Chinchilla runs with each sampler, cold and warm.

Usage: ``./run.sh bench`` (or ``python benchmarks/epoch_fit.py [--repeats 3] [--samplers ...]``).

"Cold" is the first fit in a fresh process with an empty PyTensor compile cache (a temporary
folder); "warm" fits follow in the same process. Each fit is 4 chains x (1000 tune + 1000 draws),
end to end: model build, compile, sampling, log likelihood, convergence checks. Prints a table
and writes it to ``benchmarks/results/epoch_fit.csv``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

# An empty compile cache makes the first fit truly cold; set before PyTensor is imported.
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={tempfile.mkdtemp(prefix='pytensor-')}")

import logging

import pandas as pd

import bayescale as bs
from bayescale.data import datasets

RESULTS = Path(__file__).parent / "results"


def measure(runs, sampler: str, seed: int) -> dict:
    start = time.perf_counter()
    result = bs.fit(runs, sampler=sampler, seed=seed)
    wall = time.perf_counter() - start
    stats = result.tree["sample_stats"]
    diagnostics = result.diagnostics
    return {
        "wall_s": wall,
        "leapfrog_per_draw": float(stats["n_steps"].mean()),
        "min_bulk_ess": diagnostics["min_ess_bulk"],
        "min_tail_ess": diagnostics["min_ess_tail"],
        "ess_per_s": diagnostics["min_ess_bulk"] / wall,
        "divergences": diagnostics["divergences"],
        "max_rhat": diagnostics["max_rhat"],
        "alpha": float(result.posterior["alpha"].median()),
        "beta": float(result.posterior["beta"].median()),
        "E": float(result.posterior["E"].median()),
        "tokens_per_param_5.76e23": float(
            bs.compute_optimal(result, 5.76e23)["tokens_per_param"].median()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", nargs="+", default=["nutpie", "pymc"])
    parser.add_argument("--repeats", type=int, default=3, help="warm fits per sampler")
    args = parser.parse_args()
    logging.getLogger("bayescale").setLevel(logging.WARNING)

    runs = datasets.load("epoch-chinchilla")
    rows = []
    for sampler in args.samplers:
        for repeat in range(args.repeats + 1):
            phase = "cold" if repeat == 0 else "warm"
            rows.append({"sampler": sampler, "phase": phase, "seed": repeat}
                        | measure(runs, sampler, seed=repeat))
            print(f"  {sampler} {phase} seed {repeat}: {rows[-1]['wall_s']:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "epoch_fit.csv", index=False)

    print(f"\nEpoch 240 runs, 4 chains x (1000 tune + 1000 draws); machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    warm = table[table["phase"] == "warm"].groupby("sampler")[
        ["wall_s", "leapfrog_per_draw", "min_bulk_ess", "ess_per_s", "divergences"]].mean()
    print("\nWarm means per sampler:")
    print(warm.to_string(float_format=lambda v: f"{v:.4g}"))
    if {"nutpie", "pymc"} <= set(warm.index):
        ratio = warm.loc["pymc", "wall_s"] / warm.loc["nutpie", "wall_s"]
        print(f"\nwarm wall-time ratio pymc / nutpie: {ratio:.2f}")
    print(f"\nwritten to {RESULTS / 'epoch_fit.csv'}")


if __name__ == "__main__":
    main()
