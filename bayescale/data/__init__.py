"""Runs in: validated runs tables, the conventions that relate them, published data sets.

The first layer; it imports nothing else of bayescale but :mod:`bayescale.errors`.
"""

from bayescale._lazy import lazy_exports

__all__ = ["NEW_SOURCE", "Runs", "as_runs", "combine_runs", "conventions", "datasets",
           "read_table"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **{name: "bayescale.data.runs" for name in ("NEW_SOURCE", "Runs", "as_runs",
                                                 "combine_runs", "read_table")},
    "conventions": "bayescale.data.conventions",
    "datasets": "bayescale.data.datasets",
})
