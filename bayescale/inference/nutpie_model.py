"""nutpie's compiled model of a PyMC model, its C callbacks kept on disk between processes.

nutpie samples a model through two C callbacks, the log density with its gradient and the
map from the sampler's unconstrained point to the posterior variables, each wrapping a
function that PyTensor compiles with numba. nutpie's own compile
(:func:`nutpie.compile_pymc_model`) builds callbacks that hold the runs' arrays as constants,
so numba compiles them afresh in every process (about 20 s for Epoch's model). Here the
callbacks are generated source that reads every array through nutpie's ``user_data`` (its
pointers and shapes), holds nothing of one fit, and is kept in numba's on-disk cache beside
PyTensor's own (PyTensor's locator, keyed by the wrapped function's cache key and this
source): a later process with a model of the same structure loads them in a fraction of a
second. The draws are those of nutpie's own compile, bit for bit.

PyTensor's setting ``numba__cache`` (``PYTENSOR_FLAGS=numba__cache=False``) turns the disk
cache off for these callbacks too. This uses nutpie's helpers for its numba backend
(``_make_functions``, ``make_user_data``, ``CompiledPyMCModel``; nutpie 0.16) and PyTensor's
numba cache (``pytensor.link.numba.cache``).
"""

from __future__ import annotations

import hashlib
import logging
from importlib.metadata import version

import numba
import numpy as np
import pymc as pm
from numba.core import cgutils, types
from numba.extending import intrinsic

log = logging.getLogger("bayescale")

# The layout of nutpie's user_data, a record of 8-byte words (nutpie.compile_pymc.make_user_data):
# each array's address, then each array's size, then each array's shape (one word per axis).
_WORD = np.dtype(np.uint64)


def compile_nutpie_model(model: pm.Model, initial_point):
    """Return nutpie's compiled model of ``model``, its callbacks from the disk cache if kept.

    Parameters
    ----------
    model : pymc.Model
        The model. Its free variables are sampled; deterministics are left to the caller
        (nutpie bakes data that only deterministics read into its compiled model).
    initial_point : callable
        PyMC's initial-point function nutpie starts the chains from (seed -> dict).

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        What :func:`nutpie.sample` takes; ``with_data`` swaps in other runs of the same shape
        of structure.

    """
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _make_functions,
        _prepare_dims_and_coords,
        make_user_data,
    )

    n_dim, n_expanded, logp, expand, start, shape_info, renamed = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=initial_point, var_names=[var.name for var in model.free_RVs])
    shared = list(dict.fromkeys([*logp.get_shared(), *expand.get_shared()]))
    # Keys by position, the same in every process (nutpie's are random), so the callbacks'
    # source, and with it their cache entry, depends only on the model's structure.
    keys = {var: f"data{i}" for i, var in enumerate(shared)}
    data = {keys[var]: np.array(var.get_value(), order="C", copy=True) for var in shared}
    for value in data.values():
        value.flags.writeable = False
    user_data = make_user_data(keys, data)
    layout = _Layout([data[keys[var]] for var in shared], user_data.dtype.itemsize)
    callbacks = {
        kind: _callback(kind, function.vm.jit_fn,
                        [shared.index(var) for var in function.get_shared()], layout, n_dim,
                        n_expanded)
        for kind, function in (("logp", logp), ("expand", expand))}
    dims, coords = _prepare_dims_and_coords(model, shape_info, renamed)
    return CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=callbacks["logp"], compiled_expand_func=callbacks["expand"],
        initial_point_func=start, shared_data=data, shared_var_keys=keys, user_data=user_data,
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp, expand_func=expand,
        reparameterized_names=renamed)


class _Layout:
    """Where each array's address and shape sit among the words of nutpie's user_data."""

    def __init__(self, arrays: list[np.ndarray], nbytes: int):
        self.arrays = arrays
        self.words = nbytes // _WORD.itemsize
        first = 2 * len(arrays)
        self.shape_at = list(first + np.cumsum([0] + [a.ndim for a in arrays[:-1]]))
        if self.words != first + sum(a.ndim for a in arrays):
            raise RuntimeError("nutpie's user_data is not laid out as bayescale expects "
                               "(addresses, sizes, shapes): check the nutpie version")

    def read(self, i: int) -> str:
        """Return the source that reads array ``i`` from the words ``words``."""
        array = self.arrays[i]
        shape = "".join(f"words[{self.shape_at[i] + axis}], " for axis in range(array.ndim))
        return (f"numba.carray(_as_pointer(words[{i}]), ({shape}), "
                f"np.{array.dtype.name})")


def _callback(kind: str, function, arrays: list[int], layout: _Layout, n_dim: int,
              n_expanded: int):
    """Return the C callback ``kind`` ("logp" or "expand") around PyTensor's ``function``."""
    from pytensor import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    pointer = types.CPointer(types.double)
    read = "\n".join(f"    a{i} = {layout.read(i)}" for i in arrays)
    call = ", ".join(["x", *(f"a{i}" for i in arrays)])
    if kind == "logp":
        signature = types.int64(types.uint64, pointer, pointer, pointer, types.voidptr)
        source = f"""\
def logp(dim, x_, gradient_, value_, user_data_):
    if dim != {n_dim}:
        return -1
    x = numba.carray(x_, ({n_dim},))
    words = numba.carray(user_data_, ({layout.words},), np.uint64)
{read}
    value, gradient = function({call})
    numba.carray(value_, ())[()] = value
    numba.carray(gradient_, ({n_dim},))[:] = gradient
    if not np.all(np.isfinite(gradient)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0
"""
    else:
        signature = types.int64(types.uint64, types.uint64, pointer, pointer, types.voidptr)
        source = f"""\
def expand(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim} or expanded != {n_expanded}:
        return -1
    x = numba.carray(x_, ({n_dim},))
    words = numba.carray(user_data_, ({layout.words},), np.uint64)
{read}
    (values,) = function({call})
    numba.carray(out_, ({n_expanded},))[:] = values
    return 0
"""
    inner = CACHED_SRC_FUNCTIONS.get(function.py_func)
    cache = bool(config.numba__cache) and inner is not None
    key = hashlib.sha256("|".join([inner or "", source, version("nutpie")]).encode()).hexdigest()
    python = compile_numba_function_src(
        source, kind, global_env={"__name__": __name__, "numba": numba, "np": np,
                                  "_as_pointer": _as_pointer, "function": function},
        cache_key=f"bayescale_nutpie_{kind}_{key}" if cache else None)
    if inner is None:
        log.info("bayescale: PyTensor cannot cache this model's %s function; its nutpie "
                 "callback is compiled in this process only", kind)
    return numba.cfunc(signature, cache=cache)(python)


@intrinsic
def _as_pointer(typingctx, address):
    """Return the memory ``address`` (an integer) as a void pointer, in numba code."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(address), codegen
