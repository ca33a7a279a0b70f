"""bayescale: Bayesian inference of neural scaling laws.

Fit a law such as L(N, D) = E + A/N^alpha + B/D^beta to training runs with PyMC, and query the
posterior: the compute-optimal model size and data at any budget, and the loss of any planned run.

The package follows the data's flow, each layer importing only from those before it::

    data -> spec -> inference -> estimators -> fitting -> queries -> decide -> checks -> plots
    -> cli

The names below are the public API; each is imported on first use, so ``import bayescale`` (and
a command that only reads a fit) does not load PyMC.
"""

import logging

from bayescale._lazy import lazy_exports

__version__ = "0.2.0.dev0"

__all__ = ["NEW_SOURCE", "Fit", "Runs", "as_runs", "checks", "compute_optimal", "data",
           "datasets", "decide", "errors", "fit", "load_fit", "plots", "predict", "queries",
           "spec"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "fit": "bayescale.fitting.fitter",
    "Fit": "bayescale.fitting.result",
    "load_fit": "bayescale.fitting.result",
    "Runs": "bayescale.data.runs",
    "as_runs": "bayescale.data.runs",
    "NEW_SOURCE": "bayescale.data.runs",
    "compute_optimal": "bayescale.queries.frontier",
    "predict": "bayescale.queries.loss",
    "datasets": "bayescale.data.datasets",
    **{name: f"bayescale.{name}" for name in ("errors", "data", "spec", "queries", "decide",
                                               "checks", "plots")},
})

# A library only names its logger; whoever runs it decides what is shown (the command line
# prints bayescale's messages; in Python, logging.basicConfig(level=logging.INFO) does).
logging.getLogger("bayescale").addHandler(logging.NullHandler())
