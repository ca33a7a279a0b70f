"""Muennighoff et al.'s procedure: their run selection, the C4 base held fixed, a Laplace fit."""

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

import bayescale as bs
from bayescale import plots
from bayescale.data import datasets
from bayescale.errors import SpecError
from bayescale.spec import load_spec

PUBLISHED = {"R_D_star": 15.39, "R_N_star": 5.31}
C4_BASE = {"E": 1.869, "A": 520.8, "B": 1487.7, "alpha": 0.3526596, "beta": 0.3526596}


@pytest.mark.needs_data
def test_paper_selection_keeps_the_papers_runs():
    runs = datasets.load("datablations", selection="paper")
    assert len(runs) == 181 and len(runs.excluded) == 48
    assert "2b855b9b" in set(runs.table["run_name"])
    assert "2b84b4b" in set(runs.excluded["run_name"])
    assert runs.excluded["excluded_because"].str.contains("parametric fit").all()
    with pytest.raises(bs.errors.DatasetError,
                       match=r"selection must be one of \['all', 'paper'\]"):
        datasets.load("datablations", selection="papers")


def test_fixed_parameters_are_checked():
    spec = load_spec("data_constrained_paper")
    assert spec.fixed_values == pytest.approx(C4_BASE)
    assert spec.likelihood == "laplace" and spec.pooled_parameters == []
    table = spec.prior_table().set_index("parameter")
    assert table.loc["alpha", "prior"] == "fixed at 0.35266"
    assert "spread of alpha across sources" not in table.index
    with pytest.raises(SpecError, match=r"needs its exponent alpha fixed too"):
        replace(spec, fixed={"A": 520.8})
    with pytest.raises(SpecError, match=r"fixed names \['gamma'\], which are not parameters"):
        replace(spec, fixed={"gamma": 1.0})
    with pytest.raises(SpecError, match=r"fixed.E = -1.0 must be a positive finite number"):
        replace(spec, fixed={"E": -1.0})


@pytest.mark.needs_data
def test_papers_procedure_recovers_its_repetition_constants():
    runs = datasets.load("datablations", selection="paper")
    fitted = bs.fit(runs, model="data_constrained_paper", draws=500, tune=500, seed=2)
    assert fitted.converged
    post = fitted.posterior
    for name, value in C4_BASE.items():
        assert np.allclose(post[name].values, value, rtol=1e-6), name
    for name, value in PUBLISHED.items():
        lo, hi = np.quantile(post[name].values, [0.03, 0.97])
        assert lo < value < hi, (name, lo, hi)
    # the pair plot shows the two sampled constants (the C4 base is held fixed)
    fig, axes = plots.plot_pair(fitted)
    assert axes.shape == (2, 2)
    assert {axes[i, 0].get_ylabel() for i in range(2)} == {"R_D_star", "R_N_star"}
    plt.close(fig)
    # Muennighoff et al.'s README example: C = 1e22 FLOPs, U = 25B unique tokens.
    optimum = bs.compute_optimal(fitted, [1e22], unique_tokens=25e9)
    for name, value in {"N_opt": 7.02e9, "D_opt": 2.37e11}.items():
        lo, hi = np.quantile(optimum[name].values, [0.03, 0.97])
        assert lo < value < hi, (name, lo, hi)
