"""The law functions against hand-computed values, and model specifications as data."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from bayescale.errors import SpecError
from bayescale.spec import available_specs, load_spec
from bayescale.spec.laws import chinchilla_log_loss, chinchilla_optimal_log_params


def test_chinchilla_loss_by_hand():
    # E + A/N^a + B/D^b = 1.69 + 406.4/1e9^0.34 + 410.7/2e10^0.28 (Hoffmann's constants)
    expected = 1.69 + 406.4 / 1e9**0.34 + 410.7 / 2e10**0.28
    value = chinchilla_log_loss(np.log(1e9), np.log(2e10), np.log(1.69), np.log(406.4),
                                np.log(410.7), 0.34, 0.28)
    assert np.exp(value) == pytest.approx(expected, rel=1e-12)
    # by hand: 1e9^0.34 = 1148.2 -> 0.3540; 2e10^0.28 = 766.1 -> 0.5361; 1.69 + 0.890 = 2.580
    assert expected == pytest.approx(2.5800, abs=1e-4)


def test_chinchilla_loss_limits():
    # infinite N and D leave E; no data term leaves L(N) = E + A/N^alpha
    huge = np.log(1e300)
    assert np.exp(chinchilla_log_loss(huge, huge, np.log(1.8), np.log(500), np.log(2000), 0.35,
                                      0.37)) == pytest.approx(1.8)
    assert np.exp(chinchilla_log_loss(np.log(1e8), huge, np.log(1.8), np.log(500), np.log(2000),
                                      0.35, 0.37)) == pytest.approx(1.8 + 500 / 1e8**0.35)


def test_optimal_allocation_minimises_loss_on_the_budget():
    A, B, alpha, beta, C = 482.0, 2085.0, 0.348, 0.366, 5.76e23
    log_N = chinchilla_optimal_log_params(np.log(C), np.log(A), np.log(B), alpha, beta)

    def loss(log_n):
        return A / np.exp(log_n) ** alpha + B / (C / 6 / np.exp(log_n)) ** beta

    best = minimize_scalar(loss, bracket=(20, 30), tol=1e-12)
    assert log_N == pytest.approx(best.x, abs=1e-5)
    # Epoch's constants imply ~18-20 tokens per parameter at Gopher's budget
    assert 18 < C / 6 / np.exp(log_N) ** 2 < 21


def test_named_specs_and_overrides():
    assert "chinchilla" in available_specs()
    spec = load_spec("chinchilla")
    assert spec.priors["alpha"]["dist"] == "LogNormal"
    assert all(entry.get("why") for entry in spec.priors.values())
    narrow = spec.with_overrides(priors={"alpha": {"dist": "TruncatedNormal", "mu": 0.35,
                                                   "sigma": 0.05, "lower": 0}})
    assert narrow.priors["alpha"]["dist"] == "TruncatedNormal"
    assert spec.priors["alpha"]["dist"] == "LogNormal"  # the default is untouched
    assert load_spec(spec) is spec
    table = spec.prior_table()
    assert {"E", "A", "B", "alpha", "beta", "sigma", "nu"} <= set(table["parameter"])


def test_spec_from_file_and_round_trip(tmp_path):
    spec = load_spec("chinchilla")
    assert type(spec).from_json(spec.to_json()) == spec
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nlaw = "chinchilla"\nlikelihood = "normal"\n'
                    '[priors.E]\ndist = "LogNormal"\nmu = 0.5\nsigma = 0.3\n'
                    '[priors.A]\ndist = "LogNormal"\nmu = -1\nsigma = 1\n'
                    '[priors.B]\ndist = "LogNormal"\nmu = -1\nsigma = 1\n'
                    '[priors.alpha]\ndist = "HalfNormal"\nsigma = 1\n'
                    '[priors.beta]\ndist = "HalfNormal"\nsigma = 1\n'
                    '[priors.sigma]\ndist = "HalfNormal"\nsigma = 0.1\n')
    assert load_spec(path).likelihood == "normal"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"likelihood": "cauchy"},
         r"likelihood must be one of \('student_t', 'normal', 'laplace'\)"),
        ({"priors": {"alpha": {"dist": "Nope", "mu": 1}}}, r"names 'Nope', which is not a PyMC"),
        ({"priors": {"alpha": "LogNormal"}}, r"must be a table with a 'dist' key"),
        ({"priors": {"alpha": {"dist": "Normal", "mu": "x"}}}, r"parameter mu = 'x' must be a"),
        ({"priors": {"E": {"dist": "Normal", "mu": 1.7, "sigma": 1}}},
         r"the prior on E must be LogNormal"),
        ({"pooling": {"exponents": "free"}}, r"pooling.exponents must be one of"),
        ({"pooling": {"parameterization": "odd"}}, r"pooling.parameterization must be one of"),
    ],
)
def test_bad_specs(overrides, message):
    with pytest.raises(SpecError, match=message):
        load_spec("chinchilla", **overrides)


def test_unknown_model():
    with pytest.raises(SpecError, match=r"unknown model 'kaplan2'.*the named models are"):
        load_spec("kaplan2")


CORRELATED = {"parameters": ["E", "alpha", "beta"],
              "matrix": [[1.0, 0.6, 0.2], [0.6, 1.0, 0.3], [0.2, 0.3, 1.0]], "why": "a test"}


def test_correlated_priors_round_trip_show_and_follow_overrides():
    spec = load_spec("chinchilla").with_overrides(correlation=CORRELATED)
    assert type(spec).from_json(spec.to_json()) == spec
    table = spec.prior_table()
    row = table[table["parameter"].str.startswith("correlation")].iloc[0]
    assert row["prior"] == "E-alpha +0.60, E-beta +0.20, alpha-beta +0.30"
    # replacing one correlated prior takes it out of the correlations, nothing else
    replaced = spec.with_overrides(priors={"beta": {"dist": "TruncatedNormal", "mu": 0.3,
                                                    "sigma": 0.05, "lower": 0}})
    assert replaced.correlation["parameters"] == ["E", "alpha"]
    assert replaced.correlation["matrix"] == [[1.0, 0.6], [0.6, 1.0]]
    assert not replaced.with_overrides(priors={"E": {"sigma": 0.5}}).correlation


@pytest.mark.parametrize(("correlation", "message"), [
    (CORRELATED | {"matrix": [[1.0, 0.99, 0.0], [0.99, 1.0, -0.99], [0.0, -0.99, 1.0]]},
     "positive definite"),
    (CORRELATED | {"matrix": [[1.0, 0.5], [0.5, 1.0]]}, r"3 x 3 matrix"),
    (CORRELATED | {"parameters": ["E", "alpha", "nu"]}, r"LogNormal priors .* got"),
    ({"parameters": ["E", "A"]}, r"takes 'parameters', 'matrix' and 'why'"),
])
def test_bad_correlations_are_refused(correlation, message):
    with pytest.raises(SpecError, match=message):
        load_spec("chinchilla").with_overrides(correlation=correlation)
