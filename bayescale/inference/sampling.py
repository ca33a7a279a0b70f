"""Run a sampler on a PyMC model, and judge whether it converged.

One checked string picks the sampler. ``"nutpie"`` (the default) is the fastest measured on the
Epoch runs with the same posterior (see docs/performance/samplers.md); ``"pymc"`` is PyMC's own
NUTS, with a dense mass matrix adapted during tuning; ``"numpyro"`` and ``"blackjax"`` run NUTS
in JAX (``pip install 'bayescale[jax]'``) and can sample on a GPU (``device="gpu"``), with the
chains vectorised there.

Compiling the model costs more than sampling it on small data. nutpie samples through C
callbacks around the model's PyTensor functions; bayescale generates them so that numba's disk
cache keeps them, with a record of the model, between processes
(:mod:`bayescale.inference.nutpie_model`): a later process with a model of the same structure
compiles nothing (Epoch's model: 0.7 s to read against 28 s to compile). In a process,
every later fit of the same structure (law, priors, likelihood, pooling, number of sources)
swaps its runs into the compiled model instead of building it again. The JAX samplers take
the runs as arguments (:mod:`bayescale.inference.jax_nuts`), so their compiled programs are
kept and reused the same way, for tables of the same shape; JAX's on-disk compile cache
(:func:`use_jax_compile_cache`) serves later processes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import logging
import os
import sys
import time
import warnings
from collections import Counter, OrderedDict

import numpy as np
import pymc as pm
import xarray as xr

from bayescale.errors import ConvergenceWarning, SamplerError
from bayescale.inference import interrupts
from bayescale.inference.diagnostics import elements, variable_diagnostics
from bayescale.inference.pointwise import derived
from bayescale.inference.settings import (  # noqa: F401 (re-exported)
    DEFAULT_SAMPLER,
    DEVICES,
    INITS,
    JAX_SAMPLERS,
    LAPLACE_SAMPLERS,
    MAX_RHAT,
    MIN_ESS,
    SAMPLERS,
    SamplerSettings,
)

log = logging.getLogger("bayescale")

# JAX's on-disk cache of compiled programs: where (this variable, else the user cache folder;
# "off" turns it off), and how large it may grow before the oldest entries go.
JAX_CACHE_ENV = "BAYESCALE_JAX_CACHE"
JAX_CACHE_MAX_BYTES = 2**30

# nutpie models compiled in this process, by structure key (see sample); oldest dropped first.
_COMPILED: OrderedDict[str, object] = OrderedDict()
MAX_COMPILED = 16


def sample(model: pm.Model, settings: SamplerSettings, progressbar: bool = False,
           structure: str | None = None, log_likelihood: bool = True) -> xr.DataTree:
    """Sample the posterior of ``model``; add its deterministics and pointwise log likelihood.

    Parameters
    ----------
    model : pymc.Model
        The model.
    settings : SamplerSettings
        Sampler name, draws, tuning steps, chains, seed and target acceptance.
    progressbar : bool, default False
        Show a progress bar while sampling.
    structure : str, optional
        A key that is equal for two models exactly when they differ only in the values of their
        ``pm.Data`` (any number of runs). The compiled model is kept under it and reused,
        with the new data, by the next fit with the same key (nutpie, and the JAX samplers for
        a table of the same shape); None compiles afresh.
    log_likelihood : bool, default True
        Store the pointwise log likelihood (for LOO): chains x draws x runs doubles, 3.2 GB at
        100,000 runs and 4 x 1000 draws. False leaves it out.

    Returns
    -------
    xarray.DataTree
        With groups posterior, sample_stats, observed_data, constant_data and (unless left
        out) log_likelihood.

    """
    packages, extra, _ = SAMPLERS[settings.sampler]
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        how = f"pip install 'bayescale[{extra}]'" if extra else f"pip install {' '.join(missing)}"
        raise ImportError(f"'{settings.sampler}' requires package(s): {', '.join(missing)} — "
                          f"{how}")
    interrupts.clear()
    with interrupts.interrupts_as_keyboard_interrupt():
        try:
            if settings.sampler == "nutpie":
                tree, device = _sample_nutpie(model, settings, progressbar, structure), "cpu"
            elif settings.sampler in JAX_SAMPLERS:
                tree, device = _sample_jax(model, settings, progressbar, structure)
            else:
                tree, device = _sample_pymc(model, settings, progressbar)
        except Exception:
            interrupts.raise_if_interrupted()  # e.g. nutpie: "Sampler has no results to take"
            raise
    interrupts.raise_if_interrupted()  # a sampler that caught Ctrl-C returns a partial trace
    drawn = tree["posterior"].sizes.get("draw", 0)
    if drawn != settings.draws:
        raise SamplerError(f"the sampler returned {drawn} draws of the {settings.draws} asked "
                           "for (it stopped early); nothing is kept, run the fit again")
    posterior = tree["posterior"].to_dataset()
    # nutpie returns the free variables only; the other samplers their deterministics too
    missing = any(var.name not in posterior for var in model.deterministics)
    deterministics, pointwise = derived(model, posterior, deterministics=missing,
                                        log_likelihood=log_likelihood)
    if deterministics is not None:
        tree["posterior"] = xr.DataTree(posterior.assign(deterministics.data_vars))
    if pointwise is not None:
        tree["log_likelihood"] = xr.DataTree(pointwise)
    tree.attrs["device"] = device
    return tree


def _sample_pymc(model: pm.Model, settings: SamplerSettings,
                 progressbar: bool) -> tuple[xr.DataTree, str]:
    """Sample with PyMC's NUTS (``pm.sample``); return the tree and device."""
    options = copy.deepcopy(SAMPLERS[settings.sampler][2])  # pm.sample writes into its dicts
    if settings.init == "laplace":
        options |= _laplace_options(model, settings)
    if "step" not in options:  # a given step has its target acceptance already
        options["target_accept"] = settings.target_accept
    if _jax_started():
        # JAX runs threads once its backend has started; forking PyMC's chain processes after
        # that can deadlock (Python warns), so start them fresh instead.
        options["mp_ctx"] = "forkserver"
    with model, warnings.catch_warnings():
        # PyMC flags its dense mass-matrix adaptation as experimental on every call; it is the
        # setting measured to sample these posteriors best (docs/performance/samplers.md), so
        # the flag is not news.
        warnings.filterwarnings("ignore", message="QuadPotentialFullAdapt is an experimental",
                                category=UserWarning)
        tree = pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=min(settings.chains, os.cpu_count() or 1),
            random_seed=settings.seed,
            progressbar=progressbar,
            compute_convergence_checks=False,
            **options,
        )
    return tree, "cpu"


def _sample_jax(model: pm.Model, settings: SamplerSettings, progressbar: bool,
                structure: str | None) -> tuple[xr.DataTree, str]:
    """Sample with a JAX sampler, reusing the compiled sampler of the same structure."""
    from bayescale.inference import jax_nuts
    from bayescale.inference.jax_model import jax_model

    use_jax_compile_cache()
    device = jax_device(settings.device)
    program = jax_model(model, structure)
    with _on(device):
        approximation = (_laplace(model, settings, structure) if settings.init == "laplace"
                         else None)
        tree = jax_nuts.sample(model, program, settings, chain_method(device, settings.chains),
                               progressbar, laplace=approximation)
    return tree, device


def _jax_started() -> bool:
    """Whether JAX has started a backend in this process (importing it starts none)."""
    return bool(getattr(sys.modules.get("jax._src.xla_bridge"), "_backends", None))


def _laplace_options(model: pm.Model, settings: SamplerSettings) -> dict:
    """Return ``pm.sample`` options that start from the Laplace approximation (see INITS)."""
    from pymc.step_methods.hmc.quadpotential import QuadPotentialFull

    approximation = _laplace(model, settings)
    step = pm.NUTS(potential=QuadPotentialFull(approximation.covariance),
                   target_accept=settings.target_accept, model=model)
    return {"step": step, "initvals": approximation.initial_points(settings.chains, settings.seed),
            "init": "adapt_diag"}


def _laplace(model: pm.Model, settings: SamplerSettings, structure: str | None = None):
    """Return the Laplace approximation the chains start from (JAX before a JAX sampler)."""
    from bayescale.inference.laplace import laplace

    approximation = laplace(model, backend="jax" if settings.sampler in JAX_SAMPLERS
                            else "pytensor", structure=structure)
    log.info("bayescale: Laplace approximation in %.1f s (%d gradients); chains start from it "
             "with its covariance as the mass matrix", approximation.seconds,
             approximation.evaluations)
    return approximation


def _sample_nutpie(model: pm.Model, settings: SamplerSettings, progressbar: bool,
                   structure: str | None) -> xr.DataTree:
    """Sample with nutpie, compiling the model only if no model of its structure was compiled."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    from bayescale.inference.nutpie_model import compile_nutpie_model

    compiled = _COMPILED.get(structure) if structure is not None else None
    if compiled is None:
        # nutpie's C callbacks, from numba's disk cache when a process compiled this structure
        # before (see bayescale.inference.nutpie_model). Only the free variables: the
        # deterministics are computed afterwards from this model's data.
        compiled = compile_nutpie_model(model, _initial_point(model), structure)
        if structure is not None:
            _COMPILED[structure] = compiled
            while len(_COMPILED) > MAX_COMPILED:
                _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(structure)
        used = {var.name for var in compiled.shared_var_keys}  # the data the log density reads
        compiled = compiled.with_data(**{var.name: var.get_value() for var in model.data_vars
                                         if var.name in used})
        # ... and start where this model starts (a prior's data can move its support point)
        compiled = dataclasses.replace(compiled, initial_point_func=_flat_initial_point(model))
        log.info("bayescale: reusing the compiled model of the same structure (no compile)")
    cores = min(settings.chains, os.cpu_count() or 1)
    start = time.perf_counter()
    tree = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune,
                         chains=settings.chains, cores=cores, seed=settings.seed,
                         target_accept=settings.target_accept, progress_bar=progressbar,
                         **SAMPLERS["nutpie"][2])
    patch_nutpie_idata(tree, model, sampling_time=time.perf_counter() - start)
    # The compiled model carries the coordinates of the fit it was compiled for.
    for group in ("posterior", "sample_stats"):
        dataset = tree[group].to_dataset()
        names = {dim: list(model.coords[dim]) for dim in dataset.dims if dim in model.coords}
        dataset = dataset.assign_coords(names)
        tree[group] = xr.DataTree(dataset)
    return tree


def _initial_point(model: pm.Model):
    """Return nutpie's default initialisation of ``model``: jittered support points."""
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    return _wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs), return_transformed=True))


def _flat_initial_point(model: pm.Model):
    """Return :func:`_initial_point` as the flat array a compiled nutpie model starts from."""
    from nutpie.compile_pymc import _compute_shapes, _rv_dict_to_flat_array_wrapper

    shapes = _compute_shapes(model)
    names = [model.rvs_to_values[var].name for var in model.free_RVs]
    return _rv_dict_to_flat_array_wrapper(_initial_point(model), names=names,
                                          shapes=[shapes[name] for name in names])


def use_jax_compile_cache() -> str | None:
    """Keep JAX's compiled programs on disk, so that a later fit of the same model skips compiling.

    It serves a later process: a JAX sampler's program, whose runs are arguments, for any runs
    of the same structure and table shape (docs/performance/speed.md).
    A folder set through JAX's own ``JAX_COMPILATION_CACHE_DIR`` is left as it is; else the
    cache is ``$BAYESCALE_JAX_CACHE`` or ``jax`` in the user cache folder, at most
    :data:`JAX_CACHE_MAX_BYTES` (oldest entries removed first), and keeps every program
    however fast it compiled (JAX's default keeps those of a second or more);
    ``BAYESCALE_JAX_CACHE=off`` turns it off.

    Returns
    -------
    str or None
        The cache folder in use, or None when it is off.

    """
    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    setting = os.environ.get(JAX_CACHE_ENV, "")
    if setting.lower() == "off":
        return None
    import pooch

    folder = setting or os.path.join(pooch.os_cache("bayescale"), "jax")
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_compilation_cache_max_size", JAX_CACHE_MAX_BYTES)
    # every program, not only those that took JAX over a second to compile: a fit's dozen
    # small ones cost 0.8 s again in each process
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder


def clear_compiled() -> None:
    """Forget the compiled models kept for reuse (the next fit of each structure compiles)."""
    from bayescale.inference import jax_model

    _COMPILED.clear()
    jax_model.clear()


def jax_device(requested: str = "auto") -> str:
    """Return where JAX will sample: ``"gpu"`` if asked (or ``"auto"``) and one is visible.

    Parameters
    ----------
    requested : {"auto", "cpu", "gpu"}
        ``"gpu"`` with no GPU visible to JAX falls back to the CPU and says so.

    Returns
    -------
    str
        ``"gpu"`` or ``"cpu"``.

    """
    import jax
    import pymc.sampling.jax  # noqa: F401  (sets one JAX host device per chain, before JAX starts)

    if requested == "cpu":
        return "cpu"
    try:
        has_gpu = bool(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jax installation, or no device
        has_gpu = False
    if requested == "gpu" and not has_gpu:
        log.warning("bayescale: device='gpu' asked for, but JAX sees no GPU (its devices: %s); "
                    "sampling on the CPU instead. For GPU sampling install JAX with CUDA "
                    "support (pip install 'jax[cuda12]') on a machine with an NVIDIA GPU",
                    ", ".join(f"{kind} ({count})" for kind, count in
                              Counter(device.platform for device in jax.devices()).items()))
    return "gpu" if has_gpu else "cpu"


def chain_method(device: str, chains: int) -> str:
    """Return how JAX runs the chains: vectorised on a GPU, else one host device per chain.

    On the CPU, chains beyond JAX's host devices (PyMC asks for 100) are vectorised instead.
    """
    import jax

    if device == "gpu" or chains > jax.local_device_count("cpu"):
        return "vectorized"
    return "parallel"


@contextlib.contextmanager
def _on(device: str):
    """Make JAX's default device the chosen one while a JAX sampler runs."""
    import jax

    with jax.default_device(jax.devices(device)[0]):
        yield


def convergence_report(tree: xr.DataTree, diagnostics: xr.Dataset | None = None) -> dict:
    """Measure R-hat, bulk and tail ESS and divergences, and list what falls short.

    Parameters
    ----------
    tree : xarray.DataTree
        A sampled fit's tree.
    diagnostics : xarray.Dataset, optional
        Its posterior's :func:`~bayescale.inference.diagnostics.variable_diagnostics`, when
        already computed.

    Returns
    -------
    dict
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail`` (each with the variable that attains
        it), ``divergences``, ``problems`` (readable strings) and ``converged`` (bool).

    """
    posterior = tree["posterior"].to_dataset()
    # Parameters a model holds fixed (ModelSpec.fixed) are constant: nothing to diagnose.
    varying = [name for name, value in posterior.data_vars.items()
               if np.ptp(value.values) > 0 or not np.isfinite(value.values).all()]
    if diagnostics is None:
        diagnostics = variable_diagnostics(posterior[varying])
    diagnostics = diagnostics[varying]
    rhat = _extreme(diagnostics.sel(diagnostic="r_hat", drop=True), np.nanargmax)
    bulk = _extreme(diagnostics.sel(diagnostic="ess_bulk", drop=True), np.nanargmin)
    tail = _extreme(diagnostics.sel(diagnostic="ess_tail", drop=True), np.nanargmin)
    divergences = int(tree["sample_stats"]["diverging"].sum())
    problems = []
    if posterior.sizes["chain"] < 2:
        problems.append("R-hat needs two chains or more; this fit has one (chains=4 is usual)")
    elif not rhat[0] <= MAX_RHAT:
        problems.append(f"R-hat {rhat[0]:.3f} for {rhat[1]} (> {MAX_RHAT})")
    if not bulk[0] >= MIN_ESS:
        problems.append(f"bulk ESS {bulk[0]:.0f} for {bulk[1]} (< {MIN_ESS})")
    if not tail[0] >= MIN_ESS:
        problems.append(f"tail ESS {tail[0]:.0f} for {tail[1]} (< {MIN_ESS})")
    if divergences:
        problems.append(f"{divergences} divergent transition{'' if divergences == 1 else 's'}")
    return {
        "max_rhat": rhat[0], "max_rhat_variable": rhat[1],
        "min_ess_bulk": bulk[0], "min_ess_bulk_variable": bulk[1],
        "min_ess_tail": tail[0], "min_ess_tail_variable": tail[1],
        "divergences": divergences,
        "problems": problems,
        "converged": not problems,
    }


# From this many sources on, a fit that mixes badly is advised to start from the Laplace
# approximation (measured: 10k runs in 100 sources, docs/performance/speed.md).
MANY_SOURCES = 10


def warn_if_unconverged(report: dict, n_sources: int = 1, init: str = "adapt",
                        draws: int = 1000) -> None:
    """Issue a :class:`ConvergenceWarning` saying what fell short and what to try.

    Parameters
    ----------
    report : dict
        From :func:`convergence_report`.
    n_sources : int, default 1
        Sources in the fit; with many, a Laplace start is advised too.
    init : str, default "adapt"
        How the chains started.
    draws : int, default 1000
        Draws per chain of the fit; twice as many are advised.

    """
    if report["converged"]:
        return
    advice = []
    if report["divergences"]:
        advice.append("raise target_accept (e.g. 0.95) or tighten the priors")
    if report["max_rhat"] > MAX_RHAT or report["min_ess_bulk"] < MIN_ESS \
            or report["min_ess_tail"] < MIN_ESS:
        advice.append(f"run more draws and tuning steps (e.g. draws={2 * draws}, "
                      f"tune={2 * draws})")
        if n_sources >= MANY_SOURCES and init == "adapt":
            advice.append(f"with {n_sources} sources, start from the Laplace approximation "
                          "(sampler='numpyro' or 'pymc', init='laplace')")
    warnings.warn(
        "bayescale: the sampler did NOT converge: " + "; ".join(report["problems"])
        + ". Try to " + ", or ".join(advice)
        + ". Until then the posterior (and every query on it) is not to be trusted; this is "
        "recorded on the fit (fit.diagnostics).",
        ConvergenceWarning,
        stacklevel=3,
    )


def _extreme(stat: xr.Dataset, pick) -> tuple[float, str]:
    """Return the most extreme value (``pick`` is np.nanargmax or np.nanargmin) and its name."""
    names, values = [], []
    for name, array in stat.data_vars.items():
        for label, where in elements(name, array):
            names.append(label)
            values.append(float(array.isel(where)))
    if not values or np.all(np.isnan(values)):
        return float("nan"), ""
    position = int(pick(values))
    return values[position], names[position]
