"""Experiment: a fit's deterministics and log likelihood, vectorised, against PyMC's, at scale.

Usage: ``python benchmarks/experiments/pointwise_scale.py [--runs 20000] [--sources 50]
[--draws 1000]``.

Simulates runs of the Chinchilla law in several sources, takes prior draws of the model's free
variables in place of a posterior, and times :func:`bayescale.inference.pointwise.derived`
(both groups) beside :func:`pymc.compute_log_likelihood` alone (run it twice: PyMC's numba
compile is then cached, as in a warm fit).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayescale.data.runs import as_runs
from bayescale.data.simulate import simulate_loss
from bayescale.inference import pointwise
from bayescale.inference.model import build_model
from bayescale.spec.model_spec import load_spec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    N = 10 ** rng.uniform(7, 10, args.runs)
    D = N * 10 ** rng.uniform(0.5, 2, args.runs)
    table = pd.DataFrame({"N": N, "D": D, "loss": simulate_loss(N, D, sigma=0.01, seed=1),
                          "source": [f"s{i % args.sources}" for i in range(args.runs)]})
    model = build_model(as_runs(table), load_spec("chinchilla"))
    draws = pm.sample_prior_predictive(draws=args.draws, model=model, random_seed=1)["prior"]
    draws = draws.to_dataset()[[var.name for var in model.free_RVs]]
    started = time.perf_counter()
    pointwise.derived(model, draws)
    vectorised = time.perf_counter() - started
    started = time.perf_counter()
    pm.compute_log_likelihood(xr.DataTree.from_dict({"posterior": draws}), model=model,
                              progressbar=False)
    print(f"{args.runs} runs, {args.sources} sources, {args.draws} draws: vectorised "
          f"deterministics and log likelihood {vectorised:.2f} s; PyMC's log likelihood "
          f"{time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
