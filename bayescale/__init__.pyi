"""Type stub of bayescale's lazily imported public API, for IDEs and type checkers."""

from bayescale import checks, data, decide, errors, plots, queries, spec
from bayescale.data import datasets
from bayescale.data.runs import NEW_SOURCE, Runs, as_runs
from bayescale.fitting.fitter import fit
from bayescale.fitting.result import Fit, load_fit
from bayescale.queries.frontier import compute_optimal
from bayescale.queries.loss import predict

__version__: str
__all__ = ["NEW_SOURCE", "Fit", "Runs", "as_runs", "checks", "compute_optimal", "data",
           "datasets", "decide", "errors", "fit", "load_fit", "plots", "predict", "queries",
           "spec"]
