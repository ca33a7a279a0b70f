"""The published-data registry: mirror, cache, hashes and offline behaviour."""

import shutil

import numpy as np
import pytest

from bayescale.data import datasets
from bayescale.errors import DatasetError


@pytest.mark.needs_data
def test_registry_lists_and_describes():
    assert "epoch-chinchilla" in datasets.available()
    card = datasets.info("epoch-chinchilla")
    assert card["commit"] == "92258837425e1b5f2851d624287f0120583a3d0e"
    assert "arXiv:2404.10102" in card["citation"]
    with pytest.raises(DatasetError, match=r"unknown data set 'nope'"):
        datasets.info("nope")


@pytest.mark.needs_data
def test_epoch_loader_from_mirror():
    runs = datasets.load("epoch-chinchilla")
    table = runs.table
    assert len(runs) == 240 and len(runs.excluded) == 5
    assert runs.sources == ["epoch-chinchilla"]
    assert (runs.excluded["loss"].min() > table["loss"].max())
    assert table["N"].between(4e7, 2e10).all()
    assert table["D"].between(1e8, 1e12).all()
    assert "D computed as C / (6 N)" in runs.notes
    assert {"x", "y", "color"} <= set(table.columns)  # upstream metadata is kept
    assert len(datasets.load("epoch-chinchilla", drop_outliers=False)) == 245


@pytest.mark.needs_data
def test_corrupted_mirror_file_is_refused(tmp_path, offline_mirror):
    folder = tmp_path / "epoch-chinchilla" / "data"
    folder.mkdir(parents=True)
    source = offline_mirror / "epoch-chinchilla" / "data" / "svg_extracted_data.csv"
    text = source.read_text().replace("5.005581996196243", "5.005581996196244")
    (folder / "svg_extracted_data.csv").write_text(text)
    datasets.set_mirror(tmp_path)
    try:
        with pytest.raises(DatasetError, match=r"does not match its pinned sha256 .* not loaded"):
            datasets.load("epoch-chinchilla")
    finally:
        datasets.set_mirror(offline_mirror)


@pytest.mark.needs_data
def test_mirror_without_the_file_says_how_to_get_it(tmp_path, offline_mirror):
    datasets.set_mirror(tmp_path)
    try:
        with pytest.raises(DatasetError, match=r"is not in the mirror folder .*put the upstream "
                                               r"file there .*or unset BAYESCALE_DATA_MIRROR"):
            datasets.load("epoch-chinchilla")
    finally:
        datasets.set_mirror(offline_mirror)


@pytest.mark.needs_data
def test_offline_without_mirror_or_cache_is_a_clear_error(tmp_path, monkeypatch, offline_mirror):
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(datasets.OFFLINE_ENV, "1")
    datasets.set_mirror(None)
    try:
        with pytest.raises(DatasetError, match=r"is not cached and BAYESCALE_OFFLINE is set.*"
                                               r"download https://raw.githubusercontent.com/"
                                               r"epoch-research/analyzing-chinchilla/9225"):
            datasets.load("epoch-chinchilla")
    finally:
        datasets.set_mirror(offline_mirror)


@pytest.mark.needs_data
def test_cached_file_is_used_offline_and_verified(tmp_path, monkeypatch, offline_mirror):
    cache = tmp_path / "cache"
    target = cache / "epoch-chinchilla" / "data" / "svg_extracted_data.csv"
    target.parent.mkdir(parents=True)
    shutil.copy(offline_mirror / "epoch-chinchilla" / "data" / "svg_extracted_data.csv", target)
    monkeypatch.setenv(datasets.CACHE_ENV, str(cache))
    monkeypatch.setenv(datasets.OFFLINE_ENV, "1")
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    datasets.set_mirror(None)
    try:
        assert len(datasets.load("epoch-chinchilla")) == 240
        target.write_text(target.read_text() + "\n")
        with pytest.raises(DatasetError, match=r"does not match its pinned sha256"):
            datasets.load("epoch-chinchilla")
    finally:
        datasets.set_mirror(offline_mirror)


@pytest.mark.needs_data
def test_list_is_the_registry():
    assert datasets.list() == datasets.available()
    assert {"epoch-chinchilla", "gadre2024", "porian2024", "datablations",
            "gemstones", "loss-to-loss", "steplaw"} <= set(datasets.list())
    for name in datasets.list():
        card = datasets.info(name)
        assert {"citation", "license", "repo", "commit", "conventions", "files"} <= set(card)
        assert len(card["commit"]) == 40
        assert all(len(entry["sha256"]) == 64 for entry in card["files"])


@pytest.mark.needs_data
def test_gadre_loader():
    runs = datasets.load("gadre2024")
    table = runs.table
    assert len(runs) == 104
    assert table.groupby("source").size().to_dict() == {
        "gadre2024/c4_original": 34, "gadre2024/rpj": 35, "gadre2024/rw_original": 35}
    assert table["N"].between(1.0e7, 7.0e9).all() and table["D"].between(5e7, 9.3e11).all()
    assert table["C"].between(3.3e15, 8.0e21).all()
    assert set(table["tokens_per_param"]) == {5.0, 10, 20, 40, 80, 160, 320, 640}
    assert ((table["loss_lower_95"] < table["loss"])
            & (table["loss"] < table["loss_upper_95"])).all()
    # The paper's headline target: RedPajama-trained 6.9B at M = 20, C4 eval.
    assert table.loc["rpj-open_lm_7b-1.0", "loss"] == pytest.approx(2.424993, abs=1e-6)
    assert set(runs.conventions) == set(runs.sources)
    assert runs.conventions["gadre2024/rpj"]["tokenizer"] == "GPT-NeoX"
    in_distribution = datasets.load("gadre2024", eval="openlm")
    assert not np.allclose(in_distribution.table["loss"], table["loss"])
    with pytest.raises(DatasetError, match=r"no eval split 'wiki'.*c4_val"):
        datasets.load("gadre2024", eval="wiki")


@pytest.mark.needs_data
def test_porian_loader():
    runs = datasets.load("porian2024")
    table = runs.table
    assert len(runs) == 1745 and len(runs.sources) == 15
    assert np.allclose(6 * table["N"] * table["D"], table["C"], rtol=1e-6)
    assert (table["budget"].min(), table["budget"].max()) == pytest.approx((1.25e16, 2.56e19))
    tuned = "porian2024/rw-tuned-short-const-standard-val"
    assert (table["source"] == tuned).sum() == 121
    assert "non-embedding" in runs.conventions["porian2024/rw-base-long-kaplan-kaplan-train"]["N"]
    assert "output head" in runs.conventions[tuned]["N"]
    one = datasets.load("porian2024", configurations=[tuned])
    assert one.sources == [tuned]
    pairs = datasets.load("porian2024", table="optimal_pairs")
    assert len(pairs) + len(pairs.excluded) == 15 * 12 - 3  # 3 configurations lack a budget
    assert len(pairs.excluded) == 4


@pytest.mark.needs_data
def test_datablations_loader_repairs_unique_tokens():
    runs = datasets.load("datablations")
    table = runs.table
    assert len(runs) == 229 and runs.sources == ["datablations"]
    assert np.allclose(table["U"] * table["epochs"], table["D"])
    assert (table["tokens_per_epoch_upstream"] == 1.5e9).all()  # the wrong upstream column
    assert table["U"].nunique() > 5
    assert table["epochs"].max() == pytest.approx(9000)
    assert table["N"].between(7e6, 8.7e9).all() and table["D"].between(1e8, 9e11).all()
    assert table.loc[table["run_name"] == "2b855b9b", "U"].iloc[0] == \
        pytest.approx(9e9)


@pytest.mark.needs_data
def test_gemstones_loader_flags_checkpoints():
    hot = datasets.load("gemstones")
    assert len(hot) == 3850 and hot.table["checkpoint"].all()
    assert hot.table["run_name"].nunique() == 22
    assert any("checkpoint-level" in note for note in hot.notes)
    cool = datasets.load("gemstones", table="cool_end")
    assert len(cool) == 199 and not cool.table["checkpoint"].any()
    slim = datasets.load("gemstones", table="slim_chinchilla")
    assert len(slim) == 28 and np.allclose(slim.table["C"], 6 * slim.table["N"] * slim.table["D"],
                                           rtol=0.01)
    with pytest.raises(DatasetError, match=r"has no option\(s\) \['tabel'\]; its options are "
                                           r"\['table'\]"):
        datasets.load("gemstones", tabel="hot")


@pytest.mark.needs_data
@pytest.mark.parametrize("name", ["gadre2024", "porian2024", "datablations", "gemstones",
                                  "loss-to-loss", "steplaw"])
def test_every_data_set_refuses_a_corrupted_file(name, tmp_path, offline_mirror):
    """One flipped byte in the last file of a card: the load fails before parsing anything."""
    card = datasets.info(name)
    for entry in card["files"]:
        source = offline_mirror / card["mirror_folder"] / entry["path"]
        target = tmp_path / card["mirror_folder"] / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    datasets.set_mirror(tmp_path)
    try:
        with pytest.raises(DatasetError, match=rf"data set '{name}': .* does not match its "
                                               r"pinned sha256 .* it was not loaded"):
            datasets.load(name)
    finally:
        datasets.set_mirror(offline_mirror)


@pytest.mark.needs_data
def test_loss_to_loss_loader_has_six_sources_and_their_extrapolation_runs():
    runs = datasets.load("loss-to-loss")
    table = runs.table
    assert len(runs) == 535 and len(runs.sources) == 6
    assert set(runs.sources) == set(datasets.info("loss-to-loss")["sources"])
    big = table[table["extrapolation"]]
    assert len(big) == 6 and set(big["source"]) == set(runs.sources)
    assert big["C"].min() == pytest.approx(1e21, rel=0.01)
    sweep = table[~table["extrapolation"]]
    assert sweep["budget"].nunique() == 8 and sweep["C"].max() == pytest.approx(4.84e19, rel=0.01)
    np.testing.assert_allclose(table["C"], 6 * table["N"] * table["D"], rtol=1e-12)
    # every upstream eval column is kept, without the '/' a saved fit cannot hold
    assert "eval.c4_val.CrossEntropyLoss" in table and not any("/" in c for c in table)
    c4 = datasets.load("loss-to-loss", eval="c4", table="extrapolation")
    np.testing.assert_allclose(c4.table["loss"], c4.table["eval.c4_val.CrossEntropyLoss"])
    with pytest.raises(DatasetError, match="no eval set 'wikitext': choose one of"):
        datasets.load("loss-to-loss", eval="wikitext")
    with pytest.raises(DatasetError, match="no table 'big'"):
        datasets.load("loss-to-loss", table="big")


@pytest.mark.needs_data
def test_steplaw_loader_keeps_the_best_tuned_run_of_each_cell():
    best = datasets.load("steplaw")
    assert len(best) == 17 and best.sources == ["steplaw/dense"]
    sweep = datasets.load("steplaw", selection="sweep")
    assert len(sweep) == 1911 and sweep.excluded.empty
    # each kept run is its cell's lowest smoothed loss; the others are excluded, with why
    lowest = sweep.table.groupby(["N", "D"])["loss"].min()
    kept = best.table.set_index(["N", "D"])["loss"]
    np.testing.assert_allclose(kept.sort_index(), lowest.sort_index())
    assert len(best.excluded) == 1911 - 17
    assert best.excluded["excluded_because"].str.contains("best-tuned").all()
    # C in floating point: 6ND overflows int64 upstream
    assert best.table["C"].max() == pytest.approx(6 * 1.073741824e9 * 5.69e10)
    final = datasets.load("steplaw", loss="final")
    assert (final.table["loss"] == final.table["final_loss"]).all()
    moe = datasets.load("steplaw", table="moe")
    assert moe.sources == ["steplaw/moe"] and (moe.table["N"] < moe.table["N_total"]).all()
    with pytest.raises(DatasetError, match="selection must be one of"):
        datasets.load("steplaw", selection="worst")


@pytest.mark.needs_data
def test_loaded_data_sets_record_their_upstream_in_the_notes(offline_mirror):
    runs = datasets.load("epoch-chinchilla")
    note = runs.notes[-1]
    card = datasets.info("epoch-chinchilla")
    assert note.startswith("data set epoch-chinchilla: epoch-research/analyzing-chinchilla")
    assert card["commit"][:12] in note and card["files"][0]["sha256"][:16] in note
