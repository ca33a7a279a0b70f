"""The notebooks execute end to end (fewer draws, offline data) and their own checks pass."""

from pathlib import Path

import pytest

from bayescale.data import datasets

papermill = pytest.importorskip("papermill")

FOLDER = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
FEWER = {"DRAWS": 200, "TUNE": 200}
EXAMPLE_RUNS = FOLDER / "data" / "example_lab_runs.csv"  # synthetic: data/make_example_runs.py


def test_the_five_notebooks_are_there():
    assert [path.stem[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path, tmp_path, offline_mirror, monkeypatch):
    monkeypatch.setenv(datasets.MIRROR_ENV, str(offline_mirror))  # the kernel reads no network
    text = path.read_text()
    # The baseline of notebook 01 from 243 starts, not Epoch's 4500: the same optimum on
    # Epoch's runs (tests/integration/estimators/test_baseline.py runs the full grid).
    baseline = {"RESAMPLES": 100, "STARTS": "coarse"} if "STARTS = " in text else {}
    parameters = FEWER | baseline | (
        {"RUNS_CSV": str(EXAMPLE_RUNS)} if "RUNS_CSV" in text else {})
    # Raises PapermillExecutionError, naming the cell, if any cell fails (its asserts included).
    papermill.execute_notebook(str(path), str(tmp_path / path.name), parameters=parameters,
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
