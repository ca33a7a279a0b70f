"""ArviZ on a fit: fit.to_arviz() holds the groups ArviZ's checks need; a notebook view."""

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pytest

import bayescale as bs


@pytest.fixture(scope="module")
def tree(simulated_fit):
    return simulated_fit.to_arviz(seed=1)


def test_to_arviz_has_the_groups_and_no_internal_layout(tree, simulated_fit):
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood", "constant_data",
            "posterior_predictive", "log_prior"} <= set(tree.children)
    assert set(tree["constant_data"].data_vars) == {"N", "D", "C", "source"}
    runs = simulated_fit.runs.table
    np.testing.assert_array_equal(tree["constant_data"]["N"].values, runs["N"].to_numpy())
    predictive = tree["posterior_predictive"]["log_loss"]
    assert predictive.sizes == {"chain": 4, "draw": 500, "run": len(runs)}
    # the predictive draws scatter around the observations with the fitted noise
    residual = predictive.mean(("chain", "draw")) - tree["observed_data"]["log_loss"]
    assert float(np.abs(residual).median()) < 3 * float(
        simulated_fit.posterior["sigma"].median())
    assert "posterior_predictive" not in simulated_fit.tree  # the fit is unchanged


def test_to_arviz_draws_once_and_says_nothing(simulated_fit, tree, caplog, monkeypatch):
    import pymc

    def drawn_again(*args, **kwargs):
        raise AssertionError("the predictive was drawn again")

    monkeypatch.setattr(pymc, "sample_posterior_predictive", drawn_again)
    again = simulated_fit.to_arviz(seed=1)  # the module's fixture drew it already
    monkeypatch.undo()
    with caplog.at_level("INFO", logger="pymc"):
        simulated_fit.to_arviz(seed=2)  # a new seed: drawn, without PyMC's note
    assert not [r for r in caplog.records if "Sampling" in r.getMessage()]
    np.testing.assert_array_equal(again["posterior_predictive"]["log_loss"].values,
                                  tree["posterior_predictive"]["log_loss"].values)
    again["posterior"]["alpha"].values[...] = 0.0  # a copy: the next one is whole again
    assert float(simulated_fit.to_arviz(seed=1)["posterior"]["alpha"].min()) > 0


def test_arviz_checks_run_on_it(tree):
    summary = az.summary(tree, var_names=["alpha", "beta"])
    assert list(summary.index) == ["alpha", "beta"] and (summary["r_hat"] < 1.01).all()
    loo = az.loo(tree)
    assert np.isfinite(loo.elpd) and loo.n_data_points == 40
    sensitivity = az.psense_summary(tree)
    assert {"alpha", "beta"} <= set(sensitivity.index)
    assert (sensitivity["prior"] < 0.05).loc[["alpha", "beta"]].all()  # 40 runs: data dominate
    collection = az.plot_ppc_pit(tree)
    plt.close(collection.viz["figure"].item())


def test_notebook_view_and_baseline(simulated_fit):
    view = simulated_fit._repr_html_()
    assert view.startswith("<p><b>&lt;bayescale.Fit chinchilla") and "<table" in view
    assert "alpha" in view and "ess_bulk" in view
    # 243 starts: the baseline's result is not tested here
    baseline = bs.fit(simulated_fit.runs.table, method="huber-bootstrap", resamples=5, seed=1,
                      starts="coarse")
    assert "point estimate" in baseline._repr_html_()
    with pytest.raises(bs.errors.FitFileError, match="need a Bayesian fit"):
        baseline.to_arviz()
