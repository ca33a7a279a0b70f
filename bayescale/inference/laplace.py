"""Laplace approximation of a posterior, to start NUTS with short tuning (``init="laplace"``).

The posterior mode (MAP) is found with L-BFGS-B in the sampler's unconstrained space, and the
Hessian of the log density there: exactly, by forward-mode derivatives of the gradient, with
JAX; by central differences of the gradient with PyTensor. Either costs a few gradients per
Hessian-vector product, so it grows linearly in rows like a gradient does. The products are
compressed (Curtis, Powell and Reid 1974): one source's parameters meet no other source's in
the log density, so one product perturbs, say, every source's E offset at once, and the
Hessian takes one product per per-source variable and per shared entry (13 instead of 409 at
100 sources); a product with a random vector checks the result. Its inverse, the Laplace
covariance, is a dense mass matrix for NUTS, and the chains start from draws of the Laplace
approximation; tuning then only has to adapt the step size.

Why: with many sources, the shared exponents are correlated with every source's offsets (each
correlation ~0.3 on simulated checkpoint tables), and together those correlations make one
direction of the posterior far narrower than its marginals. A diagonal or low-rank mass
matrix adapted from a few hundred tuning draws does not find it (nutpie: 35-40 leapfrog steps
per draw and bulk ESS ~20-160 for alpha at 10,000 runs in 100 sources); the Laplace covariance
has it exactly (docs/performance/speed.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pymc as pm
from pymc.blocking import DictToArrayBijection, RaveledVars
from scipy import optimize

from bayescale.errors import SamplerError

# Central-difference step of the Hessian, in unconstrained units (parameters of order 1).
HESSIAN_STEP = 1e-5
# Pairs of past steps L-BFGS-B keeps (SciPy's default: 10). Measured on simulated checkpoint
# tables (1k-100k runs in 10-100 sources), 100 pairs need 2-4x fewer gradients to stop, at an
# equal or higher log density: 703 against 1532 at 100k runs in 100 sources.
LBFGS_MEMORY = 100
# How closely the Hessian assembled from compressed products must reproduce a direct product
# with a random vector (relative to its norm) before it is trusted; else it is built column by
# column.
COMPRESSION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Laplace:
    """A Gaussian approximation of a posterior at its mode, in unconstrained space.

    Attributes
    ----------
    mode : numpy.ndarray
        The MAP, raveled in the order of ``model.value_vars``.
    covariance : numpy.ndarray
        The inverse of the negative Hessian of the log density at the mode.
    point_map_info : tuple
        How to unravel a vector into the model's value variables.
    evaluations : int
        Log-density gradient evaluations spent (optimisation and Hessian).
    seconds : float
        Wall time spent.

    """

    mode: np.ndarray
    covariance: np.ndarray
    point_map_info: tuple
    evaluations: int
    seconds: float

    def to_point(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """Return ``vector`` (raveled) as a dict of value-variable arrays."""
        return DictToArrayBijection.rmap(RaveledVars(vector, self.point_map_info))

    def initial_points(self, chains: int, seed: int) -> list[dict[str, np.ndarray]]:
        """Return one starting point per chain, drawn from the approximation."""
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(self.mode, self.covariance, size=chains,
                                        method="cholesky")
        return [self.to_point(draw) for draw in draws]


def laplace(model: pm.Model, backend: str = "pytensor", structure: str | None = None) -> Laplace:
    """Return the Laplace approximation of ``model``'s posterior.

    Parameters
    ----------
    model : pymc.Model
        The model.
    backend : {"pytensor", "jax"}, default "pytensor"
        What computes the log density and its gradient: PyTensor's compiled C function, or
        JAX (``pip install 'bayescale[jax]'``; used before a JAX sampler, since its gradient
        is ~3x cheaper on large tables and it compiles in seconds).
    structure : str, optional
        With JAX, keep the compiled functions under this key and reuse them for a model of
        the same structure (see :func:`bayescale.inference.sampling.sample`).

    Returns
    -------
    Laplace
        The mode and covariance in the model's unconstrained space.

    Raises
    ------
    SamplerError
        If the optimiser fails, or the Hessian at its end is not negative definite (the mode
        is on a ridge or boundary, where a Gaussian cannot stand in for the posterior).

    """
    start = time.perf_counter()
    initial = model.initial_point()
    raveled = DictToArrayBijection.map({var.name: initial[var.name]
                                        for var in model.value_vars})
    if backend == "jax":
        function = _jax_logp_dlogp(model, structure)
    elif backend == "pytensor":
        function = model.logp_dlogp_function(ravel_inputs=True)
        function.set_extra_values({})
    else:
        raise SamplerError(f"backend must be 'pytensor' or 'jax', not '{backend}'")
    evaluations = 0

    def negative(x):
        nonlocal evaluations
        evaluations += 1
        logp, grad = function(x)
        return -logp, -grad

    result = optimize.minimize(negative, raveled.data, jac=True, method="L-BFGS-B",
                               options={"maxiter": 20_000, "maxcor": LBFGS_MEMORY})
    if not np.isfinite(result.fun) or not (result.success or _stalled(result)):
        raise SamplerError(f"init='laplace': the posterior mode was not found ({result.message}); "
                           "use the sampler's own adaptation (init='adapt')")
    mode = result.x

    def products(vectors):
        """Rows: the Hessian of the negative log density at the mode times each vector."""
        nonlocal evaluations
        if backend == "jax":  # exact: forward-mode derivatives of the gradient
            evaluations += len(vectors)
            return -function.hessian_products(mode, vectors)
        return np.array([(negative(mode + HESSIAN_STEP * vector)[1]
                          - negative(mode - HESSIAN_STEP * vector)[1]) / (2 * HESSIAN_STEP)
                         for vector in vectors])

    hessian = _hessian(products, *_colouring(model, raveled.point_map_info))
    hessian = (hessian + hessian.T) / 2
    eigenvalues, vectors = np.linalg.eigh(hessian)
    if eigenvalues.min() <= 0:
        names = _names_of_direction(raveled.point_map_info, vectors[:, 0])
        raise SamplerError(
            "init='laplace': the log density is not concave at its mode (smallest curvature "
            f"{eigenvalues.min():.3g}, mostly along {names}), so a Gaussian cannot stand in for "
            "the posterior there; use the sampler's own adaptation (init='adapt')")
    covariance = (vectors / eigenvalues) @ vectors.T
    return Laplace(mode, covariance, raveled.point_map_info, evaluations,
                   time.perf_counter() - start)


def _jax_logp_dlogp(model: pm.Model, structure: str | None):
    """Return a function of a raveled point giving the log density and its gradient (JAX).

    It has ``hessian_products(x, vectors)`` too. The model's data are arguments of the compiled
    functions, which are kept for ``structure`` (:func:`bayescale.inference.jax_model.jax_model`).
    """
    from bayescale.inference.jax_model import jax_model

    program = jax_model(model, structure)
    data = program.data(model)

    def function(x):
        value, grad = program.value_and_grad(x, data)
        return float(value), np.asarray(grad, dtype=float)

    function.hessian_products = lambda x, vectors: program.hessian_products(x, vectors, data)
    return function


def _colouring(model: pm.Model, point_map_info) -> tuple[np.ndarray, np.ndarray]:
    """Group the raveled entries whose Hessian columns can be found from one product.

    Returns each entry's colour and its source (-1 for an entry shared by all sources). A
    value variable with dims ``("source",)`` gets one colour for all its entries, since one
    source's parameters meet only its own and the shared ones in the log density (each run's
    likelihood involves its own source's values); every other entry has a colour of its own.
    """
    values = {value.name: value for value in model.value_vars}
    colours, sources = [], []
    for name, shape, _, _ in point_map_info:
        size = int(np.prod(shape))
        variable = model.values_to_rvs[values[name]]
        per_source = model.named_vars_to_dims.get(variable.name) == ("source",)
        start = colours[-1] + 1 if colours else 0
        colours.extend([start] * size if per_source else range(start, start + size))
        sources.extend(range(size) if per_source else [-1] * size)
    return np.array(colours), np.array(sources)


def _hessian(products, colours: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Assemble a Hessian from its products with one 0/1 vector per colour (see _colouring).

    ``products(vectors)`` returns the Hessian times each vector, as rows. Falls back to one
    product per column if the assembled Hessian misses a direct product with a random vector.
    """
    size = colours.size
    seeds = np.zeros((colours.max() + 1, size))
    seeds[colours, np.arange(size)] = 1.0
    probe = np.random.default_rng(0).standard_normal(size)
    *compressed, direct = products(np.vstack([seeds, probe]))
    # by_colour[i, j]: row i of the product whose seed holds entry j; it is H[i, j] when j is
    # shared, or when i and j belong to one source.
    by_colour = np.asarray(compressed)[colours].T
    shared = sources < 0
    hessian = np.where(shared[None, :] | (sources[:, None] == sources[None, :]), by_colour, 0.0)
    rows, columns = np.flatnonzero(shared), np.flatnonzero(~shared)
    hessian[np.ix_(rows, columns)] = by_colour[np.ix_(columns, rows)].T  # symmetry
    if np.linalg.norm(hessian @ probe - direct) > COMPRESSION_TOLERANCE * np.linalg.norm(direct):
        hessian = products(np.eye(size))
    return hessian


def _stalled(result) -> bool:
    """L-BFGS-B stops with ABNORMAL when it cannot improve on a tiny gradient: a mode too."""
    return np.linalg.norm(result.jac, np.inf) < 1e-2


def _names_of_direction(point_map_info, vector) -> str:
    """Name the two value variables that carry most of ``vector``."""
    sizes = [int(np.prod(shape)) for _, shape, _, _ in point_map_info]
    parts = np.split(vector ** 2, np.cumsum(sizes)[:-1])
    weight = {info[0]: float(part.sum()) for info, part in zip(point_map_info, parts, strict=True)}
    return ", ".join(sorted(weight, key=weight.get, reverse=True)[:2])
