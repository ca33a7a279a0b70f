"""Experiment: nutpie on PyTensor's numba functions called from Python, to skip the cfunc compile.

Usage: ``python benchmarks/experiments/nutpie_pyfunc.py [--cores 1]`` (run it twice: the
second process finds PyTensor's numba cache warm).

A whole-process ``bayescale fit`` spends most of its time in nutpie's numba compile of the
model's C callbacks, which no cache keeps between processes (docs/performance/cli.md). Here the
same model's log density and gradient are compiled by PyTensor in numba mode (whose cache does
survive a process) and handed to nutpie as Python functions
(``bayescale.inference.sampling._python_model``, which bayescale now uses for the first fit of
a structure in a process). Prints the time of each step of one fit of Epoch's 240 runs
(4 chains x 1000 draws) on the threads asked for, and its diagnostics.
"""

from __future__ import annotations

import argparse
import time

started = time.perf_counter()

import nutpie  # noqa: E402

from bayescale.data import datasets  # noqa: E402
from bayescale.inference.diagnostics import variable_diagnostics  # noqa: E402
from bayescale.inference.model import build_model  # noqa: E402
from bayescale.inference.sampling import _python_model  # noqa: E402
from bayescale.spec.model_spec import load_spec  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="threads running the chains")
    args = parser.parse_args(argv)
    steps = {"imports": time.perf_counter() - started}
    mark = time.perf_counter()
    model = build_model(datasets.load("epoch-chinchilla"), load_spec("chinchilla"))
    compiled = _python_model(model)
    steps["build and compile"] = time.perf_counter() - mark
    mark = time.perf_counter()
    tree = nutpie.sample(compiled, draws=1000, tune=1000, chains=4, cores=args.cores, seed=0,
                         target_accept=0.9, progress_bar=False,
                         low_rank_modified_mass_matrix=True)
    steps["sample"] = time.perf_counter() - mark
    diagnostics = variable_diagnostics(tree["posterior"].to_dataset())
    for step, seconds in steps.items():
        print(f"{step:>18}: {seconds:5.1f} s")
    print(f"{'total':>18}: {time.perf_counter() - started:5.1f} s (cores={args.cores})")
    print(f"min bulk ESS {float(diagnostics.sel(diagnostic='ess_bulk').to_array().min()):.0f}, "
          f"max R-hat {float(diagnostics.sel(diagnostic='r_hat').to_array().max()):.4f}, "
          f"divergences {int(tree['sample_stats']['diverging'].sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
