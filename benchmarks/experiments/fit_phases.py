"""Experiment: where a whole-process ``bayescale fit`` of Epoch's runs spends its time.

Usage: ``python benchmarks/experiments/fit_phases.py [--runs 2]``.

Runs ``bayescale fit epoch.csv -o fit.nc`` (Epoch's 240 runs, the default settings) ``--runs``
times in this process's interpreter, each in a new process, with the user's compile caches
(run it twice to see a warm cache). In each, the steps of the fit are timed by wrapping their
functions: the imports, the compiled model
(:func:`bayescale.inference.nutpie_model.compile_nutpie_model`), sampling, the deterministics
with the pointwise log likelihood (:func:`bayescale.inference.pointwise.derived`), the
diagnostics and writing the file. Prints a table
of the steps per run (seconds).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

STEPS = [("bayescale.inference.nutpie_model", "compile_nutpie_model"),
         ("nutpie", "sample"), ("bayescale.inference.sampling", "derived"),
         ("bayescale.fitting.fitter", "variable_diagnostics"),
         ("bayescale.fitting.fitfile", "write")]


def one_fit(runs_file: str, out: str) -> dict:
    """Run the command line's fit in this process, timing its steps."""
    started = time.perf_counter()
    sys.modules["dask"] = None  # as the `bayescale` program does for `fit`, and it imports
    gc.disable()  # without the cycle collector
    from bayescale.cli.main import program

    for module in ("bayescale.fitting.fitter", "bayescale.fitting.fitfile", "nutpie", "pymc",
                   "bayescale.inference.nutpie_model"):
        importlib.import_module(module)
    seconds = {"imports": time.perf_counter() - started}
    for module, name in STEPS:
        _timed(importlib.import_module(module), name, seconds)
    sys.argv = ["bayescale", "-q", "fit", runs_file, "-o", out, "--overwrite", "--no-progress"]
    try:
        program()
    except SystemExit:
        pass
    seconds["total"] = time.perf_counter() - started
    return seconds


def _timed(module, name: str, seconds: dict) -> None:
    function = getattr(module, name)

    @functools.wraps(function)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, timed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # a worker process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_fit(*args.one)))
        return 0
    from bayescale.data import datasets

    rows = []
    with tempfile.TemporaryDirectory() as work:
        runs_file = Path(work) / "epoch.csv"
        datasets.load("epoch-chinchilla").table[["N", "D", "loss"]].to_csv(runs_file, index=False)
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--one", str(runs_file),
                                  str(Path(work) / "fit.nc")], capture_output=True, text=True,
                                 check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(pd.DataFrame(rows).T.to_string(float_format=lambda value: f"{value:.2f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
