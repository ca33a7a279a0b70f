"""SBC, held-out calibration, Dask sweeps and prior sensitivity: real fits, small sizes."""

import contextlib
import io
import json
import warnings

import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale import plots
from bayescale.checks import sensitivity, sweep, validate
from bayescale.cli import main
from tests.conftest import TRUTH, simulate_runs


@pytest.fixture(scope="module")
def small_sbc():
    # A small SBC runs in CI; `bayescale validate sbc --sims 200` is the full check
    # (docs/validation/calibration.md).
    return validate.sbc(n_sims=30, draws=300, tune=300, chains=2, seed=1)


def test_small_sbc_ranks_are_uniform(small_sbc):
    assert list(small_sbc["quantity"].values) == ["E", "A", "B", "alpha", "beta", "N_opt"]
    assert (small_sbc.error.values == "").all()
    ranks = small_sbc["rank"].values
    assert ranks.min() >= 0 and ranks.max() <= small_sbc.attrs["n_ranks"]
    table = validate.uniformity(small_sbc, bins=5)
    assert (table["n"] == 30).all()
    assert (table["p_value"] > 0.001).all(), table
    assert table["mean_rank"].between(0.3, 0.7).all(), table


def test_uniformity_flags_biased_ranks():
    n_ranks = 99
    biased = xr.Dataset({"rank": (("sim", "quantity"), np.zeros((200, 1)))},
                        coords={"quantity": ["alpha"]}, attrs={"n_ranks": n_ranks})
    table = validate.uniformity(biased)
    assert not table.loc["alpha", "passed"] and table.loc["alpha", "p_value"] < 1e-10
    uniform = biased.copy(data={"rank": np.tile(np.arange(100), 2)[:, None].astype(float)})
    assert validate.uniformity(uniform).loc["alpha", "p_value"] == pytest.approx(1.0)


def test_sbc_rank_counts_draws_below_the_truth():
    rng = np.random.default_rng(0)
    draws = np.arange(1000.0)
    assert validate.sbc_rank(-1.0, draws, 99, rng) == 0
    assert validate.sbc_rank(2000.0, draws, 99, rng) == 99
    assert 45 <= validate.sbc_rank(500.0, draws, 99, rng) <= 55


def test_rank_plot_renders(small_sbc):
    fig, axes = plots.plot_ranks(small_sbc, bins=5)
    assert len(axes) == 6 and all(len(ax.containers[0]) == 5 for ax in axes)  # 5 bars
    fig.savefig(io.BytesIO(), format="png")


@contextlib.contextmanager
def _quiet_dask():
    """Ignore what distributed's local cluster warns about its own set-up (not the results)."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, ResourceWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        yield


@pytest.fixture(scope="module")
def dask_scheduler():
    """One local cluster of two single-threaded worker processes for this module's Dask tests.

    Both tests send their fits to it through ``dask_map(scheduler=...)``, so the workers start
    and import PyMC once.
    """
    distributed = pytest.importorskip("distributed")
    with _quiet_dask(), distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                                 processes=True,
                                                 dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _on(scheduler):
    """``run(function, items)`` on the shared cluster."""
    def run(function, items):
        with _quiet_dask():
            return sweep.dask_map(function, items, scheduler=scheduler)
    return run


@pytest.mark.needs_data
def test_heldout_table_scores_bayes_and_baseline_side_by_side_on_dask(dask_scheduler):
    # The baseline from 243 starts: Epoch's 4500 reach the same optimum on these runs in ten
    # times the time (estimators/test_baseline.py runs them).
    table = validate.heldout_calibration(["epoch-chinchilla"], draws=300, tune=300,
                                         resamples=50, starts="coarse",
                                         run=_on(dask_scheduler))
    assert list(table.index.get_level_values("method")) == [
        "bayes (chinchilla)", "huber-bootstrap (per source)"]
    assert (table["n_held_out"] == 48).all()
    for level in (50, 80, 90, 95):
        assert table[f"coverage{level}"].between(0, 1).all()
    assert (table["coverage50"] <= table["coverage95"]).all()
    assert (table["median_abs_rel_error"] < 0.05).all()
    # A coverage outside 80-98% is named in the note (Epoch's largest runs: under-covered).
    for (_, method), row in table.iterrows():
        inside = 0.80 <= row["coverage90"] <= 0.98
        assert ("too narrow" in row["note"]) == (row["coverage90"] < 0.80), method
        assert inside or "the 90% intervals cover" in row["note"], method


@pytest.mark.needs_data
def test_a_held_out_scoring_that_fails_gives_its_row_with_the_error():
    # Holding out 99% of Epoch's runs by compute leaves too few to fit: the Bayesian scoring
    # raises, and its row says why; the baseline's row says it had no source to score.
    table = validate.heldout_calibration(["epoch-chinchilla"], holdout=0.99)
    bayes, baseline = table.loc["epoch-chinchilla", "bayes (chinchilla)"], table.loc[
        "epoch-chinchilla", "huber-bootstrap (per source)"]
    assert bayes["note"].startswith("failed: BayescaleError: holding out runs with C >= ")
    assert bayes["note"].endswith("leaves 2 runs to fit; hold out fewer")
    assert baseline["note"] == "no source has both runs to fit and runs to score"
    assert table["coverage90"].isna().all()


def test_a_held_out_fit_that_did_not_converge_is_refitted_longer_and_says_so():
    runs = bs.as_runs(simulate_runs())
    threshold = float(np.quantile(runs.table["C"], 0.8))
    # 40 draws per chain cannot reach bulk ESS 400 over 4 chains: the first fit falls short.
    score, note = validate._converged_check(runs, "chinchilla", threshold, draws=40, tune=40,
                                            seed=0)
    assert note.startswith("refitted with 80 draws, 80 tuning steps and target_accept 0.95: "
                           "the first fit had ") and "ESS" in note
    assert score.fit.sampler["draws"] == 80 and score.fit.sampler["target_accept"] == 0.95
    converged, none = validate._converged_check(runs, "chinchilla", threshold, draws=1000,
                                                tune=1000, seed=0)
    assert converged.summary["converged"] and none == ""


def test_dask_sweep_keeps_every_fit_when_one_fails(offline_mirror, dask_scheduler):
    runs = simulate_runs(seed=2)
    tasks = {"normal": {"runs": runs, "draws": 200, "tune": 200, "likelihood": "normal"},
             "student-t": {"runs": runs, "draws": 200, "tune": 200},
             "no-loss-column": {"runs": runs.drop(columns=["loss"]), "draws": 200}}
    result = sweep.run_fits(tasks, flops=1e23, run=_on(dask_scheduler))
    assert list(result["fit"].values) == list(tasks)
    assert "no column 'loss'" in str(result["error"].sel(fit="no-loss-column").values)
    assert np.isnan(result["alpha"].sel(fit="no-loss-column")).all()
    for name in ("normal", "student-t"):
        assert str(result["error"].sel(fit=name).values) == ""
        low, median, high = result["alpha"].sel(fit=name).values
        assert low < 0.34 < high and low < median < high


def test_prior_sensitivity_on_well_pinned_runs(simulated_fit):
    table = sensitivity.prior_sensitivity(simulated_fit, 1e23)
    assert list(table.index) == ["as fitted", "prior scales x0.5", "prior scales x2"]
    assert (table["error"] == "").all()
    # 40 runs over 2.5 decades of N pin the law: halving or doubling the priors moves the
    # median N_opt by a few percent at most.
    assert table["median_shift"].abs().max() < 0.15
    narrow, wide = table.loc["prior scales x0.5"], table.loc["prior scales x2"]
    assert narrow["width_ratio"] <= wide["width_ratio"] * 1.2


def test_scaled_spec_scales_every_sigma_and_keeps_the_rest():
    spec = bs.spec.load_spec("chinchilla")
    wide = sensitivity.scaled_spec(spec, 2.0)
    assert wide.priors["alpha"]["sigma"] == 2 * spec.priors["alpha"]["sigma"]
    assert wide.priors["alpha"]["mu"] == spec.priors["alpha"]["mu"]
    assert wide.priors["nu"] == spec.priors["nu"]
    assert wide.pooling["scales"]["E"]["sigma"] == 2 * spec.pooling["scales"]["E"]["sigma"]
    with pytest.raises(bs.errors.BayescaleError, match="must be positive"):
        sensitivity.scaled_spec(spec, 0)


@pytest.mark.needs_data
def test_sensitivity_and_validate_commands(simulated_fit, tmp_path, capsys):
    path = simulated_fit.save(tmp_path / "fit.nc")
    assert main(["sensitivity", str(path), "--flops", "1e23", "--json"]) == 0
    import json

    answer = json.loads(capsys.readouterr().out)
    rows = answer["refits"]
    assert [row["prior"] for row in rows] == ["as fitted", "prior scales x0.5", "prior scales x2"]
    # the first pass: 40 runs from the law pin every parameter, so the priors barely matter
    scaling = {row["parameter"]: row for row in answer["power_scaling"]}
    assert {"alpha", "beta", "E"} <= set(scaling)
    assert all(scaling[name]["prior"] < 0.05 for name in ("alpha", "beta", "E"))
    assert main(["sensitivity", str(path), "--no-refit"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("First pass, no refits") and "Refits" not in out
    plot = tmp_path / "ranks.png"
    assert main(["validate", "sbc", "--sims", "4", "--draws", "200", "--tune", "200",
                 "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "p_value" in out and "N_opt" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    table = tmp_path / "heldout.csv"
    assert main(["validate", "heldout", "--datasets", "epoch-chinchilla", "--draws", "200",
                 "--tune", "200", "--no-baseline", "-o", str(table)]) == 0
    assert "bayes (chinchilla)" in capsys.readouterr().out
    assert "coverage90" in table.read_text()


def test_extreme_but_valid_inputs_sample_without_overflow():
    # N from 1e3 to 1e13 (ten decades) with D = 20 N: losses from 96 nats down to within 2% of
    # E; nothing may overflow in the model, the likelihood or the queries.
    N = np.geomspace(1e3, 1e13, 30)
    D = 20 * N
    truth = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
    loss = truth["E"] + truth["A"] / N ** truth["alpha"] + truth["B"] / D ** truth["beta"]
    rng = np.random.default_rng(0)
    loss = loss * np.exp(0.002 * rng.standard_normal(N.size))
    assert loss.min() / truth["E"] - 1 < 0.02 and loss.max() > 50
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # checked below, explicitly
        fitted = bs.fit({"N": N, "D": D, "loss": loss}, draws=300, tune=500, seed=2,
                        check_units=False)  # N from 1e3 and losses to 96 nats: on purpose
    for name, values in fitted.posterior.items():
        assert np.isfinite(values.values).all(), name
    assert np.isfinite(fitted.tree["log_likelihood"]["log_loss"].values).all()
    assert fitted.diagnostics["divergences"] <= 5, fitted.diagnostics
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # what is tested is overflow
        frontier = bs.compute_optimal(fitted, [1e10, 1e30])
    for name in ("N_opt", "D_opt", "loss_opt"):
        assert np.isfinite(frontier[name].values).all()
    assert float(fitted.posterior["E"].median()) == pytest.approx(1.8, rel=0.01)


@pytest.mark.needs_data
def test_one_fit_per_metric_recovers_each_metrics_law_and_a_bad_metric_fails_alone(tmp_path):
    # Two metrics of the same 40 runs: the loss (TRUTH's law) and an eval loss with a higher
    # irreducible loss (E 2.1, same noise draws); a third metric has a negative value in row 3.
    table = simulate_runs()
    higher = dict(TRUTH, E=2.1)
    table["eval_loss"] = simulate_runs(truth=higher)["loss"]
    table["broken"] = table["loss"].where(table.index != 3, -1.0)
    result = sweep.fit_metrics(table, ["loss", "eval_loss", "broken"], flops=1e23, draws=300,
                               tune=300, progressbar=False, source="my-lab")
    assert list(result["fit"].values) == ["loss", "eval_loss", "broken"]
    for metric, truth in (("loss", TRUTH), ("eval_loss", higher)):
        for name in ("E", "alpha"):
            low, _, high = result[name].sel(fit=metric).values
            assert low < truth[name] < high, (metric, name)
        assert str(result["error"].sel(fit=metric).values) == ""
        assert str(result["source"].sel(fit=metric).values) == "my-lab"  # the table's source
    assert result["E"].sel(fit="eval_loss", quantile=0.05) > result["E"].sel(
        fit="loss", quantile=0.95)
    error = str(result["error"].sel(fit="broken").values)
    assert error.startswith("RunsError: column 'loss'") and "rows 3" in error
    assert np.isnan(result["beta"].sel(fit="broken")).all()
    # The table's own loss column is kept, as metadata, in the other metrics' fits.
    tasks = sweep.metric_tasks(table, ["eval_loss"])
    assert "loss (not fitted)" in tasks["eval_loss"]["runs"].columns
    with pytest.raises(bs.errors.RunsError, match=r"metric\(s\) \['nope'\] are not columns"):
        sweep.metric_tasks(table, ["loss", "nope"])
    with pytest.raises(bs.errors.BayescaleError, match="has one loss per run"):
        sweep.metric_tasks("epoch-chinchilla", ["loss"])


@pytest.mark.needs_data
def test_metrics_command_prints_one_row_per_eval_split(capsys, tmp_path):
    output = tmp_path / "metrics.nc"
    assert main(["metrics", "gadre2024", "--metrics", "c4_val", "openlm", "--draws", "200",
                 "--tune", "200", "--flops", "1e22", "-o", str(output), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["metric"] for row in rows] == ["c4_val", "openlm"]
    for row in rows:
        assert row["N_opt_lo"] < row["N_opt"] < row["N_opt_hi"]
        assert 0.1 < row["alpha"] < 0.6 and row["error"] == ""
        assert row["converged"] == (row["problems"] == "")  # 200 draws: R-hat or ESS named
        assert row["source"] == bs.NEW_SOURCE  # three training sets: a new one is summarised
    saved = xr.load_dataset(output)
    assert list(saved["fit"].values) == ["c4_val", "openlm"]
