"""What is fitted: the laws as plain functions, and model specifications (priors as data)."""

from bayescale.spec.laws import LAWS, Law, get_law
from bayescale.spec.model_spec import ModelSpec, available_specs, load_spec

__all__ = ["LAWS", "Law", "ModelSpec", "available_specs", "get_law", "load_spec"]
