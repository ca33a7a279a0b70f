"""Sampler settings: which sampler, how many draws, where; and the convergence thresholds.

Light on purpose (no PyMC import), so that reading a fit does not load the samplers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bayescale.errors import SamplerError

SAMPLERS = {
    # name: (packages it needs, pip extra that installs them, settings passed to pm.sample,
    # or for nutpie to nutpie.sample; the JAX samplers run in bayescale.inference.jax_nuts)
    "nutpie": (("nutpie",), None, {"adaptation": "low_rank"}),
    "pymc": ((), None, {"nuts_sampler": "pymc", "init": "jitter+adapt_full"}),
    "numpyro": (("jax", "numpyro"), "jax", {}),
    "blackjax": (("jax", "blackjax"), "jax", {}),
}
JAX_SAMPLERS = ("numpyro", "blackjax")
DEFAULT_SAMPLER = "nutpie"
DEVICES = ("auto", "cpu", "gpu")
# How chains start: "adapt", the sampler's own initialisation and mass-matrix adaptation; or
# "laplace", from the Laplace approximation with its covariance as a fixed dense mass matrix
# (bayescale.inference.laplace), for the samplers that take one.
INITS = ("adapt", "laplace")
LAPLACE_SAMPLERS = ("pymc", "numpyro")

MAX_RHAT = 1.01
MIN_ESS = 400


@dataclass(frozen=True)
class SamplerSettings:
    """How a fit was sampled; stored with the fit for reproducibility."""

    sampler: str = DEFAULT_SAMPLER
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 0
    target_accept: float = 0.9
    device: str = "auto"
    init: str = "adapt"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise SamplerError(f"unknown sampler '{self.sampler}': choose one of "
                               f"{sorted(SAMPLERS)}")
        if self.device not in DEVICES:
            raise SamplerError(f"device must be one of {DEVICES}, not '{self.device}'")
        if self.device == "gpu" and self.sampler not in JAX_SAMPLERS:
            raise SamplerError(f"device='gpu' needs a JAX sampler ({', '.join(JAX_SAMPLERS)}; "
                               f"pip install 'bayescale[jax]'), not '{self.sampler}'")
        if self.init not in INITS:
            raise SamplerError(f"init must be one of {INITS}, not '{self.init}'")
        if self.init == "laplace" and self.sampler not in LAPLACE_SAMPLERS:
            raise SamplerError(
                f"init='laplace' sets a dense mass matrix, which only the "
                f"{' and '.join(LAPLACE_SAMPLERS)} samplers take, not '{self.sampler}': use "
                "sampler='pymc' (sampler='numpyro' on a GPU), or init='adapt'")
        for name in ("draws", "tune", "chains"):
            if int(getattr(self, name)) < 1:
                raise SamplerError(f"{name} must be a positive integer, not {getattr(self, name)}")
        if not 0.5 <= self.target_accept < 1:
            raise SamplerError(f"target_accept must be in [0.5, 1), not {self.target_accept}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) \
                or not 0 <= self.seed < 2**32:
            raise SamplerError(f"seed must be an integer from 0 to 2**32 - 1, not {self.seed!r}")

    def to_dict(self) -> dict:
        """Return the settings as a plain dict."""
        return asdict(self)
