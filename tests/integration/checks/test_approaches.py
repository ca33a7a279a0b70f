"""Chinchilla's Approaches 1 and 2 on published runs, against the published exponents."""

import json

import numpy as np
import pytest

import bayescale as bs
from bayescale.checks.approaches import envelope_fit, envelope_points, isoflop_fit, isoflop_slices
from bayescale.cli import main
from bayescale.data import datasets

TUNED = "porian2024/rw-tuned-short-const-standard-val"


@pytest.mark.needs_data
def test_approach_2_on_porians_tuned_refinedweb_runs():
    runs = datasets.load("porian2024", configurations=[TUNED])
    fit = isoflop_fit(runs, seed=0)
    assert fit.diagnostics["converged"], fit.diagnostics["problems"]
    a = fit.exponent(prob=0.95)
    # Porian et al. 2024: a = 0.497 (95% CI 0.491-0.505)
    assert a["a_lo"] < 0.497 < a["a_hi"]
    assert a["a_hi"] - a["a_lo"] < 0.06
    # every budget has a vertex; runs far above a budget's minimum are reported, not lost
    assert fit.posterior.sizes["budget"] == 12
    assert len(fit.points) + len(fit.excluded) == len(runs)
    assert set(fit.excluded["excluded_because"]) == {"loss more than 5% above the budget's "
                                                     "minimum"}
    # N_opt grows with the budget, about as C^0.5: 4x the compute, ~2x the parameters
    n_opt = fit.N_opt([1e18, 4e18]).median(("chain", "draw")).to_numpy()
    assert 1.8 < n_opt[1] / n_opt[0] < 2.2


@pytest.mark.needs_data
def test_approach_1_on_gemstones_training_curves():
    checkpoints = datasets.load("gemstones")
    points = envelope_points(checkpoints)
    assert len(points) == 40 and points["C"].is_monotonic_increasing
    assert (np.diff(points["loss"]) < 0).all()  # the envelope falls with compute
    fit = envelope_fit(checkpoints, seed=0)
    assert fit.diagnostics["converged"], fit.diagnostics["problems"]
    a = fit.exponent(prob=0.95)
    # Gemstones' own Approach-1 exponent is 0.4994; Chinchilla's is 0.50
    assert a["a_lo"] < 0.5 < a["a_hi"] and abs(a["a"] - 0.5) < 0.05


@pytest.mark.needs_data
def test_approaches_need_one_source_and_their_columns():
    runs = datasets.load("porian2024")
    with pytest.raises(bs.errors.BayescaleError, match=r"fit one source at a time \(15 given"):
        isoflop_fit(runs)
    one = datasets.load("epoch-chinchilla")
    with pytest.raises(bs.errors.BayescaleError, match=r"no budget column 'budget'"):
        isoflop_fit(one)
    with pytest.raises(bs.errors.BayescaleError, match=r"no column 'run_name'"):
        envelope_fit(one)


@pytest.mark.needs_data
def test_three_approaches_side_by_side_command(capsys):
    # porian2024's tuned RefinedWeb IsoFLOP runs: Approach 2 and 3 run, Approach 1 needs curves
    assert main(["approaches", "porian2024", "--option", f"configurations={TUNED}",
                 "--draws", "2000", "--json"]) == 0
    rows = {row["approach"][0]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["1"]["used"].startswith("not run: no 'run_name' column")
    assert rows["2"]["a_lo"] < 0.497 < rows["2"]["a_hi"] and rows["2"]["converged"]
    assert rows["3"]["used"] == "Chinchilla law fitted to 121 rows" and rows["3"]["converged"]
    assert rows["3"]["a_lo"] < rows["3"]["a"] < rows["3"]["a_hi"]
    assert rows["2"]["flops"] == rows["3"]["flops"] == pytest.approx(2.56e19)  # largest C
    # both approaches put N_opt at the largest budget within a factor 2 of each other
    assert 0.5 < rows["3"]["N_opt"] / rows["2"]["N_opt"] < 2


@pytest.mark.needs_data
def test_isoflop_slices_cut_profiles_out_of_training_curves():
    sliced = isoflop_slices(datasets.load("gemstones"), n_budgets=6)
    table = sliced.table
    assert table["budget"].nunique() == 6
    assert (table.groupby("budget")["N"].nunique() >= 5).all()
    np.testing.assert_allclose(6 * table["N"] * table["D"], table["budget"])
    assert any("sliced from" in note for note in sliced.notes)
