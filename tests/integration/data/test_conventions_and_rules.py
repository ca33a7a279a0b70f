"""Counting conventions (by hand), splitting sources by convention, and Kaplan's sizing rule."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.data import conventions

# GPT-2 small: 124.4M parameters with its tied 50257 x 768 embedding, 12 layers, context 1024.
VOCAB, WIDTH, LAYERS, CONTEXT = 50257, 768, 12, 1024


def test_embedding_conversions_by_hand():
    embedding = VOCAB * WIDTH  # 38,597,376
    assert conventions.embedding_params(VOCAB, WIDTH) == 38_597_376
    assert conventions.embedding_params(VOCAB, WIDTH, tied=False) == 2 * 38_597_376
    without = conventions.params_without_embeddings(124.4e6, VOCAB, WIDTH)
    assert without == pytest.approx(124.4e6 - embedding)  # 85.8M, Kaplan's count
    assert conventions.params_with_embeddings(without, VOCAB, WIDTH) == pytest.approx(124.4e6)
    with pytest.raises(bs.errors.BayescaleError, match="no parameters"):
        conventions.params_without_embeddings(1e6, VOCAB, WIDTH)


def test_flop_formulas_by_hand():
    N = 85e6
    assert conventions.flops_per_token(N) == 6 * 85e6
    # attention: + 6 x 12 x 1024 x 768 = 56,623,104 per token
    assert conventions.flops_per_token(N, "attention", n_layers=LAYERS, context=CONTEXT,
                                       width=WIDTH) == pytest.approx(510e6 + 56_623_104)
    # last layer: + 6 x 50257 x 768 = 231,584,256 per token
    assert conventions.flops_per_token(N, "last_layer", vocab=VOCAB, width=WIDTH) == \
        pytest.approx(510e6 + 231_584_256)
    both = conventions.flops_per_token(N, "attention+last_layer", n_layers=LAYERS,
                                       context=CONTEXT, width=WIDTH, vocab=VOCAB)
    assert both == pytest.approx(510e6 + 56_623_104 + 231_584_256)
    with pytest.raises(bs.errors.BayescaleError, match="needs n_layers, context"):
        conventions.flops_per_token(N, "attention", width=WIDTH)
    with pytest.raises(bs.errors.BayescaleError, match="unknown FLOP formula"):
        conventions.flops_per_token(N, "8N")


def gpt2_like_runs():
    table = pd.DataFrame({"N": [124.4e6, 354.8e6, 774e6], "D": [2e9, 6e9, 1.4e10],
                          "loss": [3.3, 3.0, 2.85], "width": [768, 1024, 1280]})
    return bs.as_runs(table, source="lab", conventions={"N": "with embeddings",
                                                        "flops": "6ND"})


def test_recount_rewrites_N_and_C_and_records_it():
    runs = conventions.recount(gpt2_like_runs(), N="without embeddings", flops="last_layer",
                               vocab=VOCAB, width="width")
    table = runs.table
    np.testing.assert_allclose(table["N"], table["N_as_given"] - VOCAB * table["width"])
    np.testing.assert_allclose(table["C"], 6 * (table["N"] + VOCAB * table["width"])
                               * table["D"])
    assert runs.conventions["lab"]["N"] == "without embeddings"
    assert runs.conventions["lab"]["flops"] == "last_layer"
    assert any("N recounted without embeddings" in note for note in runs.notes)
    assert (table["D"] == gpt2_like_runs().table["D"]).all()


def test_recount_needs_the_stated_convention_and_architecture():
    unstated = bs.as_runs(gpt2_like_runs().table.drop(columns=["source"]), source="other")
    with pytest.raises(bs.errors.BayescaleError, match="does not say whether its N counts"):
        conventions.recount(unstated, N="without embeddings", vocab=VOCAB, width=WIDTH)
    with pytest.raises(bs.errors.BayescaleError, match="needs width"):
        conventions.recount(gpt2_like_runs(), N="without embeddings", vocab=VOCAB)
    with pytest.raises(bs.errors.BayescaleError, match="not a column"):
        conventions.recount(gpt2_like_runs(), N="without embeddings", vocab=VOCAB,
                            width="d_model")


def test_split_by_makes_the_convention_part_of_the_source():
    table = gpt2_like_runs().table.assign(n_count=["with", "without", "with"])
    runs = bs.as_runs(table.drop(columns=["source"]), source="lab",
                      conventions={"flops": "6ND"}).split_by("n_count")
    assert runs.sources == ["lab [n_count=with]", "lab [n_count=without]"]
    assert runs.conventions["lab [n_count=without]"] == {"flops": "6ND", "n_count": "without"}
    with pytest.raises(bs.errors.RunsError, match="not columns"):
        runs.split_by("tokenizer")


def test_fit_split_sources_by_equals_fitting_those_sources(two_source_runs, two_source_fit):
    # The same runs as one source with a 'counting' column, split by it: the same model.
    table = two_source_runs.rename(columns={"source": "counting"})
    with warnings.catch_warnings():  # the same known two-source divergences as the fixture
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)
        split = bs.fit(table, source="my-lab", split_sources_by="counting", draws=1000,
                       tune=1000, seed=5)
    assert split.sources == ["my-lab [counting=lab-a]", "my-lab [counting=lab-b]"]
    np.testing.assert_allclose(split.posterior["log_E_source"].values,
                               two_source_fit.posterior["log_E_source"].values)


def test_kaplan_rule_costs_loss_away_from_its_anchor(simulated_fit):
    gap = bs.queries.rule_allocation(simulated_fit, [1e19, 1e21, 1e23], anchor_flops=1e19)
    anchor = float(bs.compute_optimal(simulated_fit, 1e19)["N_opt"].median())
    assert gap.attrs["anchor_params"] == pytest.approx(anchor)
    # the rule's N by hand: N_a (C / C_a)^0.73
    np.testing.assert_allclose(gap["N"], anchor * np.array([1, 100, 1e4]) ** 0.73)
    excess = gap["excess_loss"]
    assert float(excess.min()) >= -1e-12  # the optimum is optimal in every draw
    medians = excess.median(("chain", "draw")).values
    assert medians[0] < 1e-3 < medians[1] < medians[2]
    assert (gap["N_over_N_opt"].median(("chain", "draw")).values[1:] > 1.5).all()


def test_rule_command(tmp_path, simulated_fit, capsys):
    path = simulated_fit.save(tmp_path / "fit.nc")
    assert main(["rule", str(path), "--flops", "1e23", "--anchor-flops", "1e19",
                 "--exponent", "0.5", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    anchor = float(bs.compute_optimal(simulated_fit, 1e19)["N_opt"].median())
    assert row["rule_N"] == pytest.approx(anchor * 1e4 ** 0.5)
    assert row["rule_D"] == pytest.approx(1e23 / 6 / row["rule_N"])
    assert row["excess_loss_lo"] >= 0 and row["excess_loss"] < row["excess_loss_hi"]
