"""bayescale: Bayesian inference of neural scaling laws.

Fit a law such as L(N, D) = E + A/N^alpha + B/D^beta to training runs with PyMC, and query the
posterior: the compute-optimal model size and data at any budget, and the loss of any planned run.

The package follows the data's flow, each layer importing only from those before it::

    data -> spec -> inference -> estimators -> fitting -> queries -> decide -> checks -> plots
    -> cli

The names below are the public API; each is imported on first use, so ``import bayescale`` (and
a command that only reads a fit) does not load PyMC.
"""

import importlib
import logging

__version__ = "0.2.0.dev0"

# name -> (module, attribute or None for the module itself)
_PUBLIC = {
    "fit": ("bayescale.fitting.fitter", "fit"),
    "Fit": ("bayescale.fitting.result", "Fit"),
    "load_fit": ("bayescale.fitting.result", "load_fit"),
    "Runs": ("bayescale.data.runs", "Runs"),
    "as_runs": ("bayescale.data.runs", "as_runs"),
    "NEW_SOURCE": ("bayescale.data.runs", "NEW_SOURCE"),
    "compute_optimal": ("bayescale.queries.frontier", "compute_optimal"),
    "predict": ("bayescale.queries.loss", "predict"),
    "datasets": ("bayescale.data.datasets", None),
    "errors": ("bayescale.errors", None),
    "data": ("bayescale.data", None),
    "spec": ("bayescale.spec", None),
    "queries": ("bayescale.queries", None),
    "decide": ("bayescale.decide", None),
    "checks": ("bayescale.checks", None),
    "plots": ("bayescale.plots", None),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'bayescale' has no attribute '{name}'")
    module, attribute = _PUBLIC[name]
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


# A library only names its logger; whoever runs it decides what is shown (the command line
# prints bayescale's messages; in Python, logging.basicConfig(level=logging.INFO) does).
logging.getLogger("bayescale").addHandler(logging.NullHandler())
