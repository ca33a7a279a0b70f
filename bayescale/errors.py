"""Errors and warnings that bayescale raises, each named for what went wrong."""


class BayescaleError(Exception):
    """Base class of the errors bayescale raises for bad input or bad state."""


class RunsError(BayescaleError, ValueError):
    """A runs table that cannot be used: the message names the rows, the column and the fix."""


class SpecError(BayescaleError, ValueError):
    """A model specification (law, priors, pooling) that is malformed or unknown."""


class DatasetError(BayescaleError):
    """A published data set that cannot be found, downloaded or verified."""


class QueryError(BayescaleError, ValueError):
    """A query argument that cannot be right (N, D or unique tokens of a planned run)."""


class OutputError(BayescaleError):
    """A file that cannot be written where asked (exists, is a folder or device, is an input)."""


class FitFileError(OutputError):
    """A saved fit that cannot be read back as a bayescale Fit, or written where asked."""


class SamplerError(BayescaleError, ValueError):
    """An unknown sampler name or bad sampler settings."""


class RunsWarning(UserWarning):
    """Suspicious but usable runs: duplicates, FLOPs inconsistent with 6ND."""


class ConvergenceWarning(UserWarning):
    """The sampler did not converge well enough to trust the posterior."""


class ExtrapolationWarning(UserWarning):
    """A query far beyond the compute of the fitted runs: the law is unchecked there."""
