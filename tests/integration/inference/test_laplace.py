"""The Laplace start (init="laplace"): exact on a Gaussian posterior, same posterior as nutpie."""

import numpy as np
import pymc as pm
import pytest

import bayescale as bs
from bayescale.inference.laplace import _hessian, laplace
from tests.conftest import TRUTH, assert_recovers_truth_like, simulate_runs


def test_laplace_is_exact_for_a_gaussian_posterior():
    # Normal prior, normal likelihood with known sd: the posterior is normal in closed form.
    y = np.array([0.3, 1.9, 1.2, -0.4, 2.6])
    prior_sd, noise_sd = 10.0, 0.5
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, prior_sd)
        pm.Normal("y", mu, noise_sd, observed=y)
    precision = 1 / prior_sd**2 + y.size / noise_sd**2
    approximation = laplace(model)
    assert approximation.mode[0] == pytest.approx(y.sum() / noise_sd**2 / precision, abs=1e-6)
    assert approximation.covariance[0, 0] == pytest.approx(1 / precision, rel=1e-5)
    assert approximation.evaluations > 0
    starts = approximation.initial_points(chains=3, seed=1)
    assert len(starts) == 3 and len({float(start["mu"]) for start in starts}) == 3


def test_laplace_hessian_of_a_hierarchical_gaussian_is_exact_from_few_products():
    # Per source s: theta_s ~ N(mu, 1), phi_s ~ N(0, 1), y_s ~ N(theta_s + phi_s, 0.5). The
    # negative log density's Hessian couples each theta_s with mu and with its own phi_s only.
    y = np.array([0.4, -1.1, 2.0, 0.7])
    sources = len(y)
    with pm.Model(coords={"source": range(sources)}) as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        theta = pm.Normal("theta", mu, 1.0, dims="source")
        phi = pm.Normal("phi", 0.0, 1.0, dims="source")
        pm.Normal("y", theta + phi, 0.5, observed=y, dims="source")
    precision = np.zeros((1 + 2 * sources,) * 2)  # order: mu, theta, phi
    theta_at, phi_at = np.arange(1, 1 + sources), np.arange(1 + sources, 1 + 2 * sources)
    precision[0, 0] = 1 + sources
    precision[0, theta_at] = precision[theta_at, 0] = -1
    precision[theta_at, theta_at] = precision[phi_at, phi_at] = 1 + 4
    precision[theta_at, phi_at] = precision[phi_at, theta_at] = 4
    for backend in ("pytensor", "jax"):
        if backend == "jax":
            pytest.importorskip("jax", reason="pip install 'bayescale[jax]'")
        approximation = laplace(model, backend=backend)
        np.testing.assert_allclose(approximation.covariance, np.linalg.inv(precision),
                                   atol=1e-5)


def test_compressed_hessian_uses_one_product_per_colour_and_checks_itself():
    # Two sources with two per-source entries each (colours 0, 1) and one shared (colour 2).
    colours, sources = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, -1])
    rng = np.random.default_rng(3)
    random = rng.standard_normal((5, 5))
    coupled = random + random.T
    structured = np.where((sources[:, None] == sources[None, :]) | (sources[:, None] < 0)
                          | (sources[None, :] < 0), coupled, 0.0)
    for hessian, products_expected in ((structured, 3 + 1), (coupled, 3 + 1 + 5)):
        asked = []

        def products(vectors, hessian=hessian, asked=asked):
            asked.extend(vectors)
            return vectors @ hessian

        np.testing.assert_allclose(_hessian(products, colours, sources), hessian, atol=1e-12)
        # A Hessian that couples sources fails the random-vector check and is built by columns.
        assert len(asked) == products_expected


def test_laplace_refuses_a_posterior_without_curvature():
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0)
        pm.Flat("free")  # improper and flat: no mode, no curvature
    with pytest.raises(bs.errors.SamplerError, match=r"not concave at its mode.*free"):
        laplace(model)


@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_laplace_start_gives_nutpies_posterior_and_is_recorded(sampler, simulated_fit):
    if sampler == "numpyro":
        pytest.importorskip("numpyro", reason="pip install 'bayescale[jax]'")
    fit = bs.fit(simulate_runs(), sampler=sampler, init="laplace", draws=500, tune=200, seed=11)
    assert fit.converged, fit.diagnostics
    assert fit.sampler["init"] == "laplace" and fit.sampler["sampler"] == sampler
    assert fit.diagnostics["divergences"] == 0
    assert_recovers_truth_like(fit, simulated_fit)
    for name in TRUTH:
        assert fit.posterior[name].values.std() == pytest.approx(
            simulated_fit.posterior[name].values.std(), rel=0.2)


def test_laplace_start_needs_a_sampler_that_takes_a_mass_matrix():
    with pytest.raises(bs.errors.SamplerError, match=r"init='laplace'.*sampler='pymc'"):
        bs.fit(simulate_runs(), sampler="nutpie", init="laplace")
    with pytest.raises(bs.errors.SamplerError, match="init must be one of"):
        bs.fit(simulate_runs(), init="advi")


def test_jax_and_pytensor_laplace_agree():
    pytest.importorskip("jax", reason="the JAX backend needs: pip install 'bayescale[jax]'")
    from bayescale.data.runs import as_runs
    from bayescale.inference.model import build_model
    from bayescale.spec.model_spec import load_spec

    model = build_model(as_runs(simulate_runs()), load_spec("chinchilla"))
    by_pytensor, by_jax = laplace(model), laplace(model, backend="jax")
    np.testing.assert_allclose(by_jax.mode, by_pytensor.mode, atol=1e-4)
    np.testing.assert_allclose(by_jax.covariance, by_pytensor.covariance,
                               rtol=1e-3, atol=1e-3 * np.abs(by_pytensor.covariance).max())


def test_an_unconverged_fit_of_many_sources_is_advised_a_laplace_start():
    from bayescale.inference.sampling import warn_if_unconverged

    report = {"converged": False, "divergences": 0, "max_rhat": 1.04, "min_ess_bulk": 140,
              "min_ess_tail": 500, "problems": ["bulk ESS 140 for alpha (< 400)"]}
    with pytest.warns(bs.errors.ConvergenceWarning,
                      match=r"with 100 sources, start from the Laplace"):
        warn_if_unconverged(report, n_sources=100)
    for options in ({"n_sources": 2}, {"n_sources": 100, "init": "laplace"}):
        with pytest.warns(bs.errors.ConvergenceWarning) as caught:
            warn_if_unconverged(report, **options)
        assert "Laplace" not in str(caught[0].message)
