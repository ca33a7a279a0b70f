"""The notebooks execute end to end (fewer draws, offline data) and their own checks pass."""

from pathlib import Path

import pytest

from bayescale.data import datasets

papermill = pytest.importorskip("papermill")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
FEWER = {"DRAWS": 200, "TUNE": 200}


def test_the_four_notebooks_are_there():
    assert [path.stem[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path, tmp_path, offline_mirror, monkeypatch):
    monkeypatch.setenv(datasets.MIRROR_ENV, str(offline_mirror))  # the kernel reads no network
    parameters = FEWER | ({"RESAMPLES": 100} if "RESAMPLES" in path.read_text() else {})
    # Raises PapermillExecutionError, naming the cell, if any cell fails (its asserts included).
    papermill.execute_notebook(str(path), str(tmp_path / path.name), parameters=parameters,
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
