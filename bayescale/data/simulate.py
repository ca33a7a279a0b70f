"""Simulate training runs from a known Chinchilla law, for recovery tests and benchmarks.

The design is checkpoint-level, like the tables of published training curves: every source trains
``sizes`` models (N log-spaced over ``n_range``) and records the loss at ``checkpoints``
log-spaced token counts from 1 to ``max_tokens_per_param`` tokens per parameter. Each source has
its own E, A and B (log-normal offsets around ``truth`` with spreads ``source_spread``) and shares
the exponents, as :mod:`bayescale.inference.model` assumes; the noise on log loss is normal with sd
``sigma``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescale.errors import BayescaleError

# Close to Epoch AI's refit of Chinchilla (Besiroglu et al. 2024).
EPOCH_LIKE = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
# Spreads (sd of the log) of E, A and B between sources.
SOURCE_SPREAD = {"E": 0.1, "A": 0.3, "B": 0.3}


def simulate_loss(N, D, *, truth: dict | None = None, sigma: float = 0.01,
                  seed: int = 0) -> np.ndarray:
    """Return the noisy losses of runs of sizes ``N`` trained on ``D`` tokens under ``truth``.

    Parameters
    ----------
    N, D : array_like
        Parameters and training tokens of each run.
    truth : dict, optional
        The law: E, A, B, alpha, beta (default :data:`EPOCH_LIKE`).
    sigma : float, default 0.01
        Normal noise sd on log loss.
    seed : int, default 0
        Random seed.

    Returns
    -------
    numpy.ndarray
        One loss per run.

    """
    truth = EPOCH_LIKE if truth is None else truth
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    mean = truth["E"] + truth["A"] / N ** truth["alpha"] + truth["B"] / D ** truth["beta"]
    return mean * np.exp(sigma * np.random.default_rng(seed).standard_normal(N.shape))


def simulate_runs(
    n_runs: int,
    n_sources: int = 1,
    *,
    truth: dict | None = None,
    sigma: float = 0.01,
    source_spread: dict | None = None,
    sizes: int = 10,
    n_range: tuple[float, float] = (1e7, 1e10),
    max_tokens_per_param: float = 100.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Return ``n_runs`` simulated runs (rows) in ``n_sources`` sources.

    Parameters
    ----------
    n_runs : int
        Rows in all; each source gets ``n_runs // n_sources`` (the first sources one more when
        it does not divide).
    n_sources : int, default 1
        Number of sources, named ``sim-000``, ``sim-001``, ...
    truth : dict, optional
        The shared law: E, A, B, alpha, beta (default :data:`EPOCH_LIKE`).
    sigma : float, default 0.01
        Normal noise sd on log loss.
    source_spread : dict, optional
        Spread (sd of the log) of each source's E, A and B around ``truth`` (default
        :data:`SOURCE_SPREAD`); ignored with one source, which gets ``truth`` exactly.
    sizes : int, default 10
        Model sizes per source; each gets the source's rows split evenly as checkpoints.
    n_range : (float, float), default (1e7, 1e10)
        Smallest and largest N.
    max_tokens_per_param : float, default 100
        The last checkpoint's D / N.
    seed : int, default 0
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``N``, ``D``, ``loss``, and the source's true ``E``, ``A``, ``B``.

    """
    truth = EPOCH_LIKE if truth is None else truth
    spread = SOURCE_SPREAD if source_spread is None else source_spread
    if n_sources < 1 or n_runs < n_sources * 3:
        raise BayescaleError(f"need n_sources >= 1 and at least 3 runs per source, not "
                             f"{n_runs} runs in {n_sources} sources")
    rng = np.random.default_rng(seed)
    per_source = np.full(n_sources, n_runs // n_sources)
    per_source[: n_runs % n_sources] += 1
    source = np.repeat(np.arange(n_sources), per_source)
    # Position of each row within its source, spread over sizes x checkpoints.
    position = np.arange(n_runs) - np.repeat(np.cumsum(per_source) - per_source, per_source)
    rows = per_source[source]
    n_sizes = np.minimum(sizes, rows)
    size_index = position % n_sizes
    checkpoint = position // n_sizes
    checkpoints = np.ceil(rows / n_sizes)
    log_n = np.log(n_range[0]) + (np.log(n_range[1]) - np.log(n_range[0])) * (
        size_index / np.maximum(n_sizes - 1, 1))
    ratio = np.exp(np.log(max_tokens_per_param) * (checkpoint + 1) / checkpoints)
    N = np.exp(log_n)
    D = N * ratio

    offsets = {name: (np.zeros(n_sources) if n_sources == 1
                      else spread[name] * rng.standard_normal(n_sources))
               for name in ("E", "A", "B")}
    E, A, B = (truth[name] * np.exp(offsets[name])[source] for name in ("E", "A", "B"))
    mean = E + A / N ** truth["alpha"] + B / D ** truth["beta"]
    loss = mean * np.exp(sigma * rng.standard_normal(n_runs))
    names = np.array([f"sim-{i:03d}" for i in range(n_sources)])
    return pd.DataFrame({"source": names[source], "N": N, "D": D, "loss": loss,
                         "E": E, "A": A, "B": B})
