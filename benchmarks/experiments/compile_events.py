"""Experiment: where numba's compile of a model's log density and gradient spends its time.

Usage: ``PYTENSOR_FLAGS=base_compiledir=$(mktemp -d) python
benchmarks/experiments/compile_events.py [--remove-asserts]`` (an empty compile folder:
otherwise numba reads its cache and compiles nothing).

Builds the model of Epoch's 240 runs, has PyTensor compile nutpie's function of its log
density and gradient with numba (as a cold ``bayescale fit`` does), and listens to numba's
compile events: each compilation's time less that of the compilations inside it, summed by
function name. Prints the time of PyTensor's rewrites of nutpie's two functions, the numba
compile of the map to the posterior variables, the number of graph nodes, the total and the
20 largest names. The cycle collector is off, as in the ``bayescale`` program.
``--remove-asserts`` compiles the graph without its Assert nodes (PyTensor's
``local_remove_all_assert`` rewrite: the checks that the runs' arrays broadcast, and the
shape arithmetic they need), to see what those nodes cost.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import defaultdict

import numpy as np
from numba.core import event

from bayescale.data import datasets
from bayescale.inference.model import build_model
from bayescale.inference.sampling import _initial_point
from bayescale.spec.model_spec import load_spec


class _Exclusive(event.Listener):
    """Sum each compilation's own seconds (less nested compilations) by function name."""

    def __init__(self):
        self.stack, self.seconds, self.count = [], defaultdict(float), defaultdict(int)

    def on_start(self, ev):
        self.stack.append([ev.data["dispatcher"], time.perf_counter(), 0.0])

    def on_end(self, ev):
        dispatcher, started, nested = self.stack.pop()
        spent = time.perf_counter() - started
        if self.stack:
            self.stack[-1][2] += spent
        name = getattr(getattr(dispatcher, "py_func", None), "__name__", str(dispatcher))
        self.seconds[name] += spent - nested
        self.count[name] += 1


def main(argv=None) -> int:
    from nutpie.compile_pymc import _make_functions
    from pytensor.compile.mode import get_mode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remove-asserts", action="store_true")
    args = parser.parse_args(argv)
    gc.disable()
    mode = get_mode("NUMBA")
    if args.remove_asserts:
        mode = mode.including("local_remove_all_assert")
    model = build_model(datasets.load("epoch-chinchilla"), load_spec("chinchilla"))
    started = time.perf_counter()
    n_dim, _, logp, expand, *_ = _make_functions(
        model, mode=mode, compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=_initial_point(model),
        var_names=[var.name for var in model.free_RVs])
    print(f"PyTensor's rewrites of both functions: {time.perf_counter() - started:.1f} s")
    listener = _Exclusive()
    started = time.perf_counter()
    with event.install_listener("numba:compile", listener):
        logp.vm.jit_fn(np.zeros(n_dim), *(var.get_value() for var in logp.get_shared()))
    total = time.perf_counter() - started
    started = time.perf_counter()
    expand.vm.jit_fn(np.zeros(n_dim), *(var.get_value() for var in expand.get_shared()))
    print(f"the map to the posterior variables ({len(expand.maker.fgraph.apply_nodes)} nodes): "
          f"{time.perf_counter() - started:.1f} s with numba")
    print(f"{len(logp.maker.fgraph.apply_nodes)} nodes; {sum(listener.count.values())} numba "
          f"compilations in {total:.1f} s")
    for name, seconds in sorted(listener.seconds.items(), key=lambda item: -item[1])[:20]:
        print(f"{seconds:6.2f} s  {listener.count[name]:3d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
