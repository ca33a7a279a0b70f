"""Figure of the transfer benchmark: borrowing against a fit alone, and 90% coverage.

Usage: ``python benchmarks/transfer_figure.py [--rows CSV] [-o PNG]`` (defaults: the rows of
``benchmarks/results/transfer-current`` and ``docs/validation/transfer.png``). Reads the
per-turn table that ``benchmarks/transfer.py`` writes; draws nothing it does not find there.

Left: each (user set, regime)'s median relative error of the held-out larger runs, fitted alone
(x) against borrowed (y, one marker per borrowing method), with the lines of equal error and of
half the error (the target of the borrowing issue). Right: each turn's 90% coverage per regime
and method, with the 85-95% band a calibrated interval should land in.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REGIME_COLOURS = {"few-5": "tab:red", "few-8": "tab:orange", "many": "tab:blue"}
MARKERS = {"with": "o", "stacked": "s", "with-pair": "^", "huber": "x", "bare": "v"}


def draw(rows: pd.DataFrame):
    """Return the figure of a transfer table's rows."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    wide = rows.pivot_table(index=["user_set", "regime"], columns="method",
                            values="median_rel_error")
    others = [m for m in MARKERS if m in wide.columns]
    for method in others:
        for regime, colour in REGIME_COLOURS.items():
            part = wide.xs(regime, level="regime")
            left.scatter(100 * part["alone"], 100 * part[method], s=36, color=colour,
                         marker=MARKERS[method], alpha=0.8,
                         label=f"{method}, {regime}")
    span = np.array([0.05, 60.0])
    left.plot(span, span, color="0.3", lw=1, label="equal error")
    left.plot(span, span / 2, color="0.3", lw=1, ls="--", label="half the error")
    left.set(xscale="log", yscale="log", xlim=span, ylim=span,
             xlabel="median error alone (%)", ylabel="median error borrowed (%)",
             title="Held-out larger runs: borrowed against alone")
    left.legend(fontsize="x-small", ncol=2, loc="upper left")
    methods = [m for m in ("alone", *MARKERS) if m in set(rows["method"])]
    positions = {}
    for i, regime in enumerate(REGIME_COLOURS):
        for j, method in enumerate(methods):
            x = i * (len(methods) + 1) + j
            positions[x] = f"{method}\n{regime}"
            values = rows.query("regime == @regime and method == @method")["coverage90"]
            jitter = np.linspace(-0.25, 0.25, len(values)) if len(values) > 1 else [0.0]
            right.scatter(x + np.asarray(jitter), 100 * values, s=18,
                          color=REGIME_COLOURS[regime], alpha=0.7)
            if len(values):
                right.plot([x - 0.35, x + 0.35], [100 * values.mean()] * 2, color="k", lw=2)
    right.axhspan(85, 95, color="tab:green", alpha=0.15, label="85-95%")
    right.set_xticks(list(positions), list(positions.values()), fontsize="x-small")
    right.set(ylim=(-5, 105), ylabel="90% interval coverage of held-out runs (%)",
              title="Coverage per turn (bar: the mean)")
    right.legend(fontsize="small", loc="center left")
    return fig


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=ROOT / "benchmarks" / "results"
                        / "transfer-current" / "transfer_rows.csv")
    parser.add_argument("-o", "--output", type=Path,
                        default=ROOT / "docs" / "validation" / "transfer.png")
    args = parser.parse_args(argv)
    fig = draw(pd.read_csv(args.rows))
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
