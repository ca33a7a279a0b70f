"""Benchmark: which discrepancy beyond the fitted runs predicts a left-out data set best?

Usage: ``./run.sh bench beyond`` (or ``python benchmarks/beyond.py``); a few seconds.

It reads the nested held-out residuals that ``python -m bayescale.checks.literature_tables``
writes to ``models/literature/`` (every registered data set's sources, their smaller runs
fitted alone without a discrepancy, their larger runs and later IsoFLOP budgets predicted),
and scores, leaving each data set out in turn, four ways of widening the answers beyond the
fitted runs, learned from the other data sets (:func:`bayescale.fitting.literature.
growth_per_decade`):

``none``
    the posterior alone;
``spread``
    a spread per decade beyond (mean 0);
``drift+spread``
    a drift and a spread per decade;
``by regime``
    drift and spread learned separately for few-run fits (<= 12 runs) and many-run fits.

For the loss of the larger runs and for log N_opt against each later budget's observed optimum
(the vertex of its IsoFLOP parabola), per regime: the 90% and 50% coverage, the 90% interval
score (Gneiting & Raftery 2007, in log units: width plus 20x the miss) and the mean log
predictive density, each data set weighing the same (the 90% coverage of the worst data set
beside it). The residuals are taken as Normal on the log scale with the fit's predictive scale
(half its 16-84% range), as :func:`bayescale.fitting.literature.growth_per_decade` models them.
Prints the tables and writes ``benchmarks/results/beyond.csv`` (per data set) and
``beyond_summary.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bayescale.fitting.literature import (
    ALLOCATION_FILE,
    EXTRAPOLATION_FILE,
    _read,
    growth_per_decade,
)

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("none", "spread", "drift+spread", "by regime")
FEW_RUNS = 12


def _learned(rest: pd.DataFrame, variant: str, regime: str, extra: str | None):
    if variant == "none":
        return 0.0, 0.0
    if variant == "by regime":
        same = rest[rest["regime"] == regime]
        return growth_per_decade(same if len(same) else rest, extra_scale=extra)
    return growth_per_decade(rest, drift=variant == "drift+spread", extra_scale=extra)


def scores(held: pd.DataFrame, mu: float, tau: float, extra: str | None) -> dict:
    """Coverage, interval score and log density of held-out residuals under (mu, tau)."""
    scale = held["scale"].to_numpy(float)
    if extra is not None:
        scale = np.hypot(scale, np.nan_to_num(held[extra].to_numpy(float)))
    d, r = held["decades"].to_numpy(float), held["residual"].to_numpy(float)
    sd, centre = np.sqrt(scale ** 2 + (tau * d) ** 2), mu * d
    low, high = centre - stats.norm.ppf(0.95) * sd, centre + stats.norm.ppf(0.95) * sd
    miss = np.maximum(low - r, 0) + np.maximum(r - high, 0)
    return {"coverage90": float(((low <= r) & (r <= high)).mean()),
            "coverage50": float((np.abs(r - centre) <= stats.norm.ppf(0.75) * sd).mean()),
            "interval_score90": float(np.mean(high - low + 2 / 0.1 * miss)),
            "lpd": float(stats.norm.logpdf(r, centre, sd).mean())}


def leave_one_out(table: pd.DataFrame, quantity: str, extra: str | None) -> pd.DataFrame:
    """Score every variant on every left-out data set and regime."""
    table = table.assign(regime=np.where(table["fitted_runs"] <= FEW_RUNS, "few", "many"))
    rows = []
    for name in sorted(set(table["dataset"])):
        rest, held = table[table["dataset"] != name], table[table["dataset"] == name]
        for regime, part in held.groupby("regime"):
            for variant in VARIANTS:
                mu, tau = _learned(rest, variant, regime, extra)
                rows.append({"quantity": quantity, "left_out": name, "regime": regime,
                             "variant": variant, "n": len(part), "drift": mu, "spread": tau,
                             **scores(part, mu, tau, extra)})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    table = pd.concat([leave_one_out(_read(EXTRAPOLATION_FILE), "loss", None),
                       leave_one_out(_read(ALLOCATION_FILE), "log N_opt", "se")])
    summary = table.groupby(["quantity", "regime", "variant"], sort=False).agg(
        data_sets=("left_out", "size"), coverage90=("coverage90", "mean"),
        coverage90_worst=("coverage90", "min"), coverage50=("coverage50", "mean"),
        interval_score90=("interval_score90", "mean"), lpd=("lpd", "mean"))
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "beyond.csv", index=False)
    summary.to_csv(RESULTS / "beyond_summary.csv")
    print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
    for quantity, extra, file in (("loss", None, EXTRAPOLATION_FILE),
                                  ("log N_opt", "se", ALLOCATION_FILE)):
        everything = _read(file)
        drift, spread = growth_per_decade(everything, extra_scale=extra)
        _, alone = growth_per_decade(everything, drift=False, extra_scale=extra)
        print(f"{quantity}, from all {everything['dataset'].nunique()} data sets: drift "
              f"{drift:+.4f} with spread {spread:.4f} per decade; spread alone {alone:.4f}")


if __name__ == "__main__":
    main()
