"""Registry of published training runs: cards in ``datasets/``, files fetched and verified.

Each card (``datasets/<name>.toml``) pins an upstream repository, a commit, the files' paths and
their sha256. :func:`load` returns the runs as a :class:`bayescale.Runs`. Files come from, in
order:

1. a mirror folder, if one is set (``set_mirror(path)`` or the ``BAYESCALE_DATA_MIRROR``
   environment variable), holding ``<mirror_folder>/<path>`` for each file, as upstream has it;
2. the download cache (``BAYESCALE_CACHE``, default the user cache folder), filled by
3. a download from upstream at the pinned commit, unless ``BAYESCALE_OFFLINE=1``.

Every file is checked against its pinned sha256 before it is read; a mismatch is an error.
"""

from __future__ import annotations

import builtins
import hashlib
import inspect
import os
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pooch

from bayescale.data import loaders
from bayescale.data.resources import data_folder
from bayescale.data.runs import Runs
from bayescale.errors import DatasetError

MIRROR_ENV = "BAYESCALE_DATA_MIRROR"
CACHE_ENV = "BAYESCALE_CACHE"
OFFLINE_ENV = "BAYESCALE_OFFLINE"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

_settings: dict[str, Path | None] = {"mirror": None}


def set_mirror(path: str | Path | None) -> None:
    """Read data-set files from a local mirror folder (None: back to the environment/cache).

    Parameters
    ----------
    path : str, pathlib.Path or None
        A folder holding ``<mirror_folder>/<upstream path>`` for each file.

    """
    _settings["mirror"] = None if path is None else Path(path)


def mirror() -> Path | None:
    """Return the mirror folder in use, if any."""
    if _settings["mirror"] is not None:
        return _settings["mirror"]
    value = os.environ.get(MIRROR_ENV)
    return Path(value) if value else None


def available() -> builtins.list[str]:
    """List the names of the registered data sets."""
    return sorted(path.stem for path in data_folder("datasets").glob("*.toml"))


list = available  # bayescale.datasets.list(), as the registry's users expect


def famous_models() -> pd.DataFrame:
    """Return famous dense language models' N and D as their papers report them, with sources.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``key`` (e.g. ``gpt-3``, ``chinchilla``, ``llama-2-70b``), with ``name``,
        ``N`` (parameters), ``D`` (training tokens), ``C`` (= 6ND FLOPs), ``year`` and ``source``.

    """
    table = _fact_table("famous_models.csv").set_index("key")
    table["C"] = 6.0 * table["N"] * table["D"]
    return table


def published_fits() -> pd.DataFrame:
    """Return published fitted constants of scaling laws (Hoffmann, Epoch, Kaplan, Porian, ...).

    Returns
    -------
    pandas.DataFrame
        One row per constant: ``fit``, ``law``, ``parameter``, ``value``, ``lo``, ``hi``
        (the published interval, if any), ``interval`` and ``source``.

    """
    return _fact_table("published_fits.csv")


def _fact_table(filename: str) -> pd.DataFrame:
    return pd.read_csv(data_folder("datasets") / filename, comment="#")


def info(name: str) -> dict[str, Any]:
    """Return a data set's card: citation, license, upstream, conventions, columns, files.

    Parameters
    ----------
    name : str
        A name from :func:`available`.

    Returns
    -------
    dict
        The card's fields.

    """
    if name not in available():  # by name only: never a card (or a path) from elsewhere
        raise DatasetError(f"unknown data set '{name}': the registered ones are {available()} "
                           "(only data sets whose cards ship with bayescale can be loaded)")
    path = data_folder("datasets") / f"{name}.toml"
    with path.open("rb") as handle:
        return tomllib.load(handle)


def fetch(name: str) -> dict[str, Path]:
    """Return local, sha256-verified paths of a data set's files (downloading if needed).

    Parameters
    ----------
    name : str
        A registered data set.

    Returns
    -------
    dict
        Upstream path -> local path.

    """
    card = info(name)
    return {entry["path"]: _fetch_file(card, entry) for entry in card["files"]}


def load(name: str, **options: Any) -> Runs:
    """Load a registered data set as validated runs.

    Parameters
    ----------
    name : str
        A registered data set (see :func:`available`).
    **options
        Options of that data set's loader (see ``bayescale.data.loaders``).

    Returns
    -------
    Runs
        The runs, with a ``source`` column and the card's conventions in their notes.

    """
    card = info(name)
    loader = getattr(loaders, card["loader"])
    accepted = _options_of(loader)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DatasetError(f"data set '{name}' has no option(s) {unknown}; its options are "
                           f"{accepted or 'none'} (see "
                           f"help(bayescale.data.loaders.{card['loader']}))")
    for option, value in options.items():
        default = inspect.signature(loader).parameters[option].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise DatasetError(f"data set '{name}': option {option} takes true or false, not "
                               f"{value!r}")
    pinned = [entry["sha256"] for entry in card["files"]]
    files = (", ".join(f"{entry['path']} sha256 {entry['sha256'][:16]}..."
                       for entry in card["files"]) if len(pinned) <= 3 else
             f"{len(pinned)} files, sha256 of their pinned sha256s "
             f"{hashlib.sha256(''.join(pinned).encode()).hexdigest()[:16]}...")
    return loader(fetch(name), card, **options).with_note(
        f"data set {name}: {card['repo']} at commit {card['commit'][:12]} ({files})")


def loader_options(name: str) -> builtins.list[str]:
    """Return the names of the options :func:`load` accepts for a data set."""
    return _options_of(getattr(loaders, info(name)["loader"]))


def _options_of(loader) -> builtins.list[str]:
    return builtins.list(inspect.signature(loader).parameters)[2:]  # after paths and card


def _fetch_file(card: dict, entry: dict) -> Path:
    folder = mirror()
    if folder is not None:
        path = folder / card["mirror_folder"] / entry["path"]
        return _verified(path, entry, card, missing=(
            f"'{entry['path']}' is not in the mirror folder {folder} (looked for {path}); put the "
            f"upstream file there (repository {card['repo']} at commit {card['commit']}), or "
            f"unset {MIRROR_ENV} to download it"))

    url = RAW_URL.format(repo=card["repo"], commit=card["commit"], path=entry["path"])
    cache = Path(os.environ.get(CACHE_ENV) or pooch.os_cache("bayescale")) / card["name"]
    cached = cache / entry["path"]
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return _verified(cached, entry, card, missing=(
            f"'{entry['path']}' is not cached and {OFFLINE_ENV} is set, so it cannot be "
            f"downloaded; download {url} into {cached}, or set {MIRROR_ENV} to a folder holding "
            f"{card['mirror_folder']}/{entry['path']}"))
    try:
        local = pooch.retrieve(url, known_hash=f"sha256:{entry['sha256']}",
                               fname=entry["path"], path=cache, progressbar=False)
    except ValueError as error:  # pooch: hash mismatch
        raise DatasetError(f"data set '{card['name']}': downloaded '{entry['path']}' does not "
                           f"match its pinned sha256 ({error}); it was not loaded") from None
    except Exception as error:  # network failures surface as many types; say what to do
        raise DatasetError(
            f"data set '{card['name']}': could not download {url} ({type(error).__name__}: "
            f"{error}); without network, set {MIRROR_ENV} to a folder holding "
            f"{card['mirror_folder']}/{entry['path']}") from None
    return Path(local)


def _verified(path: Path, entry: dict, card: dict, missing: str) -> Path:
    """Return ``path`` if it exists and matches its pinned sha256; else say what to do."""
    if not path.is_file():
        raise DatasetError(f"data set '{card['name']}': {missing}")
    actual = pooch.file_hash(str(path), alg="sha256")
    sha256 = entry["sha256"]
    if actual != sha256:
        raise DatasetError(f"data set '{card['name']}': {path} does not match its pinned sha256 "
                           f"(it has {actual}, not "
                           f"{sha256}): the file is corrupted or a different version; it was not "
                           "loaded. Replace it with the upstream file at the pinned commit")
    return path
