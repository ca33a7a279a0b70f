"""Each plot kind drawn from a deterministic fit matches its baseline image (within a tolerance).

The fit is the Huber-bootstrap baseline on Epoch's runs (an optimiser, no sampler), so the
figures depend on the plotting code and matplotlib, not on sampler versions. The baselines are
PNGs at 60 dpi in ``baseline/``; after an intended change of a figure, regenerate them with

    BAYESCALE_UPDATE_BASELINES=1 python -m pytest tests/integration/plots/test_images.py

and look at every changed image before committing it. A failure writes the drawn image and
the difference beside the test's temporary folder and names them.
"""

import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.testing.compare import compare_images

import bayescale as bs
from bayescale import plots
from bayescale.checks import extrapolation_check
from bayescale.data import datasets

BASELINES = Path(__file__).with_name("baseline")
UPDATE = os.environ.get("BAYESCALE_UPDATE_BASELINES") == "1"
# RMS of the pixel difference (0-255). Measured against these baselines: the 90% band drawn
# as 80% gives 4.2, one axis label renamed 4.9, the legend removed 56. The same matplotlib
# draws identical pixels (0); a new matplotlib release may move text by a pixel or two, and
# then the baselines are regenerated (see above) after a look.
TOLERANCE = 2.0
DPI = 60


@pytest.fixture(scope="module")
def baseline_fit(offline_mirror):
    # 243 starts: Epoch's optimum in a tenth of the time
    return bs.fit(datasets.load("epoch-chinchilla"), method="huber-bootstrap", resamples=40,
                  seed=0, starts="coarse")


def _heldout(fit):
    score = extrapolation_check(fit.runs, method="huber-bootstrap", resamples=40,
                                starts="coarse", seed=0)
    return plots.plot_heldout(score)


# Every kind that a fit without sampling can draw (the predictive checks need a posterior:
# tests/integration/plots/test_plots.py checks what they hold).
FIGURES = {
    "runs": lambda fit: plots.plot_runs(fit),
    "pair": lambda fit: plots.plot_pair(fit),
    "heldout": _heldout,
    "isoflop": lambda fit: plots.plot_isoflop(fit, [1e19, 1e21, 1e23]),
    "frontier": lambda fit: plots.plot_frontier(fit),
    "extrapolation": lambda fit: plots.plot_extrapolation(fit),
    "decision": lambda fit: plots.plot_decision(fit, {"mine": (3e10, 5.6e12)}, flops=1e24),
    "forecast": lambda fit: plots.plot_forecast(fit, start_year=2024, start_flops=5e24,
                                                growth=4.0, growth_sd=0.3, target_loss=1.9),
}


@pytest.mark.needs_data
@pytest.mark.parametrize("kind", sorted(FIGURES))
@pytest.mark.filterwarnings("ignore::bayescale.errors.ExtrapolationWarning")  # pixels here
def test_figure_matches_its_baseline(kind, baseline_fit, tmp_path):
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "savefig.dpi": DPI}):
        fig, _ = FIGURES[kind](baseline_fit)
        drawn = tmp_path / f"{kind}.png"
        fig.savefig(drawn)
        plt.close(fig)
    expected = BASELINES / f"{kind}.png"
    if UPDATE:
        BASELINES.mkdir(exist_ok=True)
        expected.write_bytes(drawn.read_bytes())
        pytest.skip(f"baseline {expected.name} written")
    assert expected.exists(), f"no baseline for {kind}: run with BAYESCALE_UPDATE_BASELINES=1"
    difference = compare_images(str(expected), str(drawn), tol=TOLERANCE)
    assert difference is None, difference
