"""The deterministics and pointwise log likelihood of draws, vectorised, against PyMC's own."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from bayescale.data.runs import as_runs
from bayescale.inference import pointwise
from bayescale.inference.model import build_model
from bayescale.spec.model_spec import load_spec
from tests.conftest import simulate_runs

CASES = [("chinchilla", "normal"), ("chinchilla", "student_t"), ("chinchilla", "laplace"),
         ("kaplan", "normal"), ("data_constrained", "normal"), ("envelope", "normal"),
         ("overtraining", "normal"), ("data_constrained_paper", "normal")]  # its E, A, B fixed
# PyMC's reference values without a numba compile (PyTensor's Python linker, one draw a call).
FAST = {"compile_kwargs": {"mode": "FAST_COMPILE"}}


@pytest.fixture(scope="module")
def two_sources():
    """Two sources of simulated runs; half of them saw their unique tokens four times."""
    table = pd.concat([simulate_runs(seed=3, source="lab-a"),
                       simulate_runs(seed=4, source="lab-b")], ignore_index=True)
    table["U"] = np.where(np.arange(len(table)) % 2 == 0, table["D"], table["D"] / 4)
    return as_runs(table)


@pytest.mark.parametrize(("law", "likelihood"), CASES)
def test_derived_matches_pymc(two_sources, law, likelihood, monkeypatch):
    """Every law and likelihood, two sources, in several chunks of draws: PyMC's values."""
    model = build_model(two_sources, load_spec(law, likelihood=likelihood))
    draws = pm.sample_prior_predictive(draws=60, model=model, random_seed=1)["prior"]
    draws = draws.to_dataset()[[var.name for var in model.free_RVs]]
    monkeypatch.setattr(pointwise, "CHUNK_VALUES", 7 * len(two_sources))  # 9 chunks of 7 draws

    deterministics, log_likelihood = pointwise.derived(model, draws)

    expected = pm.compute_deterministics(draws, model=model, progressbar=False, **FAST)
    assert set(deterministics) == set(expected) == {var.name for var in model.deterministics}
    for name in expected:
        assert deterministics[name].dims == expected[name].dims
        np.testing.assert_allclose(deterministics[name], expected[name], rtol=1e-10)
    reference = pm.compute_log_likelihood(xr.DataTree.from_dict({"posterior": draws}),
                                          model=model, progressbar=False,
                                          extend_inferencedata=False, **FAST)
    assert log_likelihood["log_loss"].dims == reference["log_loss"].dims == ("chain", "draw",
                                                                            "run")
    np.testing.assert_array_equal(log_likelihood["run"], reference["run"])
    np.testing.assert_allclose(log_likelihood["log_loss"], reference["log_loss"], rtol=1e-10)


def test_derived_leaves_out_what_is_not_asked(two_sources):
    model = build_model(two_sources, load_spec("chinchilla"))
    draws = pm.sample_prior_predictive(draws=4, model=model, random_seed=2)["prior"]
    draws = draws.to_dataset()[[var.name for var in model.free_RVs]]
    deterministics, log_likelihood = pointwise.derived(model, draws, deterministics=False)
    assert deterministics is None and list(log_likelihood) == ["log_loss"]
    deterministics, log_likelihood = pointwise.derived(model, draws, log_likelihood=False)
    assert log_likelihood is None and "E" in deterministics
    assert pointwise.derived(model, draws, deterministics=False, log_likelihood=False) == (
        None, None)
