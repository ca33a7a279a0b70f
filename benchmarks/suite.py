"""Benchmark suite: every bundled data set with every sampler, a scaling sweep, and the baseline.

Usage: ``./run.sh bench suite`` (or ``python benchmarks/suite.py [--quick] [--only ...]``).

Each measurement runs in its own Python process with empty PyTensor and JAX compile caches, so
that "cold" is a first fit as a new user meets it; "warm" is a second fit of the same data in
that process (all samplers but PyMC's reuse their compiled programs; see
:mod:`bayescale.inference.sampling`). Every fit is end to end: checks, model, compile,
sampling, log likelihood, convergence report.

Sections (the ``section`` column of the CSV):

``backends``
    Each data set in :data:`DATA_SETS` with each sampler: cold and warm wall time, leapfrog
    steps per draw, min bulk ESS, bulk ESS per second (warm), divergences, max R-hat, peak RSS.
``scaling``
    Synthetic checkpoint-level runs (:func:`bayescale.data.simulate.simulate_runs`) at 1k-100k rows
    in 10-1000 sources, fitted with each of ``--scaling-methods``: nutpie after a tiny fit of
    the same structure has paid the compile, and numpyro (or PyMC) started from the Laplace
    approximation (``init="laplace"``, its optimisation and Hessian in the wall time): wall
    time, ESS, and the cost of one log-density gradient (to show it grows linearly in rows).
    Each source has 10 model sizes, or fewer so that every size has at least two checkpoints
    (:func:`scaling_runs`). A point that runs past ``--timeout`` is recorded as timed out, not
    dropped.
``sweep``
    Many fits of one structure in one process, as in a simulation-based calibration: an SBC
    (:func:`bayescale.checks.validate.sbc`, Epoch's 240-run design, 2 chains x (500 + 500)) of one
    simulation, then one of :data:`SWEEP_FITS` others, with each of ``--sweep-methods``:
    the first fit's wall time (compile included) and the mean wall time of the later fits.
``baseline``
    The Huber-bootstrap baseline (4000 resamples) on Epoch's runs, and its wall time over the
    warm nutpie fit's, measured in this run.
``gpu`` (only when asked: ``--only gpu``, on a machine where JAX sees a GPU)
    numpyro with ``device="gpu"`` (chains vectorised on the GPU), :data:`GPU_POINTS`: Epoch's
    runs with 4, 64 and 1024 chains, and 100,000 simulated runs in 100 sources from the
    Laplace start with 4 and 64 chains; cold and warm wall time, leapfrog steps per draw, ESS,
    divergences, R-hat, peak RSS, and where the fit ran. Without a GPU each row is recorded as
    failed with "no GPU visible to JAX", never measured on the CPU in its place.

Prints the tables and writes them to ``benchmarks/results/suite.csv``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).parent / "results"
SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")
# (data set, model): datablations' repeated-data runs need the data-constrained law.
DATA_SETS = (("epoch-chinchilla", "chinchilla"), ("gadre2024", "chinchilla"),
             ("porian2024", "chinchilla"), ("gemstones", "chinchilla"),
             ("datablations", "data_constrained"))
# How the scaling sweep samples: nutpie with its own adaptation, and numpyro started from the
# Laplace approximation with its covariance as a dense mass matrix (tuning: step size only).
SCALING_METHODS = {"nutpie": {"sampler": "nutpie"},
                   "numpyro-laplace": {"sampler": "numpyro", "init": "laplace"},
                   "pymc-laplace": {"sampler": "pymc", "init": "laplace"}}
LAPLACE_TUNE = 200
# The sweep section: fits after the first, and how each is sampled.
SWEEP_FITS = 8
SWEEP_METHODS = {"nutpie": {"sampler": "nutpie"}, "pymc": {"sampler": "pymc"},
                 "numpyro": {"sampler": "numpyro"},
                 "numpyro-laplace": {"sampler": "numpyro", "init": "laplace"},
                 "blackjax": {"sampler": "blackjax"}}
# Model sizes per source in the scaling sweep, at most: fewer where a source has under two
# checkpoints per size.
SCALING_SIZES = 10
SCALING = ((1_000, 10), (10_000, 10), (10_000, 100), (10_000, 1_000), (100_000, 10),
           (100_000, 100), (100_000, 1_000))
# The GPU section: (data set, or simulated (runs, sources); chains, draws per chain, tuning
# steps, init). Many chains still need a few hundred draws each (docs/performance/samplers.md).
GPU_POINTS = (("epoch-chinchilla", 4, 1000, 1000, "adapt"),
              ("epoch-chinchilla", 64, 400, 300, "adapt"),
              ("epoch-chinchilla", 1024, 400, 300, "adapt"),
              ((100_000, 100), 4, 300, LAPLACE_TUNE, "laplace"),
              ((100_000, 100), 64, 300, LAPLACE_TUNE, "laplace"))


# ---------------------------------------------------------------- worker (one measurement)

def scaling_runs(n_runs: int, n_sources: int, seed: int = 0):
    """Simulated runs of the scaling sweep: up to 10 sizes per source, two checkpoints or more each.

    With one checkpoint per size (10 runs in 10 sizes), every run of a source ends at the same
    D/N, so N and D move together and the source's A and B offsets are told apart by their
    prior alone: an ill-posed fit (nutpie at 10k runs in 1000 sources: 573 s, 555 leapfrog
    steps per draw, max R-hat 2.9), not a measure of speed.
    """
    from bayescale.data.simulate import simulate_runs

    sizes = max(1, min(SCALING_SIZES, n_runs // n_sources // 2))
    return simulate_runs(n_runs, n_sources, sizes=sizes, seed=seed)


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _fit_stats(fit, wall: float) -> dict:
    diagnostics = fit.diagnostics
    return {
        "wall_s": wall,
        "leapfrog_per_draw": float(fit.tree["sample_stats"]["n_steps"].mean()),
        "min_bulk_ess": diagnostics["min_ess_bulk"],
        "min_bulk_ess_variable": diagnostics["min_ess_bulk_variable"],
        "ess_per_s": diagnostics["min_ess_bulk"] / wall,
        "divergences": diagnostics["divergences"],
        "max_rhat": diagnostics["max_rhat"],
    }


def _timed_fit(runs, **options):
    import warnings

    import bayescale as bs

    start = time.perf_counter()
    with warnings.catch_warnings():  # convergence is measured and reported, not warned about
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        warnings.simplefilter("ignore", bs.errors.RunsWarning)
        fit = bs.fit(runs, **options)
    return fit, time.perf_counter() - start


def _gradient_ms(runs, model_name: str) -> float:
    """Milliseconds per gradient of the model's log density (PyTensor's compiled function)."""
    from bayescale.data.runs import as_runs
    from bayescale.inference.model import build_model
    from bayescale.spec.model_spec import load_spec

    model = build_model(as_runs(runs), load_spec(model_name))
    gradient = model.compile_dlogp()
    point = model.initial_point()
    gradient(point)
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < 2.0:
        gradient(point)
        calls += 1
    return 1e3 * (time.perf_counter() - start) / calls


def work(task: dict) -> dict:
    """Run one measurement in this process and return its row."""
    import logging

    from bayescale.data import datasets

    logging.getLogger("bayescale").setLevel(logging.WARNING)
    options = {"draws": task["draws"], "tune": task["tune"], "chains": 4, "seed": 0}
    if task["section"] == "backends":
        runs = datasets.load(task["data"])
        options |= {"sampler": task["sampler"], "model": task["model"]}
        _, cold = _timed_fit(runs, **options)
        fit, warm = _timed_fit(runs, **options | {"seed": 1})
        return {"cold_s": cold} | _fit_stats(fit, warm) | {"peak_rss_gib": _peak_rss_gib()}
    if task["section"] == "scaling":
        runs = scaling_runs(task["runs"], task["sources"])
        gradient = _gradient_ms(runs, "chinchilla")
        print("PARTIAL " + json.dumps({"gradient_ms": gradient}), flush=True)  # kept on timeout
        options |= SCALING_METHODS[task["sampler"]] | {"log_likelihood": False}
        if task["sampler"] == "nutpie":
            # A tiny fit of the same structure pays the compile; the measured fit reuses it.
            _timed_fit(scaling_runs(6 * task["sources"], task["sources"], seed=1),
                       **options | {"draws": 10, "tune": 10})
        fit, wall = _timed_fit(runs, **options)
        return {"gradient_ms": gradient} | _fit_stats(fit, wall) | {
            "peak_rss_gib": _peak_rss_gib()}
    if task["section"] == "gpu":
        import jax

        from bayescale.inference.sampling import jax_device

        if jax_device("auto") != "gpu":
            kinds = sorted({device.platform for device in jax.devices()})
            raise RuntimeError(f"no GPU visible to JAX (its devices: {', '.join(kinds)})")
        runs = (scaling_runs(task["runs"], task["sources"]) if "runs" in task
                else datasets.load(task["data"]))
        options |= {"sampler": "numpyro", "device": "gpu", "chains": task["chains"],
                    "init": task["init"], "log_likelihood": False}
        _, cold = _timed_fit(runs, **options)
        fit, warm = _timed_fit(runs, **options | {"seed": 1})
        return {"cold_s": cold} | _fit_stats(fit, warm) | {
            "device": fit.tree.attrs["device"], "peak_rss_gib": _peak_rss_gib()}
    if task["section"] == "sweep":
        import warnings

        from bayescale.checks.validate import sbc

        options = SWEEP_METHODS[task["sampler"]] | {"draws": task["draws"], "tune": task["tune"]}
        with warnings.catch_warnings():  # convergence is counted, not warned about
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            sbc(n_sims=1, seed=1000, **options)
            first = time.perf_counter() - start
            start = time.perf_counter()
            result = sbc(n_sims=task["fits"], seed=0, **options)
        later = (time.perf_counter() - start) / task["fits"]
        return {"cold_s": first, "wall_s": later, "converged": int(result["converged"].sum()),
                "failed": int((result["error"] != "").sum()), "peak_rss_gib": _peak_rss_gib()}
    if task["section"] == "baseline":
        runs = datasets.load("epoch-chinchilla")
        _, wall = _timed_fit(runs, method="huber-bootstrap", resamples=task["resamples"], seed=0)
        return {"wall_s": wall, "peak_rss_gib": _peak_rss_gib()}
    raise ValueError(f"unknown section {task['section']}")


# ---------------------------------------------------------------- driver

def run_task(task: dict, timeout: float) -> dict:
    """Run ``task`` in a fresh process with empty compile caches; record a timeout or error."""
    jax_cache = ("off" if os.environ.get("BAYESCALE_JAX_CACHE", "").lower() == "off"
                 else tempfile.mkdtemp(prefix="bayescale-bench-jax-"))  # off: measure without
    env = os.environ | {"PYTENSOR_FLAGS": "base_compiledir="
                        + tempfile.mkdtemp(prefix="bayescale-bench-"),
                        "BAYESCALE_JAX_CACHE": jax_cache}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else (
            stopped.stdout or "")
        partial = [json.loads(line[len("PARTIAL "):]) for line in output.splitlines()
                   if line.startswith("PARTIAL ")]
        return task | {"status": f"timed out after {timeout:.0f} s"} | (
            partial[-1] if partial else {})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return task | {"status": f"failed: {error}", "process_s": time.perf_counter() - start}
    return task | {"status": "ok"} | json.loads(lines[-1][len("RESULT "):])


def tasks(args) -> list[dict]:
    draws = 300 if args.quick else 1000
    chosen = []
    if "backends" in args.only:
        for data, model in DATA_SETS:
            if data not in args.data:
                continue
            for sampler in args.samplers:
                chosen.append({"section": "backends", "data": data, "model": model,
                               "sampler": sampler, "draws": draws, "tune": draws})
    if "baseline" in args.only:
        chosen.append({"section": "baseline", "data": "epoch-chinchilla",
                       "model": "chinchilla", "sampler": "huber-bootstrap",
                       "resamples": 400 if args.quick else 4000, "draws": 0, "tune": 0})
    if "scaling" in args.only:
        points = SCALING[:2] if args.quick else SCALING
        if args.points:
            points = [tuple(int(v) for v in point.split("x")) for point in args.points]
        for (n_runs, sources), method in itertools.product(points, args.scaling_methods):
            tune = LAPLACE_TUNE if "laplace" in method else args.scaling_draws
            chosen.append({"section": "scaling", "data": f"simulated {n_runs} x {sources}",
                           "model": "chinchilla", "sampler": method, "runs": n_runs,
                           "sources": sources, "draws": args.scaling_draws, "tune": tune})
    if "sweep" in args.only:
        for method in args.sweep_methods:
            chosen.append({"section": "sweep", "data": "SBC on epoch-chinchilla's design",
                           "model": "chinchilla", "sampler": method, "fits": SWEEP_FITS,
                           "draws": 500, "tune": 500})
    if "gpu" in args.only:
        for data, chains, draws, tune, init in GPU_POINTS:
            simulated = {} if isinstance(data, str) else {
                "data": "simulated {} x {}".format(*data), "runs": data[0], "sources": data[1]}
            chosen.append({"section": "gpu", "data": data, "model": "chinchilla",
                           "sampler": f"numpyro ({init})", "chains": chains, "init": init,
                           "draws": draws, "tune": tune} | simulated)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="Epoch only, 300 draws, 400 resamples, two scaling points")
    parser.add_argument("--only", nargs="+", default=["backends", "baseline", "scaling"],
                        choices=["backends", "baseline", "scaling", "sweep", "gpu"],
                        help="sections to run (default: all but sweep and gpu)")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--data", nargs="+", default=[name for name, _ in DATA_SETS],
                        choices=[name for name, _ in DATA_SETS],
                        help="data sets of the backends section (--quick: Epoch only)")
    parser.add_argument("--points", nargs="+", default=None, metavar="RUNSxSOURCES",
                        help="scaling points, e.g. 1000x10 100000x100 (default: all of "
                        "1k-100k runs x 10-1000 sources)")
    parser.add_argument("--scaling-draws", type=int, default=300,
                        help="draws per chain in the scaling sweep (tuning steps: as many for "
                        f"nutpie, {LAPLACE_TUNE} from a Laplace start)")
    parser.add_argument("--scaling-methods", nargs="+", default=["nutpie", "numpyro-laplace"],
                        choices=list(SCALING_METHODS),
                        help="how the scaling sweep samples (default: nutpie, numpyro-laplace)")
    parser.add_argument("--sweep-methods", nargs="+", default=list(SWEEP_METHODS),
                        choices=list(SWEEP_METHODS), help="how the sweep section samples")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds before one measurement is recorded as timed out")
    args = parser.parse_args()
    if args.quick:
        args.data = ["epoch-chinchilla"]
    if args.worker:
        print("RESULT " + json.dumps(work(json.loads(args.worker))), flush=True)
        return

    rows = []
    for task in tasks(args):
        row = run_task(task, args.timeout)
        rows.append(row)
        print(f"  {task['section']}: {task['data']} / {task['sampler']}: {row['status']}"
              + (f", {row['wall_s']:.1f} s" if "wall_s" in row else ""), flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "suite.csv", index=False)
    report(table)
    print(f"\nwritten to {RESULTS / 'suite.csv'}")


def report(table: pd.DataFrame) -> None:
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}, {platform.system()}")
    print(f"\nbayescale benchmark suite; machine: {machine}")
    fmt = {"float_format": lambda v: f"{v:.4g}", "index": False}
    columns = {
        "backends": ["data", "sampler", "draws", "cold_s", "wall_s", "leapfrog_per_draw",
                     "min_bulk_ess", "ess_per_s", "divergences", "max_rhat", "peak_rss_gib",
                     "status"],
        "scaling": ["runs", "sources", "sampler", "draws", "tune", "gradient_ms", "wall_s",
                    "leapfrog_per_draw", "min_bulk_ess", "min_bulk_ess_variable", "ess_per_s",
                    "divergences", "max_rhat", "peak_rss_gib", "status"],
        "baseline": ["data", "resamples", "wall_s", "peak_rss_gib", "status"],
        "sweep": ["data", "sampler", "draws", "tune", "cold_s", "wall_s", "fits", "converged",
                  "failed", "peak_rss_gib", "status"],
        "gpu": ["data", "sampler", "chains", "draws", "tune", "cold_s", "wall_s",
                "leapfrog_per_draw", "min_bulk_ess", "ess_per_s", "divergences", "max_rhat",
                "device", "peak_rss_gib", "status"],
    }
    titles = {"backends": "Data sets x samplers, 4 chains (wall_s: warm fit)",
              "scaling": "Scaling sweep, 4 chains (wall_s end to end; nutpie's compile paid by a "
                         "warm-up fit, the Laplace start's optimisation and Hessian included)",
              "baseline": "Huber-bootstrap baseline on Epoch",
              "sweep": f"Sweep: SBC fits in one process, 2 chains (cold_s: the first fit; "
                       f"wall_s: mean of the next {SWEEP_FITS})",
              "gpu": "numpyro on the GPU, chains vectorised (wall_s: warm fit)"}
    for section, names in columns.items():
        part = table[table["section"] == section]
        if part.empty:
            continue
        print(f"\n{titles[section]}:")
        print(part.reindex(columns=names).to_string(**fmt))
    bayes = table[(table["section"] == "backends") & (table["data"] == "epoch-chinchilla")
                  & (table["sampler"] == "nutpie")]
    baseline = table[table["section"] == "baseline"]
    if not bayes.empty and not baseline.empty and "wall_s" in baseline:
        ratio = float(baseline["wall_s"].iloc[0]) / float(bayes["wall_s"].iloc[0])
        print(f"\nEpoch: baseline wall time / warm nutpie fit = {ratio:.1f} (same run)")


if __name__ == "__main__":
    main()
