"""Timeline forecasts: a hand-computed case, monotonicity, and clear errors."""

import itertools

import numpy as np
import pytest
import xarray as xr

from bayescale.decide import forecast
from bayescale.errors import BayescaleError

P = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}


def degenerate_params(draws=3):
    dims, full = ("chain", "draw"), np.ones((1, draws))
    return xr.Dataset({"log_E": (dims, np.log(P["E"]) * full),
                       "log_A": (dims, np.log(P["A"]) * full),
                       "log_B": (dims, np.log(P["B"]) * full),
                       "alpha": (dims, P["alpha"] * full), "beta": (dims, P["beta"] * full)},
                      attrs={"law": "chinchilla"})


def hand_computed_flops(loss):
    # At the optimum both terms fall as (C/6)^-g, g = alpha beta / (alpha + beta):
    # L - E = K (C/6)^-g with K = A G^-alpha + B G^beta, G = (alpha A / (beta B))^(1/(a+b)).
    a, b = P["alpha"], P["beta"]
    G = (a * P["A"] / (b * P["B"])) ** (1 / (a + b))
    K = P["A"] * G**-a + P["B"] * G**b
    return 6 * (K / (loss - P["E"])) ** ((a + b) / (a * b))


def test_compute_for_loss_matches_the_hand_computed_budget():
    flops = forecast.compute_for_loss(degenerate_params(), 2.0)
    np.testing.assert_allclose(flops.values, hand_computed_flops(2.0), rtol=1e-9)


def test_year_follows_from_the_growth_by_hand():
    result = forecast.forecast_year(degenerate_params(), start_year=2024, start_flops=1e24,
                                    growth=4.0, target_loss=1.95)
    expected = 2024 + np.log(hand_computed_flops(1.95) / 1e24) / np.log(4.0)
    np.testing.assert_allclose(result.year.values, expected, rtol=1e-9)


def test_compute_for_size_inverts_n_opt():
    a, b = P["alpha"], P["beta"]
    G = (a * P["A"] / (b * P["B"])) ** (1 / (a + b))
    flops = forecast.compute_for_size(degenerate_params(), 1e11)
    np.testing.assert_allclose(flops.values, 6 * (1e11 / G) ** ((a + b) / b), rtol=1e-9)


@pytest.mark.needs_data
def test_lower_targets_need_more_compute_and_later_years(epoch_fit):
    targets = [2.2, 2.0, 1.9]
    budgets = [forecast.compute_for_loss(epoch_fit, t).values for t in targets]
    # draw by draw: more compute for a lower target, or never for either (a draw whose
    # discrepancy beyond the runs flattens its frontier above the target)
    for lower, higher in itertools.pairwise(budgets):
        assert np.all((lower < higher) | (np.isinf(lower) & np.isinf(higher)))
    years = [forecast.forecast_year(epoch_fit, start_year=2024, start_flops=5e24, growth=4.0,
                                    growth_sd=0.2, target_loss=t, seed=1).year for t in targets]
    assert float(years[0].median()) < float(years[1].median()) < float(years[2].median())
    # The same growth draws (seed) keep the ordering draw by draw.
    assert bool((years[1] <= years[2]).all())


@pytest.mark.needs_data
def test_unreachable_targets_are_reported_not_hidden(epoch_fit):
    result = forecast.forecast_year(epoch_fit, start_year=2024, start_flops=5e24, growth=4.0,
                                    target_loss=1.0)  # below Epoch's E ~ 1.82, never reached
    table = forecast.forecast_table(result)
    assert table.loc["year", "p_never"] == 1.0
    assert np.isinf(table.loc["flops", "q0.5"])


def test_forecast_errors_name_the_fix():
    params = degenerate_params()
    with pytest.raises(BayescaleError, match="exactly one of target_loss and target_params"):
        forecast.forecast_year(params, start_year=2024, start_flops=1e24, growth=4.0)
    with pytest.raises(BayescaleError, match="yearly factor above 1"):
        forecast.forecast_year(params, start_year=2024, start_flops=1e24, growth=0.5,
                               target_loss=2.0)
    envelope = params.assign_attrs(law="envelope")
    with pytest.raises(BayescaleError, match="has no N_opt"):
        forecast.compute_for_size(envelope, 1e11)
