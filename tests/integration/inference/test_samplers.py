"""JAX samplers (numpyro, blackjax) through the one sampler= option, devices, missing extras."""

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

import bayescale as bs
from bayescale.inference import sampling
from tests.conftest import assert_recovers_truth_like, simulate_runs

pytest.importorskip("jax", reason="the JAX samplers need: pip install 'bayescale[jax]'")


@pytest.mark.parametrize("sampler", ["numpyro", "blackjax"])
def test_jax_samplers_recover_the_law_like_nutpie(sampler, simulated_fit):
    fit = bs.fit(simulate_runs(), sampler=sampler, draws=500, tune=500, seed=11)
    assert fit.converged, fit.diagnostics
    assert fit.sampler["sampler"] == sampler and fit.device in ("cpu", "gpu")
    versions = fit.provenance["versions"]  # the packages that sampled it, not nutpie
    assert {"jax", "jaxlib", sampler} <= set(versions) and "nutpie" not in versions
    # 99% intervals (ten parameter checks over the two samplers), and nutpie's medians
    assert_recovers_truth_like(fit, simulated_fit)


@pytest.mark.parametrize(("sampler", "total"), [("numpyro", 2 * (120 + 130)),
                                                ("blackjax", 2 * 130)])
@pytest.mark.filterwarnings("ignore::bayescale.errors.ConvergenceWarning")
def test_jax_progress_bar_counts_every_step_from_few_callbacks(sampler, total, capsys,
                                                              monkeypatch):
    from bayescale.inference import jax_nuts

    calls = []
    advance = jax_nuts._Progress.advance
    monkeypatch.setattr(jax_nuts._Progress, "advance",
                        staticmethod(lambda count: (calls.append(count), advance(count))))
    bs.fit(simulate_runs(), sampler=sampler, draws=130, tune=120, chains=2, seed=1,
           progressbar=True, log_likelihood=False)
    assert f"{total}/{total}" in capsys.readouterr().err  # the bar ends at every step
    per_chain = (total // 2) // jax_nuts.PROGRESS_EVERY
    assert 0 < len(calls) <= 2 * per_chain  # one callback per 50 steps, not one per step


def test_gpu_without_a_gpu_falls_back_to_the_cpu_and_says_so(caplog):
    import jax

    try:
        has_gpu = bool(jax.devices("gpu"))
    except RuntimeError:
        has_gpu = False
    if has_gpu:
        pytest.skip("a GPU is visible: the fallback path does not apply")
    with caplog.at_level(logging.WARNING, logger="bayescale"):
        assert sampling.jax_device("gpu") == "cpu"
    assert "JAX sees no GPU" in caplog.text and "sampling on the CPU instead" in caplog.text
    assert sampling.jax_device("auto") == "cpu" and sampling.jax_device("cpu") == "cpu"


def test_chain_method_vectorises_on_gpu_and_beyond_host_devices():
    assert sampling.chain_method("gpu", 4) == "vectorized"
    assert sampling.chain_method("cpu", 100_000) == "vectorized"


def test_many_vectorised_chains_sample_the_same_posterior(simulated_fit, monkeypatch):
    # On a GPU the chains run vectorised (device="gpu"). On the CPU whether 64 chains are
    # vectorised depends on how many host devices JAX was started with (PyMC asks for 100 when
    # its JAX module is imported first), so the GPU's choice is made here outright.
    chosen = []
    monkeypatch.setattr(sampling, "chain_method",
                        lambda device, chains: chosen.append(chains) or "vectorized")
    # Each chain still needs its own draws: at 100 per chain R-hat stays near 1.02 however many
    # chains run (chain means scatter by 1/sqrt(ESS per chain)), at 400 it is 1.006.
    fit = bs.fit(simulate_runs(), sampler="numpyro", chains=16, draws=400, tune=300, seed=5,
                 log_likelihood=False)
    assert chosen == [16]
    assert fit.posterior.sizes["chain"] == 16 and fit.posterior.sizes["draw"] == 400
    assert fit.converged, fit.diagnostics
    assert_recovers_truth_like(fit, simulated_fit)


@pytest.mark.filterwarnings("ignore::bayescale.errors.ConvergenceWarning")
def test_a_refit_of_the_same_runs_loads_the_compiled_sampler_from_disk():
    import jax
    import jax.monitoring

    folder = sampling.use_jax_compile_cache()
    assert folder is not None and jax.config.jax_compilation_cache_dir == folder
    # every compile is kept, however fast (JAX's default keeps those of 1 s or more)
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
    hits = []

    def listener(event, **_):
        if event == "/jax/compilation_cache/cache_hits":
            hits.append(event)

    jax.monitoring.register_event_listener(listener)
    try:
        # 50 draws: too few to converge (it warns), enough to compile and run the sampler.
        runs = simulate_runs(seed=3)
        first = bs.fit(runs, sampler="numpyro", draws=50, tune=50, seed=4, log_likelihood=False)
        assert list(Path(folder).glob("*-cache")), "nothing was written to the compile cache"
        stored = len(hits)
        sampling.clear_compiled()  # as in a new process: nothing compiled in memory
        again = bs.fit(runs, sampler="numpyro", draws=50, tune=50, seed=4, log_likelihood=False)
    finally:
        jax.monitoring.unregister_event_listener(listener)
    assert len(hits) > stored  # the sampler came from the cache, not a compile
    assert np.array_equal(first.posterior["alpha"].values, again.posterior["alpha"].values)


@pytest.mark.parametrize(("sampler", "init"), [("numpyro", "adapt"), ("numpyro", "laplace"),
                                               ("blackjax", "adapt")])
@pytest.mark.filterwarnings("ignore::bayescale.errors.ConvergenceWarning")
def test_a_jax_fit_of_other_runs_reuses_the_compiled_sampler(sampler, init):
    from bayescale.inference import jax_model

    sampling.clear_compiled()
    options = {"sampler": sampler, "init": init, "draws": 100, "tune": 100, "seed": 2,
               "log_likelihood": False}
    first = bs.fit(simulate_runs(seed=1), **options)
    (program,) = jax_model._PROGRAMS.values()
    traced = program.traces
    reused = bs.fit(simulate_runs(seed=2), **options)  # other losses, same structure and shape
    assert program.traces == traced  # the log density was not traced, so nothing compiled
    sampling.clear_compiled()
    fresh = bs.fit(simulate_runs(seed=2), **options)
    assert next(iter(jax_model._PROGRAMS.values())) is not program
    # The reused sampler read the new runs: the draws of a fresh compile, not the first fit's.
    assert np.array_equal(reused.posterior["alpha"].values, fresh.posterior["alpha"].values)
    assert not np.array_equal(reused.posterior["alpha"].values, first.posterior["alpha"].values)
    if sampler == "numpyro" and init == "adapt":  # another shape: its own program
        shorter = simulate_runs(seed=3).iloc[:33]
        kept = bs.fit(shorter, **options)
        sampling.clear_compiled()
        alone = bs.fit(shorter, **options)
        assert np.array_equal(kept.posterior["alpha"].values, alone.posterior["alpha"].values)


def test_the_jax_compile_cache_can_be_turned_off_or_set_through_jax(monkeypatch, tmp_path):
    import jax

    previous = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv(sampling.JAX_CACHE_ENV, "off")
        assert sampling.use_jax_compile_cache() is None
        assert jax.config.jax_compilation_cache_dir is None
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))  # the user's own choice
        monkeypatch.setenv(sampling.JAX_CACHE_ENV, str(tmp_path / "ours"))
        assert sampling.use_jax_compile_cache() == str(tmp_path)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def test_gpu_needs_a_jax_sampler_and_devices_are_checked():
    with pytest.raises(bs.errors.SamplerError, match="device='gpu' needs a JAX sampler"):
        bs.fit(simulate_runs(), sampler="nutpie", device="gpu")
    with pytest.raises(bs.errors.SamplerError, match="device must be one of"):
        bs.fit(simulate_runs(), sampler="numpyro", device="tpu")


def test_a_missing_jax_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(sampling.importlib.util, "find_spec",
                        lambda name, *a: None if name == "numpyro" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'bayescale\[jax\]'"):
        bs.fit(simulate_runs(), sampler="numpyro", draws=10, tune=10)
