"""How a model is sampled: the PyMC model, the samplers, the Laplace start, the JAX programs.

Imports PyMC; the layers above load it only when they fit.
"""
