"""Benchmark: what a user of the command line waits for, whole process, cold and warm.

Usage: ``./run.sh bench cli`` (or ``python benchmarks/cli_speed.py [--repeats 3]
[--resamples 4000] [--quick]``).

Each command runs in a fresh process under ``/usr/bin/time`` (wall time and peak resident
memory), ``--repeats`` times; the table gives medians. "cold" runs start from empty compile
caches (PyTensor's, JAX's, numba's: temporary folders, new for each run); "warm" runs share
caches that an earlier run of the same command filled (for ``fit --with``, a fit of other
runs that borrows from the same data sets: a literature prior is set anew for every set of
runs). Beside them: the same fit in one
long-lived Python process (the first fit, and a second one of the same structure), and the
Huber-bootstrap baseline (``--method huber-bootstrap``) as the ratio to beat. Prints the table
and writes ``benchmarks/results/cli_speed.csv``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent / "bayescale"
TIME = "/usr/bin/time"


def run(command: list[str], caches: Path) -> tuple[float, float]:
    """Run one command in a fresh process with its caches under ``caches``: (wall s, peak GiB)."""
    env = os.environ | {
        "PYTENSOR_FLAGS": f"base_compiledir={caches / 'pytensor'}",
        "BAYESCALE_JAX_CACHE": str(caches / "jax"),
        "NUMBA_CACHE_DIR": str(caches / "numba"),
    }
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        done = subprocess.run([TIME, "-f", "%M", "-o", report.name, *command], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 3):
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
        peak_kib = float(report.read().strip().splitlines()[-1])
    return wall, peak_kib / 2**20


def in_process(runs_file: Path) -> dict[str, float]:
    """The same fit twice in one Python process: the first, and one of the same structure."""
    code = (
        "import time, bayescale as bs\n"
        f"runs = bs.as_runs(__import__('pandas').read_csv({str(runs_file)!r}))\n"
        "t = time.perf_counter(); bs.fit(runs); first = time.perf_counter() - t\n"
        "t = time.perf_counter(); bs.fit(runs, seed=1); second = time.perf_counter() - t\n"
        "print(first, second)\n")
    with tempfile.TemporaryDirectory() as caches:
        env = os.environ | {"PYTENSOR_FLAGS": f"base_compiledir={caches}/pytensor"}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
    first, second = map(float, out.split()[-2:])
    return {"first fit in a process": first, "next fit of the same structure": second}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command and state")
    parser.add_argument("--resamples", type=int, default=4000,
                        help="bootstrap resamples of the Huber baseline (Epoch's 4000)")
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, 200 resamples: a smoke test")
    parser.add_argument("--commands", nargs="+", default=None, metavar="NAME",
                        help="only these commands (their names in the table, without "
                             "'bayescale '), e.g. 'fit (numpyro)'; the in-process rows and the "
                             "ratio need 'fit (nutpie)' and the Huber fit")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the CSV")
    args = parser.parse_args(argv)
    repeats, resamples = (1, 200) if args.quick else (args.repeats, args.resamples)
    work = Path(tempfile.mkdtemp(prefix="bayescale-cli-speed-"))
    runs_file = work / "epoch.csv"
    from bayescale import datasets
    from bayescale.checks.transfer import split_heldout

    epoch = datasets.load("epoch-chinchilla").table
    epoch[["N", "D", "loss"]].to_csv(runs_file, index=False)
    # other runs, for a warm-up that borrows from the same published data sets
    other_file = work / "epoch-smaller.csv"
    epoch.nsmallest(120, "C")[["N", "D", "loss"]].to_csv(other_file, index=False)
    borrow = ["--with", "gadre2024", "gemstones"]
    # 28 runs (gadre2024's RedPajama runs below the top 20% of compute) whose fit falls short
    # of the convergence bar at 1000 draws: by default it samples once more with 2000
    few = datasets.load("gadre2024").table.query("source == 'gadre2024/rpj'")
    few = few[~split_heldout(few)]
    few_file = work / "rpj-lower.csv"
    few[["N", "D", "loss"]].to_csv(few_file, index=False)
    fit_file = work / "fit.nc"
    commands = {
        "fit (nutpie)": [str(BIN), "-q", "fit", str(runs_file), "-o", str(fit_file),
                         "--overwrite", "--no-progress"],
        "fit (numpyro)": [str(BIN), "-q", "fit", str(runs_file), "-o", str(work / "np.nc"),
                          "--overwrite", "--no-progress", "--sampler", "numpyro"],
        # as a user at a terminal sees it: with the progress bar (shown there by default)
        "fit (numpyro, progress bar)": [str(BIN), "-q", "fit", str(runs_file), "-o",
                                        str(work / "np.nc"), "--overwrite", "--sampler",
                                        "numpyro", "--progress"],
        "fit --method huber-bootstrap": [
            str(BIN), "-q", "fit", str(runs_file), "-o", str(work / "huber.nc"), "--overwrite",
            "--method", "huber-bootstrap", "--resamples", str(resamples)],
        # a literature prior is set anew for every set of runs; the warm caches come from a
        # fit of other runs borrowing from the same data sets (see warm_up)
        "fit --with gadre2024 gemstones": [str(BIN), "-q", "fit", str(runs_file), "-o",
                                           str(work / "with.nc"), "--overwrite",
                                           "--no-progress", *borrow],
        "fit of 28 runs (sampled again)": [str(BIN), "-q", "fit", str(few_file), "-o",
                                           str(work / "few.nc"), "--overwrite", "--no-progress"],
        "fit of 28 runs --draws 1000": [str(BIN), "-q", "fit", str(few_file), "-o",
                                        str(work / "few.nc"), "--overwrite", "--no-progress",
                                        "--draws", "1000"],
        "--help": [str(BIN), "--help"],
        "optimal": [str(BIN), "-q", "optimal", str(fit_file), "--flops", "1e24"],
        "predict": [str(BIN), "-q", "predict", str(fit_file), "--params", "7e10", "--tokens",
                    "1.4e12"],
        "summary": [str(BIN), "-q", "summary", str(fit_file)],
    }
    warm_up = {"fit --with gadre2024 gemstones": [
        str(BIN), "-q", "fit", str(other_file), "-o", str(work / "with-other.nc"), "--overwrite",
        "--no-progress", *borrow]}
    unknown = sorted(set(args.commands or []) - set(commands))
    if unknown:
        parser.error(f"unknown commands {unknown}; choose from {sorted(commands)}")
    if args.commands:
        commands = {name: command for name, command in commands.items()
                    if name in args.commands}
    rows = []
    warm_caches = work / "warm-caches"
    for name, command in commands.items():
        for state in ("cold", "warm"):
            walls, peaks = [], []
            if state == "warm":
                run(warm_up.get(name, command), warm_caches)  # fills the caches; not counted
            for _ in range(repeats):
                caches = (Path(tempfile.mkdtemp(dir=work)) if state == "cold" else warm_caches)
                wall, peak = run(command, caches)
                walls.append(wall)
                peaks.append(peak)
            rows.append({"command": f"bayescale {name}", "state": state,
                         "median_wall_s": statistics.median(walls), "min_wall_s": min(walls),
                         "max_wall_s": max(walls), "peak_rss_gib": max(peaks),
                         "repeats": repeats})
            print(f"{name} {state}: {statistics.median(walls):.2f} s", file=sys.stderr)
    everything = args.commands is None
    for name, seconds in (in_process(runs_file).items() if everything else ()):
        rows.append({"command": f"bayescale.fit in Python: {name}", "state": "in process",
                     "median_wall_s": seconds, "min_wall_s": seconds, "max_wall_s": seconds,
                     "peak_rss_gib": float("nan"), "repeats": 1})
    table = pd.DataFrame(rows)
    huber = table.query("command == 'bayescale fit --method huber-bootstrap' and state == 'warm'")
    fit = table.query("command == 'bayescale fit (nutpie)' and state == 'warm'")
    ratio = (float(huber["median_wall_s"].iloc[0] / fit["median_wall_s"].iloc[0])
             if len(huber) and len(fit) else float("nan"))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "cli_speed.csv", index=False)
    with pd.option_context("display.width", 200, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    if np.isfinite(ratio):
        print(f"\nwhole-process huber-bootstrap ({resamples} resamples) / nutpie fit, warm: "
              f"{ratio:.1f}x")
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"CSV in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
