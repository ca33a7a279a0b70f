"""Real sampling: recovery of a known law, Epoch's published fit, seeds, save and load."""

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale.inference import sampling
from bayescale.spec.laws import chinchilla_optimal_log_params
from tests.conftest import TRUTH, simulate_runs


def inside(samples, value, prob=0.94):
    lo, hi = np.quantile(np.asarray(samples).ravel(), [(1 - prob) / 2, (1 + prob) / 2])
    return lo <= value <= hi


def test_recovers_a_known_law(simulated_fit):
    post = simulated_fit.posterior
    assert simulated_fit.converged, simulated_fit.diagnostics
    for name, value in TRUTH.items():
        assert inside(post[name], value), (name, value, float(post[name].median()))
    true_N_opt = np.exp(chinchilla_optimal_log_params(
        np.log(1e23), np.log(TRUTH["A"]), np.log(TRUTH["B"]), TRUTH["alpha"], TRUTH["beta"]))
    frontier = bs.compute_optimal(simulated_fit, 1e23)
    assert inside(frontier["N_opt"], true_N_opt)


def test_fit_holds_all_groups_and_provenance(simulated_fit):
    tree = simulated_fit.tree
    for group in ("posterior", "sample_stats", "observed_data", "log_likelihood", "runs"):
        assert group in tree.children
    assert tree["log_likelihood"]["log_loss"].shape == (4, 500, 40)
    provenance = simulated_fit.provenance
    assert provenance["versions"]["pymc"].split(".")[0] >= "6"
    assert "nutpie" in provenance["versions"] and "numpyro" not in provenance["versions"]
    assert len(provenance["data_sha256"]) == 64
    assert simulated_fit.sampler["seed"] == 11
    assert simulated_fit.spec.name == "chinchilla"


@pytest.mark.needs_data
def test_epoch_fit_reproduces_published_estimate(epoch_fit):
    """Besiroglu et al. 2024: alpha 0.348, beta 0.366, E 1.817, ~18-20 tokens/param."""
    post = epoch_fit.posterior
    assert len(epoch_fit.runs) == 240 and len(epoch_fit.runs.excluded) == 5
    assert epoch_fit.converged, epoch_fit.diagnostics
    assert float(post["alpha"].median()) == pytest.approx(0.348, abs=0.02)
    assert float(post["beta"].median()) == pytest.approx(0.366, abs=0.03)
    assert float(post["E"].median()) == pytest.approx(1.82, abs=0.05)
    # the law's own answer, as Epoch's is (without the discrepancy beyond the fitted runs)
    ratio = float(bs.compute_optimal(epoch_fit, 5.76e23, discrepancy=False)[
        "tokens_per_param"].median())
    assert 18 <= ratio <= 22


def test_same_seed_same_draws_other_seed_other_draws():
    runs = simulate_runs(seed=3)
    # few draws keep this fast; they fall short of the ESS bar, which the fits say out loud
    with pytest.warns(bs.errors.ConvergenceWarning):
        first = bs.fit(runs, draws=100, tune=300, chains=2, seed=42)
        second = bs.fit(runs, draws=100, tune=300, chains=2, seed=42)
        # the settings as one object: another fit's, to sample the same way
        again = bs.fit(runs, sampler=first.sampler)
        third = bs.fit(runs, draws=100, tune=300, chains=2, seed=43)
    xr.testing.assert_equal(first.posterior, second.posterior)  # attrs hold timings
    assert again.sampler == first.sampler
    xr.testing.assert_equal(first.posterior, again.posterior)
    assert not np.array_equal(first.posterior["alpha"], third.posterior["alpha"])


def test_pymc_sampler_gives_the_same_posterior(simulated_fit):
    other = bs.fit(simulate_runs(), sampler="pymc", draws=500, tune=500, seed=11)
    for name in ("alpha", "beta", "E"):
        a, b = simulated_fit.posterior[name], other.posterior[name]
        assert float(a.median()) == pytest.approx(float(b.median()), abs=0.25 * float(a.std()))


def test_unconverged_fit_warns_loudly_and_is_recorded():
    with pytest.warns(bs.errors.ConvergenceWarning, match=r"did NOT converge: .*bulk ESS .* Try to "
                                                   r".*more draws"):
        short = bs.fit(simulate_runs(), draws=15, tune=15, chains=2, seed=1)
    assert not short.converged
    assert short.diagnostics["problems"]
    assert "NOT CONVERGED" in repr(short)


def test_one_chain_is_reported_as_too_few_for_r_hat(simulated_fit):
    from bayescale.inference.sampling import convergence_report

    one = simulated_fit.tree.copy()
    for group in ("posterior", "sample_stats"):
        one[group] = xr.DataTree(one[group].to_dataset().isel(chain=[0]))
    report = convergence_report(one)
    assert not report["converged"]
    assert "R-hat needs two chains or more; this fit has one" in report["problems"][0]
    assert convergence_report(simulated_fit.tree)["converged"]


@pytest.mark.needs_data
def test_save_load_round_trip_gives_identical_queries(epoch_fit, tmp_path):
    path = epoch_fit.save(tmp_path / "fit.nc")
    loaded = bs.load_fit(path)
    xr.testing.assert_identical(loaded.posterior, epoch_fit.posterior)
    xr.testing.assert_identical(bs.compute_optimal(loaded, [1e22, 1e25]),
                                bs.compute_optimal(epoch_fit, [1e22, 1e25]))
    xr.testing.assert_identical(bs.predict(loaded, [7e10], [1.4e12], noise=True),
                                bs.predict(epoch_fit, [7e10], [1.4e12], noise=True))
    assert loaded.spec == epoch_fit.spec
    assert loaded.diagnostics == epoch_fit.diagnostics
    assert loaded.runs.digest() == epoch_fit.runs.digest()
    assert loaded.runs.excluded.shape == epoch_fit.runs.excluded.shape
    assert list(loaded.runs.table.columns) == list(epoch_fit.runs.table.columns)


def test_summary_of_a_saved_fit_reads_its_kept_diagnostics(simulated_fit, tmp_path):
    # The fit keeps each variable's ESS and R-hat, so a summary of the saved fit needs no ArviZ;
    # its table is the one ArviZ computes from the draws.
    import arviz as az
    import pandas as pd

    assert "convergence" in simulated_fit.tree.children
    loaded = bs.load_fit(simulated_fit.save(tmp_path / "fit.nc"))
    table = loaded.parameter_summary(prob=0.9)
    names = [name for name in ("E", "A", "B", "alpha", "beta", "nu", "sigma")
             if name in loaded.posterior]
    stats = az.summary(loaded.posterior[names], kind="stats_median", ci_prob=0.9, ci_kind="eti",
                       round_to="none")
    diagnostics = az.summary(loaded.posterior[names], kind="diagnostics", round_to="none")
    expected = pd.concat([stats.set_axis(["median", "mad", "lo", "hi"], axis=1)[
        ["median", "lo", "hi"]], diagnostics[["ess_bulk", "ess_tail", "r_hat"]]], axis=1)
    pd.testing.assert_frame_equal(table, expected, rtol=1e-12)
    del loaded.tree["convergence"]  # a fit saved before it kept them: measured again
    pd.testing.assert_frame_equal(loaded.parameter_summary(prob=0.9), expected, rtol=1e-12)


def test_load_errors(tmp_path):
    with pytest.raises(bs.errors.FitFileError, match=r"does not exist: make one with"):
        bs.load_fit(tmp_path / "none.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(bs.errors.FitFileError, match=r"is not a readable netCDF fit file"):
        bs.load_fit(tmp_path / "junk.nc")


def test_sampler_errors():
    with pytest.raises(bs.errors.SamplerError, match=r"unknown sampler 'stan': choose one of"):
        bs.fit(simulate_runs(), sampler="stan")
    with pytest.raises(bs.errors.SamplerError, match=r"draws must be a positive integer"):
        bs.fit(simulate_runs(), draws=0)
    # settings in one object: nothing given twice differently, nothing unknown, nothing ignored
    with pytest.raises(bs.errors.BayescaleError, match=r"draws=300 contradicts .* draws=500"):
        bs.fit(simulate_runs(), sampler={"sampler": "nutpie", "draws": 500}, draws=300)
    with pytest.raises(bs.errors.BayescaleError, match=r"\['warmup'\] are not sampler settings"):
        bs.fit(simulate_runs(), sampler={"warmup": 500})
    with pytest.raises(bs.errors.BayescaleError, match="takes no sampler settings"):
        bs.fit(simulate_runs(), method="huber-bootstrap", sampler={"draws": 500})
    for ignored in ({"draws": 500}, {"chains": 2}, {"sampler": "pymc"}):
        with pytest.raises(bs.errors.BayescaleError, match="takes no sampler settings"):
            bs.fit(simulate_runs(), method="huber-bootstrap", **ignored)
    with pytest.raises(bs.errors.BayescaleError, match="split_sources_by= needs the Bayesian"):
        bs.fit(simulate_runs(), method="huber-bootstrap", split_sources_by="source")
    # the baseline's grid of starts: a known name, and only for the baseline
    with pytest.raises(bs.errors.BayescaleError, match=r"starts must be one of \['coarse', "):
        bs.fit(simulate_runs(), method="huber-bootstrap", starts="fine")
    with pytest.raises(bs.errors.BayescaleError, match="the Bayesian fit has none"):
        bs.fit(simulate_runs(), starts="coarse")
    # nothing else that one method has is silently ignored by the other
    with pytest.raises(bs.errors.BayescaleError, match="resamples= is the huber-bootstrap"):
        bs.fit(simulate_runs(), resamples=100)
    for ignored in ({"priors": {"alpha": {"dist": "LogNormal", "mu": -1.0, "sigma": 0.2}}},
                    {"likelihood": "normal"}, {"discrepancy": 0.0}):
        name = next(iter(ignored))
        with pytest.raises(bs.errors.BayescaleError, match=rf"minimises a Huber loss.*{name}="):
            bs.fit(simulate_runs(), method="huber-bootstrap", **ignored)
    with pytest.raises(bs.errors.BayescaleError, match=r"borrow='joint' says how .* none are"):
        bs.fit(simulate_runs(), borrow="joint")


def test_draws_left_out_sample_again_with_more_when_the_fit_falls_short(monkeypatch, caplog):
    from bayescale.fitting import fitter

    # The default schedule is (1000, 2000); scaled down here so that the first fit surely falls
    # short (4 x 50 draws cannot give the 400 effective draws the bar asks for).
    monkeypatch.setattr(fitter, "DEFAULT_DRAWS", (50, 100))
    runs = simulate_runs()
    with caplog.at_level(logging.INFO, logger="bayescale"), warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        retried = bs.fit(runs, seed=3)
        given = bs.fit(runs, draws=50, seed=3)
        again = bs.fit(runs, sampler=retried.sampler)  # the settings it records reproduce it
        mapping = bs.fit(runs, sampler={"draws": 50, "tune": 80}, seed=3)
    assert "not converged with 50 draws and 50 tuning steps per chain" in caplog.text
    assert (retried.sampler["draws"], retried.sampler["tune"]) == (100, 100)
    assert retried.posterior.sizes["draw"] == 100
    [first] = retried.diagnostics["retried"]
    assert (first["draws"], first["tune"]) == (50, 50) and first["problems"]
    # ... and the fit kept is the second one, with its own diagnostics
    kept = {name: value for name, value in retried.diagnostics.items() if name != "retried"}
    assert kept == sampling.convergence_report(retried.tree)
    xr.testing.assert_equal(again.posterior, retried.posterior)  # values and coords
    # Draws the user gives are sampled exactly, once (tuning steps left out: 1000)
    for fitted, tune in ((given, 1000), (mapping, 80)):
        assert (fitted.sampler["draws"], fitted.sampler["tune"]) == (50, tune)
        assert "retried" not in fitted.diagnostics
    assert fitter.draw_schedule("nutpie", None, 300, {})[1].tune == 300


def test_normal_likelihood_option():
    result = bs.fit(simulate_runs(), likelihood="normal", draws=500, tune=500, seed=2)
    assert "nu" not in result.posterior
    assert inside(result.posterior["alpha"], TRUTH["alpha"], prob=0.99)


def test_a_fit_of_the_same_structure_reuses_the_compiled_model_with_its_own_runs(
        two_source_runs, caplog):
    renamed = two_source_runs.assign(source=two_source_runs["source"] + "-renamed")
    subset = renamed.groupby("source").head(25)
    options = {"draws": 300, "tune": 300, "seed": 4}
    sampling.clear_compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        first = bs.fit(two_source_runs, **options)
        assert len(sampling._COMPILED) == 1
        with caplog.at_level(logging.INFO, logger="bayescale"):
            reused = bs.fit(subset, **options)
        sampling.clear_compiled()
        fresh = bs.fit(subset, **options)
    assert "reusing the compiled model" in caplog.text
    # the reused model samples exactly what a fresh one does, with the new runs' data,
    # reference scales (in the raw A and B) and source names
    xr.testing.assert_equal(reused.posterior, fresh.posterior)
    assert reused.sources == ["lab-a-renamed", "lab-b-renamed"]
    assert reused.tree["observed_data"]["log_loss"].size == 50
    assert not np.array_equal(reused.posterior["A"].values, first.posterior["A"].values)


def test_a_new_process_reads_the_compiled_model_from_disk_and_draws_the_same(tmp_path):
    # nutpie's callbacks, and a record of what else nutpie needs, are kept on disk
    # (bayescale.inference.nutpie_model): a second `bayescale fit` of the same structure reads
    # them, compiles nothing and writes nothing new.
    import pytensor

    cache = Path(pytensor.config.base_compiledir) / "numba"
    simulate_runs(seed=9).to_csv(tmp_path / "runs.csv", index=False)

    def fit_in_a_new_process(name):
        done = subprocess.run([sys.executable, "-m", "bayescale", "fit",
                               str(tmp_path / "runs.csv"), "-o", str(tmp_path / name),
                               "--draws", "100", "--tune", "100", "--seed", "3"],
                              check=True, capture_output=True, text=True)
        return bs.load_fit(tmp_path / name), done.stderr

    def entries():
        return {path: path.stat().st_mtime_ns for path in cache.rglob("*") if path.is_file()}

    first, _ = fit_in_a_new_process("first.nc")
    written = entries()
    for kind in ("logp", "expand"):
        assert any(path.suffix == ".nbi" and f"bayescale_nutpie_{kind}" in path.name
                   for path in written), f"no {kind} callback in the numba cache"
    again, said = fit_in_a_new_process("again.nc")
    assert entries() == written  # read, not written
    assert "compiled model of this structure read from the disk cache" in said
    xr.testing.assert_equal(first.posterior, again.posterior)


def test_leaving_out_the_log_likelihood_keeps_the_draws(tmp_path):
    runs = simulate_runs(seed=6)
    with pytest.warns(bs.errors.ConvergenceWarning):  # few draws, to keep this fast
        full = bs.fit(runs, draws=100, tune=300, chains=2, seed=8)
        lean = bs.fit(runs, draws=100, tune=300, chains=2, seed=8, log_likelihood=False)
    assert "log_likelihood" in full.tree.children and "log_likelihood" not in lean.tree.children
    xr.testing.assert_equal(full.posterior, lean.posterior)
    loaded = bs.load_fit(lean.save(tmp_path / "lean.nc"))
    xr.testing.assert_equal(loaded.posterior, lean.posterior)
    with pytest.raises(bs.errors.BayescaleError, match="needs the pointwise log likelihood"):
        bs.checks.compare_laws(runs, log_likelihood=False)


@pytest.mark.needs_data
@pytest.mark.slow
def test_a_divergent_real_fit_is_repaired_by_the_retry():
    """Porian et al.'s OWT2 Kaplan set-up diverges at target_accept 0.9; the retry raises it."""
    from bayescale.fitting.literature import literature_runs

    runs = literature_runs("porian2024")
    source = "porian2024/owt2-base-long-kaplan-standard-val"
    fitted = bs.fit(runs.select(runs.table["source"].to_numpy() == source),
                    log_likelihood=False)
    first = fitted.diagnostics["retried"][0]
    assert first["divergences"] > 0 and first["target_accept"] == 0.9
    assert fitted.converged and fitted.diagnostics["divergences"] == 0, fitted.diagnostics
    assert fitted.sampler["target_accept"] == 0.99 and fitted.sampler["draws"] == 2000
