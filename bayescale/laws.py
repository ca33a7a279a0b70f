"""Scaling laws as plain functions of log-scale inputs.

Every function works on NumPy arrays, xarray objects (through NumPy's ufuncs) and, given the
matching array module ``xp``, on PyTensor or JAX tensors. Inputs are logarithms, which keeps
huge constants such as A = 482 x (1e9)^0.35 finite and differentiable.
"""

from __future__ import annotations

import numpy as np

FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6 N D


def chinchilla_log_loss(log_N, log_D, log_E, log_A, log_B, alpha, beta, xp=np):
    """Log loss of the Chinchilla law, log(E + A/N^alpha + B/D^beta).

    Parameters
    ----------
    log_N, log_D : array_like
        Logarithms of parameters and training tokens (in any unit, as long as ``log_A`` and
        ``log_B`` are in the same one: with N measured in units of N0, ``log_A`` is
        log(A / N0^alpha)).
    log_E, log_A, log_B : array_like
        Logarithms of E, A and B.
    alpha, beta : array_like
        Exponents of N and D.
    xp : module, default numpy
        Array module providing ``logaddexp`` (``numpy``, ``pytensor.tensor``, ``jax.numpy``).

    Returns
    -------
    array_like
        log L, broadcast over the inputs.

    """
    return xp.logaddexp(xp.logaddexp(log_E, log_A - alpha * log_N), log_B - beta * log_D)


def chinchilla_optimal_log_params(log_flops, log_A, log_B, alpha, beta):
    """Log of the compute-optimal parameter count under C = 6ND.

    Minimising E + A/N^alpha + B/D^beta subject to 6ND = C gives
    N_opt = G (C/6)^(beta/(alpha+beta)) with G = (alpha A / (beta B))^(1/(alpha+beta))
    (Hoffmann et al. 2022, Eq. 4).

    Parameters
    ----------
    log_flops : array_like
        Log of the training compute C in FLOPs.
    log_A, log_B, alpha, beta : array_like
        Law parameters (A and B for N and D in raw units).

    Returns
    -------
    array_like
        log N_opt; log D_opt is ``log_flops - log(6) - log N_opt``.

    """
    total = alpha + beta
    log_G = (np.log(alpha) + log_A - np.log(beta) - log_B) / total
    return log_G + beta / total * (log_flops - np.log(FLOPS_PER_PARAM_TOKEN))
