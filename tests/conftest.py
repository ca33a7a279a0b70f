"""Shared fixtures: the offline data mirror, simulated runs, and fits sampled once per session."""

import os
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.data import datasets
from bayescale.data.simulate import simulate_loss

matplotlib.use("Agg")  # plots render to files; no display in CI

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# A known law, close to Epoch's refit of Chinchilla, for recovery tests.
TRUTH = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}


REQUIRE_DATA_ENV = "BAYESCALE_REQUIRE_DATA"


def _mirror() -> Path | None:
    """The offline data mirror: $BAYESCALE_DATA_MIRROR, else ../shared/data, if it exists."""
    mirror = Path(os.environ.get(datasets.MIRROR_ENV) or SHARED_DATA)
    return mirror if mirror.is_dir() else None


def pytest_collection_modifyitems(config, items):
    """Without a data mirror, skip the tests marked needs_data (fail them if it is required)."""
    if _mirror() is not None:
        return
    reason = (f"needs the published data mirror: ../shared/data beside the repository, or "
              f"{datasets.MIRROR_ENV} set")
    if os.environ.get(REQUIRE_DATA_ENV):
        raise pytest.UsageError(f"{REQUIRE_DATA_ENV} is set and no data mirror was found: "
                                f"{reason}")
    for item in items:
        if "needs_data" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def offline_mirror():
    """Point the data registry at the mirror (CI and tests never download)."""
    mirror = _mirror()
    datasets.set_mirror(str(mirror) if mirror else None)
    yield mirror
    datasets.set_mirror(None)


@pytest.fixture(scope="session", autouse=True)
def jax_compile_cache(tmp_path_factory):
    """Keep the JAX samplers' compile cache in a temporary folder, not the user's cache."""
    from bayescale.inference.sampling import JAX_CACHE_ENV

    folder = tmp_path_factory.mktemp("jax-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(JAX_CACHE_ENV, str(folder))
        yield folder


def law(N, D, p=TRUTH):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def simulate_runs(seed=7, sigma=0.01, truth=TRUTH, source=None):
    """Runs on a Chinchilla-like design: 8 sizes x 5 tokens-per-parameter ratios."""
    N = np.repeat(np.logspace(7, 9.5, 8), 5)
    D = N * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 8)
    table = pd.DataFrame({"N": N, "D": D,
                          "loss": simulate_loss(N, D, truth=truth, sigma=sigma, seed=seed)})
    if source is not None:
        table["source"] = source
    return table


def law_alone(fit, source=None):
    """A fit's law draws without the discrepancy beyond the fitted runs: the law's own answer."""
    from bayescale.queries.draws import law_parameters

    return law_parameters(fit, source=source).assign_attrs(
        per_decade=0.0, drift_per_decade=0.0, allocation_per_decade=0.0,
        allocation_drift_per_decade=0.0)


def assert_recovers_truth_like(fit, reference):
    """Each parameter's 99% interval holds TRUTH, and its median is ``reference``'s.

    The medians agree within a quarter of the reference's posterior sd (Monte Carlo error).
    """
    for name, value in TRUTH.items():
        draws = fit.posterior[name].values
        lo, hi = np.quantile(draws, [0.005, 0.995])
        assert lo <= value <= hi, (name, lo, hi)
        expected = reference.posterior[name].values
        assert abs(np.median(draws) - np.median(expected)) < 0.25 * expected.std(), name


@pytest.fixture(scope="session")
def simulated_fit(offline_mirror):
    return bs.fit(simulate_runs(), draws=500, tune=500, seed=11)


@pytest.fixture(scope="session")
def epoch_fit(offline_mirror):
    return bs.fit(datasets.load("epoch-chinchilla"), draws=500, tune=500, seed=3)


@pytest.fixture(scope="session")
def two_source_runs():
    """Two sources with different E and A (e.g. two tokenizers), shared exponents."""
    shifted = TRUTH | {"E": 2.2, "A": 700.0}
    return pd.concat([simulate_runs(seed=1, source="lab-a"),
                      simulate_runs(seed=2, truth=shifted, source="lab-b")], ignore_index=True)


@pytest.fixture(scope="session")
def two_source_fit(two_source_runs):
    # Known limitation (measured, docs/guides/models.md): fits of two sources show 0-5
    # divergent transitions per 2000 draws in about 3 of 8 seeds; the fit warns about them.
    # The tests that use this fixture check the diagnostics they rely on explicitly instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        return bs.fit(two_source_runs, draws=1000, tune=1000, seed=5)
