"""Where the data folders shipped with bayescale (``models/``, ``datasets/``) live.

In a source checkout (and an editable install) they sit at the repository root; in an installed
wheel they are copied to ``bayescale/_data/``.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # the bayescale package


def data_folder(name: str) -> Path:
    """Return the folder ``name`` ("models" or "datasets") shipped with the package.

    Parameters
    ----------
    name : str
        The folder's name.

    Returns
    -------
    pathlib.Path
        The folder's path.

    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bayescale's '{name}' folder is missing; reinstall the package")
