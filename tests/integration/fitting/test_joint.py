"""Joint fits of your runs with published runs, and the warnings about short sources."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.data import datasets
from bayescale.inference.model import identification_problems, narrow_compute
from bayescale.spec.model_spec import load_spec
from tests.conftest import law_alone

PAPER_DESIGN = datasets.info("gadre2024")["published"]["fit_design"]


@pytest.fixture(scope="module")
def gadre():
    return datasets.load("gadre2024")


@pytest.fixture(scope="module")
def joint_fit(gadre):
    """Gadre's RedPajama fit design (5 small runs) as 'my runs', with the other two sets."""
    table = gadre.table
    mine = table.loc[[f"rpj-{name}" for name in PAPER_DESIGN], ["N", "D", "loss"]]
    others = gadre.select(lambda t: t["source"] != "gadre2024/rpj")
    return bs.fit(mine.reset_index(drop=True), source="my-runs", with_datasets=[others],
                  borrow="joint", seed=1, target_accept=0.95)


@pytest.mark.needs_data
def test_joint_fit_defaults_to_my_source_and_predicts_the_big_runs(joint_fit, gadre):
    fit = joint_fit
    assert fit.user_sources == ["my-runs"] and fit.default_source == "my-runs"
    assert fit.sources == ["my-runs", "gadre2024/c4_original", "gadre2024/rw_original"]
    diagnostics = fit.diagnostics
    assert diagnostics["max_rhat"] <= 1.01 and diagnostics["divergences"] == 0, diagnostics
    assert fit.runs.conventions["gadre2024/c4_original"]["tokenizer"] == "GPT-NeoX"
    assert "my-runs" not in fit.runs.conventions

    big = gadre.table[(gadre.table["source"] == "gadre2024/rpj") & (gadre.table["N"] > 1.4e9)]
    assert len(big) == 3
    mine = bs.predict(fit, big["N"], big["D"], noise=True, seed=4)
    np.testing.assert_array_equal(
        mine, bs.predict(fit, big["N"], big["D"], source="my-runs", noise=True, seed=4))
    low, high = mine.quantile([0.05, 0.95], ("chain", "draw")).to_numpy()
    observed = big["loss"].to_numpy()
    # Gadre et al. report ~0.7% error for these runs from the same 5-run design: the law's own
    # prediction (without the discrepancy beyond my runs, which end 2.6 decades below)
    law = bs.predict(law_alone(fit), big["N"], big["D"], noise=True, seed=4)
    median = law.median(("chain", "draw")).to_numpy()
    assert np.all(np.abs(median / observed - 1) < 0.025), median / observed - 1
    assert np.all((low <= observed) & (observed <= high))
    assert np.all(mine["decades_beyond"] > 1.0)  # from my runs, not from Gadre's larger ones
    # a source not in the fit carries the spread between sources: wider than mine (both
    # without the discrepancy, which widens mine and a new source's alike)
    new = bs.predict(law_alone(fit, source=bs.NEW_SOURCE), big["N"], big["D"], noise=True,
                     seed=4)
    new_low, new_high = new.quantile([0.05, 0.95], ("chain", "draw")).to_numpy()
    law_low, law_high = law.quantile([0.05, 0.95], ("chain", "draw")).to_numpy()
    assert np.all(new_high - new_low > 1.5 * (law_high - law_low))


@pytest.mark.needs_data
def test_joint_fit_by_data_set_name(joint_fit):
    """with_datasets takes registry names too; the fit records whose runs are whose."""
    mine = joint_fit.runs.table.query("source == 'my-runs'")[["N", "D", "loss"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # few draws: structure only
        fit = bs.fit(mine.reset_index(drop=True), source="my-runs",
                     with_datasets=["epoch-chinchilla"], borrow="joint", draws=100,
                     tune=200, chains=2)
    assert fit.sources == ["my-runs", "epoch-chinchilla"]
    assert fit.provenance["user_sources"] == ["my-runs"]
    assert len(fit.runs.table) == 5 + 240
    assert fit.runs.table.index[0] == "my-runs:0"
    assert any(note.startswith("epoch-chinchilla: excluded 5 of 245") for note in
               fit.provenance["runs_notes"])
    with pytest.raises(bs.errors.RunsError, match=r"source 'epoch-chinchilla' appears in runs #0"):
        bs.fit(datasets.load("epoch-chinchilla"), with_datasets=["epoch-chinchilla"],
               borrow="joint")


def _short_source_runs():
    """A source with 6 runs at only 2 model sizes, beside a well-designed one."""
    good = pd.DataFrame({"N": np.repeat([1e7, 1e8, 1e9], 3),
                         "D": np.tile([2e8, 2e9, 2e10], 3), "loss": 3.0, "source": "good"})
    short = pd.DataFrame({"N": np.repeat([1e8, 1.005e8], 3), "D": np.tile([1e9, 3e9, 9e9], 2),
                          "loss": 3.0, "source": "short"})
    return bs.as_runs(pd.concat([good, short], ignore_index=True))


def test_short_source_warning_says_what_pooling_does():
    runs = _short_source_runs()
    problems = identification_problems(runs, load_spec("chinchilla"))
    assert len(problems) == 1
    assert problems[0].startswith("source 'short' has only 1 distinct N value(s) in 6 runs: "
                                  "too few to identify its own offsets of E, A")
    assert "pooling draws them toward the other sources' values" in problems[0]
    alone = runs.select(lambda t: t["source"] == "short")
    (single,) = identification_problems(alone, load_spec("chinchilla"))
    assert "posteriors follow the priors" in single and "with_datasets" in single
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(bs.errors.RunsWarning, match=r"source 'short' has only 1 distinct N"):
            bs.fit(runs)


def test_well_designed_sources_raise_no_warning(two_source_runs):
    assert identification_problems(bs.as_runs(two_source_runs), load_spec("chinchilla")) == []


@pytest.mark.needs_data
def test_optimality_of_famous_models(epoch_fit):
    gap = bs.queries.optimality(epoch_fit, ["gpt-3", "chinchilla", "llama-3-8b"])
    assert gap["excess_loss"].dims == ("chain", "draw", "model")
    assert list(gap["model"].values) == ["gpt-3", "chinchilla", "llama-3-8b"]
    ratio = gap["tokens_per_param_ratio"].median(("chain", "draw"))
    # GPT-3 (1.7 tokens/param) under-trained, Chinchilla (20) near optimal, Llama 3 8B over
    assert ratio.sel(model="gpt-3") < 0.2 and ratio.sel(model="llama-3-8b") > 20
    assert 0.6 < ratio.sel(model="chinchilla") < 1.7
    excess = gap["excess_loss"]
    assert float(excess.min()) >= -1e-9  # the optimum is the least loss on the budget
    # by the law alone, GPT-3 left ten times more loss on the table than Chinchilla; 1.4-1.7
    # decades beyond Epoch's runs the optimum is less sure, and Chinchilla's excess grows
    law = bs.queries.optimality(law_alone(epoch_fit), ["gpt-3", "chinchilla"])["excess_loss"]
    assert float(law.sel(model="gpt-3").median()) > 10 * float(
        law.sel(model="chinchilla").median())
    assert float(excess.sel(model="gpt-3").median()) > float(
        excess.sel(model="chinchilla").median()) > float(law.sel(model="chinchilla").median())
    np.testing.assert_allclose(gap["C"], 6 * gap["N"] * gap["D"])
    with pytest.raises(bs.errors.BayescaleError, match=r"unknown model\(s\) \['gpt3'\]"):
        bs.queries.optimality(epoch_fit, "gpt3")


def test_fact_tables_have_sources():
    models = datasets.famous_models()
    assert {"gpt-3", "gopher", "chinchilla", "palm", "mt-nlg", "gpt-neox-20b", "llama-65b",
            "llama-2-70b", "llama-3-70b"} <= set(models.index)
    assert models.loc["chinchilla", ["N", "D"]].tolist() == [70e9, 1.4e12]
    assert models["source"].str.len().gt(5).all()
    fits = datasets.published_fits()
    epoch = fits[fits["fit"] == "epoch2024"].set_index("parameter")
    assert epoch.loc["B", "value"] == 2085.0 and epoch.loc["E", "lo"] == 1.769
    assert {"hoffmann2022-approach3", "kaplan2020", "muennighoff2023",
            "porian2024-rw-tuned"} <= set(fits["fit"])
    assert fits["source"].notna().all()


def test_block_layout_keeps_each_run_and_each_block_to_one_source():
    from bayescale.inference.model import block_layout

    rng = np.random.default_rng(5)
    for counts in ([240], [10] * 300, [3, 100, 1, 57], [1] * 20):
        codes = rng.permutation(np.repeat(np.arange(len(counts)), counts))
        run_of_cell, cell_of_run = block_layout(codes)
        np.testing.assert_array_equal(run_of_cell.ravel()[cell_of_run], np.arange(codes.size))
        assert (codes[run_of_cell] == codes[run_of_cell[:, :1]]).all()  # one source per block
        assert run_of_cell.size <= 1.25 * codes.size


def test_pointwise_log_likelihood_is_each_runs_own_law_and_noise():
    # Three sources of unequal size, shuffled: each run's log likelihood must use its own
    # source's parameters, whatever block the layout puts it in.
    from scipy import stats

    from bayescale.data.runs import as_runs
    from bayescale.inference.model import build_model, reference_scales
    from tests.conftest import simulate_runs

    rng = np.random.default_rng(2)
    table = pd.concat([simulate_runs(seed=seed, source=name).iloc[:size] for seed, name, size
                       in ((1, "a", 40), (2, "b", 7), (3, "c", 23))]).sample(frac=1, random_state=0)
    runs = as_runs(table.reset_index(drop=True))
    spec = load_spec("chinchilla")
    model = build_model(runs, spec)
    point = model.initial_point()
    for name in point:  # a point where every source differs
        point[name] = point[name] + rng.normal(0, 0.1, np.shape(point[name]))
    pointwise = model.compile_fn(model.logp(vars=model.observed_RVs, sum=False)[0],
                                 inputs=model.value_vars, on_unused_input="ignore")(point)
    log_E, log_A, log_B = (point[f"{name}_source"] for name in ("log_E", "log_A_ref", "log_B_ref"))
    alpha, beta, sigma, nu = (np.exp(point[f"{name}_log__"]) for name in
                              ("alpha", "beta", "sigma", "nu"))
    code = pd.Categorical(runs.table["source"], categories=runs.sources).codes
    reference = reference_scales(runs)
    size_term = log_A[code] - alpha * (np.log(runs.table["N"].to_numpy()) - reference["N"])
    data_term = log_B[code] - beta * (np.log(runs.table["D"].to_numpy()) - reference["D"])
    mu = np.logaddexp(np.logaddexp(log_E[code], size_term), data_term)
    expected = stats.t.logpdf(np.log(runs.table["loss"].to_numpy()), nu, mu, sigma[code])
    np.testing.assert_allclose(pointwise, expected, rtol=1e-9)
    assert len({float(v) for v in log_E}) == 3


def test_runs_on_one_compute_budget_are_told_their_compute_scaling_is_the_priors():
    # five sizes on one isoFLOP curve (C = 6ND = 1e18), as a lab's first sweep would be
    N = np.array([1e7, 2e7, 4e7, 8e7, 1.6e8])
    iso = pd.DataFrame({"N": N, "D": 1e18 / (6 * N), "loss": [3.9, 3.7, 3.65, 3.7, 3.85]})
    (message,) = narrow_compute(bs.as_runs(iso))
    assert message.startswith("the runs span only 0.00 decades of compute (1e+18 to 1e+18")
    assert "rest largely on the priors" in message
    spread = pd.concat([iso, iso.assign(D=iso["D"] * 10, loss=iso["loss"] - 0.4)],
                       ignore_index=True)
    assert narrow_compute(bs.as_runs(spread)) == []  # budgets 10x apart
    with pytest.warns(bs.errors.RunsWarning, match="decades of compute"):
        bs.fit(iso, method="huber-bootstrap", resamples=2, starts="coarse")


def test_the_summary_of_several_sources_shows_each_sources_law(two_source_fit):
    table = two_source_fit.parameter_summary(prob=0.9)
    # the pooled rows are the sources' centre, and say so; each source's own values follow
    assert {"E (centre of sources)", "A (centre of sources)", "B (centre of sources)"} <= set(
        table.index) and "E" not in table.index
    for source, truth in (("lab-a", 1.8), ("lab-b", 2.2)):  # conftest's TRUTH and shifted E
        row = table.loc[f"E[{source}]"]
        assert row["lo"] <= truth <= row["hi"], (source, row)
        assert row["r_hat"] < 1.05
    assert "alpha" in table.index  # shared exponents keep their names
