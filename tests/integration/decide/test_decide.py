"""Budget decisions: known answers on degenerate posteriors, and paired comparisons on fits."""

import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale import decide
from bayescale.errors import BayescaleError
from bayescale.spec.laws import chinchilla_optimal_log_params
from tests.conftest import law_alone

TRUTH = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
D0 = 2e10  # the data's reference token count, where the D term is pinned


def chinchilla_params(draws=400, beta_sd=0.0, seed=0, sigma=0.01):
    """Law parameters per draw: all fixed at TRUTH except beta (sd ``beta_sd``), pinned at D0."""
    rng = np.random.default_rng(seed)
    beta = TRUTH["beta"] + beta_sd * rng.standard_normal((1, draws))
    B_ref = TRUTH["B"] / D0 ** TRUTH["beta"]
    full = np.ones((1, draws))
    dims = ("chain", "draw")
    return xr.Dataset({
        "log_E": (dims, np.log(TRUTH["E"]) * full), "log_A": (dims, np.log(TRUTH["A"]) * full),
        "log_B": (dims, np.log(B_ref) + beta * np.log(D0)), "alpha": (dims, TRUTH["alpha"] * full),
        "beta": (dims, beta), "sigma": (dims, sigma * full)}, attrs={"law": "chinchilla"})


def closed_form_N(flops, beta=TRUTH["beta"]):
    log_B = np.log(TRUTH["B"] / D0 ** TRUTH["beta"]) + beta * np.log(D0)
    return float(np.exp(chinchilla_optimal_log_params(np.log(flops), np.log(TRUTH["A"]), log_B,
                                                      TRUTH["alpha"], beta)))


@pytest.mark.parametrize("risk", [None, 0.9])
def test_degenerate_posterior_gives_the_closed_form_optimum(risk):
    plan = decide.optimal_plan(chinchilla_params(draws=10), 1e23, risk=risk)
    assert float(plan.N) == pytest.approx(closed_form_N(1e23), rel=2e-3)
    assert float(plan.N * plan.D) * 6 == pytest.approx(1e23)
    assert float(plan.expected_loss) == pytest.approx(float(plan.loss_quantile))


def test_risk_averse_plan_is_the_optimum_of_the_pessimistic_exponent():
    # Beyond D0 the loss falls as beta grows, so the 90% quantile of the loss is the loss at
    # beta's 10% quantile: the risk-averse plan is that law's optimum, with more data than the
    # plan that minimises the mean loss.
    params = chinchilla_params(draws=4000, beta_sd=0.03)
    plan = decide.optimal_plan(params, 1e24, risk=0.9)
    pessimistic = float(params["beta"].quantile(0.1))
    assert float(plan.N) == pytest.approx(closed_form_N(1e24, pessimistic), rel=5e-3)
    mean_plan = decide.optimal_plan(params, 1e24)
    assert float(plan.D) > 1.05 * float(mean_plan.D)
    assert float(plan.loss_quantile) < float(mean_plan.loss.quantile(0.9))
    assert float(mean_plan.expected_loss) < float(plan.expected_loss)


def test_constraints_fix_the_size_or_cap_the_tokens():
    params = chinchilla_params(draws=10)
    fixed = decide.optimal_plan(params, 1e23, N=1e9)
    assert float(fixed.N) == 1e9 and float(fixed.D) == pytest.approx(1e23 / 6e9)
    capped = decide.optimal_plan(params, 1e23, max_tokens=1e11)
    assert float(capped.D) == pytest.approx(1e11, rel=1e-9)
    assert float(capped.expected_loss) > float(decide.optimal_plan(params, 1e23).expected_loss)
    with pytest.raises(BayescaleError, match="more than max_tokens"):
        decide.optimal_plan(params, 1e23, N=1e9, max_tokens=1e11)
    with pytest.raises(BayescaleError, match="model='data_constrained'"):
        decide.optimal_plan(params, 1e23, unique_tokens=1e11)
    with pytest.raises(BayescaleError, match="risk must be a probability"):
        decide.optimal_plan(params, 1e23, risk=90)


def test_unique_tokens_make_repeated_data_worth_less(datablations_params):
    free = decide.optimal_plan(datablations_params, 1e22)
    scarce = decide.optimal_plan(datablations_params, 1e22, unique_tokens=float(free.D) / 20)
    assert float(scarce.expected_loss) > float(free.expected_loss)
    # Muennighoff et al. 2023: excess parameters lose value faster than repeated tokens
    # (R_N* < R_D*), so with scarce data the optimum is a smaller model trained for more epochs.
    assert float(scarce.N) < float(free.N)
    assert float(scarce.D) > float(scarce.attrs["unique_tokens"])


@pytest.fixture(scope="module")
def datablations_params():
    params = chinchilla_params(draws=50)
    params.attrs["law"] = "data_constrained"
    params["R_D_star"] = params["alpha"] * 0 + 15.0
    params["R_N_star"] = params["alpha"] * 0 + 5.0
    return params


@pytest.mark.needs_data
def test_compare_plans_is_paired_and_antisymmetric(epoch_fit):
    a, b = (70e9, 1.4e12), (35e9, 2.8e12)
    ab = decide.compare_plans(epoch_fit, a, b)
    ba = decide.compare_plans(epoch_fit, b, a)
    assert float(ab.prob_a_better) + float(ba.prob_a_better) == pytest.approx(1.0)
    assert float(ab.expected_difference) == pytest.approx(-float(ba.expected_difference))
    same = decide.compare_plans(epoch_fit, a, a)
    assert float(same.prob_a_better) == 0.0 and float(same.expected_difference) == 0.0
    # Epoch's law puts 6ND = 5.9e23 optimal near 20 tokens per parameter: 70B x 1.4T wins;
    # 1.7 decades beyond Epoch's runs, the allocation's discrepancy leaves that less sure.
    assert float(decide.compare_plans(law_alone(epoch_fit), a, b).prob_a_better) > 0.95
    assert 0.5 < float(ab.prob_a_better) < 0.95
    with pytest.raises(BayescaleError, match="a plan is"):
        decide.compare_plans(epoch_fit, a, "big")


@pytest.mark.needs_data
def test_regret_is_zero_at_the_optimum_and_positive_away(epoch_fit):
    params = chinchilla_params(draws=5)
    N = closed_form_N(1e23)
    at_optimum = decide.regret(params, N, 1e23 / 6 / N)
    assert np.abs(at_optimum).max() < 1e-9
    gpt3 = decide.regret(epoch_fit, 175e9, 300e9)  # 1.7 tokens per parameter
    assert float(gpt3.min()) > 0 and 0.005 < float(gpt3.mean()) < 0.05


def test_inference_demand_shrinks_the_model():
    params = chinchilla_params(draws=10)
    plans = [decide.inference_aware_plan(params, 2.0, tokens) for tokens in (0, 1e12, 1e14)]
    sizes = [float(p.N) for p in plans]
    assert sizes[0] > sizes[1] > sizes[2]
    assert [float(p.tokens_per_param) for p in plans] == sorted(
        float(p.tokens_per_param) for p in plans)
    # Without inference the cheapest run to reach a loss is the compute-optimal one.
    assert sizes[0] == pytest.approx(closed_form_N(float(plans[0].training_flops)), rel=5e-3)
    for plan in plans:
        assert float(plan.loss.median()) == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(BayescaleError, match="choose a higher target"):
        decide.inference_aware_plan(params, 1.7, 0)


def test_value_of_next_run_knows_an_uninformative_run():
    # With only beta uncertain, a run at D0 says nothing about it (the D term is pinned there),
    # and a run at 100x D0 measured to 0.1% pins beta and so N_opt.
    params = chinchilla_params(draws=2000, beta_sd=0.03, sigma=0.001)
    with pytest.warns(bs.errors.ConvergenceWarning, match=r"candidate\(s\) \[1\] leave as few as"):
        value = decide.value_of_next_run(params, [(1e9, D0), (1e10, 100 * D0)], 1e24,
                                         outcomes=50)
    uninformative, informative = value.sd_reduction.values
    assert abs(uninformative) < 1e-9
    assert informative > 0.5
    assert value.attrs["current_sd_log10_N_opt"] > 0.01
    assert value.worse_than_best.values.tolist() == [True, False]
    assert np.all(value.mc_error.values >= 0) and value.mc_error.values[1] > 0


def test_value_of_next_run_on_a_fit(simulated_fit):
    candidates = [(3e9, 6e10), (1e10, 2e11), (3e7, 1.5e8)]
    value = decide.value_of_next_run(simulated_fit, candidates, 1e24, outcomes=100)
    assert value.sizes["candidate"] == 3
    assert np.all(value.expected_sd_log10_N_opt.values
                  <= value.attrs["current_sd_log10_N_opt"] * 1.02)
    assert np.all(value.min_weight_ess.values > 1)
