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
second. Beside them a small record (JSON), keyed by the model's structure, the libraries'
versions and bayescale's model code, holds what else nutpie needs (sizes, names, which data
each callback reads), so that process skips PyTensor's compile of the model too. The draws are
those of nutpie's own compile, bit for bit.

PyTensor's setting ``numba__cache`` (``PYTENSOR_FLAGS=numba__cache=False``) turns the disk
cache off for these callbacks too. This uses nutpie's helpers for its numba backend
(``_make_functions``, ``make_user_data``, ``CompiledPyMCModel``; nutpie 0.16) and PyTensor's
numba cache (``pytensor.link.numba.cache``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numba
import numpy as np
import pymc as pm
from numba.core import cgutils, types
from numba.extending import intrinsic

log = logging.getLogger("bayescale")

# The layout of nutpie's user_data, a record of 8-byte words (nutpie.compile_pymc.make_user_data):
# each array's address, then each array's size, then each array's shape (one word per axis).
_WORD = np.dtype(np.uint64)


def compile_nutpie_model(model: pm.Model, initial_point, structure: str | None = None):
    """Return nutpie's compiled model of ``model``, its callbacks from the disk cache if kept.

    Parameters
    ----------
    model : pymc.Model
        The model. Its free variables are sampled; deterministics are left to the caller
        (nutpie bakes data that only deterministics read into its compiled model).
    initial_point : callable
        PyMC's initial-point function nutpie starts the chains from (seed -> dict).
    structure : str, optional
        The key of the model's structure (:func:`bayescale.inference.model.model_structure`).
        With it, a later process skips PyTensor's compile of the model's functions too: what
        nutpie needs besides the callbacks (sizes, names, which data each callback reads) is
        kept in a small record beside them, keyed by the structure, the versions of the
        libraries and bayescale's model code.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        What :func:`nutpie.sample` takes; ``with_data`` swaps in other runs of the same
        structure.

    """
    record_file = _record_file(structure)
    if record_file is not None and record_file.exists():
        compiled = _from_record(model, initial_point, record_file)
        if compiled is not None:
            log.info("bayescale: nutpie's compiled model of this structure read from the disk "
                     "cache (%s)", record_file.name)
            return compiled
    log.info("bayescale: compiling the model with numba (up to about 40 s on 2 cores); %s",
             "later fits of this structure, in any process, reuse it" if record_file is not None
             else "the disk cache is off, so no later process reuses it")
    started = time.perf_counter()
    compiled, record = _compile(model, initial_point)
    log.info("bayescale: compiled in %.1f s", time.perf_counter() - started)
    if record_file is not None and record is not None:
        staged = record_file.with_suffix(f".{os.getpid()}.tmp")
        staged.write_text(json.dumps(record))
        os.replace(staged, record_file)  # whole or not at all, whatever runs beside it
    return compiled


def _compile(model: pm.Model, initial_point):
    """Compile ``model``'s functions with PyTensor; return nutpie's model and its record.

    The record is None when a callback cannot be kept on disk.
    """
    from nutpie.compile_pymc import _make_functions

    n_dim, n_expanded, logp, expand, start, shape_info, renamed = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=initial_point, var_names=[var.name for var in model.free_RVs])
    shared = list(dict.fromkeys([*logp.get_shared(), *expand.get_shared()]))
    functions = {"logp": logp, "expand": expand}
    reads = {kind: [shared.index(var) for var in function.get_shared()]
             for kind, function in functions.items()}
    names, slices, shapes = shape_info
    record = {"n_dim": int(n_dim), "n_expanded": int(n_expanded), "names": list(names),
              "slices": [[int(item.start), int(item.stop)] for item in slices],
              "shapes": [[int(n) for n in shape] for shape in shapes], "renamed": renamed,
              "data": [var.name for var in shared], "reads": reads, "keys": {},
              # the sampler's start: the free variables' values (transformed), flattened
              "start_shapes": [[int(n) for n in np.shape(initial_point(0)[name])]
                               for name in _value_names(model)]}
    compiled, keys = _nutpie_model(model, record, [var.get_value() for var in shared],
                                   start, {kind: f.vm.jit_fn for kind, f in functions.items()})
    named = all(model.named_vars.get(var.name) is var for var in shared)
    return compiled, (record | {"keys": keys}) if named and all(keys.values()) else None


def _from_record(model: pm.Model, initial_point, record_file):
    """Return nutpie's model from the callbacks a record names, or None if that fails."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper

    try:
        record = json.loads(record_file.read_text())
        values = [model.named_vars[name].get_value() for name in record["data"]]
        start = _rv_dict_to_flat_array_wrapper(
            initial_point, names=_value_names(model),
            shapes=[tuple(shape) for shape in record["start_shapes"]])
        compiled, _ = _nutpie_model(model, record, values, start, None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            numba.core.errors.NumbaError) as error:
        log.info("bayescale: the disk cache's record %s does not serve this model (%s); "
                 "compiling", record_file.name, error)
        return None
    return compiled


def _nutpie_model(model: pm.Model, record: dict, values: list, start, functions):
    """Return nutpie's compiled model and its callbacks' cache keys (None: not cacheable).

    ``functions``: PyTensor's numba functions by kind ("logp", "expand"); None to load the
    callbacks from the disk cache under the record's keys (numba then has nothing to compile
    them from, and fails if they are not there).
    """
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        make_user_data,
    )

    # Keys by position, the same in every process (nutpie's are random), so the callbacks'
    # source, and with it their cache entry, depends only on the model's structure.
    keys = {_Data(name, np.ndim(value)): f"data{i}"
            for i, (name, value) in enumerate(zip(record["data"], values, strict=True))}
    data = {f"data{i}": np.array(value, order="C", copy=True) for i, value in enumerate(values)}
    for value in data.values():
        value.flags.writeable = False
    user_data = make_user_data(keys, data)
    layout = _Layout(list(data.values()), user_data.dtype.itemsize)
    callbacks, cache_keys = {}, {}
    for kind in ("logp", "expand"):
        function = None if functions is None else functions[kind]
        callbacks[kind], cache_keys[kind] = _callback(
            kind, function, record["reads"][kind], layout, record["n_dim"],
            record["n_expanded"], None if functions is not None else record["keys"][kind])
    shape_info = (record["names"], [slice(*item) for item in record["slices"]],
                  [tuple(shape) for shape in record["shapes"]])
    dims, coords = _prepare_dims_and_coords(model, shape_info, record["renamed"])
    compiled = CompiledPyMCModel(
        _n_dim=record["n_dim"], dims=dims, _coords=coords,
        _shapes={name: shape for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=callbacks["logp"], compiled_expand_func=callbacks["expand"],
        initial_point_func=start, shared_data=data, shared_var_keys=keys, user_data=user_data,
        n_expanded=record["n_expanded"], shape_info=shape_info, logp_func=None,
        expand_func=None, reparameterized_names=record["renamed"])
    return compiled, cache_keys


def _value_names(model: pm.Model) -> list[str]:
    return [model.rvs_to_values[var].name for var in model.free_RVs]


@dataclass(frozen=True)
class _Data:
    """A model's data as nutpie's compiled model names it (``with_data`` matches ``name``)."""

    name: str
    ndim: int = 0


def _record_file(structure: str | None) -> Path | None:
    """Return the record of ``structure``'s compiled model in the disk cache (None: no cache)."""
    from pytensor import config
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    if structure is None or not config.numba__cache:
        return None
    from bayescale import __version__

    key = "|".join([structure, __version__, _code_digest(), str(config.floatX),
                    str(config.numba__fastmath), platform.python_version(),
                    *(f"{name} {version(name)}" for name in LIBRARIES)])
    return NUMBA_CACHE_PATH / f"bayescale_nutpie_{hashlib.sha256(key.encode()).hexdigest()}.json"


# What the compiled model depends on besides its structure: these libraries' versions and the
# source of bayescale's model code (which a change of bayescale's version may not follow).
LIBRARIES = ("pymc", "pytensor", "numba", "nutpie", "numpy")
MODEL_CODE = ("inference/model.py", "inference/nutpie_model.py", "spec")


@cache
def _code_digest() -> str:
    package = Path(__file__).parents[1]
    files = sorted(path for item in MODEL_CODE for path in
                   ([package / item] if item.endswith(".py") else (package / item).rglob("*.py")))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


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


def _callback(kind: str, function, reads: list[int], layout: _Layout, n_dim: int,
              n_expanded: int, stored_key: str | None = None):
    """Return the C callback ``kind`` ("logp" or "expand") and its cache key (None: uncached).

    ``function``: PyTensor's numba function it wraps; None to load the callback kept under
    ``stored_key`` instead (numba then fails if it is not in the cache).
    """
    from pytensor import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    pointer = types.CPointer(types.double)
    read = "\n".join(f"    a{i} = {layout.read(i)}" for i in reads)
    call = ", ".join(["x", *(f"a{i}" for i in reads)])
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
    if function is None:
        key = stored_key
    else:
        inner = CACHED_SRC_FUNCTIONS.get(function.py_func)
        key = None if inner is None else hashlib.sha256(
            "|".join([inner, source, version("nutpie")]).encode()).hexdigest()
        if key is None and config.numba__cache:
            log.info("bayescale: PyTensor cannot cache this model's %s function; its nutpie "
                     "callback is compiled in this process only", kind)
    on_disk = bool(config.numba__cache) and key is not None
    python = compile_numba_function_src(
        source, kind, global_env={"__name__": __name__, "numba": numba, "np": np,
                                  "_as_pointer": _as_pointer, "function": function},
        cache_key=f"bayescale_nutpie_{kind}_{key}" if on_disk else None)
    return numba.cfunc(signature, cache=on_disk)(python), key if on_disk else None


@intrinsic
def _as_pointer(typingctx, address):
    """Return the memory ``address`` (an integer) as a void pointer, in numba code."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(address), codegen
