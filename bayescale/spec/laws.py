"""Scaling laws as plain functions of log-scale inputs, and the registry that names them.

Every function works on NumPy arrays, xarray objects (through NumPy's ufuncs) and, given the
matching array module ``xp``, on PyTensor tensors. Inputs are logarithms, which keeps huge
constants such as A = 482 x (1e9)^0.35 finite and differentiable.

A :class:`Law` bundles a law's loss, its parameters, the inputs it reads and its compute-optimal
rule. Its loss takes two mappings: ``x``, log inputs among

``N``  parameters, ``D`` training tokens, ``U`` unique tokens (data-constrained law),
``C``  training FLOPs, ``M`` tokens per parameter D/N;

and ``p``, the parameters: ``log_<name>`` for the law's log-scale parameters (E, A, B, N_c, ...)
and ``<name>`` for the others (exponents, R_D*, R_N*). :func:`law_inputs` makes ``x`` from N, D
(and optionally U and C).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from bayescale.errors import SpecError

FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6 N D
LOG_FLOPS_PER_PARAM_TOKEN = float(np.log(FLOPS_PER_PARAM_TOKEN))


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
        Array module providing ``logaddexp`` (``numpy``, ``pytensor.tensor``, ``jax.numpy``),
        or a namespace with its own ``log_sum_exp`` (the model's, which PyTensor fuses).

    Returns
    -------
    array_like
        log L, broadcast over the inputs.

    """
    terms = (log_E, log_A - alpha * log_N, log_B - beta * log_D)
    if hasattr(xp, "log_sum_exp"):
        return xp.log_sum_exp(*terms)
    return xp.logaddexp(xp.logaddexp(terms[0], terms[1]), terms[2])


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
    return _log_G(log_A, log_B, alpha, beta) + beta / total * (
        log_flops - LOG_FLOPS_PER_PARAM_TOKEN)


def _log_G(log_A, log_B, alpha, beta, xp=np):
    return (xp.log(alpha) + log_A - xp.log(beta) - log_B) / (alpha + beta)


def kaplan_log_loss(x, p, xp=np):
    """Log L of Kaplan et al. (2020, Eq. 1.5): L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.

    Its limits are L(N) = (N_c/N)^alpha_N for unlimited data and L(D) = (D_c/D)^alpha_D for an
    unlimited model; it has no irreducible term.
    """
    ratio = p["alpha_N"] / p["alpha_D"]
    return p["alpha_D"] * xp.logaddexp(ratio * (p["log_N_c"] - x["N"]), p["log_D_c"] - x["D"])


def kaplan_optimal_log_params(log_C, p, log_U=None):
    """Log N_opt of Kaplan's L(N, D) under C = 6ND.

    With r = alpha_N/alpha_D, minimising (N_c/N)^r + 6 D_c N / C over N gives
    N_opt = (r N_c^r C / (6 D_c))^(1/(r+1)), so N_opt grows as C^(alpha_D/(alpha_N+alpha_D)).
    """
    ratio = p["alpha_N"] / p["alpha_D"]
    return (np.log(ratio) + ratio * p["log_N_c"] + log_C - LOG_FLOPS_PER_PARAM_TOKEN
            - p["log_D_c"]) / (ratio + 1)


def chinchilla_law_log_loss(x, p, xp=np):
    """Log L of the Chinchilla law, L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022)."""
    return chinchilla_log_loss(x["N"], x["D"], p["log_E"], p["log_A"], p["log_B"], p["alpha"],
                               p["beta"], xp=xp)


def chinchilla_law_optimal(log_C, p, log_U=None):
    """Log N_opt of the Chinchilla law (see :func:`chinchilla_optimal_log_params`)."""
    return chinchilla_optimal_log_params(log_C, p["log_A"], p["log_B"], p["alpha"], p["beta"])


def _log_effective(log_unique, repeats, r_star, xp):
    """Log of U + U R* (1 - exp(-R/R*)): the effective count after R repetitions."""
    return log_unique + xp.log1p(-r_star * xp.expm1(-repeats / r_star))


def data_constrained_log_loss(x, p, xp=np):
    """Log L of the data-constrained law of Muennighoff et al. (2023, Eq. 5).

    With U_D = min(U, D) unique tokens seen R_D = D/U_D - 1 extra times, the effective data is
    D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*)). Parameters beyond U_N, the compute-optimal size
    for U_D tokens under the Chinchilla law, are likewise discounted: R_N = N/U_N - 1 and
    N' = U_N + U_N R_N* (1 - exp(-R_N/R_N*)). Then L = E + A/N'^alpha + B/D'^beta. With every
    token seen once and N <= U_N it is the Chinchilla law.
    """
    log_U = xp.minimum(x["U"], x["D"])
    log_G = _log_G(p["log_A"], p["log_B"], p["alpha"], p["beta"], xp=xp)
    # D_opt = U at N_opt = G (U G)^(beta/alpha): Chinchilla's optimum at the matching compute.
    log_U_N = xp.minimum(x["N"], log_G + p["beta"] / p["alpha"] * (log_U + log_G))
    log_N_eff = _log_effective(log_U_N, xp.expm1(x["N"] - log_U_N), p["R_N_star"], xp)
    log_D_eff = _log_effective(log_U, xp.expm1(x["D"] - log_U), p["R_D_star"], xp)
    return chinchilla_log_loss(log_N_eff, log_D_eff, p["log_E"], p["log_A"], p["log_B"],
                               p["alpha"], p["beta"], xp=xp)


# Search span for the data-constrained optimum, in log N around Chinchilla's optimum (e^8 ~ 3000x).
_SEARCH_HALF_WIDTH = 8.0
_SEARCH_POINTS = 161


def data_constrained_optimal_log_params(log_C, p, log_U=None):
    """Log N_opt of the data-constrained law at compute C with a budget of U unique tokens.

    Minimises the loss over N (with D = C/(6N)) numerically, per draw: a grid of 161 points
    spanning a factor e^8 either side of Chinchilla's optimum, then a finer grid around the best
    point (resolution ~0.04% in N). Without ``log_U`` (unlimited unique data) it is Chinchilla's.
    """
    start = chinchilla_law_optimal(log_C, p)
    if log_U is None:
        return start
    steps = np.linspace(-1.0, 1.0, _SEARCH_POINTS)
    centre, half_width = start, _SEARCH_HALF_WIDTH
    for _ in range(3):  # coarse grid, then two zooms around the best point
        centre = _best_on_grid(centre, half_width * steps, log_C, log_U, p)
        half_width *= 2.0 / (_SEARCH_POINTS - 1) * 2.0
    return centre


def _best_on_grid(centre, offsets, log_C, log_U, p):
    import xarray as xr  # loaded when a law is solved for its optimum

    grid = xr.DataArray(offsets, dims="_search")
    log_N = centre + grid
    log_D = log_C - LOG_FLOPS_PER_PARAM_TOKEN - log_N
    loss = data_constrained_log_loss({"N": log_N, "D": log_D, "U": log_U}, p)
    return centre + grid.isel(_search=loss.argmin("_search"), drop=True)


def envelope_log_loss(x, p, xp=np):
    """Log L of the loss-compute envelope L(C) = E + A C^-gamma (Porian et al. 2024)."""
    return xp.logaddexp(p["log_E"], p["log_A"] - p["gamma"] * x["C"])


def overtraining_log_loss(x, p, xp=np):
    """Log L of the over-training law of Gadre et al. (2024, Eq. 4).

    L(C, M) = E + (a M^eta + b M^-eta) C^-eta, with M = D/N tokens per parameter: the Chinchilla
    law with tied exponents alpha = beta = 2 eta, where a = A 6^eta and b = B 6^eta.
    """
    reducible = xp.logaddexp(p["log_a"] + p["eta"] * x["M"], p["log_b"] - p["eta"] * x["M"])
    return xp.logaddexp(p["log_E"], reducible - p["eta"] * x["C"])


def overtraining_optimal_log_params(log_C, p, log_U=None):
    """Log N_opt of the over-training law: M_opt = (b/a)^(1/(2 eta)), N_opt = sqrt(C/(6 M_opt))."""
    log_M = (p["log_b"] - p["log_a"]) / (2 * p["eta"])
    return 0.5 * (log_C - LOG_FLOPS_PER_PARAM_TOKEN - log_M)


@dataclass(frozen=True)
class Law:
    """A scaling law: its loss, parameters, inputs and compute-optimal rule.

    Attributes
    ----------
    name : str
        Registry key (``"chinchilla"``, ``"kaplan"``, ...).
    formula : str
        The law, written out.
    parameters : tuple of str
        Its parameters, in raw units.
    log_scale : tuple of str
        Parameters sampled as logarithms (their priors must be LogNormal).
    exponents : tuple of str
        Parameters pooled across sources when a model's ``pooling.exponents`` is ``"pooled"``.
    inputs : tuple of str
        The log inputs the loss reads (among N, D, U, C, M).
    log_loss : callable
        ``log_loss(x, p, xp=numpy)``, see the module docstring.
    optimal_log_params : callable or None
        ``f(log_C, p, log_U=None) -> log N_opt`` under C = 6ND; None where the law has no
        allocation (the envelope is itself the loss of compute-optimal runs).
    shifts : mapping
        How the model's reference-scale parameters map to raw ones: ``name -> (exponent,
        {input: coefficient})`` means log raw = log ref + exponent * sum(coefficient * log
        input0), with input0 the reference scale of that input (exponent None means 1).
    citation : str
        Where the law comes from.

    """

    name: str
    formula: str
    parameters: tuple[str, ...]
    log_scale: tuple[str, ...]
    exponents: tuple[str, ...]
    inputs: tuple[str, ...]
    log_loss: Callable
    optimal_log_params: Callable | None
    shifts: Mapping[str, tuple[str | None, Mapping[str, float]]] = field(default_factory=dict)
    citation: str = ""

    def sampled_name(self, parameter: str) -> str:
        """Name of the model variable that samples ``parameter`` (e.g. ``log_A_ref``)."""
        if parameter not in self.log_scale:
            return parameter
        return f"log_{parameter}_ref" if parameter in self.shifts else f"log_{parameter}"

    def key(self, parameter: str) -> str:
        """Key of ``parameter`` in a law-parameter mapping ``p`` (``log_A`` or ``alpha``)."""
        return f"log_{parameter}" if parameter in self.log_scale else parameter

    def to_raw(self, sampled: Mapping, log_reference: Mapping) -> dict:
        """Map sampled (reference-scale) values to the raw-unit parameters of :attr:`log_loss`.

        Parameters
        ----------
        sampled : mapping
            Parameter name -> sampled value (a logarithm for log-scale parameters).
        log_reference : mapping
            Input name -> log of its reference scale (see :func:`reference_inputs`).

        Returns
        -------
        dict
            ``p`` for :attr:`log_loss`, keyed by :meth:`key`.

        """
        return {self.key(name): sampled[name] + self._shift(name, sampled, log_reference)
                for name in self.parameters}

    def from_raw(self, raw: Mapping, log_reference: Mapping) -> dict:
        """Map raw-unit parameters (keyed by :meth:`key`) to sampled values; :meth:`to_raw` undone.

        Returns
        -------
        dict
            Parameter name -> its sampled (reference-scale) value.

        """
        return {name: raw[self.key(name)] - self._shift(name, raw, log_reference)
                for name in self.parameters}

    def _shift(self, name: str, values: Mapping, log_reference: Mapping):
        """Return how far ``name``'s raw log lies from its sampled value (0 if it is not shifted).

        ``values`` holds the exponents (keyed by name: exponents are never log-scale).
        """
        if name not in self.shifts:
            return 0.0
        exponent, coefficients = self.shifts[name]
        offset = sum(c * log_reference[i] for i, c in coefficients.items())
        return offset if exponent is None else values[exponent] * offset


def reference_inputs(log_N0: float, log_D0: float, log_C0: float) -> dict[str, float]:
    """Return the log reference scale of every input: U shares D's, M0 = D0/N0."""
    return {"N": log_N0, "D": log_D0, "U": log_D0, "C": log_C0, "M": log_D0 - log_N0}


def law_inputs(log_N, log_D, log_U=None, log_C=None) -> dict:
    """Return the log inputs of every law from log N and log D.

    Parameters
    ----------
    log_N, log_D : array_like
        Log parameters and log training tokens.
    log_U : array_like, optional
        Log unique tokens; default log D (every token seen once).
    log_C : array_like, optional
        Log training FLOPs; default log(6 N D).

    Returns
    -------
    dict
        ``N``, ``D``, ``U``, ``C`` and ``M`` (log D/N).

    """
    return {"N": log_N, "D": log_D, "U": log_D if log_U is None else log_U,
            "C": log_N + log_D + LOG_FLOPS_PER_PARAM_TOKEN if log_C is None else log_C,
            "M": log_D - log_N}


_CHINCHILLA_SHIFTS = {"A": ("alpha", {"N": 1.0}), "B": ("beta", {"D": 1.0})}

LAWS = {
    "chinchilla": Law(
        name="chinchilla", formula="L = E + A/N^alpha + B/D^beta",
        parameters=("E", "A", "B", "alpha", "beta"), log_scale=("E", "A", "B"),
        exponents=("alpha", "beta"), inputs=("N", "D"), log_loss=chinchilla_law_log_loss,
        optimal_log_params=chinchilla_law_optimal, shifts=_CHINCHILLA_SHIFTS,
        citation="Hoffmann et al. 2022 (arXiv:2203.15556), Eq. 2"),
    "kaplan": Law(
        name="kaplan", formula="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
        parameters=("N_c", "D_c", "alpha_N", "alpha_D"), log_scale=("N_c", "D_c"),
        exponents=("alpha_N", "alpha_D"), inputs=("N", "D"), log_loss=kaplan_log_loss,
        optimal_log_params=kaplan_optimal_log_params,
        shifts={"N_c": (None, {"N": 1.0}), "D_c": (None, {"D": 1.0})},
        citation="Kaplan et al. 2020 (arXiv:2001.08361), Eq. 1.5"),
    "data_constrained": Law(
        name="data_constrained",
        formula="L = E + A/N'^alpha + B/D'^beta, D' = U + U R_D* (1 - exp(-R_D/R_D*)), "
                "N' likewise with R_N*",
        parameters=("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star"),
        log_scale=("E", "A", "B"), exponents=("alpha", "beta"), inputs=("N", "D", "U"),
        log_loss=data_constrained_log_loss,
        optimal_log_params=data_constrained_optimal_log_params, shifts=_CHINCHILLA_SHIFTS,
        citation="Muennighoff et al. 2023 (arXiv:2305.16264), Eq. 5"),
    "envelope": Law(
        name="envelope", formula="L(C) = E + A C^-gamma",
        parameters=("E", "A", "gamma"), log_scale=("E", "A"), exponents=("gamma",),
        inputs=("C",), log_loss=envelope_log_loss, optimal_log_params=None,
        shifts={"A": ("gamma", {"C": 1.0})},
        citation="Porian et al. 2024 (arXiv:2406.19146); Kaplan et al. 2020, L(C_min)"),
    "overtraining": Law(
        name="overtraining", formula="L(C, M) = E + (a M^eta + b M^-eta) C^-eta, M = D/N",
        parameters=("E", "a", "b", "eta"), log_scale=("E", "a", "b"), exponents=("eta",),
        inputs=("C", "M"), log_loss=overtraining_log_loss,
        optimal_log_params=overtraining_optimal_log_params,
        shifts={"a": ("eta", {"C": 1.0, "M": -1.0}), "b": ("eta", {"C": 1.0, "M": 1.0})},
        citation="Gadre et al. 2024 (arXiv:2403.08540), Eq. 4"),
}


def get_law(name: str) -> Law:
    """Return the registered law ``name`` (see :data:`LAWS`)."""
    try:
        return LAWS[name]
    except KeyError:
        raise SpecError(f"unknown law '{name}'; known laws: {sorted(LAWS)}") from None
