"""The discrepancy beyond the fitted runs: it widens answers with distance, never inside the
runs; it is measured from the runs of the source asked about; every answer past 3 decades
reports how far it reaches and warns."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import decide, plots
from bayescale.decide import forecast
from bayescale.errors import ExtrapolationWarning
from bayescale.queries.draws import law_parameters
from bayescale.queries.famous import optimality, rule_allocation
from bayescale.queries.frontier import frontier
from tests.conftest import simulate_runs

PARTS = {"per_decade": 0.03, "drift_per_decade": -0.02, "allocation_per_decade": 0.5,
         "allocation_drift_per_decade": 0.0}


@pytest.fixture(scope="module")
def draws(simulated_fit):
    """The simulated fit's law draws, with a known discrepancy (its runs end at ~5e21)."""
    params = law_parameters(simulated_fit)
    return params.assign_attrs(PARTS)


def _log_width(values, prob=0.9):
    low, high = np.quantile(np.log(values), [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return high - low


def test_the_discrepancy_is_nothing_inside_the_runs_and_grows_beyond(draws):
    largest = 10 ** draws.attrs["log10_C_max"]
    budgets = [largest / 10, largest * 10, largest * 1e3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        widened = bs.compute_optimal(draws, budgets)
        bare = bs.compute_optimal(draws, budgets, discrepancy=False)
    np.testing.assert_array_equal(widened["decades_beyond"], [0.0, 1.0, 3.0])
    inside = widened.isel(flops=0)
    for name in ("N_opt", "D_opt", "tokens_per_param", "loss_opt"):
        np.testing.assert_allclose(inside[name], bare.isel(flops=0)[name], rtol=1e-12)
    n_wide = _log_width(widened["N_opt"].values.reshape(-1, 3))
    n_bare = _log_width(bare["N_opt"].values.reshape(-1, 3))
    # 0.5 per decade in log N_opt: at 1 and 3 decades the 90% width is ~1.6 and ~4.9 wider
    assert n_wide[1] > n_bare[1] + 1.0 and n_wide[2] > n_wide[1] + 2.0
    # the loss drifts down by 0.02 per decade, beyond only
    shift = np.median(np.log(widened["loss_opt"] / bare["loss_opt"]).values.reshape(-1, 3), 0)
    assert shift[0] == 0 and -0.03 < shift[1] < -0.01 and shift[2] < shift[1]
    # tokens per parameter follow from N_opt under C = 6ND
    np.testing.assert_allclose(widened["tokens_per_param"] * widened["N_opt"] ** 2 * 6
                               / widened["flops"], 1.0, rtol=1e-9)


def test_predict_plans_and_the_frontier_agree_beyond_the_runs(draws):
    budget = 10 ** (draws.attrs["log10_C_max"] + 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        best = bs.compute_optimal(draws, [budget]).isel(flops=0)
        plan = decide.optimal_plan(draws, budget)
        regret = decide.regret(draws, float(plan.N), float(plan.D))
    # the expected-loss plan sits near the frontier's median N_opt, and no draw's regret is
    # negative: a planned run's loss and the frontier carry the same discrepancy
    assert abs(np.log(float(plan.N) / float(best["N_opt"].median()))) < 0.5
    assert float(regret.min()) > -1e-9
    assert float(plan.decades_beyond) == pytest.approx(2.0)
    # the compute for a target is each draw's first budget that reaches it: its frontier loss
    # there is the target, and a third of that budget falls short
    flops = forecast.compute_for_loss(draws, 2.0)
    finite = np.isfinite(flops.values)
    assert 0.5 < finite.mean() < 1.0  # some draws' discrepancy flattens them above 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        at = frontier(draws, flops.where(finite, 1e30))["loss_opt"].values[finite]
        short = frontier(draws, flops.where(finite, 1e30) / 3)["loss_opt"].values[finite]
    np.testing.assert_allclose(at, 2.0, rtol=1e-6)
    assert np.all(short > 2.0)


def _unmeasured(answer):
    """An answer that states no distance of its own (a comparison, a figure): None."""
    assert answer is not None
    return None


def test_every_answer_past_three_decades_says_how_far_and_warns(draws, simulated_fit):
    far = 10 ** (draws.attrs["log10_C_max"] + 4)
    N = np.sqrt(far / 6 / 20)
    # each answer, and how far it says it reaches (None: a comparison or a plot, which warn;
    # the plots that draw the runs too take the fit, whose discrepancy is the learned one)
    answers = {
        "optimal": lambda: bs.compute_optimal(draws, [far])["decades_beyond"].values,
        "predict": lambda: bs.predict(draws, [N], [20 * N])["decades_beyond"].values,
        "plan": lambda: float(decide.optimal_plan(draws, far).decades_beyond),
        "rule": lambda: rule_allocation(draws, [far])["decades_beyond"].values,
        "optimality": lambda: optimality(draws, ["llama-3.1-405b"])["decades_beyond"].values,
        "forecast": lambda: forecast.forecast_table(forecast.forecast_year(
            draws, start_year=2024, start_flops=far / 4, growth=4.0,
            target_params=3 * N))["q0.5"]["decades_beyond"],
        "compare": lambda: _unmeasured(decide.compare_plans(draws, (N, 20 * N),
                                                            (2 * N, 10 * N))),
        "frontier plot": lambda: _unmeasured(plots.plot_frontier(simulated_fit, [far / 10, far])),
        "extrapolation plot": lambda: _unmeasured(plots.plot_extrapolation(
            simulated_fit, [far / 1e6, far])),
        "isoflop plot": lambda: _unmeasured(plots.plot_isoflop(simulated_fit, [far])),
        "decision plot": lambda: _unmeasured(plots.plot_decision(draws, flops=far)),
        "forecast plot": lambda: _unmeasured(plots.plot_forecast(
            draws, start_year=2024, start_flops=far, growth=4.0)),
    }
    for name, answer in answers.items():
        with pytest.warns(ExtrapolationWarning, match="decades of compute beyond"):
            reach = answer()
        if reach is not None:
            assert np.max(reach) > 3.5, name
        plt.close("all")


@pytest.mark.filterwarnings("ignore::bayescale.errors.ConvergenceWarning")
def test_beyond_is_measured_from_the_runs_of_the_source_asked_about():
    small = simulate_runs(seed=3, source="mine")
    small = small[small["N"] * small["D"] * 6 <= 1e19]
    runs = pd.concat([small, simulate_runs(seed=4, source="published")], ignore_index=True)
    fitted = bs.fit(runs, draws=200, tune=200, seed=1)
    largest = fitted.discrepancy["log10_C_max_by_source"]
    assert largest["mine"] == pytest.approx(np.log10((6 * small["N"] * small["D"]).max()))
    assert largest["published"] > largest["mine"] + 2
    budget = 10 ** (largest["published"] - 0.5)  # inside the published runs, beyond mine
    mine = bs.compute_optimal(fitted, [budget], source="mine")
    published = bs.compute_optimal(fitted, [budget], source="published")
    assert mine["decades_beyond"].item() == pytest.approx(largest["published"] - 0.5
                                                          - largest["mine"])
    assert published["decades_beyond"].item() == 0.0
