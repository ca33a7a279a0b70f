"""Fit a law to runs (:func:`fit`) and keep the result (:class:`Fit`, saved atomically)."""

from bayescale.fitting.fitter import fit
from bayescale.fitting.result import Fit, load_fit

__all__ = ["Fit", "fit", "load_fit"]
