"""Experiment: nutpie on PyTensor's numba functions called from Python, to skip the cfunc compile.

Usage: ``python benchmarks/experiments/nutpie_pyfunc.py [--cores 1]`` (run it twice: the
second process finds PyTensor's numba cache warm).

A whole-process ``bayescale fit`` spends most of its time in nutpie's numba compile of the
model's C callbacks, which no cache keeps between processes (docs/performance/cli.md). Here the
same model's log density and gradient are compiled by PyTensor in numba mode (whose cache does
survive a process) and handed to nutpie as Python functions (``nutpie.from_pyfunc``, as nutpie
does for its JAX backend, through nutpie's private ``_make_functions``). Prints the time of
each step of one fit of Epoch's 240 runs (4 chains x 1000 draws) and its diagnostics; not used
by bayescale.
"""

from __future__ import annotations

import argparse
import time

started = time.perf_counter()

import numpy as np  # noqa: E402
import nutpie  # noqa: E402
from nutpie.compile_pymc import (  # noqa: E402
    _make_functions,
    _prepare_dims_and_coords,
    _wrap_with_lock,
)
from nutpie.compiled_pyfunc import from_pyfunc  # noqa: E402
from pymc.initial_point import make_initial_point_fn  # noqa: E402

from bayescale.data import datasets  # noqa: E402
from bayescale.inference.diagnostics import variable_diagnostics  # noqa: E402
from bayescale.inference.model import build_model  # noqa: E402
from bayescale.spec.model_spec import load_spec  # noqa: E402


def pyfunc_model(model):
    """Compile ``model`` with PyTensor's numba mode and wrap it for ``nutpie.sample``."""
    initial = _wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs), return_transformed=True))
    n_dim, _, logp_pt, expand_pt, initial_point, shape_info, renamed = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=False,
        pymc_initial_point_fn=initial, var_names=[var.name for var in model.free_RVs])
    logp_jit, expand_jit = logp_pt.vm.jit_fn, expand_pt.vm.jit_fn
    logp_names = [var.name for var in logp_pt.get_shared()]
    expand_names = [var.name for var in expand_pt.get_shared()]
    shared = {var.name: np.array(var.get_value(), order="C", copy=True)
              for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]}
    names, _, shapes = shape_info

    def make_logp():
        def logp(x, **data):
            value, gradient = logp_jit(x, *[data[name] for name in logp_names])
            return float(value), gradient
        return logp

    def make_expand(seed1, seed2, chain):
        def expand(x, **data):
            values = expand_jit(x, *[data[name] for name in expand_names])
            return {name: np.asarray(value, dtype="float64", order="C").reshape(shape)
                    for name, value, shape in zip(names, values, shapes, strict=True)}
        return expand

    dims, coords = _prepare_dims_and_coords(model, shape_info, renamed)
    return from_pyfunc(ndim=n_dim, make_logp_fn=make_logp, make_expand_fn=make_expand,
                       make_initial_point_fn=initial_point,
                       expanded_dtypes=[np.dtype("float64")] * len(names),
                       expanded_shapes=shapes, expanded_names=names, shared_data=shared,
                       dims=dims, coords=coords, reparameterized_names=renamed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="threads running the chains")
    args = parser.parse_args(argv)
    steps = {"imports": time.perf_counter() - started}
    mark = time.perf_counter()
    model = build_model(datasets.load("epoch-chinchilla"), load_spec("chinchilla"))
    compiled = pyfunc_model(model)
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
