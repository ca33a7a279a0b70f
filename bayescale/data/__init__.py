"""Runs in: validated runs tables, the conventions that relate them, published data sets.

The first layer; it imports nothing else of bayescale but :mod:`bayescale.errors`.
"""

from bayescale.data.runs import NEW_SOURCE, Runs, as_runs, combine_runs, read_table

__all__ = ["NEW_SOURCE", "Runs", "as_runs", "combine_runs", "read_table"]
