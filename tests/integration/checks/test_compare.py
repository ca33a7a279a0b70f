"""Model comparison: PSIS-LOO prefers the law that made the data; held-out extrapolation."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

import bayescale as bs
from bayescale import plots
from bayescale.checks.compare import compare_laws, extrapolation_check
from bayescale.spec.laws import LAWS, law_inputs
from tests.conftest import simulate_runs

KAPLAN_TRUTH = {"log_N_c": np.log(8.8e13), "log_D_c": np.log(5.4e13), "alpha_N": 0.076,
                "alpha_D": 0.095}
SAMPLING = {"draws": 500, "tune": 500, "chains": 4}


def simulate_kaplan_runs(seed=4, sigma=0.005):
    rng = np.random.default_rng(seed)
    N = np.repeat(np.logspace(7, 9.5, 8), 5)
    D = N * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 8)
    log_loss = LAWS["kaplan"].log_loss(law_inputs(np.log(N), np.log(D)), KAPLAN_TRUTH)
    return pd.DataFrame({"N": N, "D": D,
                         "loss": np.exp(log_loss + sigma * rng.standard_normal(N.size))})


@pytest.fixture(scope="module")
def kaplan_comparison():
    comparison, pareto_warnings = compare_recording(simulate_kaplan_runs(),
                                                    ["chinchilla", "kaplan"])
    assert comparison.table.loc["kaplan", "bad_pareto_k"] == 0
    assert comparison.table.loc["kaplan", "converged"]
    assert all("under the chinchilla law" in text for text in pareto_warnings)
    return comparison


def compare_recording(runs, laws):
    """Compare, returning the comparison and the Pareto-k warnings it gave (as text).

    A wrong law may also fit badly enough not to converge (Chinchilla's E has nothing to fit in
    Kaplan's runs); the table's ``converged`` column records that and the tests check it.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.errors.RunsWarning)
        warnings.simplefilter("always", bs.errors.ConvergenceWarning)
        comparison = compare_laws(runs, laws, seed=2, **SAMPLING)
    return comparison, [str(w.message) for w in caught if "Pareto k" in str(w.message)]


def test_loo_prefers_chinchilla_on_chinchilla_runs():
    comparison, pareto_warnings = compare_recording(simulate_runs(sigma=0.005),
                                                    ["kaplan", "chinchilla"])
    table = comparison.table
    assert table.index[0] == "chinchilla"
    assert table.loc["kaplan", "elpd_diff"] < -4 * table.loc["kaplan", "dse"]
    assert table["converged"].all()
    # the true law has no influential runs; a warning, if any, names the wrong law and its runs
    assert table.loc["chinchilla", "bad_pareto_k"] == 0
    assert len(pareto_warnings) == int(table.loc["kaplan", "bad_pareto_k"] > 0)
    assert all("under the kaplan law" in text for text in pareto_warnings)


def test_loo_prefers_kaplan_on_kaplan_runs(kaplan_comparison):
    table = kaplan_comparison.table
    assert table.index[0] == "kaplan"
    assert table.loc["chinchilla", "elpd_diff"] < -2 * table.loc["chinchilla", "dse"]
    assert kaplan_comparison.pareto_k.shape == (40, 2)


def test_kaplan_fit_recovers_its_exponents(kaplan_comparison):
    fit = kaplan_comparison.fits["kaplan"]
    assert fit.converged, fit.diagnostics
    post = fit.posterior
    for name, value in (("alpha_N", 0.076), ("alpha_D", 0.095), ("N_c", 8.8e13),
                        ("D_c", 5.4e13)):
        lo, hi = np.quantile(post[name].values, [0.03, 0.97])
        assert lo <= value <= hi, (name, lo, hi)
    # its frontier follows the law's rule: N_opt grows as C^(alpha_D/(alpha_N+alpha_D))
    frontier = bs.compute_optimal(fit, [1e21, 1e23], discrepancy=False)  # the law alone
    slope = np.log(frontier["N_opt"].isel(flops=1) / frontier["N_opt"].isel(flops=0)) / np.log(
        100)
    ratio = post["alpha_D"] / (post["alpha_N"] + post["alpha_D"])
    np.testing.assert_allclose(slope, ratio, rtol=1e-10)


def test_compare_needs_two_laws():
    with pytest.raises(bs.errors.BayescaleError, match="at least two"):
        compare_laws(simulate_runs(), ["chinchilla"])


# 1000 draws: with 500 the fit's R-hat sits near 1.01 and passes or fails by seed and test order
# The true law generated these runs, so the bayes fit is scored without the discrepancy
# learned from real ladders (whose drift a simulated law does not have).
@pytest.mark.parametrize("method, options", [("bayes", {"draws": 1000, "tune": 1000,
                                                        "discrepancy": 0.0}),
                                             ("huber-bootstrap", {"resamples": 100,
                                                                  "starts": "coarse"})])
def test_extrapolation_check_scores_held_out_runs(method, options):
    # The baseline starts from the 243-point grid: Epoch's 4500 starts reach the same optimum
    # on these well-pinned runs in ten times the time (estimators/test_baseline.py runs the
    # full grid, where reproducing Epoch's fit is the point).
    runs = simulate_runs(sigma=0.01)
    score = extrapolation_check(runs, holdout=0.2, method=method, seed=1, **options)
    summary = score.summary
    assert summary["n_held_out"] == 8 and summary["n_fit"] == 32  # the largest-C 20% of 40
    held = score.runs
    assert held["C"].min() >= summary["threshold_flops"] > score.fit.runs.table["C"].max()
    # the true law generated the data: predictions are close and intervals cover
    assert summary["median_abs_rel_error"] < 0.02
    assert summary["coverage90"] >= 0.75
    assert np.isfinite(held["lpd"]).all()
    assert (held["lo90"] <= held["lo50"]).all() and (held["hi50"] <= held["hi90"]).all()
    # the held-out plot: one point per run at (observed, predicted), coloured by distance
    fig, ax = plots.plot_heldout(score)
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(points.get_offsets(), held[["loss", "median"]].to_numpy())
    assert np.all(points.get_array() > 0)  # every held-out run lies beyond the fitted ones
    assert f"90% intervals cover {summary['coverage90']:.0%}" in ax.get_title()
    plt.close(fig)


def test_extrapolation_threshold_and_errors():
    runs = simulate_runs()
    C = runs["N"] * runs["D"] * 6
    with pytest.raises(bs.errors.BayescaleError, match="compute range"):
        extrapolation_check(runs, holdout_above=C.max() * 2)
    with pytest.raises(bs.errors.BayescaleError, match="fraction"):
        extrapolation_check(runs, holdout=1.5)
    with pytest.raises(bs.errors.BayescaleError, match="leaves"):
        extrapolation_check(runs, holdout_above=C.min() * 1.001)


def test_held_out_runs_with_a_unique_token_column_score_under_a_law_without_it(simulated_fit):
    """A U column is metadata for the Chinchilla law (single-epoch runs: U = D)."""
    from bayescale.checks.compare import _score

    held = simulate_runs(seed=3).iloc[-5:].assign(source="runs")
    held["C"] = 6 * held["N"] * held["D"]
    with_u = held.assign(U=held["D"])
    pd.testing.assert_frame_equal(_score(simulated_fit, with_u, 0), _score(simulated_fit, held, 0))
