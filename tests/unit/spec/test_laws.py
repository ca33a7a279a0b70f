"""Kaplan, data-constrained, envelope and over-training laws: hand values, limits, optima."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from bayescale.spec.laws import LAWS, chinchilla_log_loss, law_inputs, reference_inputs

# Published constants (datasets/published_fits.csv).
KAPLAN = {"log_N_c": np.log(8.8e13), "log_D_c": np.log(5.4e13), "alpha_N": 0.076,
          "alpha_D": 0.095}
MUENNIGHOFF = {"log_A": 6.255414, "log_B": 7.3049974, "log_E": 0.6254804, "alpha": 0.3526596,
               "beta": 0.3526596, "R_D_star": 15.387756, "R_N_star": 5.309743}


def loss(law, N, D, p, U=None):
    x = law_inputs(np.log(N), np.log(D), log_U=None if U is None else np.log(U))
    return float(np.exp(LAWS[law].log_loss(x, p)))


def test_kaplan_by_hand_and_limits():
    # [(8.8e13/1e9)^(0.076/0.095) + 5.4e13/1e10]^0.095 = [88000^0.8 + 5400]^0.095
    by_hand = (88000 ** 0.8 + 5400) ** 0.095  # 88000^0.8 = 9033.4; 14433.4^0.095 = 2.4838
    assert by_hand == pytest.approx(2.4838, abs=1e-4)
    assert loss("kaplan", 1e9, 1e10, KAPLAN) == pytest.approx(by_hand, rel=1e-12)
    # unlimited data: L(N) = (N_c/N)^alpha_N; unlimited model: L(D) = (D_c/D)^alpha_D
    assert loss("kaplan", 1e9, 1e200, KAPLAN) == pytest.approx((8.8e13 / 1e9) ** 0.076)
    assert loss("kaplan", 1e200, 1e10, KAPLAN) == pytest.approx((5.4e13 / 1e10) ** 0.095)


@pytest.mark.parametrize("law, p", [
    ("kaplan", KAPLAN),
    ("overtraining", {"log_E": np.log(1.8), "log_a": np.log(900.0), "log_b": np.log(3000.0),
                      "eta": 0.17}),
    ("data_constrained", MUENNIGHOFF),
])
def test_optimal_rule_minimises_loss_on_the_budget(law, p):
    C = 1e22
    log_N = LAWS[law].optimal_log_params(np.log(C), p)
    best = minimize_scalar(lambda n: loss(law, np.exp(n), C / 6 / np.exp(n), p),
                           bracket=(18, 26), tol=1e-12)
    assert log_N == pytest.approx(best.x, abs=1e-4)


def test_kaplan_optimum_grows_as_alpha_D_over_sum():
    law = LAWS["kaplan"]
    slope = (law.optimal_log_params(np.log(1e24), KAPLAN)
             - law.optimal_log_params(np.log(1e20), KAPLAN)) / np.log(1e4)
    assert slope == pytest.approx(0.095 / (0.076 + 0.095))


def test_data_constrained_reduces_to_chinchilla_without_repeats():
    # every token seen once and N below U_N: the Chinchilla law with the same constants
    N, D = 1e8, 1e11
    chinchilla = np.exp(chinchilla_log_loss(np.log(N), np.log(D), MUENNIGHOFF["log_E"],
                                            MUENNIGHOFF["log_A"], MUENNIGHOFF["log_B"],
                                            0.3526596, 0.3526596))
    assert loss("data_constrained", N, D, MUENNIGHOFF, U=D) == pytest.approx(chinchilla)
    assert loss("data_constrained", N, D, MUENNIGHOFF, U=10 * D) == pytest.approx(chinchilla)


def test_data_constrained_repeats_by_hand_and_limit():
    # N small (no excess parameters); 4 epochs: R_D = 3, D' = U (1 + 15.39 (1 - e^(-3/15.39)))
    p, N, U = MUENNIGHOFF, 1e8, 1e10
    effective = U * (1 + 15.387756 * (1 - np.exp(-3 / 15.387756)))  # 1 + 15.388 x 0.17713 = 3.7257
    assert effective / (4 * U) == pytest.approx(0.9314, abs=1e-4)
    expected = np.exp(p["log_E"]) + np.exp(p["log_A"]) / N ** p["alpha"] + \
        np.exp(p["log_B"]) / effective ** p["beta"]
    assert loss("data_constrained", N, 4 * U, p, U=U) == pytest.approx(expected, rel=1e-12)
    # endless repetition: the data term saturates at D' = U (1 + R_D*)
    saturated = np.exp(p["log_E"]) + np.exp(p["log_A"]) / N ** p["alpha"] + \
        np.exp(p["log_B"]) / (U * (1 + 15.387756)) ** p["beta"]
    assert loss("data_constrained", N, 1e7 * U, p, U=U) == pytest.approx(saturated, rel=1e-9)


def test_data_constrained_optimum_matches_muennighoff_readme():
    # Their README: C = 1e22 FLOPs, 25B unique tokens -> N = 7.02e9, D = 2.37e11 (9.49 epochs)
    log_N = LAWS["data_constrained"].optimal_log_params(np.log(1e22), MUENNIGHOFF,
                                                        log_U=np.log(25e9))
    assert np.exp(log_N) == pytest.approx(7.02e9, rel=2e-3)
    assert 1e22 / 6 / np.exp(log_N) == pytest.approx(2.37e11, rel=2e-3)


def test_overtraining_is_chinchilla_with_tied_exponents():
    # alpha = beta = 2 eta, a = A 6^eta, b = B 6^eta (Gadre et al. Eq. 4 from Chinchilla's)
    eta, A, B, E = 0.17, 400.0, 1500.0, 1.8
    p = {"log_E": np.log(E), "log_a": np.log(A * 6**eta), "log_b": np.log(B * 6**eta),
         "eta": eta}
    for N, D in [(1e8, 2e9), (7e9, 1.4e12), (4e8, 4e11)]:
        assert loss("overtraining", N, D, p) == pytest.approx(
            E + A / N ** (2 * eta) + B / D ** (2 * eta), rel=1e-12)


def test_envelope_is_the_chinchilla_frontier_exponent():
    # Chinchilla's optimal loss is E + K C^-(alpha beta / (alpha + beta)) for some K
    chinchilla, envelope = LAWS["chinchilla"], LAWS["envelope"]
    p = {"log_E": np.log(1.8), "log_A": np.log(482.0), "log_B": np.log(2085.0),
         "alpha": 0.348, "beta": 0.366}
    gamma = 0.348 * 0.366 / (0.348 + 0.366)

    def optimal_reducible(C):
        log_N = chinchilla.optimal_log_params(np.log(C), p)
        x = law_inputs(log_N, np.log(C / 6) - log_N)
        return np.exp(chinchilla.log_loss(x, p)) - 1.8

    K = optimal_reducible(1e20) * 1e20**gamma
    q = {"log_E": np.log(1.8), "log_A": np.log(K), "gamma": gamma}
    for C in (1e18, 1e23, 1e26):
        assert np.exp(envelope.log_loss({"C": np.log(C)}, q)) == pytest.approx(
            1.8 + optimal_reducible(C), rel=1e-10)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_reference_scaled_parameters_give_the_raw_law(name):
    # The model samples parameters relative to reference scales; to_raw must undo that exactly.
    law = LAWS[name]
    rng = np.random.default_rng(3)
    sampled = {k: rng.normal(0.0, 1.0) if k in law.log_scale else rng.uniform(0.1, 0.5)
               for k in law.parameters}
    sampled |= {k: rng.uniform(3.0, 20.0) for k in ("R_D_star", "R_N_star")
                if k in law.parameters}
    reference = reference_inputs(np.log(3e8), np.log(6e9), np.log(1.1e19))
    log_N, log_D = np.log([1e8, 2e9, 7e10]), np.log([3e9, 1e10, 2e12])
    x = law_inputs(log_N, log_D, log_U=log_D - np.log(3.0))
    relative = {k: v - reference[k] for k, v in x.items()}
    keyed = {law.key(k): v for k, v in sampled.items()}
    np.testing.assert_allclose(law.log_loss(relative, keyed),
                               law.log_loss(x, law.to_raw(sampled, reference)), rtol=1e-10)
