"""A model's deterministics and pointwise log likelihood over posterior draws, in one pass.

PyMC's :func:`pymc.compute_deterministics` and :func:`pymc.compute_log_likelihood` each compile
a function of one draw with the default backend (numba: 1 s and 2 s for Epoch's model the first
time a structure is seen) and call it once per draw from Python. Here the model's graph is
vectorised over the draws (PyTensor's :func:`~pytensor.graph.replace.vectorize_graph`) and
evaluated by PyTensor's Python linker, NumPy over whole arrays, which compiles nothing: 0.25 s
for Epoch's 4000 draws and 240 runs, with or without compile caches (1.1 s for 1000 draws of
20,000 runs, as long as PyMC's log likelihood alone with its compile cached). The draws are
taken in chunks, so that no intermediate array holds more than about :data:`CHUNK_VALUES`
values.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pymc.backends.arviz import coords_and_dims_for_inferencedata
from pymc.model.transform.conditioning import remove_value_transforms
from pytensor.compile.mode import Mode
from pytensor.graph.replace import vectorize_graph

# Values per intermediate array in one chunk of draws (16 MB of doubles).
CHUNK_VALUES = 2_000_000
SAMPLE_DIMS = ("chain", "draw")


def derived(model: pm.Model, posterior: xr.Dataset, deterministics: bool = True,
            log_likelihood: bool = True) -> tuple[xr.Dataset | None, xr.Dataset | None]:
    """Return ``model``'s deterministics and pointwise log likelihood at every posterior draw.

    Parameters
    ----------
    model : pymc.Model
        The model the draws are of.
    posterior : xarray.Dataset
        The draws of the model's free variables (untransformed), dims ``chain`` and ``draw``
        first.
    deterministics : bool, default True
        Compute the model's deterministics (None in their place otherwise).
    log_likelihood : bool, default True
        Compute the log density of each observed value (None in its place otherwise).

    Returns
    -------
    deterministics : xarray.Dataset or None
        One variable per deterministic, as :func:`pymc.compute_deterministics` names them.
    log_likelihood : xarray.Dataset or None
        One variable per observed variable, as :func:`pymc.compute_log_likelihood` gives them.

    """
    plain = remove_value_transforms(model)  # the draws are of the untransformed variables
    values = [plain.rvs_to_values[rv] for rv in plain.free_RVs]
    groups = {"deterministics": list(plain.deterministics) if deterministics else [],
              "log_likelihood": list(plain.observed_RVs) if log_likelihood else []}
    outputs = plain.replace_rvs_by_values(groups["deterministics"])
    if groups["log_likelihood"]:
        outputs += plain.logp(vars=groups["log_likelihood"], sum=False)
    if not outputs:
        return None, None
    batched = [pt.tensor(name=value.name, dtype=value.dtype, shape=(None, *value.type.shape))
               for value in values]
    vectorized = vectorize_graph(outputs, replace=dict(zip(values, batched, strict=True)))
    # An output that reads no draws (a parameter held fixed) gets the draws' axis too.
    vectorized = [out if out.ndim > single.ndim else
                  pt.broadcast_to(out, (batched[0].shape[0], *out.shape))
                  for out, single in zip(vectorized, outputs, strict=True)]
    function = pytensor.function(batched, vectorized, on_unused_input="ignore",
                                 mode=Mode(linker="py", optimizer="fast_compile"))

    shape = tuple(posterior.sizes[dim] for dim in SAMPLE_DIMS)
    n_draws = int(np.prod(shape))
    inputs = [posterior[rv.name].to_numpy().reshape(n_draws, *posterior[rv.name].shape[2:])
              .astype(value.dtype, copy=False)
              for rv, value in zip(plain.free_RVs, values, strict=True)]
    step = max(1, CHUNK_VALUES // max([_size(model, rv) for rv in model.observed_RVs] + [1]))
    chunks = [function(*(array[start:start + step] for array in inputs))
              for start in range(0, n_draws, step)]
    results = {var.name: np.concatenate(parts).reshape(*shape, *parts[0].shape[1:])
               for var, parts in zip([*groups["deterministics"], *groups["log_likelihood"]],
                                     zip(*chunks, strict=True), strict=True)}
    coords, dims = coords_and_dims_for_inferencedata(model)
    return tuple(_dataset({var.name: results[var.name] for var in group}, dims, coords,
                          posterior) if group else None for group in groups.values())


def _size(model: pm.Model, observed) -> int:
    """Return how many values the observed variable ``observed`` has."""
    data = model.rvs_to_values[observed]
    return int(np.size(data.get_value() if hasattr(data, "get_value") else data.data))


def _dataset(arrays: dict, dims: dict, coords: dict, posterior: xr.Dataset) -> xr.Dataset:
    """Return ``arrays`` (chain x draw x the variable's dims) as a Dataset with coordinates."""
    variables = {name: ((*SAMPLE_DIMS, *dims.get(name, [])), array)
                 for name, array in arrays.items()}
    used = {dim for dimensions, _ in variables.values() for dim in dimensions}
    return xr.Dataset(variables, coords={dim: posterior[dim].to_numpy() for dim in SAMPLE_DIMS}
                      | {dim: values for dim, values in coords.items() if dim in used})
