"""The published-data registry: mirror, cache, hashes and offline behaviour."""

import shutil

import pytest

from bayescale import DatasetError, datasets


def test_registry_lists_and_describes():
    assert "epoch-chinchilla" in datasets.available()
    card = datasets.info("epoch-chinchilla")
    assert card["commit"] == "92258837425e1b5f2851d624287f0120583a3d0e"
    assert "arXiv:2404.10102" in card["citation"]
    with pytest.raises(DatasetError, match=r"unknown data set 'nope'"):
        datasets.info("nope")


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


def test_mirror_without_the_file_says_how_to_get_it(tmp_path, offline_mirror):
    datasets.set_mirror(tmp_path)
    try:
        with pytest.raises(DatasetError, match=r"is not in the mirror folder .*put the upstream "
                                               r"file there .*or unset BAYESCALE_DATA_MIRROR"):
            datasets.load("epoch-chinchilla")
    finally:
        datasets.set_mirror(offline_mirror)


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
