"""How a model is sampled: the PyMC model, the samplers, the Laplace start, the JAX programs.

Imports PyMC (but not ``settings`` and ``diagnostics``); the layers above load it only when they
fit.
"""
