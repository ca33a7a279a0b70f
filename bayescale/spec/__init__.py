"""What is fitted: the laws as plain functions, and model specifications (priors as data)."""

from bayescale._lazy import lazy_exports

__all__ = ["LAWS", "Law", "ModelSpec", "available_specs", "get_law", "load_spec"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **{name: "bayescale.spec.laws" for name in ("LAWS", "Law", "get_law")},
    **{name: "bayescale.spec.model_spec" for name in ("ModelSpec", "available_specs",
                                                       "load_spec")},
})
