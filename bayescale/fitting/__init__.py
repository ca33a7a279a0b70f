"""Fit a law to runs (:func:`fit`) and keep the result (:class:`Fit`, saved atomically)."""

from bayescale._lazy import lazy_exports

__all__ = ["Fit", "fit", "load_fit"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "fit": "bayescale.fitting.fitter",
    "Fit": "bayescale.fitting.result",
    "load_fit": "bayescale.fitting.result",
})
