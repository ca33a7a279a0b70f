"""Experiment: how often a Dask sweep of fits of one structure compiles the model.

Usage: ``python benchmarks/experiments/dask_sweep_compiles.py [--fits 8] [--workers 2]``.

Runs ``--fits`` fits of one structure (the default model on random 200-run subsets of Epoch's
runs, 4 chains x 1000 draws) through :func:`bayescale.checks.sweep.dask_map` on a local
cluster of ``--workers`` single-threaded processes, twice: first with empty compile caches (a
new PyTensor compile folder, which holds numba's cache and bayescale's records), then again
on a new cluster with the caches the first sweep filled. Each fit reports its worker, its wall
time and how it got its compiled model, from bayescale's log: ``compiled`` (PyTensor and
numba compiled it), ``disk`` (read from the disk cache) or ``process`` (kept in the worker
from an earlier fit). Prints the count per worker and sweep; writes
``benchmarks/results/dask_sweep_compiles.csv``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).parents[1] / "results"


def one_fit(seed: int) -> dict:
    """Fit a random 200-run subset of Epoch's runs; say how the compiled model was had."""
    import bayescale as bs
    from bayescale.data import datasets

    messages = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("bayescale")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        runs = datasets.load("epoch-chinchilla").table.sample(200, random_state=seed)
        start = time.perf_counter()
        fit = bs.fit(runs[["N", "D", "loss"]], seed=seed)
        seconds = time.perf_counter() - start
    finally:
        logger.removeHandler(handler)
    said = " ".join(messages)
    how = ("disk" if "read from the disk cache" in said else
           "process" if "reusing the compiled model" in said else "compiled")
    return {"worker": os.getpid(), "seconds": seconds, "how": how,
            "converged": fit.converged}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from bayescale.checks.sweep import dask_map

    rows = []
    with tempfile.TemporaryDirectory() as caches:
        os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={caches}"  # the workers inherit it
        for sweep in ("empty caches", "warm caches"):
            start = time.perf_counter()
            results = dask_map(one_fit, list(range(args.fits)), workers=args.workers,
                               progress=False)
            wall = time.perf_counter() - start
            failed = [result for result in results if "error" in result]
            if failed:
                raise RuntimeError(f"{len(failed)} fits failed: {failed[0]['error']}")
            rows += [result | {"sweep": sweep, "fit": i, "sweep wall (s)": wall}
                     for i, result in enumerate(results)]
    table = pd.DataFrame(rows)
    table["worker"] = table.groupby("sweep")["worker"].rank(method="dense").astype(int)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "dask_sweep_compiles.csv", index=False)
    counts = table.pivot_table(index=["sweep", "worker"], columns="how", values="fit",
                               aggfunc="count", fill_value=0)
    seconds = table.groupby(["sweep", "worker"])["seconds"].agg(["max", "median"])
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.fits} fits on {args.workers} workers\n")
    print(counts.join(seconds.rename(columns=lambda c: f"{c} fit (s)")).to_string(
        float_format=lambda value: f"{value:.1f}"))
    print(table.groupby("sweep")["sweep wall (s)"].first().to_string(
        float_format=lambda value: f"{value:.1f}"))
    print(f"\nwrote {RESULTS / 'dask_sweep_compiles.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
