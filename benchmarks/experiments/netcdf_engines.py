"""Experiment: how long a fit file takes to write and read with each netCDF engine of xarray.

Usage: ``python benchmarks/experiments/netcdf_engines.py [FIT.nc] [--repeats 5]``

A fit is one netCDF file of about 120 variables in 10 groups (the draws, the warm-up, the
sample statistics, the pointwise log likelihood, the runs, ...). Every query reads it whole to
check its digest, and every fit writes it and reads it back. This writes the fit's tree with
h5netcdf and with netCDF4 (netCDF's own library) and reads each file back with both, checking
that the digest is the same every way. Without FIT.nc it fits Epoch's 240 runs first. Prints
the median of ``--repeats`` timings (after one untimed warm-up) per engine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import xarray as xr

from bayescale.fitting import fitfile

ENGINES = ("h5netcdf", "netcdf4")


def _timed(action, repeats: int) -> float:
    action()  # warm-up: imports, file cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit", nargs="?", type=Path, help="a saved fit (default: fit Epoch's)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bayescale-netcdf-"))
    if args.fit is None:
        import bayescale as bs

        args.fit = bs.fit(bs.datasets.load("epoch-chinchilla")).save(work / "fit.nc")
    tree = fitfile.read(args.fit)
    expected = fitfile.digest(tree)
    groups = len(list(tree.subtree)) - 1
    variables = sum(len(node.to_dataset(inherit=False).variables) for node in tree.subtree)
    print(f"{args.fit}: {groups} groups, {variables} variables, "
          f"{args.fit.stat().st_size / 2**20:.1f} MiB; medians of {args.repeats} runs")

    def load(path, engine):
        with xr.open_datatree(path, engine=engine) as opened:
            return opened.load()

    for writer in ENGINES:
        path = work / f"{writer}.nc"
        seconds = _timed(lambda writer=writer, path=path: tree.to_netcdf(path, engine=writer),
                         args.repeats)
        print(f"write with {writer}: {seconds:.3f} s")
        for reader in ENGINES:
            same = fitfile.digest(load(path, reader)) == expected
            seconds = _timed(lambda path=path, reader=reader: load(path, reader), args.repeats)
            check = "equal" if same else "DIFFERS"
            print(f"  read with {reader}: {seconds:.3f} s (digest {check})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
