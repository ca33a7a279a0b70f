"""A PyMC model's log density, and its posterior variables, as JAX functions of its data too.

PyMC's JAX samplers build a model's data (the runs) into the compiled program as constants, so a
fit of other runs compiles everything again. Here every ``pm.Data`` is an argument instead: the
program traced for one fit serves every later fit of the same structure (law, priors,
likelihood, pooling, number of sources) and table shape in this process. The JAX samplers
and the JAX Laplace start use it (:mod:`bayescale.inference.jax_nuts`,
:mod:`bayescale.inference.laplace`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pymc as pm

log = logging.getLogger("bayescale")

# Programs kept in this process, by structure key (see bayescale.inference.sampling.sample).
_PROGRAMS: OrderedDict[str, JaxModel] = OrderedDict()
MAX_PROGRAMS = 16
# Hessian-vector products computed at once (memory: this many gradients' intermediates).
HESSIAN_CHUNK = 16


@dataclass(eq=False)
class JaxModel:
    """A model's log density and posterior variables as JAX functions of (raveled point, data).

    Attributes
    ----------
    data_names : tuple of str
        The ``pm.Data`` the functions take, in order (see :meth:`data`).
    output_names : tuple of str
        The posterior variables :meth:`posterior` returns: free variables on their own scale,
        then deterministics.
    initial_point : numpy.ndarray
        The initial point of the model it last served (see :func:`jax_model`), raveled in the
        order of ``model.value_vars``.
    traces : int
        How often JAX traced the log density (each trace is a compile): counted, so that reuse
        can be checked.
    samplers : dict
        Samplers compiled on these functions, kept for reuse by whoever made them
        (:mod:`bayescale.inference.jax_nuts`).

    """

    data_names: tuple[str, ...]
    output_names: tuple[str, ...]
    initial_point: np.ndarray
    _logp: Callable
    _outputs: Callable
    _unravel: Callable
    traces: int = 0
    samplers: dict = field(default_factory=dict)

    def data(self, model: pm.Model) -> tuple[np.ndarray, ...]:
        """Return ``model``'s values of the data the functions take."""
        shared = {var.name: var for var in model.data_vars}
        return tuple(np.asarray(shared[name].get_value()) for name in self.data_names)

    def logp(self, flat, data):
        """Log density at the raveled point ``flat`` (a JAX function)."""
        self.traces += 1
        return self._logp(*self._unravel(flat), *data)[0]

    @cached_property
    def value_and_grad(self) -> Callable:
        """Jitted ``(flat, data) -> (log density, gradient)``."""
        import jax

        return jax.jit(jax.value_and_grad(self.logp))

    @cached_property
    def _hessian_chunk(self) -> Callable:
        import jax

        gradient = jax.grad(self.logp)
        return jax.jit(lambda flat, vectors, data: jax.vmap(
            lambda vector: jax.jvp(lambda x: gradient(x, data), (flat,), (vector,))[1])(vectors))

    def hessian_products(self, flat: np.ndarray, vectors: np.ndarray, data) -> np.ndarray:
        """Rows: the Hessian of the log density at ``flat`` times each of ``vectors`` (exact).

        Computed :data:`HESSIAN_CHUNK` at a time, padded to whole chunks so that they compile
        once.
        """
        padded = np.zeros((-(-len(vectors) // HESSIAN_CHUNK) * HESSIAN_CHUNK, flat.size))
        padded[:len(vectors)] = vectors
        rows = [np.asarray(self._hessian_chunk(flat, padded[i:i + HESSIAN_CHUNK], data))
                for i in range(0, len(padded), HESSIAN_CHUNK)]
        return np.concatenate(rows)[:len(vectors)]

    @cached_property
    def posterior(self) -> Callable:
        """Jitted ``(flats, data) -> posterior variables`` over a batch of raveled points."""
        import jax

        return jax.jit(jax.vmap(lambda flat, data: self._outputs(*self._unravel(flat), *data),
                                in_axes=(0, None)))


def jax_model(model: pm.Model, structure: str | None = None) -> JaxModel:
    """Return ``model`` as a :class:`JaxModel`, the one kept for ``structure`` if there is one.

    Parameters
    ----------
    model : pymc.Model
        The model.
    structure : str, optional
        A key equal for two models exactly when they differ only in the values of their
        ``pm.Data`` (see :func:`bayescale.inference.sampling.sample`); the program is kept under it
        and the model's dimension lengths (runs, sources). None builds a fresh one.

    Returns
    -------
    JaxModel
        Its functions, whose compiled forms JAX keeps with it.

    """
    if structure is not None:  # dimension lengths are constants in the program (see _build)
        structure += "|" + ",".join(f"{name}={int(length.get_value())}"
                                    for name, length in model.dim_lengths.items())
    if structure is not None and structure in _PROGRAMS:
        _PROGRAMS.move_to_end(structure)
        log.info("bayescale: reusing the JAX program of the same structure and table shape "
                 "(it compiles again only for new sampler settings)")
        program = _PROGRAMS[structure]
        # start where this model starts (a prior's data can move its support point)
        program.initial_point = _raveled_initial_point(model)
        return program
    program = _build(model)
    if structure is not None:
        _PROGRAMS[structure] = program
        while len(_PROGRAMS) > MAX_PROGRAMS:
            _PROGRAMS.popitem(last=False)
    return program


def _raveled_initial_point(model: pm.Model) -> np.ndarray:
    """Return ``model``'s initial point, raveled in the order of ``model.value_vars``."""
    point = model.initial_point()
    return np.concatenate([np.ravel(np.asarray(point[var.name], dtype="float64"))
                           for var in model.value_vars])


def clear() -> None:
    """Forget the programs kept for reuse."""
    _PROGRAMS.clear()


def _build(model: pm.Model) -> JaxModel:
    """Translate ``model``'s log density and posterior variables to JAX, data as arguments."""
    import jax
    import pymc.sampling.jax  # noqa: F401  (registers PyMC's ops with PyTensor's JAX backend)
    import pytensor.tensor as pt
    from jax.flatten_util import ravel_pytree
    from pymc.util import get_default_varnames
    from pytensor.compile.mode import JAX
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.replace import clone_replace
    from pytensor.link.jax.dispatch import jax_funcify

    jax.config.update("jax_enable_x64", True)  # the model is in float64
    data = list(model.data_vars)
    inputs = [var.type() for var in data]
    # Dimension lengths are shapes, which JAX fixes when it compiles: constants, as in PyMC.
    replace = dict(zip(data, inputs, strict=True)) | {
        length: pt.constant(length.get_value()) for length in model.dim_lengths.values()}
    outputs = get_default_varnames(model.unobserved_value_vars, include_transformed=False)

    def function(graph):
        graph = FunctionGraph(inputs=[*model.value_vars, *inputs],
                              outputs=clone_replace(graph, replace=replace), clone=True)
        JAX.optimizer.rewrite(graph)
        return jax_funcify(graph)

    point = model.initial_point()
    initial, unravel = ravel_pytree([point[var.name] for var in model.value_vars])
    return JaxModel(
        data_names=tuple(var.name for var in data),
        output_names=tuple(var.name for var in outputs),
        initial_point=np.asarray(initial),
        _logp=function([model.logp()]),
        _outputs=function(outputs),
        _unravel=unravel,
    )
