"""The literature prior, the discrepancy beyond the fitted runs, and the transfer benchmark."""

import json
import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.data.simulate import simulate_runs
from bayescale.fitting import literature
from bayescale.fitting.literature import N_LIT, PARAMETERS, LiteraturePrior
from bayescale.spec import load_spec

# a short fit; the discrepancy is what is tested
QUIET_CONVERGENCE = pytest.mark.filterwarnings(
    "ignore::bayescale.errors.ConvergenceWarning")

# A population of law shapes: log shares of E, A and B in the loss at (N_LIT, D_LIT), log
# alpha, log beta; each source has its own loss level on top.
POPULATION_MEAN = np.array([np.log(0.55), np.log(0.25), np.log(0.2), np.log(0.33),
                            np.log(0.33)])
POPULATION_SD = np.array([0.08, 0.15, 0.15, 0.08, 0.08])


def _population_table(n_sources=12, seed=0) -> pd.DataFrame:
    """A sources table as source_estimates makes it, with sources drawn from the population."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_sources):
        mean = POPULATION_MEAN + POPULATION_SD * rng.standard_normal(5)
        row = {"dataset": f"set{i % 4}", "source": f"set{i % 4}/{i}", "runs": 100,
               "mean_log_sigma": np.log(0.005) + 0.2 * rng.standard_normal(),
               "var_log_sigma": 0.01}
        row |= {f"mean_{p}": m for p, m in zip(PARAMETERS, mean, strict=True)}
        row |= {f"cov_{p}_{q}": (1e-4 if p == q else 0.0) for i_, p in enumerate(PARAMETERS)
                for j_, q in enumerate(PARAMETERS) if j_ >= i_}
        rows.append(row)
    return pd.DataFrame(rows)


def _runs_of(shape, N, D, level=3.0, sigma=0.005, seed=0):
    log_e, log_a, log_b, log_alpha, log_beta = shape
    terms = (np.exp(log_e) + np.exp(log_a) * (N / N_LIT) ** -np.exp(log_alpha)
             + np.exp(log_b) * (D / 1e10) ** -np.exp(log_beta))
    noise = np.random.default_rng(seed).standard_normal(len(N))
    return pd.DataFrame({"N": N, "D": D, "loss": level * terms * np.exp(sigma * noise)})


def test_literature_prior_recovers_the_population():
    prior = LiteraturePrior.from_table(table=_population_table(40))
    assert prior.sources == 40 and prior.datasets == ("set0", "set1", "set2", "set3")
    np.testing.assert_allclose(prior.mean, POPULATION_MEAN, atol=0.08)
    np.testing.assert_allclose(np.sqrt(np.diag(prior.cov)), POPULATION_SD, rtol=0.45)
    assert prior.widening < 1.5  # data sets drawn from one population: little widening
    assert np.exp(prior.log_sigma[0]) == pytest.approx(0.005, rel=0.2)
    # leaving a data set out drops its sources entirely
    assert LiteraturePrior.from_table(table=_population_table(40), exclude=["set0"]).sources == 30
    with pytest.raises(bs.errors.BayescaleError,
                       match="'nope' is not among the literature's data sets"):
        LiteraturePrior.from_table(["nope"], table=_population_table())
    with pytest.raises(bs.errors.BayescaleError, match="only set0 is left, with one source"):
        LiteraturePrior.from_table(table=_population_table(4), exclude=["set1", "set2", "set3"])


def test_named_data_sets_centre_the_prior_and_every_data_set_spreads_it():
    table = _population_table(40)
    everything = LiteraturePrior.from_table(table=table)
    centred = LiteraturePrior.from_table(["set0"], table=table)
    assert centred.datasets == ("set0",) and centred.sources == 10
    assert centred.spread_datasets == ("set0", "set1", "set2", "set3")
    own = table[table["dataset"] == "set0"][[f"mean_{p}" for p in PARAMETERS]].mean()
    np.testing.assert_allclose(centred.mean, own.to_numpy())
    assert centred.widening == everything.widening
    # the spread is the whole literature's; only the centre's own uncertainty grows (1/10
    # of the spread from 10 sources instead of 1/40 from 40)
    ratio = np.diag(centred.cov) / np.diag(everything.cov)
    assert np.all(ratio > 1.0) and np.all(ratio < 1.1)
    # one named source is enough to centre on, since the spread comes from all of them
    single = LiteraturePrior.from_table(["set0"], table=_population_table(4))
    assert single.sources == 1 and len(single.spread_datasets) == 4


def test_a_source_from_the_population_is_predicted_better_with_the_literature_prior():
    """Five small runs of a source drawn from the population: alone vs literature prior."""
    table = _population_table(16, seed=1)
    prior = LiteraturePrior.from_table(table=table)
    truth = POPULATION_MEAN + POPULATION_SD * np.random.default_rng(7).standard_normal(5)
    small = _runs_of(truth, level=2.2, N=np.array([2e7, 2e7, 5e7, 5e7, 1e8]),
                     D=np.array([4e8, 1e9, 1e9, 2e9, 2e9]))
    big = _runs_of(truth, level=2.2, N=np.array([1e9, 3e9, 1e10]), D=np.array([2e10, 6e10, 2e11]),
                   seed=1)
    runs = bs.as_runs(small)
    borrowed = load_spec("chinchilla").with_overrides(priors=prior.priors(runs),
                                                      correlation=prior.correlation(runs))
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 5 runs alone: convergence is not the point here
        for name, options in (("alone", {}), ("literature", {"model": borrowed})):
            fitted = bs.fit(runs, draws=500, tune=500, seed=3, discrepancy=0.0, **options)
            median = bs.predict(fitted, big["N"], big["D"]).median(("chain", "draw"))
            errors[name] = float(np.median(np.abs(median.values / big["loss"].values - 1)))
    assert errors["literature"] < 0.5 * errors["alone"], errors


def test_the_literature_prior_is_sampled_with_its_correlations():
    """The model draws the five parameters jointly, with the prior's means, sds, correlations."""
    import pymc as pm

    from bayescale.inference.model import build_model

    runs = bs.as_runs(simulate_runs(12, sizes=4, n_range=(1e7, 1e9), seed=2)[["N", "D", "loss"]])
    prior = LiteraturePrior.from_table(table=_population_table(40))
    entries, correlation = prior.priors(runs), prior.correlation(runs)
    matrix = np.array(correlation["matrix"])
    assert correlation["parameters"] == ["E", "A", "B", "alpha", "beta"]
    assert np.abs(matrix[np.triu_indices(5, 1)]).max() > 0.3  # the level ties E, A and B
    spec = load_spec("chinchilla").with_overrides(priors=entries, correlation=correlation)
    model = build_model(runs, spec)
    names = ["log_E", "log_A_ref", "log_B_ref", "alpha", "beta"]
    draws = np.column_stack(pm.draw([model[name] for name in names], draws=20000,
                                    random_seed=1))
    draws[:, 3:] = np.log(draws[:, 3:])
    np.testing.assert_allclose(np.corrcoef(draws.T), matrix, atol=0.03)
    for column, name in zip(draws.T, correlation["parameters"], strict=True):
        assert column.mean() == pytest.approx(entries[name]["mu"], abs=0.02 + 0.02 * abs(
            entries[name]["mu"]))
        assert column.std() == pytest.approx(entries[name]["sigma"], rel=0.03)


@pytest.mark.slow
def test_literature_priors_of_other_runs_reuse_one_compiled_model(caplog):
    """A literature prior is set anew for every set of runs; its values are data, not structure."""
    import logging

    import xarray as xr

    from bayescale.inference import sampling
    from bayescale.inference.model import build_model, model_structure

    # the second prior is centred on other published data sets, with its own noise prior
    priors = [LiteraturePrior.from_table(names, table=_population_table(16, seed=1))
              for names in (None, ["set1"])]
    specs, tables = [], []
    for prior, seed, n_range in zip(priors, (2, 5), ((1e7, 1e9), (3e7, 3e9)), strict=True):
        table = simulate_runs(12, sizes=4, n_range=n_range, seed=seed)[["N", "D", "loss"]]
        entries, correlation = prior.for_runs(bs.as_runs(table))
        specs.append(load_spec("chinchilla").with_overrides(priors=entries,
                                                            correlation=correlation))
        tables.append(table)
    assert specs[0].to_json() != specs[1].to_json()
    assert specs[0].priors["sigma"]["mu"] != specs[1].priors["sigma"]["mu"]
    assert model_structure(specs[0], 1) == model_structure(specs[1], 1)
    assert model_structure(specs[0], 1) != model_structure(load_spec("chinchilla"), 1)
    models = [build_model(bs.as_runs(table), spec) for table, spec in zip(tables, specs,
                                                                          strict=True)]
    assert models[1]["prior_mu"].get_value()[3] == specs[1].priors["alpha"]["mu"]
    assert models[1]["sigma_prior_mu"].get_value() == specs[1].priors["sigma"]["mu"]
    # a JAX program kept for the structure starts where the model it samples starts
    from bayescale.inference import jax_model

    jax_model.clear()
    key = model_structure(specs[0], 1)
    starts = [jax_model.jax_model(model, key).initial_point.copy() for model in models]
    assert not np.array_equal(*starts)
    np.testing.assert_array_equal(starts[1], jax_model._build(models[1]).initial_point)
    jax_model.clear()

    options = {"draws": 200, "tune": 200, "chains": 2, "seed": 1, "discrepancy": 0.0}
    sampling.clear_compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        for _ in range(2):  # the second fit of a structure compiles nutpie's callbacks
            bs.fit(tables[0], model=specs[0], **options)
        with caplog.at_level(logging.INFO, logger="bayescale"):
            reused = bs.fit(tables[1], model=specs[1], **options)
        sampling.clear_compiled()
        fresh = bs.fit(tables[1], model=specs[1], **options)
    assert "reusing the compiled model" in caplog.text
    xr.testing.assert_equal(reused.posterior, fresh.posterior)


def test_a_fit_like_one_published_source_leans_on_it_and_one_unlike_all_is_flagged():
    table = _population_table(16, seed=3)
    rng = np.random.default_rng(0)
    columns = [f"mean_{p}" for p in PARAMETERS]
    for k in (2, 9):  # a posterior tightly around one source's shape
        draws = table[columns].to_numpy()[k] + 0.01 * rng.standard_normal((2000, 5))
        record = literature.leaned_on(draws, {"datasets": [], "widening": 1.0}, table=table)
        assert record["nearest"][0]["source"] == table["source"][k]
        assert record["nearest"][0]["weight"] > 0.3
        assert sum(record["datasets"].values()) == pytest.approx(1.0, abs=1e-3)
        assert not record["unusual"]
    strange = POPULATION_MEAN + np.array([0.0, 0.0, 0.0, 1.2, -1.0])  # exponents far off
    draws = strange + 0.01 * rng.standard_normal((2000, 5))
    record = literature.leaned_on(draws, {"datasets": [], "widening": 1.0}, table=table)
    assert record["unusual"] and record["distance"] > record["typical_distance"]


def test_shape_draws_are_the_shares_of_the_loss_at_the_literature_scales():
    shape = literature.shape_draws([1.7], [400.0], [410.0], [0.34], [0.28])
    terms = np.array([1.7, 400.0 * N_LIT ** -0.34, 410.0 * 1e10 ** -0.28])
    np.testing.assert_allclose(np.exp(shape[0, :3]), terms / terms.sum())
    np.testing.assert_allclose(np.exp(shape[0, 3:]), [0.34, 0.28])


@pytest.mark.needs_data
def test_with_datasets_borrows_the_literature_prior_by_default():
    small = simulate_runs(12, sizes=4, n_range=(1e7, 1e9), seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # few draws: structure only
        fitted = bs.fit(small[["N", "D", "loss"]], with_datasets=["gadre2024"], draws=200,
                        tune=300, chains=2, seed=0,
                        priors={"beta": {"dist": "LogNormal", "mu": -1.0, "sigma": 0.3}})
    record = fitted.provenance["literature_prior"]
    assert record["datasets"] == ["gadre2024"] and record["sources"] == 3
    assert record["spread_datasets"] == sorted(literature.LITERATURE_DATASETS)
    assert fitted.sources == ["runs"]  # the published runs are not in the likelihood
    expected = LiteraturePrior.from_table(["gadre2024"]).priors(
        bs.as_runs(small[["N", "D", "loss"]]))
    assert fitted.spec.priors["alpha"]["mu"] == expected["alpha"]["mu"]
    assert fitted.spec.priors["beta"]["mu"] == -1.0  # the user's prior wins
    assert "beta" not in record["priors"]
    # ... and leaves the correlations of the other four, which the model samples jointly
    assert record["correlation"]["parameters"] == ["E", "A", "B", "alpha"]
    assert fitted.spec.correlation["parameters"] == ["E", "A", "B", "alpha"]
    assert list(fitted.posterior["prior_z"]["correlated"].values) == ["E", "A", "B", "alpha"]
    # ... and says which published sources the fit resembles, and how much it leaned on them
    leaned = fitted.leaned_on
    assert {item["dataset"] for item in leaned["nearest"]} <= {"gadre2024"}
    assert set(leaned["prior_share"]) == {"E", "A", "B", "alpha"}  # beta's prior is the user's
    assert all(0 < share < 5 for share in leaned["prior_share"].values())
    assert "borrowing from 3 published sources" in repr(fitted)
    with pytest.raises(bs.errors.BayescaleError, match="borrow='joint'"):
        bs.fit(small[["N", "D", "loss"]], model="kaplan", with_datasets=["gadre2024"])


@pytest.mark.needs_data
def test_discrepancy_per_decade_recovers_the_growth():
    rng = np.random.default_rng(0)
    decades = rng.uniform(0, 3, 3000)
    scale = np.full(decades.size, 0.01)
    residual = rng.normal(0, np.sqrt(scale ** 2 + (0.02 * decades) ** 2))
    table = pd.DataFrame({"dataset": np.repeat(["a", "b", "c"], 1000), "decades": decades,
                          "residual": residual, "scale": scale})
    assert literature.discrepancy_per_decade(table=table) == pytest.approx(0.02, rel=0.1)
    # the shipped table gives a positive growth, and leaving a data set out changes it
    shipped = literature.discrepancy_per_decade()
    assert 0.001 < shipped < 0.2
    assert literature.discrepancy_per_decade(exclude=["gadre2024"]) != shipped


def test_growth_per_decade_recovers_a_drift_and_a_spread():
    rng = np.random.default_rng(1)
    decades = rng.uniform(0, 3, 3000)
    scale = np.full(decades.size, 0.01)
    residual = rng.normal(-0.03 * decades, np.sqrt(scale ** 2 + (0.02 * decades) ** 2))
    table = pd.DataFrame({"dataset": np.repeat(["a", "b", "c"], 1000), "decades": decades,
                          "residual": residual, "scale": scale})
    drift, spread = literature.growth_per_decade(table)
    assert drift == pytest.approx(-0.03, abs=0.003) and spread == pytest.approx(0.02, rel=0.1)
    # without the drift the spread must absorb it
    assert literature.growth_per_decade(table, drift=False)[1] > 0.03
    learned = literature.learned_discrepancy()
    assert learned["drift_per_decade"] < 0 < learned["per_decade"]
    assert learned["allocation_per_decade"] > 0 and learned["allocation_drift_per_decade"] == 0
    assert literature.learned_discrepancy(exclude=["porian2024"]) != learned


@pytest.fixture(scope="module")
def widening_fit():
    runs = simulate_runs(40, sizes=5, n_range=(1e7, 1e9), seed=3)
    with warnings.catch_warnings():
        # the widening is the point here
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        return bs.fit(runs[["N", "D", "loss"]], draws=300, tune=300, chains=2, seed=0,
                      discrepancy=0.03)


@QUIET_CONVERGENCE
def test_discrepancy_widens_with_distance_and_not_inside_the_data(widening_fit):
    fitted = widening_fit
    c_max = 10 ** fitted.discrepancy["log10_C_max"]
    assert fitted.discrepancy["per_decade"] == 0.03
    N = np.array([1e8, 1e9, 3e9, 1e10])
    D = np.array([c_max / 6 / 1e8 / 10, *(c_max * 10.0 ** np.arange(1, 4) / 6 / N[1:])])
    with_term = bs.predict(fitted, N, D, noise=True, seed=1)
    without = bs.predict(fitted, N, D, noise=True, seed=1, discrepancy=False)
    np.testing.assert_allclose(with_term["decades_beyond"], [0, 1, 2, 3], atol=1e-9)

    def width(draws):
        low, high = np.log(draws).quantile([0.05, 0.95], ("chain", "draw")).values
        return high - low

    np.testing.assert_array_equal(with_term.isel(run=0), without.isel(run=0))  # inside: same
    gain = width(with_term) - width(without)
    assert gain[0] == 0 and np.all(np.diff(gain) > 0) and gain[3] > 0.1, gain


@QUIET_CONVERGENCE
def test_far_beyond_queries_warn_and_say_how_far(widening_fit, tmp_path, capsys):
    fitted = widening_fit
    c_max = 10 ** fitted.discrepancy["log10_C_max"]
    with pytest.warns(bs.errors.ExtrapolationWarning,
                      match=r"reaches 4.0 decades of compute beyond"):
        bs.predict(fitted, [1e10], [c_max * 1e4 / 6e10])
    with pytest.warns(bs.errors.ExtrapolationWarning, match="this frontier reaches"):
        frontier = bs.compute_optimal(fitted, [c_max * 10, c_max * 1e5])
    np.testing.assert_allclose(frontier["decades_beyond"], [1, 5])
    path = fitted.save(tmp_path / "fit.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ExtrapolationWarning)
        assert main(["optimal", str(path), "--flops", f"{c_max * 100:.6g}"]) == 0
        captured = capsys.readouterr()
        assert "decades_beyond" in captured.out and "up to 2 decades here" in captured.out
        assert main(["optimal", str(path), "--flops", f"{c_max * 100:.6g}", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["decades_beyond"] == pytest.approx(2.0)


def test_lowest_compute_runs_span_three_sizes():
    table = pd.DataFrame({"N": [1e7] * 6 + [2e7, 4e7, 8e7], "C": np.arange(1.0, 10.0)})
    chosen = literature.lowest_compute_runs(table, 5)
    assert list(chosen) == [0, 1, 2, 6, 7]
    with pytest.raises(bs.errors.BayescaleError, match="fewer than 5 runs spanning 3 model sizes"):
        literature.lowest_compute_runs(table.iloc[:7], 5)


@pytest.mark.needs_data
@pytest.mark.slow
def test_transfer_benchmark_quick_mode(tmp_path, capsys):
    """benchmarks/transfer.py --quick: one user set, one regime, three methods, CSV written."""
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "transfer.py"
    benchmark = runpy.run_path(str(script), run_name="transfer_benchmark")
    # 5 bootstrap resamples: the baseline's scores are smoke-tested here, not its intervals
    assert benchmark["main"](["--quick", "--resamples", "5", "--out", str(tmp_path)]) == 0
    assert "3 fits (3 this sitting" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "transfer.csv")
    assert list(table["method"]) == ["alone", "with", "huber"]
    assert list(table["regime"]) == ["few-8"] * 3
    assert (table["user_set"] == "gadre2024/rpj").all() and (table["n_held_out"] == 7).all()
    assert list(table["n_fit"]) == [8] * 3
    scores = table[["coverage50", "coverage90", "median_rel_error", "lpd_mean"]]
    assert scores.notna().all().all() and (table["decades_beyond_max"] > 0.5).all()
    assert (table["interval_score90"] > 0).all()
    assert (table["n_budgets"] == 0).all()  # gadre2024 has no IsoFLOP budgets
    summary = pd.read_csv(tmp_path / "transfer_summary.csv")
    assert set(summary["method"]) == {"alone", "with", "huber"}
    # resumed: a rerun finds every turn done and fits nothing
    assert benchmark["main"](["--quick", "--resamples", "5", "--out", str(tmp_path)]) == 0
    assert "3 fits (0 this sitting" in capsys.readouterr().out
