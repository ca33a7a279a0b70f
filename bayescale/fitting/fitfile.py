"""Fit files on disk: checked before a fit runs, written atomically, verified when read.

A fit is one netCDF file (an ``xarray.DataTree``). :func:`check_output` says before sampling
whether a path can take a fit; :func:`write` writes it through
:func:`bayescale.data.outputs.write_atomic` (a temporary file beside the target, moved into
place only once the save is complete), so an interrupted or failed save never harms a fit
already there; :func:`read` recomputes the SHA-256 digest of every array and attribute that
:func:`write` stored, so a damaged or edited file is refused rather than answered from. Fits of
the current format always carry the digest: one without it is refused as damaged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from bayescale.data import outputs
from bayescale.errors import FitFileError, OutputError

DIGEST_ATTR = "sha256"
# Formats of fits saved before every fit carried a digest: read without one (the first format;
# bayescale.data.records.FORMAT names the current one).
UNCHECKED_FORMATS = ("bayescale-fit/1",)
# netCDF's own library: with a fit's ~120 variables in 10 groups it reads a file in 0.1 s and
# writes it in 0.3 s, where h5netcdf took 1.2 s and 1.5 s (docs/performance/cli.md).
ENGINE = "netcdf4"


def check_output(path: str | Path, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check that a fit can be written to ``path``, before any work is done.

    Parameters
    ----------
    path : str or pathlib.Path
        Where the fit will go.
    overwrite : bool, default False
        Whether an existing file may be replaced.
    inputs : iterable of str or pathlib.Path
        The files the fit reads (its runs file): never written over.

    Returns
    -------
    pathlib.Path
        The path the fit will be written to.

    Raises
    ------
    FitFileError
        If the path is a directory, a device or other non-regular file, a dangling link, one
        of ``inputs``, its folder cannot be created or written, or a file is there and
        ``overwrite`` is False (:func:`bayescale.data.outputs.check_output`).

    """
    try:
        return outputs.check_output(path, overwrite, inputs)
    except OutputError as error:
        raise FitFileError(str(error)) from None


def write(tree: xr.DataTree, path: str | Path, overwrite: bool = False,
          inputs: Iterable[str | Path | None] = ()) -> Path:
    """Write ``tree`` to ``path`` with its digest; the file appears only once complete.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit's tree (not modified).
    path : str or pathlib.Path
        The target file.
    overwrite : bool, default False
        Whether an existing file may be replaced. If another process creates the file while
        this one writes, the fit is kept under a free name beside it and the error says where.
    inputs : iterable of str or pathlib.Path
        The files the fit was read from: never written over.

    Returns
    -------
    pathlib.Path
        The path written.

    """
    def write_fit(temporary: str) -> None:
        import netCDF4

        tree.to_netcdf(temporary, engine=ENGINE)
        # The digest of what reading the file gives back (types can change on the way).
        with xr.open_datatree(temporary, engine=ENGINE) as opened:
            stamp = digest(opened.load())
        with netCDF4.Dataset(temporary, "a") as written:
            written.setncattr(DIGEST_ATTR, stamp)

    try:
        return outputs.write_atomic(path, write_fit, overwrite, inputs)
    except OutputError as error:
        raise FitFileError(str(error)) from None


def read(path: str | Path) -> xr.DataTree:
    """Read a fit file and verify its digest.

    Parameters
    ----------
    path : str or pathlib.Path
        The netCDF file.

    Returns
    -------
    xarray.DataTree
        The tree, loaded into memory, without the digest attribute.

    Raises
    ------
    FitFileError
        If the file is missing, unreadable, or its contents do not match its digest.

    """
    path = Path(path)
    if path.is_dir():
        raise FitFileError(f"'{path}' is a directory, not a fit file: give the .nc file that "
                           "'bayescale fit RUNS -o FIT.nc' wrote")
    if path.exists() and not path.is_file():
        raise FitFileError(f"'{path}' is not a regular file (a device, FIFO or socket): give "
                           "the .nc file that 'bayescale fit' wrote")
    if not path.is_file():
        raise FitFileError(f"fit file '{path}' does not exist: make one with "
                           "'bayescale fit RUNS -o FIT.nc'")
    try:
        with xr.open_datatree(path, engine=ENGINE) as opened:
            tree = opened.load()
    except Exception as error:  # a damaged HDF5 file fails in many ways
        raise FitFileError(f"'{path}' is not a readable netCDF fit file "
                           f"({type(error).__name__}: {' '.join(str(error).split())[:200]}): "
                           "refit, or restore it from a copy") from None
    stored = tree.attrs.pop(DIGEST_ATTR, None)
    if stored is None and tree.attrs.get("bayescale_format") not in UNCHECKED_FORMATS:
        if "bayescale_format" not in tree.attrs:
            raise FitFileError(f"'{path}' is a netCDF file but not a bayescale fit (it has no "
                               "'bayescale_format' attribute): give a file 'bayescale fit' "
                               "wrote")
        raise FitFileError(f"'{path}' has no checksum, which every fit of its format "
                           f"({tree.attrs['bayescale_format']}) is saved with: it is damaged or "
                           "was edited after it was saved; refit, or restore it from a copy")
    if stored is not None and stored != digest(tree):
        raise FitFileError(f"'{path}' is damaged or was edited after it was saved (its contents "
                           "do not match the checksum stored with them): refit, or restore it "
                           "from a copy")
    return tree


def digest(tree: xr.DataTree) -> str:
    """Return the SHA-256 of every variable, coordinate and attribute in ``tree``.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit's tree; a ``sha256`` attribute at its root is left out.

    Returns
    -------
    str
        Hex digest, equal for a tree and its netCDF round trip.

    """
    hasher = hashlib.sha256()
    for node in tree.subtree:
        hasher.update(f"node {node.path}\n".encode())
        attrs = {k: v for k, v in node.attrs.items() if not (node.is_root and k == DIGEST_ATTR)}
        hasher.update(_canonical(attrs).encode())
        dataset = node.to_dataset(inherit=False)
        for name in sorted(dataset.variables, key=str):
            variable = dataset.variables[name]
            hasher.update(f"var {name} {variable.dims} {variable.shape}\n".encode())
            hasher.update(_canonical(dict(variable.attrs)).encode())
            values = np.asarray(variable.values)
            if values.dtype.kind in "biufcmM":
                hasher.update(np.ascontiguousarray(values).tobytes())
            else:  # text: its characters, whatever fixed- or variable-width form it comes back in
                hasher.update("\x00".join(map(_text, values.ravel())).encode())
    return hasher.hexdigest()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _canonical(attrs: dict) -> str:
    """JSON of attributes in a form that survives netCDF (lists come back as arrays)."""
    return json.dumps({str(k): np.asarray(v).tolist() for k, v in sorted(attrs.items())},
                      sort_keys=True, default=str)
