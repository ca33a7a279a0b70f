"""Validation of runs tables where they enter: every bad input has its message pinned."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import as_runs
from bayescale.errors import RunsError, RunsWarning


def good(**changes):
    table = pd.DataFrame({"N": [1e8, 4e8, 1.6e9], "D": [2e9, 8e9, 3.2e10],
                          "loss": [3.1, 2.8, 2.5]})
    for name, value in changes.items():
        table[name] = value
    return table


def test_valid_table_is_kept_with_metadata_and_c_computed():
    runs = as_runs(good(lr=[1e-3, 5e-4, 2e-4]))
    assert list(runs.table.columns) == ["N", "D", "loss", "C", "source", "lr"]
    np.testing.assert_allclose(runs.table["C"], 6 * runs.table["N"] * runs.table["D"])
    assert runs.sources == ["runs"]
    assert runs.notes == ("C computed as 6 N D",)
    assert runs.table.index.name == "row"


def test_d_is_derived_from_c():
    table = good().drop(columns="D").assign(C=[1.2e18, 1.92e19, 3.072e20])
    runs = as_runs(table)
    np.testing.assert_allclose(runs.table["D"], [2e9, 8e9, 3.2e10])
    assert "D computed as C / (6 N)" in runs.notes


def test_column_mapping_and_source_column():
    table = good().rename(columns={"N": "Model Size"}).assign(paper=["x", "x", "y"])
    runs = as_runs(table, columns={"Model Size": "N"}, source_col="paper")
    assert runs.sources == ["x", "y"]


def test_csv_and_parquet_paths(tmp_path):
    good().to_csv(tmp_path / "runs.csv", index=False)
    good().to_parquet(tmp_path / "runs.parquet")
    assert len(as_runs(tmp_path / "runs.csv")) == 3
    assert len(as_runs(str(tmp_path / "runs.parquet"))) == 3


def test_dict_input():
    assert len(as_runs({"N": [1e8], "D": [1e9], "loss": [3.0]})) == 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (good().drop(columns="loss"),
         r"no column 'loss' \(final eval loss, nats/token\).*map yours with columns="),
        (good().drop(columns="N"), r"no column 'N' \(parameters\)"),
        (good().drop(columns="D"), r"no column 'D' \(training tokens; or give 'C', training FLOPs"),
        (good(N=[1e8, "7B", 1.6e9]),
         r"column 'N' \(parameters\) has non-numeric values at rows 1 \('7B'\).*7e9"),
        (good(loss=[3.1, np.nan, 2.5]),
         r"column 'loss' .* missing or infinite values at rows 1: fill them in"),
        (good(D=[2e9, np.inf, 3e10]), r"column 'D' .* missing or infinite values at rows 1"),
        (good(N=[1e8, -4e8, 1.6e9]),
         r"column 'N' .* must be > 0, but is not at rows 1 \(-4e\+08\)"),
        (good(D=[0.0, 8e9, 3e10]), r"column 'D' .* must be > 0, but is not at rows 0 \(0\)"),
        (good(loss=[3.1, 0.0, 2.5]), r"column 'loss' .* must be > 0, but is not at rows 1"),
        (good(N=[7.0, 13.0, 70.0]),
         r"column 'N' \(parameters\) looks like it is in millions or billions at rows 0 \(7\), "
         r"1 \(13\), 2 \(70\): give raw counts, e.g. 7e9"),
        (good(D=[2.0, 8e9, 3e10]), r"column 'D' .* looks like it is in millions or billions"),
        (pd.DataFrame({"N": [], "D": [], "loss": []}), r"has no rows"),
    ],
)
def test_bad_tables_name_rows_column_and_fix(table, message):
    with pytest.raises(RunsError, match=message):
        as_runs(table)


def test_missing_columns_suggest_the_tables_own_names_but_do_not_map_them():
    table = good().rename(columns={"N": "Params", "D": "training tokens"})
    expected = ("the runs table has no column 'N' (parameters) and no column 'D' (training "
                "tokens; or give 'C', training FLOPs, and D = C/(6N)); its columns are "
                "['Params', 'training tokens', "
                "'loss']: if these are yours, map them with columns={'Params': 'N', "
                "'training tokens': 'D'} (CLI: --column 'Params=N' --column "
                "'training tokens=D')")
    with pytest.raises(RunsError) as error:
        as_runs(table)
    assert str(error.value) == expected
    runs = as_runs(table, columns={"Params": "N", "training tokens": "D"})
    assert runs.table["N"].tolist() == good()["N"].tolist()
    with_flops = good().rename(columns={"loss": "Loss"}).drop(columns="D").assign(FLOPs=1e18)
    with pytest.raises(RunsError, match=r"columns=\{'Loss': 'loss', 'FLOPs': 'C'\}"):
        as_runs(with_flops)
    unknown = good().rename(columns={"N": "width"})
    with pytest.raises(RunsError, match=r"add it, or map yours with columns=\{'your name': 'N'\}"):
        as_runs(unknown)


def test_billions_detected_after_d_from_c():
    table = good().drop(columns="D").assign(C=[6e8, 1e19, 1e20])
    with pytest.raises(RunsError, match=r"column 'D' .* looks like it is in millions"):
        as_runs(table)


def test_many_bad_rows_are_counted():
    table = pd.DataFrame({"N": np.full(15, 5.0), "D": 1e9, "loss": 3.0})
    with pytest.raises(RunsError, match=r"rows 0 \(5\), .*9 \(5\) and 5 more"):
        as_runs(table)


def test_other_input_errors(tmp_path):
    with pytest.raises(RunsError, match=r"must be a pandas DataFrame, a dict of columns"):
        as_runs([1, 2, 3])
    with pytest.raises(RunsError, match=r"runs file '.*missing.csv' does not exist"):
        as_runs(tmp_path / "missing.csv")
    (tmp_path / "runs.xlsx").write_text("x")
    with pytest.raises(RunsError, match=r"bayescale reads .csv and .parquet files"):
        as_runs(tmp_path / "runs.xlsx")
    with pytest.raises(RunsError, match=r"named in the column mapping are not in the runs table"):
        as_runs(good(), columns={"Model Size": "N"})
    with pytest.raises(RunsError, match=r"would overwrite the table's own column"):
        as_runs(good(params=[1, 2, 3]), columns={"params": "N"})
    with pytest.raises(RunsError, match=r"column 'source' is empty at rows 1"):
        as_runs(good(source=["a", None, "b"]))
    with pytest.raises(RunsError, match=r"index has duplicate labels"):
        as_runs(good().set_axis([0, 0, 1]))


def test_flops_inconsistent_with_6nd_warns_and_keeps_c():
    table = good(C=[1.2e18, 1.92e19 * 2, 3.072e20])
    with pytest.warns(RunsWarning, match=r"differs from 6·N·D by more than 25% at rows 1 "
                                         r"\(C/6ND=2\)"):
        runs = as_runs(table)
    assert runs.table["C"].iloc[1] == pytest.approx(3.84e19)


def test_duplicate_rows_warn_and_are_kept():
    table = pd.concat([good(), good().iloc[[0]]], ignore_index=True)
    with pytest.warns(RunsWarning, match=r"rows 0, 3 repeat the same N, D, loss and source"):
        runs = as_runs(table)
    assert len(runs) == 4


def test_exclusions_are_reported_with_count_and_kept(caplog):
    with caplog.at_level("INFO", logger="bayescale"):
        runs = as_runs(good(), exclude=lambda t: t["loss"].nlargest(1).index,
                       exclude_reason="highest loss")
    assert len(runs) == 2
    assert runs.excluded.index.tolist() == [0]
    assert runs.excluded["excluded_because"].tolist() == ["highest loss"]
    assert "excluded 1 of 3 rows: highest loss" in caplog.text
    assert runs.notes[0] == "excluded 1 of 3 rows: highest loss"


def test_exclusion_by_mask_and_errors():
    assert len(as_runs(good(), exclude=[True, False, False], exclude_reason="r")) == 2
    with pytest.raises(RunsError, match=r"needs exclude_reason="):
        as_runs(good(), exclude=[0])
    with pytest.raises(RunsError, match=r"names rows 9 that are not in the table"):
        as_runs(good(), exclude=[9], exclude_reason="r")
    with pytest.raises(RunsError, match=r"leaves no rows to fit"):
        as_runs(good(), exclude=[0, 1, 2], exclude_reason="r")


def test_excluded_rows_need_not_be_valid():
    """A user can exclude a broken row instead of fixing it; the rest is validated."""
    runs = as_runs(good(loss=[3.1, np.nan, 2.5]), exclude=[1], exclude_reason="lost eval")
    assert len(runs) == 2
    assert np.isnan(runs.excluded["loss"].iloc[0])


def test_input_is_not_modified():
    table = good().drop(columns="D").assign(C=[1.2e18, 1.92e19, 3.072e20])
    before = table.copy()
    as_runs(table)
    pd.testing.assert_frame_equal(table, before)


def test_conventions_for_all_or_per_source():
    table = pd.DataFrame({"N": [1e8, 2e8], "D": [2e9, 4e9], "loss": [3.0, 2.9],
                          "source": ["a", "b"]})
    runs = as_runs(table, conventions={"N": "without embeddings", "flops": "6ND"})
    assert runs.conventions == {"a": {"N": "without embeddings", "flops": "6ND"},
                                "b": {"N": "without embeddings", "flops": "6ND"}}
    runs = as_runs(table, conventions={"a": {"N": "with embeddings"}})
    assert runs.conventions == {"a": {"N": "with embeddings"}}
    with pytest.raises(RunsError, match=r"names source\(s\) \['c'\] that are not in the runs"):
        as_runs(table, conventions={"c": {"N": "with embeddings"}})


def test_combine_runs_keeps_every_row_named_and_refuses_shared_sources():
    mine = as_runs({"N": [1e8, 2e8], "D": [2e9, 4e9], "loss": [3.0, 2.9]}, source="mine",
                   conventions={"N": "with embeddings"})
    theirs = as_runs({"N": [1e8, 3e8, 5e8], "D": [2e9, 6e9, 1e10], "loss": [3.1, 2.8, 2.7]},
                     source="paper", exclude=[2], exclude_reason="a test exclusion")
    both = bs.data.combine_runs(mine, theirs)
    assert list(both.table.index) == ["mine:0", "mine:1", "paper:0", "paper:1"]
    assert list(both.excluded.index) == ["paper:2"]
    assert both.sources == ["mine", "paper"]
    assert both.conventions == {"mine": {"N": "with embeddings"}}
    assert "paper: excluded 1 of 3 rows: a test exclusion" in both.notes
    with pytest.raises(RunsError, match=r"source 'mine' appears in runs #0 and #1: give your "
                                        r"runs their own source name"):
        bs.data.combine_runs(mine, mine)


def test_simulated_runs_follow_the_law_with_per_source_offsets():
    from bayescale.data.simulate import EPOCH_LIKE, simulate_runs

    table = simulate_runs(1003, 10, sigma=0.0, seed=2)
    assert len(table) == 1003 and table["source"].nunique() == 10
    assert table.groupby("source")["N"].nunique().min() == 10  # ten sizes in every source
    law = table["E"] + table["A"] / table["N"] ** EPOCH_LIKE["alpha"] \
        + table["B"] / table["D"] ** EPOCH_LIKE["beta"]
    np.testing.assert_allclose(table["loss"], law)
    assert table.groupby("source")["E"].nunique().eq(1).all() and table["E"].nunique() == 10
    assert len(bs.as_runs(table[["source", "N", "D", "loss"]])) == 1003
    with pytest.raises(bs.errors.BayescaleError, match="at least 3 runs per source"):
        simulate_runs(20, 10)


def test_runs_print_as_a_summary_and_show_their_table_in_a_notebook():
    runs = bs.as_runs(pd.DataFrame({"N": [1e8, 2e8, 4e8], "D": [2e9, 4e9, 8e9],
                                    "loss": [3.1, 2.9, 2.7], "source": ["lab"] * 3}),
                      exclude=[2], exclude_reason="diverged")
    text = repr(runs)
    assert text.startswith("<bayescale.Runs: 2 runs from 1 source(s) ('lab'); N 1e+08-2e+08")
    assert "excluded: 1 row(s)" in text and "note: C computed as 6 N D" in text
    html = runs._repr_html_()
    assert html.startswith("<p>&lt;bayescale.Runs: 2 runs") and "<table" in html
