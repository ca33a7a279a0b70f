"""Property-based tests: random malformed runs tables get a documented error or pass unchanged."""

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayescale import as_runs
from bayescale.errors import RunsError, RunsWarning

# Cells a careless CSV can hold: good numbers, tiny "in billions" numbers, zero, negatives,
# NaN, inf, text like '7B', empty strings and None.
CELL = st.one_of(
    st.floats(min_value=1e6, max_value=1e14),
    st.floats(min_value=0.5, max_value=9.0),
    st.just(0.0), st.floats(max_value=-1e-3, min_value=-1e12),
    st.just(float("nan")), st.just(float("inf")),
    st.sampled_from(["7B", "1.4T", "", "n/a", "3e9", " 2.5 "]), st.none())
LOSS = st.one_of(st.floats(min_value=1.5, max_value=6.0), CELL)
COLUMNS = st.sets(st.sampled_from(["N", "D", "loss", "C", "source", "note"]), min_size=1)


@st.composite
def tables(draw):
    rows = draw(st.integers(min_value=1, max_value=12))
    columns = draw(COLUMNS)
    data = {}
    for name in sorted(columns):
        if name == "source":
            data[name] = draw(st.lists(st.sampled_from(["a", "b", "lab c"]), min_size=rows,
                                       max_size=rows))
        elif name == "note":
            data[name] = draw(st.lists(st.text(max_size=5), min_size=rows, max_size=rows))
        else:
            cells = LOSS if name == "loss" else CELL
            data[name] = draw(st.lists(cells, min_size=rows, max_size=rows))
    return pd.DataFrame(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_malformed_tables_raise_runs_error_or_pass_unchanged(table):
    original = table.copy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RunsWarning)  # warnings are documented outcomes
            runs = as_runs(table)
    except RunsError as error:
        message = str(error)
        assert "column" in message  # every error names the column (and rows) at fault
        return
    pd.testing.assert_frame_equal(table, original)  # the caller's table is never modified
    fitted = runs.table
    assert len(fitted) == len(original)  # no row dropped
    assert list(fitted.index) == list(original.index)
    for name in ("N", "D", "loss", "C"):
        if name in original:
            given_values = pd.to_numeric(original[name]).astype(float).to_numpy()
            np.testing.assert_array_equal(fitted[name].to_numpy(), given_values)
    assert np.all(np.isfinite(fitted[["N", "D", "loss", "C"]].to_numpy()))
    assert (fitted[["N", "D", "loss", "C"]] > 0).all().all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=4, unique=True))
def test_excluded_rows_are_kept_and_reported_never_dropped(rows):
    table = pd.DataFrame({"N": np.geomspace(1e7, 1e10, 8), "D": np.geomspace(1e9, 1e12, 8),
                          "loss": np.linspace(3.5, 2.1, 8)})
    runs = as_runs(table, exclude=rows, exclude_reason="outliers")
    assert sorted(runs.excluded.index) == sorted(rows)
    assert len(runs.table) + len(runs.excluded) == len(table)
    assert any("excluded" in note for note in runs.notes)
