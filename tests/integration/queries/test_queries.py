"""Queries over the posterior: the frontier, predictions, sources, summary tables."""

import warnings

import numpy as np
import pytest

import bayescale as bs
from bayescale.queries.draws import law_parameters

# two-source fits (see conftest): the queries are tested
QUIET_CONVERGENCE = pytest.mark.filterwarnings(
    "ignore::bayescale.errors.ConvergenceWarning")


@pytest.mark.needs_data
def test_compute_optimal_shapes_and_identities(epoch_fit):
    frontier = bs.compute_optimal(epoch_fit, [1e21, 1e23, 1e25])
    assert frontier["N_opt"].dims == ("chain", "draw", "flops")
    assert frontier.sizes == {"chain": 4, "draw": 500, "flops": 3}
    np.testing.assert_allclose(6 * frontier["N_opt"] * frontier["D_opt"],
                               np.broadcast_to(frontier["flops"], frontier["N_opt"].shape),
                               rtol=1e-12)
    assert (frontier["N_opt"].median(("chain", "draw")).diff("flops") > 0).all()
    assert (frontier["loss_opt"].median(("chain", "draw")).diff("flops") < 0).all()
    # the loss at the optimum is the smallest on the budget: compare with 2x N either way
    single = bs.compute_optimal(epoch_fit, 1e23)
    N = float(single["N_opt"].median())
    losses = bs.predict(epoch_fit, [N / 2, N, 2 * N], [1e23 / 6 / (N / 2), 1e23 / 6 / N,
                                                         1e23 / 6 / (2 * N)])
    medians = losses.median(("chain", "draw")).values
    assert medians[1] < medians[0] and medians[1] < medians[2]


@pytest.mark.needs_data
def test_predict_with_and_without_noise(epoch_fit):
    law = bs.predict(epoch_fit, [7e10, 3.5e10], [1.4e12, 3e12])
    noisy = bs.predict(epoch_fit, [7e10, 3.5e10], [1.4e12, 3e12], noise=True)
    assert law.dims == ("chain", "draw", "run")
    assert list(law["N"].values) == [7e10, 3.5e10]
    assert (noisy.std(("chain", "draw")) > law.std(("chain", "draw"))).all()
    assert float(abs(noisy.median() - law.median())) < 0.01
    with pytest.raises(ValueError, match="must pair up one to one"):
        bs.predict(epoch_fit, [1e9, 2e9], [1e10])
    with pytest.raises(ValueError, match="positive and finite"):
        bs.predict(epoch_fit, [-1e9], [1e10])


@QUIET_CONVERGENCE
def test_known_and_new_sources(two_source_fit):
    fit = two_source_fit
    assert fit.sources == ["lab-a", "lab-b"]
    diagnostics = fit.diagnostics
    assert diagnostics["max_rhat"] <= 1.01 and diagnostics["min_ess_bulk"] >= 400, diagnostics
    assert diagnostics["divergences"] <= 5, diagnostics
    a = bs.predict(fit, [1e9], [2e10], source="lab-a")
    b = bs.predict(fit, [1e9], [2e10], source="lab-b")
    new = bs.predict(fit, [1e9], [2e10])
    # lab-b was simulated with E 2.2 vs 1.8 and A 700 vs 450: clearly higher loss
    assert float(b.median()) - float(a.median()) > 0.4
    # a new source carries the spread between sources: wider than either known one
    assert float(new.std()) > 2 * max(float(a.std()), float(b.std()))
    with pytest.raises(bs.errors.BayescaleError, match=r"unknown source 'lab-c'"):
        bs.predict(fit, [1e9], [2e10], source="lab-c")


@QUIET_CONVERGENCE
def test_known_source_offsets_are_recovered(two_source_fit):
    post = two_source_fit.posterior
    E = np.exp(post["log_E_source"])
    assert E.sel(source="lab-a").quantile(0.03) < 1.8 < E.sel(source="lab-a").quantile(0.97)
    assert E.sel(source="lab-b").quantile(0.03) < 2.2 < E.sel(source="lab-b").quantile(0.97)
    # A in raw units per source (simulated 450 and 700), and B shared by both (2000)
    for source, truth in (("lab-a", {"A": 450.0, "B": 2000.0}),
                          ("lab-b", {"A": 700.0, "B": 2000.0})):
        params = law_parameters(two_source_fit, source=source)
        for name, value in truth.items():
            draws = np.exp(params[f"log_{name}"])
            assert draws.quantile(0.03) < value < draws.quantile(0.97), (source, name)
    lab_a, lab_b = (law_parameters(two_source_fit, source=s) for s in ("lab-a", "lab-b"))
    assert float((lab_b["log_A"] > lab_a["log_A"]).mean()) > 0.9


@QUIET_CONVERGENCE
def test_new_source_draws_are_reproducible(two_source_fit):
    first = law_parameters(two_source_fit, seed=1)
    again = law_parameters(two_source_fit, seed=1)
    other = law_parameters(two_source_fit, seed=2)
    np.testing.assert_array_equal(first["log_E"], again["log_E"])
    assert not np.array_equal(first["log_E"], other["log_E"])


@pytest.mark.needs_data
def test_interval_table(epoch_fit):
    frontier = bs.compute_optimal(epoch_fit, [1e22, 1e24])
    table = bs.queries.interval_table(frontier, prob=0.9)
    assert list(table.index) == [1e22, 1e24]
    assert {"N_opt", "N_opt_lo", "N_opt_hi", "loss_opt_hi"} <= set(table.columns)
    assert (table["N_opt_lo"] < table["N_opt"]).all() and (table["N_opt"] < table["N_opt_hi"]).all()
    expected = np.quantile(frontier["N_opt"].sel(flops=1e22).values.ravel(), [0.05, 0.95])
    np.testing.assert_allclose(table.loc[1e22, ["N_opt_lo", "N_opt_hi"]], expected, rtol=1e-6)
    hdi = bs.queries.interval_table(frontier, prob=0.9, kind="hdi")
    assert (hdi["N_opt_hi"] - hdi["N_opt_lo"] <= table["N_opt_hi"] - table["N_opt_lo"]).all()
    with pytest.raises(ValueError, match="kind must be one of"):
        bs.queries.interval_table(frontier, kind="box")


@pytest.mark.needs_data
def test_parameter_summary(epoch_fit):
    table = epoch_fit.parameter_summary()
    assert {"E", "A", "B", "alpha", "beta", "nu"} <= set(table.index)
    assert (table["r_hat"] < 1.01).all()
    assert (table["lo"] < table["median"]).all()


@QUIET_CONVERGENCE
@pytest.mark.parametrize("parameterization", ["centered", "noncentered"])
def test_pooled_exponents_build_sample_and_answer(two_source_runs, parameterization):
    """Structure of the optional pooling settings; few draws, so convergence is not judged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        fit = bs.fit(two_source_runs, pooling={"exponents": "pooled",
                                               "parameterization": parameterization},
                     draws=100, tune=200, chains=2, seed=3)
    post = fit.posterior
    assert post["alpha_source"].dims == ("chain", "draw", "source")
    assert {"alpha_spread", "beta_spread", "E_spread"} <= set(post.data_vars)
    # per-source exponents differ draw by draw, and a new source's spread is wider still
    assert float(abs(post["alpha_source"].diff("source")).mean()) > 0
    new = law_parameters(fit)["alpha"]
    assert float(new.std()) > float(post["alpha_source"].sel(source="lab-a").std())
