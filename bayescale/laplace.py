"""Laplace approximation of a posterior, to start NUTS with short tuning (``init="laplace"``).

The posterior mode (MAP) is found with L-BFGS-B in the sampler's unconstrained space, and the
Hessian of the log density there: exactly, by forward-mode derivatives of the gradient, with
JAX; by central differences of the gradient with PyTensor. Either costs a few gradients per
dimension, so it grows linearly in rows like a gradient does. Its inverse, the Laplace
covariance, is a dense mass matrix for NUTS, and the chains start from draws of the Laplace
approximation; tuning then only has to adapt the step size.

Why: with many sources, the shared exponents are correlated with every source's offsets (each
correlation ~0.3 on simulated checkpoint tables), and together those correlations make one
direction of the posterior far narrower than its marginals. A diagonal or low-rank mass
matrix adapted from a few hundred tuning draws does not find it (nutpie: 35-40 leapfrog steps
per draw and bulk ESS ~20-160 for alpha at 10,000 runs in 100 sources); the Laplace covariance
has it exactly (README, "Speed").
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
# Hessian columns computed at once with JAX (memory: this many gradients' intermediates).
HESSIAN_CHUNK = 16


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


def laplace(model: pm.Model, backend: str = "pytensor") -> Laplace:
    """Return the Laplace approximation of ``model``'s posterior.

    Parameters
    ----------
    model : pymc.Model
        The model.
    backend : {"pytensor", "jax"}, default "pytensor"
        What computes the log density and its gradient: PyTensor's compiled C function, or
        JAX (``pip install 'bayescale[jax]'``; used before a JAX sampler, since its gradient
        is ~3x cheaper on large tables and it compiles in seconds).

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
        function = _jax_logp_dlogp(model, initial)
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
                               options={"maxiter": 20_000})
    if not np.isfinite(result.fun) or not (result.success or _stalled(result)):
        raise SamplerError(f"init='laplace': the posterior mode was not found ({result.message}); "
                           "use the sampler's own adaptation (init='adapt')")
    mode = result.x
    size = mode.size
    if backend == "jax":  # exact: forward-mode derivatives of the gradient
        hessian = -function.hessian(mode)
        evaluations += size
    else:
        hessian = np.empty((size, size))
        for i in range(size):
            step = np.zeros(size)
            step[i] = HESSIAN_STEP
            hessian[i] = (negative(mode + step)[1] - negative(mode - step)[1]) / (
                2 * HESSIAN_STEP)
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


def _jax_logp_dlogp(model: pm.Model, point: dict[str, np.ndarray]):
    """Return a function of the raveled ``point`` giving the log density and its gradient (JAX)."""
    import jax
    from jax.flatten_util import ravel_pytree
    from pymc.sampling.jax import get_jaxified_graph

    jax.config.update("jax_enable_x64", True)
    graph = get_jaxified_graph(inputs=model.value_vars, outputs=[model.logp()])
    # Ravels value variables in model.value_vars order, as DictToArrayBijection does.
    _, unravel = ravel_pytree([point[var.name] for var in model.value_vars])

    def flat_logp(x):
        return graph(*unravel(x))[0]

    value_and_grad = jax.jit(jax.value_and_grad(flat_logp))

    gradient = jax.grad(flat_logp)

    @jax.jit
    def hessian_columns(x, basis):
        return jax.vmap(lambda v: jax.jvp(gradient, (x,), (v,))[1])(basis)

    def hessian(x, chunk: int = HESSIAN_CHUNK):
        # Padded to whole chunks, so that the columns compile once.
        identity = np.eye(-(-x.size // chunk) * chunk, x.size)
        columns = [np.asarray(hessian_columns(x, identity[i:i + chunk]))
                   for i in range(0, identity.shape[0], chunk)]
        return np.concatenate(columns)[:x.size]

    def function(x):
        value, grad = value_and_grad(x)
        return float(value), np.asarray(grad, dtype=float)

    function.hessian = hessian
    return function


def _stalled(result) -> bool:
    """L-BFGS-B stops with ABNORMAL when it cannot improve on a tiny gradient: a mode too."""
    return np.linalg.norm(result.jac, np.inf) < 1e-2


def _names_of_direction(point_map_info, vector) -> str:
    """Name the two value variables that carry most of ``vector``."""
    sizes = [int(np.prod(shape)) for _, shape, _, _ in point_map_info]
    parts = np.split(vector ** 2, np.cumsum(sizes)[:-1])
    weight = {info[0]: float(part.sum()) for info, part in zip(point_map_info, parts, strict=True)}
    return ", ".join(sorted(weight, key=weight.get, reverse=True)[:2])
