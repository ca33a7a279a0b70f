"""bayescale: Bayesian inference of neural scaling laws.

Fit a law such as L(N, D) = E + A/N^alpha + B/D^beta to training runs with PyMC, and query the
posterior: the compute-optimal model size and data at any budget, and the loss of any planned run.
"""

import logging

from bayescale import conventions, datasets, decide, forecast
from bayescale.compare import compare_laws, extrapolation_check
from bayescale.errors import (
    BayescaleError,
    ConvergenceWarning,
    DatasetError,
    ExtrapolationWarning,
    FitFileError,
    QueryError,
    RunsError,
    RunsWarning,
    SamplerError,
    SpecError,
)
from bayescale.fit import Fit, fit
from bayescale.optimal import compute_optimal
from bayescale.optimality import allocation_gap, optimality, rule_allocation
from bayescale.posterior import NEW_SOURCE
from bayescale.predict import predict
from bayescale.runs import Runs, as_runs, combine_runs
from bayescale.spec import ModelSpec, available_specs, load_spec
from bayescale.summary import interval_table

__version__ = "0.1.0"

load_fit = Fit.load

__all__ = [
    "NEW_SOURCE",
    "BayescaleError",
    "ConvergenceWarning",
    "DatasetError",
    "ExtrapolationWarning",
    "Fit",
    "FitFileError",
    "ModelSpec",
    "QueryError",
    "Runs",
    "RunsError",
    "RunsWarning",
    "SamplerError",
    "SpecError",
    "allocation_gap",
    "as_runs",
    "available_specs",
    "combine_runs",
    "compare_laws",
    "compute_optimal",
    "conventions",
    "datasets",
    "decide",
    "extrapolation_check",
    "fit",
    "forecast",
    "interval_table",
    "load_fit",
    "load_spec",
    "optimality",
    "predict",
    "rule_allocation",
]

# A library only names its logger; whoever runs it decides what is shown (the command line
# prints bayescale's messages; in Python, logging.basicConfig(level=logging.INFO) does).
logging.getLogger("bayescale").addHandler(logging.NullHandler())
