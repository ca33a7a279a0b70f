"""Is the fit to be trusted: law comparison, calibration, sensitivity, transfer, sweeps."""

from bayescale.checks.compare import compare_laws, extrapolation_check

__all__ = ["compare_laws", "extrapolation_check"]
