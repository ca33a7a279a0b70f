"""Counting conventions: parameters with or without embeddings, and FLOP formulas.

Porian et al. (2024) traced much of the Kaplan-Chinchilla gap to how N and C were counted:
Kaplan et al. counted parameters without embeddings and FLOPs as 6ND without the attention and
last-layer terms. These helpers convert between the conventions, and :func:`recount` rewrites a
runs table in another convention, recording the change; ``fit(split_sources_by=...)`` instead
keeps each convention as its own source, so the offsets absorb the difference.

Formulas (per training token; forward pass x 3 for forward plus backward):

* ``"6N"``: C = 6 N D (Kaplan et al. 2020, Hoffmann et al. 2022).
* ``"attention"``: adds the attention-score term, 6 n_layers context width per token
  (Kaplan et al. 2020, Table 1: forward 2N + 2 n_layer n_ctx d_attn).
* ``"last_layer"``: adds the unembedding (output) layer, 6 vocab width per token, when N does
  not already count it (Porian et al. 2024).
* ``"attention+last_layer"``: both.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from bayescale.data.runs import Runs
from bayescale.errors import BayescaleError

FLOP_FORMULAS = ("6N", "attention", "last_layer", "attention+last_layer")
PARAM_COUNTS = ("with embeddings", "without embeddings")


def embedding_params(vocab, width, tied: bool = True):
    """Parameters in the token embedding (and, untied, the separate output layer).

    Parameters
    ----------
    vocab, width : float or array_like
        Vocabulary size and model width (d_model).
    tied : bool, default True
        Whether input and output embeddings share one matrix.

    Returns
    -------
    float or numpy.ndarray
        vocab x width, doubled when untied.

    """
    return np.asarray(vocab, dtype=float) * np.asarray(width, dtype=float) * (1 if tied else 2)


def params_without_embeddings(N, vocab, width, tied: bool = True):
    """Convert a parameter count with embeddings to one without (Kaplan's convention)."""
    result = np.asarray(N, dtype=float) - embedding_params(vocab, width, tied)
    if np.any(result <= 0):
        raise BayescaleError("removing the embeddings leaves no parameters: check that N "
                             "counts the embeddings and that vocab and width are right")
    return result


def params_with_embeddings(N, vocab, width, tied: bool = True):
    """Convert a parameter count without embeddings to one with them."""
    return np.asarray(N, dtype=float) + embedding_params(vocab, width, tied)


def flops_per_token(N, formula: str = "6N", *, n_layers=None, context=None, width=None,
                    vocab=None):
    """Training FLOPs per token under a counting convention.

    Parameters
    ----------
    N : float or array_like
        Parameters, as counted by the convention's user (usually without embeddings).
    formula : {"6N", "attention", "last_layer", "attention+last_layer"}, default "6N"
        See the module docstring.
    n_layers, context, width, vocab : float or array_like, optional
        Needed by the attention (n_layers, context, width) and last-layer (vocab, width) terms.

    Returns
    -------
    float or numpy.ndarray
        FLOPs per training token.

    """
    if formula not in FLOP_FORMULAS:
        raise BayescaleError(f"unknown FLOP formula '{formula}': choose one of {FLOP_FORMULAS}")
    flops = 6.0 * np.asarray(N, dtype=float)
    if "attention" in formula:
        _need(formula, n_layers=n_layers, context=context, width=width)
        flops = flops + 6.0 * np.asarray(n_layers, float) * np.asarray(context, float) * \
            np.asarray(width, float)
    if "last_layer" in formula:
        _need(formula, vocab=vocab, width=width)
        flops = flops + 6.0 * embedding_params(vocab, width)
    return flops


def recount(runs: Runs, *, N: str | None = None, flops: str | None = None,
            vocab: str | float | None = None, width: str | float | None = None,
            n_layers: str | float | None = None, context: str | float | None = None,
            tied: bool = True) -> Runs:
    """Rewrite runs in another counting convention, recording the change.

    Parameters
    ----------
    runs : Runs
        Validated runs whose ``conventions`` say how N was counted (``"with embeddings"`` or
        ``"without embeddings"`` in each source's ``N`` entry).
    N : {"with embeddings", "without embeddings"}, optional
        The parameter count to convert to.
    flops : {"6N", "attention", "last_layer", "attention+last_layer"}, optional
        Recompute ``C`` with this formula (from the converted N).
    vocab, width, n_layers, context : str or float, optional
        Architecture values: a number for every run or the name of a column of the runs table.
    tied : bool, default True
        Whether input and output embeddings are tied.

    Returns
    -------
    Runs
        The converted runs; ``D`` and ``loss`` are unchanged, ``C`` is recomputed when
        ``flops`` is given, the original columns are kept as ``N_as_given`` and ``C_as_given``,
        and the conventions and notes say what was done.

    """
    table = runs.table.copy()
    arch = {name: _column(table, name, value) for name, value in
            (("vocab", vocab), ("width", width), ("n_layers", n_layers), ("context", context))}
    conventions = {source: dict(entry) for source, entry in runs.conventions.items()}
    notes = []
    if N is not None:
        if N not in PARAM_COUNTS:
            raise BayescaleError(f"N must be one of {PARAM_COUNTS}, not '{N}'")
        _need(f"N={N}", vocab=vocab, width=width)
        table["N_as_given"] = table["N"]
        for source, rows in table.groupby("source", sort=False).groups.items():
            given = _param_count(conventions.get(source, {}), source)
            if given == N:
                continue
            convert = params_without_embeddings if N == PARAM_COUNTS[1] else params_with_embeddings
            table.loc[rows, "N"] = convert(table.loc[rows, "N"], arch["vocab"][rows],
                                           arch["width"][rows], tied)
            conventions.setdefault(source, {})["N"] = N
        notes.append(f"N recounted {N} (tied embeddings: {tied}); given N kept as N_as_given")
    if flops is not None:
        table["C_as_given"] = table["C"]
        table["C"] = flops_per_token(table["N"], flops, **{
            k: v for k, v in arch.items() if v is not None}) * table["D"]
        for source in runs.sources:
            conventions.setdefault(source, {})["flops"] = flops
        notes.append(f"C recomputed with the '{flops}' formula; given C kept as C_as_given")
    return replace(runs, table=table, conventions=conventions, notes=(*runs.notes, *notes))


def _param_count(convention: dict, source: str) -> str:
    stated = str(convention.get("N", "")).lower()
    for count in PARAM_COUNTS[::-1]:  # "without embeddings" contains "with"
        if count in stated:
            return count
    raise BayescaleError(f"source '{source}' does not say whether its N counts the embeddings "
                         f"(its conventions: {convention or 'none'}): state it with "
                         "as_runs(..., conventions={'N': 'with embeddings'}) before recounting")


def _column(table: pd.DataFrame, name: str, value):
    if value is None:
        return None
    if isinstance(value, str):
        if value not in table:
            raise BayescaleError(f"{name}='{value}' is not a column of the runs table (its "
                                 f"columns are {list(table.columns)}); give a column or a number")
        return table[value].astype(float)
    return pd.Series(float(value), index=table.index)


def _need(what: str, **values) -> None:
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise BayescaleError(f"{what} needs {', '.join(missing)} (a number, or a column of the "
                             "runs table)")
