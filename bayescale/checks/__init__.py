"""Is the fit to be trusted: law comparison, calibration, sensitivity, transfer, sweeps."""

from bayescale._lazy import lazy_exports

__all__ = ["compare_laws", "extrapolation_check"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "compare_laws": "bayescale.checks.compare",
    "extrapolation_check": "bayescale.checks.compare",
})
