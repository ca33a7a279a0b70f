"""What every fit records about its data: the runs as a Dataset, their provenance, versions.

Both the Bayesian fit and the Huber-bootstrap baseline stamp their trees with :data:`FORMAT`
and these records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import pandas as pd
import xarray as xr

from bayescale.data.runs import Runs

# The fit file's format. 2: every fit is saved with its SHA-256 digest, and one without it is
# refused; 1 (still read): older files, some without a digest.
FORMAT = "bayescale-fit/2"
READABLE_FORMATS = ("bayescale-fit/1", FORMAT)
PACKAGES = ("bayescale", "pymc", "pytensor", "arviz", "numpy", "pandas", "xarray")
# The packages that sample, per sampler (bayescale.inference.settings.SAMPLERS' names); a fit
# records those of the sampler that made it. None: the Huber baseline (SciPy).
SAMPLER_PACKAGES = {"nutpie": ("nutpie",), "pymc": (), "numpyro": ("jax", "jaxlib", "numpyro"),
                    "blackjax": ("jax", "jaxlib", "blackjax"), None: ("scipy",)}


def provenance(runs: Runs, user_sources: Sequence[str] = (), sampler: str | None = None
               ) -> dict:
    """Return what a fit records about its data: hash, notes, conventions, versions, time.

    ``sampler``: the sampler's name, whose packages' versions are recorded too (None: the
    Huber baseline's SciPy).
    """
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_sha256": runs.digest(),
        "runs_notes": list(runs.notes),
        "conventions": runs.conventions,
        "user_sources": list(user_sources),
        "versions": package_versions(SAMPLER_PACKAGES.get(sampler, ())),
    }


def package_versions(extra: Sequence[str] = SAMPLER_PACKAGES["nutpie"]) -> dict[str, str]:
    """Return the installed versions of bayescale, the packages a fit depends on and ``extra``."""
    versions = {}
    for name in (*PACKAGES, *extra):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def table_to_dataset(table: pd.DataFrame) -> xr.Dataset:
    """Store a runs table as a Dataset over dim ``row``; text columns as fixed strings."""
    table = table.copy()
    for name in table.columns:
        if not (pd.api.types.is_numeric_dtype(table[name])
                or pd.api.types.is_bool_dtype(table[name])):
            table[name] = table[name].astype(str).to_numpy(dtype=str)
    return xr.Dataset.from_dataframe(table)
