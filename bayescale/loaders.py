"""Parsers from each published data set's upstream format to bayescale runs.

Each loader takes the verified local paths of the data set's files and its card, and returns
:class:`bayescale.Runs`; the registry (:mod:`bayescale.datasets`) calls them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bayescale.runs import Runs, as_runs

EPOCH_OUTLIERS = 5


def epoch_chinchilla(paths: dict[str, Path], card: dict, drop_outliers: bool = True) -> Runs:
    """Load Epoch's reconstruction of Chinchilla's runs (245 points, D = C / 6N).

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    drop_outliers : bool, default True
        Exclude the 5 highest-loss points, as Epoch's fit does (all have D/N < 0.4); they are
        kept in ``Runs.excluded`` and reported.

    Returns
    -------
    Runs
        240 runs (or 245), source ``epoch-chinchilla``.

    """
    table = pd.read_csv(paths["data/svg_extracted_data.csv"])
    exclude, reason = None, None
    if drop_outliers:
        exclude = table["loss"].nlargest(EPOCH_OUTLIERS).index
        reason = (f"Epoch's {EPOCH_OUTLIERS} highest-loss points (all D/N < 0.4), dropped as "
                  "in Besiroglu et al. 2024")
    return as_runs(table, columns=card["columns"], source=card["name"], exclude=exclude,
                   exclude_reason=reason)
