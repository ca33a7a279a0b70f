"""Nothing the user types is silently ignored or reinterpreted."""

import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.data import datasets
from bayescale.data.resources import data_folder
from bayescale.spec import load_spec
from tests.conftest import simulate_runs


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.rename(columns={"N": "D", "D": "N"}), r"N and D columns look swapped"),
    (lambda t: t.assign(N=t["N"] / 1e3), r"column 'N' \(parameters\) is below 1e\+05"),
    (lambda t: t.assign(loss=t["loss"] * 100), r"outside 0.3-20 .* a percentage"),
])
def test_values_in_the_wrong_unit_are_refused_unless_confirmed(change, message):
    table = change(simulate_runs())
    with pytest.raises(bs.errors.RunsError,
                       match=message + r".*check_units=False \(CLI: --unusual"):
        bs.as_runs(table)
    assert len(bs.as_runs(table, check_units=False)) == len(table)


def test_repeated_or_layered_columns_are_refused(tmp_path):
    table = simulate_runs()
    twice = pd.concat([table, table[["loss"]]], axis=1)
    with pytest.raises(bs.errors.RunsError, match=r"more than one column named \['loss'\]"):
        bs.as_runs(twice)
    path = tmp_path / "runs.csv"
    twice.to_csv(path, index=False)
    with pytest.raises(bs.errors.RunsError, match=r"more than one column named \['loss'\]"):
        bs.as_runs(path)
    layered = table.copy()
    layered.columns = pd.MultiIndex.from_product([["a"], table.columns])
    with pytest.raises(bs.errors.RunsError, match=r"multi-level column names"):
        bs.as_runs(layered)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(bs.errors.RunsError, match=r"is empty"):
        bs.as_runs(tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"PAR1\xff\xfe\x00\x01")
    with pytest.raises(bs.errors.RunsError, match=r"is not UTF-8 text"):
        bs.as_runs(tmp_path / "binary.csv")


def test_prior_typos_and_partial_overrides():
    with pytest.raises(bs.errors.SpecError,
                       match=r"\['aplha'\] is not a parameter of the chinchilla "
                                           r"law; priors can be set on \['E', 'A'"):
        load_spec("chinchilla", priors={"aplha": {"dist": "LogNormal", "mu": 1, "sigma": 1}})
    with pytest.raises(bs.errors.SpecError,
                       match=r"LogNormal has no argument\(s\) \['sgima'\]; its "
                                           r"arguments are \['mu', 'sigma', 'tau'\]"):
        load_spec("chinchilla", priors={"alpha": {"dist": "LogNormal", "mu": -1, "sgima": 0.5}})
    with pytest.raises(bs.errors.SpecError, match=r"sigma = -1 must be positive"):
        load_spec("chinchilla", priors={"sigma": {"dist": "HalfNormal", "sigma": -1}})
    narrow = load_spec("chinchilla", priors={"alpha": {"sigma": 0.2}})
    assert narrow.priors["alpha"]["mu"] == load_spec("chinchilla").priors["alpha"]["mu"]
    assert narrow.priors["alpha"]["sigma"] == 0.2


@pytest.mark.needs_data
def test_options_that_do_not_apply_are_errors(simulated_fit):
    with pytest.raises(bs.errors.DatasetError, match=r"option drop_outliers takes true or false, "
                                              r"not 'maybe'"):
        datasets.load("epoch-chinchilla", drop_outliers="maybe")
    with pytest.raises(bs.errors.BayescaleError,
                       match=r"the 'chinchilla' law does not read unique"):
        bs.compute_optimal(simulated_fit, [1e22], unique_tokens=1e10)
    with pytest.raises(bs.errors.BayescaleError, match=r"does not read unique"):
        bs.predict(simulated_fit, [1e9], [2e10], unique_tokens=[1e9])
    with pytest.raises(bs.errors.BayescaleError, match=r"this fit has one \('runs'\)"):
        bs.compute_optimal(simulated_fit, [1e22], source=bs.NEW_SOURCE)
    with pytest.raises(bs.errors.BayescaleError, match=r"N = 70 looks like millions or billions"):
        bs.predict(simulated_fit, [70], [1.4e12])
    with pytest.raises(bs.errors.RunsError,
                       match=r"reads each run's unique tokens, and the runs have "
                                           r"no column U"):
        bs.fit(simulate_runs(), model="data_constrained")
    with pytest.raises(bs.errors.SamplerError,
                       match=r"seed must be an integer from 0 to 2\*\*32 - 1"):
        bs.fit(simulate_runs(), seed=-1)


@pytest.mark.needs_data
def test_only_registered_data_sets_load(tmp_path, capsys):
    card = tmp_path / "card.toml"
    card.write_text((data_folder("datasets") / "epoch-chinchilla.toml").read_text())
    for name in (str(card), str(tmp_path / "card")):
        with pytest.raises(bs.errors.DatasetError, match=r"only data sets whose cards ship with"):
            datasets.load(name)
    assert main(["datasets", str(tmp_path / "card")]) == 2
    assert "unknown data set" in capsys.readouterr().err
