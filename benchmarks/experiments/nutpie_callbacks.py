"""Experiment: three ways to hand a PyMC model to nutpie, cold and warm, in new processes.

Usage: ``python benchmarks/experiments/nutpie_callbacks.py [--repeats 2]``.

A fit of Epoch's 240 runs (4 chains x 1000 draws, nutpie's low-rank adaptation, 2 threads
unless the way runs on 1), each way in a new process, first with empty compile caches (a new
PyTensor compile folder, which holds numba's cache too) and then ``--repeats`` more times with
the caches that run filled. The ways:

- ``nutpie``: :func:`nutpie.compile_pymc_model`, whose C callbacks hold the runs' arrays as
  constants, so numba compiles them in every process;
- ``python``: PyTensor's numba functions called from Python through nutpie's ``from_pyfunc``
  (how bayescale sampled the first fit of a structure in a process until commit 26a2afa; on
  one thread: the calls contend for the interpreter lock);
- ``callbacks``: bayescale's callbacks (:mod:`bayescale.inference.nutpie_model`), which read
  the runs through nutpie's ``user_data`` and are kept in numba's disk cache; PyTensor still
  compiles the model's functions (rewriting their graphs) in every process;
- ``record``: the same with the model's structure key, as ``bayescale.fit`` does: a record
  beside the callbacks holds what else nutpie needs, so a warm process compiles nothing.

Prints the time of each step (imports, building and compiling, sampling), the draws' digest
(equal digests: identical draws) and diagnostics; writes
``benchmarks/results/nutpie_callbacks.csv``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).parents[1] / "results"
WAYS = ("nutpie", "python", "callbacks", "record")


def one_fit(way: str) -> dict:
    """Fit Epoch's runs the way named, in this process; return the steps' seconds and more."""
    started = time.perf_counter()
    import numpy as np
    import nutpie

    from bayescale.data import datasets
    from bayescale.inference.diagnostics import variable_diagnostics
    from bayescale.inference.model import build_model, model_structure
    from bayescale.inference.nutpie_model import compile_nutpie_model
    from bayescale.inference.sampling import _initial_point
    from bayescale.spec.model_spec import load_spec

    steps = {"imports": time.perf_counter() - started}
    mark = time.perf_counter()
    spec = load_spec("chinchilla")
    model = build_model(datasets.load("epoch-chinchilla"), spec)
    free = [var.name for var in model.free_RVs]
    cores = 2
    if way == "nutpie":
        compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=free)
    elif way == "python":
        compiled, cores = _python_model(model), 1
    else:
        structure = model_structure(spec, 1) if way == "record" else None
        compiled = compile_nutpie_model(model, _initial_point(model), structure)
    steps["build and compile"] = time.perf_counter() - mark
    mark = time.perf_counter()
    tree = nutpie.sample(compiled, draws=1000, tune=1000, chains=4, cores=cores, seed=0,
                         target_accept=0.9, progress_bar=False, adaptation="low_rank")
    steps["sample"] = time.perf_counter() - mark
    posterior = tree["posterior"].to_dataset()[free]
    diagnostics = variable_diagnostics(posterior)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(posterior[name].values).tobytes()
                                     for name in free)).hexdigest()[:12]
    return steps | {
        "total": time.perf_counter() - started, "draws sha256": digest,
        "min bulk ESS": float(diagnostics.sel(diagnostic="ess_bulk").to_array().min()),
        "max R-hat": float(diagnostics.sel(diagnostic="r_hat").to_array().max()),
        "divergences": int(tree["sample_stats"]["diverging"].sum())}


def _python_model(model):
    """PyTensor's numba functions of ``model``, called from Python by nutpie."""
    import numpy as np
    from nutpie.compile_pymc import _make_functions, _prepare_dims_and_coords
    from nutpie.compiled_pyfunc import from_pyfunc

    from bayescale.inference.sampling import _initial_point

    n_dim, _, logp_pt, expand_pt, initial_point, shape_info, renamed = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=False,
        pymc_initial_point_fn=_initial_point(model),
        var_names=[var.name for var in model.free_RVs])
    logp_fn, expand_fn = logp_pt.vm.jit_fn, expand_pt.vm.jit_fn
    logp_data = [var.name for var in logp_pt.get_shared()]
    expand_data = [var.name for var in expand_pt.get_shared()]
    data = {var.name: np.array(var.get_value(), order="C", copy=True)
            for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]}
    names, _, shapes = shape_info

    def make_logp():
        def logp(x, **values):
            value, gradient = logp_fn(x, *[values[name] for name in logp_data])
            return float(value), gradient
        return logp

    def make_expand(seed1, seed2, chain):
        def expand(x, **values):
            drawn = expand_fn(x, *[values[name] for name in expand_data])
            return {name: np.asarray(value, dtype="float64", order="C").reshape(shape)
                    for name, value, shape in zip(names, drawn, shapes, strict=True)}
        return expand

    dims, coords = _prepare_dims_and_coords(model, shape_info, renamed)
    return from_pyfunc(ndim=n_dim, make_logp_fn=make_logp, make_expand_fn=make_expand,
                       make_initial_point_fn=initial_point,
                       expanded_dtypes=[np.dtype("float64")] * len(names),
                       expanded_shapes=shapes, expanded_names=names, shared_data=data,
                       dims=dims, coords=coords, reparameterized_names=renamed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="warm runs per way")
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)  # a worker process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_fit(args.one)))
        return 0
    rows = []
    for way in args.ways:
        with tempfile.TemporaryDirectory() as caches:
            env = os.environ | {"PYTENSOR_FLAGS": f"base_compiledir={caches}"}
            for run in range(1 + args.repeats):
                out = subprocess.run([sys.executable, __file__, "--one", way], env=env,
                                     capture_output=True, text=True, check=True).stdout
                rows.append({"way": way, "caches": "cold" if run == 0 else "warm"}
                            | json.loads(out.splitlines()[-1]))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "nutpie_callbacks.csv", index=False)
    steps = ["imports", "build and compile", "sample", "total"]
    summary = table.groupby(["way", "caches"], sort=False).agg(
        {**{step: "median" for step in steps}, "draws sha256": "first",
         "min bulk ESS": "first", "max R-hat": "first", "divergences": "first"})
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"medians of {args.repeats} warm runs\n")
    print(summary.to_string(float_format=lambda value: f"{value:.4g}"))
    print(f"\nwrote {RESULTS / 'nutpie_callbacks.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
