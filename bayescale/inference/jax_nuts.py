"""NUTS in numpyro or blackjax on a :class:`~bayescale.inference.jax_model.JaxModel`, compiled once.

The chains run in one JAX program: initialisation, tuning and draws, vectorised over the chains
or one chain per host device, built on numpyro's functional NUTS (``numpyro.infer.hmc.hmc``) or
on blackjax's window adaptation and NUTS kernel. The runs are an argument of that program, so
it is kept with the model's JAX functions and a later fit of the same structure and sampler
settings, with other runs in a table of the same shape, samples without compiling (a sweep,
SBC). (PyMC's JAX samplers, and numpyro's ``MCMC.run``, build the runs into a new program on
each fit.) numpyro, from the Laplace approximation, samples the whitened parameters z, with
x = mode + L z and L the Cholesky factor of the Laplace covariance, with a unit mass matrix:
NUTS is invariant to that affine change, so this is NUTS with the Laplace covariance as its
dense mass matrix, and the mode and L are arguments too, not constants.
"""

from __future__ import annotations

import importlib
import time

import numpy as np
import pymc as pm
import xarray as xr

from bayescale.errors import SamplerError
from bayescale.inference.jax_model import JaxModel

# The per-step statistics kept, under PyMC's names (lp is the log density).
STATISTICS = ("n_steps", "energy", "step_size", "acceptance_rate", "diverging", "lp")
# Tries at a jittered start with a finite log density (PyMC's default too).
JITTER_TRIES = 10
# The progress bar advances once per this many steps of each chain (see _Progress.report).
PROGRESS_EVERY = 50


def sample(model: pm.Model, program: JaxModel, settings, chain_method: str,
           progressbar: bool = False, laplace=None) -> xr.DataTree:
    """Sample ``model``'s posterior with numpyro's or blackjax's NUTS (``settings.sampler``).

    Parameters
    ----------
    model : pymc.Model
        The model; its data are passed to the compiled sampler.
    program : JaxModel
        The model's JAX functions (:func:`bayescale.inference.jax_model.jax_model`).
    settings : bayescale.inference.settings.SamplerSettings
        Sampler, draws, tuning steps, chains, seed and target acceptance.
    chain_method : {"parallel", "vectorized"}
        One chain per JAX host device, or the chains vectorised (see
        :func:`bayescale.inference.sampling.chain_method`).
    progressbar : bool, default False
        Show a progress bar over all chains' steps (blackjax: draws only).
    laplace : bayescale.inference.laplace.Laplace, optional
        numpyro only: start from it, its covariance as the mass matrix; else a diagonal mass
        matrix is adapted from jittered starts (as PyMC's ``init="jitter+adapt_diag"``).

    Returns
    -------
    xarray.DataTree
        Groups posterior, sample_stats, observed_data and constant_data.

    """
    import jax

    data = program.data(model)
    rng = np.random.default_rng(settings.seed)
    if laplace is None:
        shift, factor = (), ()
        start = _jittered_starts(program, data, settings.chains, rng)
    else:
        shift, factor = laplace.mode, np.linalg.cholesky(laplace.covariance)
        start = rng.standard_normal((settings.chains, program.initial_point.size))
    run = _compiled(program, settings, chain_method, progressbar, laplace is not None)
    keys = jax.random.split(jax.random.PRNGKey(settings.seed), settings.chains)
    began = time.perf_counter()
    with _Progress(settings, progressbar):
        z, *statistics = jax.block_until_ready(run(keys, start, shift, factor, data))
    seconds = time.perf_counter() - began
    z = np.asarray(z)
    flat = z if laplace is None else shift + z @ factor.T
    values = program.posterior(flat.reshape(-1, flat.shape[-1]), data)
    chains_draws = z.shape[:2]
    posterior = {name: np.asarray(value).reshape(*chains_draws, *value.shape[1:])
                 for name, value in zip(program.output_names, values, strict=True)}
    statistics = dict(zip(STATISTICS, map(np.asarray, statistics), strict=True))
    statistics["tree_depth"] = np.log2(statistics["n_steps"]).astype(int) + 1
    return _tree(model, posterior, statistics, seconds, settings.tune, settings.sampler)


def _compiled(program: JaxModel, settings, chain_method: str, progressbar: bool,
              whitened: bool):
    """Return the chains' program for these settings, kept on ``program`` to reuse its compile.

    It maps (chain keys, starts, shift, factor, data) to the draws of z and their statistics.
    """
    import jax

    key = (settings.sampler, whitened, settings.draws, settings.tune, settings.chains,
           settings.target_accept, chain_method, progressbar)
    if key not in program.samplers:
        if settings.sampler == "numpyro":
            chain = _numpyro_chain(program, settings, progressbar, whitened)
        else:  # blackjax adapts its own mass matrix; it takes no Laplace start (SamplerSettings)
            chain = _blackjax_chain(program, settings, progressbar)
        batched = (0, 0, None, None, None)  # one key and start per chain; shared data
        program.samplers[key] = (jax.pmap(chain, in_axes=batched) if chain_method == "parallel"
                                 else jax.jit(jax.vmap(chain, in_axes=batched)))
    return program.samplers[key]


def _numpyro_chain(program: JaxModel, settings, progressbar: bool, whitened: bool):
    """Return one chain's run with numpyro's NUTS (diagonal mass matrix, or whitened)."""
    import jax
    from numpyro.infer.hmc import hmc

    def potential(shift, factor, data):
        if whitened:
            return lambda z: -program.logp(shift + factor @ z, data)
        return lambda z: -program.logp(z, data)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential, algo="NUTS")

    def chain(rng_key, start, shift, factor, data):
        arguments = (shift, factor, data)
        state = init_kernel(start, settings.tune, target_accept_prob=settings.target_accept,
                            adapt_mass_matrix=not whitened, model_args=arguments,
                            rng_key=rng_key)

        def step(state, _):
            state = sample_kernel(state, model_args=arguments)
            if progressbar:
                _Progress.report(state.i)
            return state, (state.z, state.num_steps, state.energy, state.adapt_state.step_size,
                           state.accept_prob, state.diverging, -state.potential_energy)

        state, _ = jax.lax.scan(lambda state, _: (step(state, _)[0], None), state,
                                length=settings.tune)
        return jax.lax.scan(step, state, length=settings.draws)[1]

    return chain


def _blackjax_chain(program: JaxModel, settings, progressbar: bool):
    """Return one chain's run with blackjax: window adaptation (diagonal), then NUTS."""
    import blackjax
    import jax
    import jax.numpy as jnp
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    def chain(rng_key, start, shift, factor, data):
        def logdensity(x):
            return program.logp(x, data)

        tuning_key, draws_key = jax.random.split(rng_key)
        adaptation = blackjax.window_adaptation(
            blackjax.nuts, logdensity, target_acceptance_rate=settings.target_accept,
            adaptation_info_fn=get_filter_adapt_info_fn())
        (state, parameters), _ = adaptation.run(tuning_key, start, num_steps=settings.tune)
        kernel = blackjax.nuts(logdensity, **parameters).step

        def step(state, key_and_index):
            key, index = key_and_index
            state, info = kernel(key, state)
            if progressbar:
                _Progress.report(index + 1)
            return state, (state.position, info.num_integration_steps, info.energy,
                           jnp.asarray(parameters["step_size"]), info.acceptance_rate,
                           info.is_divergent, state.logdensity)

        return jax.lax.scan(step, state, (jax.random.split(draws_key, settings.draws),
                                          jnp.arange(settings.draws)))[1]

    return chain


class _Progress:
    """A progress bar over every chain's steps, advanced from inside the compiled program."""

    bar = None

    def __init__(self, settings, shown: bool) -> None:
        counted = settings.draws + (settings.tune if settings.sampler == "numpyro" else 0)
        self.total = counted * settings.chains
        self.shown = shown
        self.description = (f"NUTS ({settings.sampler}), all chains' "
                            + ("steps" if settings.sampler == "numpyro" else "draws"))

    def __enter__(self):
        if self.shown:
            from tqdm.auto import tqdm

            _Progress.bar = tqdm(total=self.total, desc=self.description)
        return self

    def __exit__(self, *exception) -> None:
        if _Progress.bar is not None:
            if exception[0] is None:  # steps after the last multiple of PROGRESS_EVERY
                _Progress.bar.update(max(0, self.total - _Progress.bar.n))
            _Progress.bar.close()
            _Progress.bar = None

    @staticmethod
    def report(count) -> None:
        """From inside the compiled program: advance the bar every :data:`PROGRESS_EVERY` steps.

        ``count`` is the chain's steps so far. A callback per step costs a round trip to
        Python each time (a whole-process fit of Epoch's runs took 24.2 s with one per step,
        21.8 s with one per ``PROGRESS_EVERY`` steps: docs/performance/cli.md).
        """
        import jax

        jax.lax.cond(count % PROGRESS_EVERY == 0,
                     lambda: jax.debug.callback(_Progress.advance, count), lambda: None)

    @staticmethod
    def advance(count) -> None:
        """Count :data:`PROGRESS_EVERY` steps of each chain in ``count`` (one or a batch)."""
        if _Progress.bar is not None:
            _Progress.bar.update(PROGRESS_EVERY * np.size(count))


def _jittered_starts(program: JaxModel, data, chains: int, rng) -> np.ndarray:
    """Return one start per chain: the initial point moved by U(-1, 1), at a finite density."""
    starts = []
    for _ in range(chains):
        for _ in range(JITTER_TRIES):
            point = program.initial_point + rng.uniform(-1, 1, program.initial_point.size)
            logp, gradient = program.value_and_grad(point, data)
            if np.isfinite(float(logp)) and np.all(np.isfinite(np.asarray(gradient))):
                break
        else:
            raise SamplerError(f"no finite log density at {JITTER_TRIES} jittered starts "
                               "around the initial point: check the priors")
        starts.append(point)
    return np.array(starts)


def _tree(model: pm.Model, posterior: dict, statistics: dict, seconds: float, tune: int,
          sampler: str) -> xr.DataTree:
    """Return the draws as PyMC's JAX samplers would: an ArviZ DataTree with the model's data."""
    from arviz_base import from_dict
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )

    coords, dims = coords_and_dims_for_inferencedata(model)
    groups = {"posterior": posterior, "sample_stats": statistics,
              "observed_data": find_observations(model), "constant_data": find_constants(model)}
    library = importlib.import_module(sampler)
    attrs = {"sampling_time": seconds, "tuning_steps": tune, "inference_library": sampler,
             "inference_library_version": library.__version__}
    return from_dict(data={name: group for name, group in groups.items() if group},
                     coords=coords, dims=dims, sample_dims=["chain", "draw"],
                     attrs={"posterior": attrs})
