"""Parsers from each published data set's upstream format to bayescale runs.

Each loader takes the verified local paths of the data set's files and its card, and returns
:class:`bayescale.Runs` with the card's conventions attached to every source; the registry
(:mod:`bayescale.datasets`) calls them. Loader options are documented per function and passed
through ``bayescale.datasets.load(name, **options)`` (CLI: ``--option key=value``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.data.runs import Runs, as_runs
from bayescale.errors import DatasetError

EPOCH_OUTLIERS = 5
PORIAN_SETTINGS = ("dataset", "hparams", "warmup", "decay", "param_count", "val")
PORIAN_PARAM_COUNT = {
    "kaplan": "non-embedding parameters; FLOPs without attention and the output head",
    "standard": "parameters including the output head; C = 6ND",
    "attention": "effective parameters counting attention FLOPs",
}


def epoch_chinchilla(paths: dict[str, Path], card: dict, drop_outliers: bool = True) -> Runs:
    """Load Epoch's reconstruction of Chinchilla's runs (245 points, D = C / 6N).

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    drop_outliers : bool, default True
        Exclude the 5 highest-loss points, as Epoch's fit does (all have D/N < 0.4); they are
        kept in ``Runs.excluded`` and reported.

    Returns
    -------
    Runs
        240 runs (or 245), source ``epoch-chinchilla``.

    """
    table = pd.read_csv(paths["data/svg_extracted_data.csv"])
    exclude, reason = None, None
    if drop_outliers:
        exclude = table["loss"].nlargest(EPOCH_OUTLIERS).index
        reason = (f"Epoch's {EPOCH_OUTLIERS} highest-loss points (all D/N < 0.4), dropped as "
                  "in Besiroglu et al. 2024")
    return as_runs(table, columns=card["columns"], source=card["name"], exclude=exclude,
                   exclude_reason=reason, conventions=card["conventions"])


def gadre2024(paths: dict[str, Path], card: dict, eval: str | None = None) -> Runs:
    """Load Gadre et al.'s 104 OpenLM runs: one source per training set.

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path (one JSON file per run).
    card : dict
        The data set's card.
    eval : str, optional
        Which evaluation loss to use as ``loss`` (default ``c4_val``, the C4 validation set).
        One of the card's ``eval_splits``: ``c4_val``, ``openlm`` (in-distribution
        validation), the ``paloma_*`` splits or ``de-en``.

    Returns
    -------
    Runs
        104 runs in sources ``gadre2024/c4_original`` (34), ``gadre2024/rpj`` (35, RedPajama)
        and ``gadre2024/rw_original`` (35, RefinedWeb), indexed by run name, with metadata
        ``params_no_embed``, ``tokens_per_param``, ``chinchilla_multiplier``, ``model``,
        ``lr``, ``wd``, ``warmup``, ``global_bs`` and the 95% interval of the loss
        (``loss_lower_95``, ``loss_upper_95``).

    """
    split = eval or card["default_eval"]
    if split not in card["eval_splits"]:
        raise DatasetError(f"gadre2024 has no eval split '{split}': choose one of "
                           f"{card['eval_splits']} (option eval=...)")
    rows = []
    for upstream, local in sorted(paths.items()):
        record = json.loads(Path(local).read_text())
        hyper = record["hyperparameters"]
        result = _gadre_result(record, split, upstream)
        rows.append({
            "run": record["name"],
            "N": float(hyper["params"]),
            "D": float(hyper["tokens"]),
            "loss": result["loss"],
            "source": f"gadre2024/{record['dataset_name']}",
            "loss_lower_95": result["loss_tokens_lower_95"],
            "loss_upper_95": result["loss_tokens_upper_95"],
            "eval_split": split,
            "params_no_embed": float(hyper["params_no_embed"]),
            "chinchilla_multiplier": float(hyper["chinchilla_multiplier"]),
            "tokens_per_param": 20.0 * float(hyper["chinchilla_multiplier"]),
            "model": Path(hyper["model"]).stem,
            "lr": hyper["lr"], "wd": hyper["wd"], "warmup": hyper["warmup"],
            "global_bs": hyper["global_bs"],
        })
    table = pd.DataFrame(rows).set_index("run")
    conventions = dict(card["conventions"]) | {"eval": f"{split} loss (nats/token)"}
    return as_runs(table, conventions=conventions)


def _gadre_result(record: dict, split: str, upstream: str) -> dict:
    for result in record["results"]:
        path = result["val_data"][0]
        name = "c4_val" if "/c4_val/" in path else path.split("/")[3]
        if name == split:
            return result
    raise DatasetError(f"gadre2024: {upstream} has no result for eval split '{split}'")


def porian2024(paths: dict[str, Path], card: dict, table: str = "isoflop",
               configurations: list[str] | None = None) -> Runs:
    """Load Porian et al.'s IsoFLOP runs: each of the 15 configurations is its own source.

    The files are pickles; the registry only hands them over after their sha256 matched the
    pin, so no unverified pickle is ever loaded.

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    table : {"isoflop", "optimal_pairs"}, default "isoflop"
        ``isoflop``: every IsoFLOP training run (1745 rows). ``optimal_pairs``: per budget, the
        authors' interpolated optimum (N*, D*, L*) with its bootstrap spread (not runs; for
        comparing frontiers).
    configurations : list of str or comma-separated str, optional
        Keep only these sources (see the source names in a full load).

    Returns
    -------
    Runs
        Sources named ``porian2024/<dataset>-<hparams>-<warmup>-<decay>-<param_count>-<val>``,
        e.g. ``porian2024/rw-tuned-short-const-standard-val`` (the fully corrected set-up), with
        the settings as metadata columns and each source's counting conventions.

    """
    if table not in ("isoflop", "optimal_pairs"):
        raise DatasetError(f"porian2024 table must be 'isoflop' or 'optimal_pairs', not "
                           f"'{table}'")
    if isinstance(configurations, str):  # from the command line: comma-separated
        configurations = [name.strip() for name in configurations.split(",")]
    frames, conventions = [], {}
    for upstream in sorted(paths):
        summary = pd.read_pickle(paths[upstream])
        for _, config in summary.iterrows():
            settings = {name: str(config[name]) for name in PORIAN_SETTINGS}
            source = "porian2024/" + "-".join(settings.values())
            if configurations is not None and source not in configurations:
                continue
            frame = (_porian_isoflop(config) if table == "isoflop"
                     else _porian_optimal(config))
            frames.append(frame.assign(source=source, **settings, file=upstream))
            conventions[source] = dict(card["conventions"]) | {
                "N": PORIAN_PARAM_COUNT[settings["param_count"]],
                "eval": f"{settings['dataset']} {settings['val']} loss",
                "hyperparameters": f"{settings['hparams']}, {settings['warmup']} warmup, "
                                   f"{settings['decay']} decay",
            }
    if not frames:
        raise DatasetError(f"porian2024: no configuration matches {configurations}; load "
                           "without configurations= to see the source names")
    runs_table = pd.concat(frames, ignore_index=True)
    runs_table.index = pd.Index([f"{s}#{i}" for i, s in enumerate(runs_table["source"])],
                                name="row")
    missing = runs_table[["N", "D", "loss"]].isna().any(axis=1)
    exclude, reason = None, None
    if missing.any():  # only optimal pairs: budgets where the authors found no optimum
        exclude = missing.to_numpy()
        reason = "budget without an interpolated optimum upstream (N*, D*, L* are NaN)"
    return as_runs(runs_table, conventions=conventions, exclude=exclude, exclude_reason=reason)


def _porian_isoflop(config: pd.Series) -> pd.DataFrame:
    parts = []
    for _, budget in config["data"].iterrows():
        if not isinstance(budget["orig_n"], pd.Series):  # a budget the authors did not train
            continue
        parts.append(pd.DataFrame({
            "N": np.asarray(budget["orig_n"], dtype=float),
            "D": np.asarray(budget["orig_t"], dtype=float),
            "loss": np.asarray(budget["orig_loss"], dtype=float),
            "C": float(budget["flops"]),
            "budget": float(budget["flops"]),
        }))
    return pd.concat(parts, ignore_index=True)


def _porian_optimal(config: pd.Series) -> pd.DataFrame:
    pairs = config["optimal_pairs"]
    return pd.DataFrame({
        "N": pairs["n"].astype(float), "D": pairs["t"].astype(float),
        "loss": pairs["loss"].astype(float), "C": pairs["flops"].astype(float),
        "budget": pairs["flops"].astype(float),
        "N_log_std": pairs["n_star_std"].astype(float),
        "loss_std": pairs["loss_star_std"].astype(float),
    }).reset_index(drop=True)


def datablations(paths: dict[str, Path], card: dict, selection: str = "all") -> Runs:
    """Load Muennighoff et al.'s data-constrained runs (229 rows) with unique tokens U.

    The upstream ``tokens_per_epoch`` column is a constant 1.5e9 and wrong: the unique tokens
    are derived as ``U = D / epochs``, and the upstream columns ``tokens_per_epoch`` and
    ``flops`` are kept under ``*_upstream`` names; ``C`` is recomputed as 6ND.

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    selection : {"all", "paper"}, default "all"
        ``"paper"``: the 181 runs of the 182 that Muennighoff et al.'s parametric fit used (one
        is not in the upstream table); the 48 others are kept in ``Runs.excluded``. Fit them with
        ``model="data_constrained_paper"`` to follow the paper's procedure.

    Returns
    -------
    Runs
        Source ``datablations``, with unique tokens ``U`` (read by the data-constrained law)
        and metadata ``epochs`` and ``run_name``.

    """
    selections = card.get("selections", {})
    if selection not in ("all", *selections):
        raise DatasetError(f"data set '{card['name']}': selection must be one of "
                           f"{['all', *selections]}, not {selection!r} (option selection=...)")
    raw = pd.read_csv(paths["aggregated_eval/datablations_contour_losses.csv"], index_col=0)
    table = raw.rename(columns={"tokens_per_epoch": "tokens_per_epoch_upstream",
                                "flops": "flops_upstream"})
    table["U"] = table["token_num"] / table["epochs"]
    table["run_name"] = table["model_args"].str.extract(r"'name':\s*'([^']+)'", expand=False)
    table = table.drop(columns=["model_args", "checkpoint"])
    exclude, reason = None, None
    if selection != "all":
        chosen = selections[selection]
        unknown = sorted(set(chosen["excluded"]) - set(table["run_name"]))
        if unknown:
            raise DatasetError(f"data set '{card['name']}': selection {selection!r} names runs "
                               f"that are not in the table: {unknown}")
        exclude = table["run_name"].isin(chosen["excluded"]).to_numpy()
        reason = " ".join(chosen["why"].split())
    runs = as_runs(table, columns=card["columns"], source=card["name"],
                   conventions=card["conventions"], exclude=exclude, exclude_reason=reason)
    return runs.with_note("unique tokens U = D / epochs (the upstream tokens_per_epoch column "
                          "is a constant 1.5e9 and wrong)")


def gemstones(paths: dict[str, Path], card: dict, table: str = "hot") -> Runs:
    """Load the Gemstones training-loss tables (checkpoint-level by default).

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    table : {"hot", "cool_end", "slim_chinchilla"}, default "hot"
        ``hot``: 3850 checkpoints of 22 constant-learning-rate runs, flagged ``checkpoint``
        True (rows of one run are not independent final runs: use them for training-curve
        envelopes and scale tests); ``cool_end``: 199 losses after cool-downs;
        ``slim_chinchilla``: 28 rows with their FLOPs.

    Returns
    -------
    Runs
        Source ``gemstones/<table>``, with ``run_name``, ``width``, ``depth`` and ``step`` where
        the table has them, and a boolean ``checkpoint`` column.

    """
    if table not in card["tables"]:
        raise DatasetError(f"gemstones has no table '{table}': choose one of {card['tables']}")
    entry = next(entry for entry in card["files"] if entry["table"] == table)
    frame = pd.read_json(paths[entry["path"]], lines=True)
    columns = dict(card["columns"]) | ({"FLOPs": "C"} if "FLOPs" in frame else {})
    frame["checkpoint"] = table == "hot"
    runs = as_runs(frame, columns=columns, source=f"gemstones/{table}",
                   conventions=card["conventions"])
    if table != "hot":
        return runs
    return runs.with_note(f"{len(runs)} checkpoint-level rows of "
                          f"{runs.table['run_name'].nunique()} runs (constant learning rate): "
                          "not independent final runs")


def loss_to_loss(paths: dict[str, Path], card: dict, table: str = "all",
                 eval: str | None = None) -> Runs:
    """Load Brandfonbrener et al.'s OLMo runs on six pretraining sets: one source per set.

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    table : {"all", "sweep", "extrapolation"}, default "all"
        ``sweep``: the 529 runs of the IsoFLOP grid (8 budgets, 2e17-4.84e19 FLOPs);
        ``extrapolation``: the six 1e21-FLOP runs (3.31e9 parameters, 5.04e10 tokens) that the
        paper extrapolates to; ``all``: both (column ``extrapolation`` tells them apart).
    eval : str, optional
        Which loss to fit (default ``val``: the held-out split of each run's own training set).
        One of the card's ``eval_sets``: ``val``, ``train`` or a validation set (``c4``,
        ``fineweb_100b``, ``starcoder``, ...), the cross-set losses of the paper.

    Returns
    -------
    Runs
        Sources ``loss-to-loss/<data>`` (``fineweb-100b``, ``fineweb-edu-100b``,
        ``proof-pile-2``, ``slimpajama-chunk1``, ``smollm-corpus``, ``starcoder``), indexed by
        the upstream run id, with metadata ``budget`` (the IsoFLOP budget), ``extrapolation``,
        ``n_layers``, ``d_model``, ``eval_set`` and every upstream ``eval/*`` column (with
        ``.`` for ``/``, which a saved fit's column names cannot hold:
        ``eval.c4_val.CrossEntropyLoss``).

    """
    if table not in card["tables"]:
        raise DatasetError(f"loss-to-loss has no table '{table}': choose one of "
                           f"{card['tables']} (option table=...)")
    chosen = eval or card["default_eval"]
    if chosen not in card["eval_sets"]:
        raise DatasetError(f"loss-to-loss has no eval set '{chosen}': choose one of "
                           f"{card['eval_sets']} (option eval=...)")
    column = {"val": "val_loss", "train": "train/CrossEntropyLoss"}.get(
        chosen, f"eval/{chosen}_val/CrossEntropyLoss")
    frames = []
    for entry in card["files"]:
        if table in ("all", entry["table"]):
            frame = pd.read_csv(paths[entry["path"]])
            frames.append(frame.assign(extrapolation=entry["table"] == "extrapolation"))
    raw = pd.concat(frames, ignore_index=True)
    unfinished = raw["state"] != "finished"
    if unfinished.any():
        raise DatasetError(f"loss-to-loss: {int(unfinished.sum())} runs upstream are not "
                           "finished; the pinned files should hold finished runs only")
    if column not in raw:
        raise DatasetError(f"loss-to-loss: the upstream files have no column '{column}' for "
                           f"eval set '{chosen}'")
    frame = raw.rename(columns={"iso_flop": "budget", "flops": "flops_per_token_upstream"})
    frame = frame.assign(loss=frame[column].astype(float), eval_set=chosen,
                         source="loss-to-loss/" + frame["data"].astype(str),
                         C=6.0 * frame["params"].astype(float) * frame["tokens"].astype(float))
    frame = _slash_free(frame.drop(columns=["val_loss"] if column != "val_loss" else [])
                        ).set_index("id")
    conventions = dict(card["conventions"]) | {"eval": f"{column} (nats/token)"}
    return as_runs(frame, columns=card["columns"], conventions=conventions)


def steplaw(paths: dict[str, Path], card: dict, table: str = "dense", selection: str = "best",
            loss: str = "smooth") -> Runs:
    """Load StepFun's learning-rate and batch-size sweep (Li et al. 2025).

    Parameters
    ----------
    paths : dict
        Upstream path -> verified local path.
    card : dict
        The data set's card.
    table : {"dense", "moe"}, default "dense"
        ``dense``: 1,911 runs in 17 (N, D) cells (N = non-embedding parameters); ``moe``: 708
        mixture-of-experts runs (N = active parameters, total parameters in ``N_total``).
    selection : {"best", "sweep"}, default "best"
        ``best``: the best-tuned run of each (N, D) cell (lowest loss over learning rate and
        batch size), the runs a scaling law of the loss describes; the others are kept in
        ``Runs.excluded``. ``sweep``: every run, tuned or not.
    loss : {"smooth", "final"}, default "smooth"
        ``smooth``: the Gaussian-smoothed final training loss (the paper's target);
        ``final``: the raw final training loss (upstream ``loss``, kept as ``final_loss``).

    Returns
    -------
    Runs
        Source ``steplaw/<table>``, with metadata ``lr``, ``bs``, ``final_loss``,
        ``smooth_loss`` and the architecture columns.

    """
    for option, value, allowed in (("table", table, card["tables"]),
                                   ("selection", selection, card["selections"]),
                                   ("loss", loss, ["smooth", "final"])):
        if value not in allowed:
            raise DatasetError(f"steplaw: {option} must be one of {allowed}, not {value!r} "
                               f"(option {option}=...)")
    entry = next(entry for entry in card["files"] if entry["table"] == table)
    raw = pd.read_csv(paths[entry["path"]])
    frame = _slash_free(raw.rename(columns={"loss": "final_loss", "smooth loss": "smooth_loss",
                                            "N": "N_upstream"}))
    # Floats before any product: upstream N and D are integers and 6ND overflows int64.
    size = raw["Na" if table == "moe" else "N"].astype(float)
    frame = frame.assign(N=size, D=raw["D"].astype(float),
                         loss=frame[f"{loss}_loss"].astype(float), source=f"steplaw/{table}")
    if table == "moe":
        frame = frame.rename(columns={"N_upstream": "N_total"})
    frame["C"] = 6.0 * frame["N"] * frame["D"]
    frame.index = pd.Index([f"steplaw/{table}#{i}" for i in range(len(frame))], name="row")
    exclude, reason = None, None
    if selection == "best":
        cell = frame.groupby(["N", "D"])["loss"].transform("min")
        best = frame.index.isin(frame.groupby(["N", "D"])["loss"].idxmin())
        exclude = ~best
        reason = (f"not the best-tuned run of its (N, D) cell ({loss} loss above the cell's "
                  "minimum over learning rate and batch size; selection='sweep' keeps them)")
        frame["above_best"] = frame["loss"] - cell
    conventions = dict(card["conventions"]) | {"eval": f"{loss} training loss (nats/token)"}
    return as_runs(frame, conventions=conventions, exclude=exclude, exclude_reason=reason)


def _slash_free(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename columns with ``/`` (``D/N``, ``eval/c4_val/...``) to ``.``.

    A saved fit's table columns become netCDF variables, whose names cannot hold ``/``.
    """
    return frame.rename(columns=lambda name: str(name).replace("/", "."))
