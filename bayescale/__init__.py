"""bayescale: Bayesian inference of neural scaling laws.

Fit a law such as L(N, D) = E + A/N^alpha + B/D^beta to training runs with PyMC, and query the
posterior: the compute-optimal model size and data at any budget, and the loss of any planned run.
"""

import logging

from bayescale.errors import (
    BayescaleError,
    ConvergenceWarning,
    DatasetError,
    FitFileError,
    RunsError,
    RunsWarning,
    SamplerError,
    SpecError,
)
from bayescale.fit import Fit, fit
from bayescale.optimal import compute_optimal
from bayescale.predict import predict
from bayescale.runs import Runs, as_runs
from bayescale.spec import ModelSpec, available_specs, load_spec
from bayescale.summary import interval_table

__version__ = "0.1.0"

load_fit = Fit.load

__all__ = [
    "BayescaleError",
    "ConvergenceWarning",
    "DatasetError",
    "Fit",
    "FitFileError",
    "ModelSpec",
    "Runs",
    "RunsError",
    "RunsWarning",
    "SamplerError",
    "SpecError",
    "as_runs",
    "available_specs",
    "compute_optimal",
    "fit",
    "interval_table",
    "load_fit",
    "load_spec",
    "predict",
]

_log = logging.getLogger("bayescale")
if not _log.handlers:  # report what bayescale does (exclusions, fitting) unless told otherwise
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
