"""Law draws: one source's law, drawn once, answer every query, decision and law-only plot."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale import decide, plots
from bayescale.decide import forecast
from bayescale.errors import BayescaleError, ConvergenceWarning
from bayescale.queries.draws import LAW_DRAWS_ATTRS, law_parameters
from bayescale.queries.loss import decades_beyond

# two-source fits (see conftest) may warn about convergence; these tests compare answers
QUIET_CONVERGENCE = pytest.mark.filterwarnings("ignore::bayescale.errors.ConvergenceWarning")
BUDGET = 1e22


def _equal(a, b):
    xr.testing.assert_identical(a.reset_coords(drop=True), b.reset_coords(drop=True))


@QUIET_CONVERGENCE
def test_law_draws_carry_their_source_range_and_verdict(two_source_fit):
    draws = law_parameters(two_source_fit, source="lab-b")
    assert set(LAW_DRAWS_ATTRS) <= set(draws.attrs)
    assert draws.attrs["source"] == "lab-b"
    assert draws.attrs["law"] == "chinchilla"
    assert draws.attrs["converged"] == two_source_fit.converged
    assert 10 ** draws.attrs["log10_C_max"] == pytest.approx(
        two_source_fit.runs.table["C"].max())
    for name in ("per_decade", "drift_per_decade", "allocation_per_decade",
                 "allocation_drift_per_decade"):
        assert draws.attrs[name] == two_source_fit.discrepancy[name]
    # passed through unchanged, and its own source may be named again
    assert law_parameters(draws) is draws
    assert law_parameters(draws, source="lab-b") is draws
    with pytest.raises(BayescaleError, match="law draws are of source 'lab-b', not 'lab-a'"):
        bs.compute_optimal(draws, BUDGET, source="lab-a")


@QUIET_CONVERGENCE
def test_every_query_and_decision_answers_the_same_from_law_draws(two_source_fit):
    fit, source = two_source_fit, "lab-b"
    draws = law_parameters(fit, source=source)
    _equal(bs.compute_optimal(fit, [BUDGET, 1e24], source=source),
           bs.compute_optimal(draws, [BUDGET, 1e24]))
    beyond = bs.compute_optimal(draws, [BUDGET, 1e24])["decades_beyond"]
    np.testing.assert_array_equal(
        beyond, bs.compute_optimal(fit, [BUDGET, 1e24], source=source)["decades_beyond"])
    assert 0 < float(beyond[0]) < float(beyond[1])
    with pytest.warns(bs.errors.ExtrapolationWarning, match="decades of compute beyond"):
        bs.predict(draws, [1e12], [2e14])
    # the seed draws the discrepancy with the law (law_parameters) and the noise (predict)
    _equal(bs.predict(fit, [1e9, 1e11], [2e10, 2e12], source=source, noise=True, seed=4),
           bs.predict(law_parameters(fit, source=source, seed=4), [1e9, 1e11], [2e10, 2e12],
                      noise=True, seed=4))
    _equal(bs.queries.optimality(fit, "chinchilla", source=source),
           bs.queries.optimality(draws, "chinchilla"))
    by_fit = bs.queries.rule_allocation(fit, [BUDGET, 1e24], source=source)
    by_draws = bs.queries.rule_allocation(draws, [BUDGET, 1e24])
    _equal(by_fit, by_draws)
    assert by_draws.attrs["anchor_flops"] == pytest.approx(by_fit.attrs["anchor_flops"])
    for name, call in {
        "optimal_plan": lambda f, **s: decide.optimal_plan(f, BUDGET, risk=0.9, **s),
        "compare_plans": lambda f, **s: decide.compare_plans(f, (1e9, 1.6e12), (4e9, 4e11), **s),
        "regret": lambda f, **s: decide.regret(f, 1e9, 1.6e12, **s),
        "compute_for_loss": lambda f, **s: forecast.compute_for_loss(f, 2.4, **s),
        "forecast_year": lambda f, **s: forecast.forecast_year(
            f, start_year=2025, start_flops=BUDGET, growth=4.0, target_loss=2.4, **s),
    }.items():
        expected, got = call(fit, source=source), call(draws)
        if isinstance(expected, xr.DataArray):
            expected, got = expected.to_dataset(name=name), got.to_dataset(name=name)
        _equal(expected, got)


@QUIET_CONVERGENCE
def test_a_new_source_drawn_once_gives_one_answer(two_source_fit):
    draws = law_parameters(two_source_fit, source=bs.NEW_SOURCE, seed=1)
    other = law_parameters(two_source_fit, source=bs.NEW_SOURCE, seed=2)
    first, again = (bs.compute_optimal(draws, BUDGET, seed=s)["N_opt"] for s in (0, 9))
    xr.testing.assert_identical(first, again)  # the seed no longer redraws the offsets
    assert not np.array_equal(first, bs.compute_optimal(other, BUDGET)["N_opt"])
    _equal(decide.optimal_plan(draws, BUDGET), decide.optimal_plan(draws, BUDGET, seed=9))


@QUIET_CONVERGENCE
@pytest.mark.filterwarnings("ignore::bayescale.errors.ExtrapolationWarning")
def test_law_only_plots_draw_from_law_draws_and_the_others_ask_for_the_fit(two_source_fit):
    draws = law_parameters(two_source_fit, source="lab-b")
    fig, ax = plots.plot_decision(draws, flops=BUDGET)
    labels = [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()]
    assert labels == ["expected-loss optimum", "20 tokens per parameter", "Kaplan's N ~ C^0.73"]
    plt.close(fig)
    fig, _ = plots.plot_forecast(draws, start_year=2025, start_flops=BUDGET, growth=4.0)
    plt.close(fig)
    for plot, call in {"plot_runs": lambda: plots.plot_runs(draws),
                       "plot_frontier": lambda: plots.plot_frontier(draws),
                       "plot_isoflop": lambda: plots.plot_isoflop(draws, [BUDGET]),
                       "plot_extrapolation": lambda: plots.plot_extrapolation(draws),
                       "plot_pair": lambda: plots.plot_pair(draws),
                       "predictive checks": lambda: plots.plot_predictive_check(draws)}.items():
        with pytest.raises(BayescaleError, match=f"{plot} draws the fitted runs as well"):
            call()


@QUIET_CONVERGENCE
def test_draws_of_a_fit_that_did_not_converge_say_so_on_every_answer(two_source_fit):
    draws = law_parameters(two_source_fit, source="lab-a").assign_attrs(
        converged=False, problems=["max R-hat 1.2 > 1.01"])
    for call in (lambda: bs.compute_optimal(draws, BUDGET),
                 lambda: bs.predict(draws, [1e9], [2e10]),
                 lambda: decide.optimal_plan(draws, BUDGET)):
        with pytest.warns(ConvergenceWarning, match=r"max R-hat 1.2 > 1.01"):
            call()


def test_hand_built_draws_need_a_law_and_know_no_fitted_range():
    dims, ones = ("chain", "draw"), np.ones((1, 4))
    values = {"log_E": np.log(1.8), "log_A": np.log(450.0), "log_B": np.log(2000.0),
              "alpha": 0.34, "beta": 0.37, "sigma": 0.01}
    draws = xr.Dataset({k: (dims, v * ones) for k, v in values.items()},
                       attrs={"law": "chinchilla"})
    result = bs.compute_optimal(draws, [1e21, 1e25])
    assert np.isnan(result["decades_beyond"]).all()
    assert np.isnan(decades_beyond(draws, [1e25])).all()
    with pytest.raises(BayescaleError, match="know no fitted runs"):
        bs.queries.rule_allocation(draws, 1e24)
    anchored = bs.queries.rule_allocation(draws, 1e24, anchor_flops=1e21)
    assert float(anchored["excess_loss"].min()) >= 0
    with pytest.raises(BayescaleError, match=r"need their law's name in attrs\['law'\]"):
        bs.compute_optimal(draws.drop_attrs(), 1e21)
    with pytest.raises(BayescaleError, match="unknown law"):
        bs.compute_optimal(draws.assign_attrs(law="kaplan2"), 1e21)
