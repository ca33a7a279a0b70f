"""Package namespaces whose names are imported on first use (PEP 562).

A command that only reads a fit must not load PyMC, ArviZ or matplotlib; a package that
re-exported its modules' names eagerly would load them all.
"""

import importlib


def lazy_exports(package: str, names: dict[str, str]):
    """Return ``__getattr__`` and ``__dir__`` for a package exporting ``names`` lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Exported name -> the module (absolute) it lives in; a module exported under its own
        name (``"forecast": "bayescale.decide.forecast"``) is the module itself.

    Returns
    -------
    (callable, callable)
        The package's ``__getattr__`` and ``__dir__``.

    """
    module = importlib.import_module(package)

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        target = importlib.import_module(names[name])
        # a module exported under its own name is the module; any other name is its attribute
        value = target if target.__name__.rsplit(".", 1)[-1] == name else getattr(target, name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(module), *names})

    return __getattr__, __dir__
