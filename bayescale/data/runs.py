"""The runs table: validate training runs once, where they enter bayescale.

Every entry point (``fit``, the CLI, the data-set loaders) turns what it is given into a
:class:`Runs` through :func:`as_runs`; nothing downstream re-checks or re-reads the input.

Columns of the canonical table:

``N``
    Parameters (a raw count, e.g. ``7e9``).
``D``
    Training tokens. With only ``N`` and ``C`` given, ``D = C / (6 N)``.
``loss``
    Final evaluation loss in nats per token.
``C``
    Training FLOPs. When absent it is computed as ``6 N D``.
``U``
    Optional: unique training tokens, for runs that repeat data (the data-constrained law reads
    it; other laws ignore it). Absent means every token was seen once.
``source``
    Where the run comes from (paper, data set, eval set); runs of one source share offsets.

Any other column is kept, unchanged, as metadata.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.errors import RunsError, RunsWarning

# Ask for a source not in the fit: offsets drawn from the between-source distribution.
NEW_SOURCE = "(new source)"

log = logging.getLogger("bayescale")

REQUIRED = ("N", "loss")
NUMERIC = ("N", "D", "loss", "C", "U")
DESCRIPTIONS = {
    "N": "parameters",
    "D": "training tokens",
    "loss": "final eval loss, nats/token",
    "C": "training FLOPs",
    "U": "unique training tokens",
}
# Below this a parameter or token count is almost surely in millions or billions (7 for 7B).
SMALLEST_COUNT = 1e3
# Plausible ranges, checked unless check_units=False: counts below SMALLEST_PLAUSIBLE are
# probably in thousands or millions (1300 for 1.3B); losses outside LOSS_RANGE are probably not
# in nats per token (a percentage, bits, a perplexity) or not a loss.
SMALLEST_PLAUSIBLE = 1e5
LOSS_RANGE = (0.3, 20.0)
# Median training tokens per parameter (D/N) beyond any published run: overtrained models reach
# about 2e3 (Llama 3 8B: 15T tokens); a median above this means N or D is in the wrong unit.
LARGEST_TOKENS_PER_PARAMETER = 1e4
UNITS_FIX = "if these values are right, pass check_units=False (CLI: --unusual-units)"
DEFAULT_SOURCE = "runs"


@dataclass(frozen=True, repr=False)
class Runs:
    """A validated runs table.

    Attributes
    ----------
    table : pandas.DataFrame
        The runs used for fitting: ``N``, ``D``, ``loss``, ``C``, ``source`` and any metadata
        columns, indexed by the row labels of the input (index name ``row``).
    excluded : pandas.DataFrame
        Rows the user asked to exclude, with the reason in column ``excluded_because``.
    notes : tuple of str
        What was derived from the input (e.g. ``D = C / (6 N)``), for provenance.
    conventions : dict
        Per source, how its numbers were counted (``{"N": "with embeddings", "flops": "6ND",
        "eval": ..., "tokenizer": ...}``), as its data-set card or the user states them.

    """

    table: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple[str, ...] = ()
    conventions: dict[str, dict[str, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        table = self.table
        spans = ", ".join(f"{name} {table[name].min():.3g}-{table[name].max():.3g}"
                          for name in ("N", "D", "C", "loss"))
        sources = self.sources
        named = ", ".join(f"'{name}'" for name in sources[:3]) + (
            f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        lines = [f"<bayescale.Runs: {len(table)} runs from {len(sources)} source(s) ({named}); "
                 f"{spans}>"]
        if not self.excluded.empty:
            lines.append(f"  excluded: {len(self.excluded)} row(s) (see .excluded)")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Show the summary line and the table in a notebook."""
        from html import escape

        return (f"<p>{escape(repr(self)).replace(chr(10), '<br>')}</p>"
                + self.table.to_html(max_rows=20))

    @property
    def sources(self) -> list[str]:
        """Names of the sources, in order of first appearance."""
        return list(pd.unique(self.table["source"]))

    def select(self, rows: Callable[[pd.DataFrame], Sequence[bool]] | Sequence[bool]) -> Runs:
        """Return the runs whose rows are chosen (a boolean mask, or a function of the table).

        Notes and the remaining sources' conventions are kept, and a note records the
        selection; for leaving rows out of a fit with a reason, use ``as_runs(exclude=...)``.

        Parameters
        ----------
        rows : callable or boolean sequence
            E.g. ``lambda t: t["source"] != "gadre2024/rpj"``.

        Returns
        -------
        Runs
            The chosen rows.

        """
        mask = np.asarray(rows(self.table) if callable(rows) else rows, dtype=bool)
        if mask.shape != (len(self.table),):
            raise RunsError(f"select() needs one boolean per row ({len(self.table)}), got "
                            f"{mask.shape}")
        if not mask.any():
            raise RunsError("select() chose no rows")
        table = self.table[mask]
        sources = set(table["source"])
        return replace(self, table=table,
                       notes=(*self.notes, f"selected {mask.sum()} of {mask.size} rows"),
                       conventions={k: v for k, v in self.conventions.items() if k in sources})

    def split_by(self, columns: str | Sequence[str]) -> Runs:
        """Make each value of ``columns`` part of the source, so that each gets its own offsets.

        Use it to treat a counting convention (or an eval set, a tokenizer) as part of the
        source: runs of ``"my-lab"`` whose column ``n_count`` says ``"without embeddings"``
        become source ``"my-lab [n_count=without embeddings]"``, and the value is added to
        that source's conventions.

        Parameters
        ----------
        columns : str or sequence of str
            Columns of the runs table.

        Returns
        -------
        Runs
            The runs with finer sources.

        """
        columns = [columns] if isinstance(columns, str) else list(columns)
        missing = [name for name in columns if name not in self.table]
        if missing:
            raise RunsError(f"cannot split sources by {missing}: not columns of the runs table "
                            f"(its columns are {list(self.table.columns)})")
        table = self.table.copy()
        if table[columns].isna().any().any():
            rows = table.index[table[columns].isna().any(axis=1)]
            raise RunsError(f"columns {columns} have missing values at rows {_rows(rows)}: every "
                            "run needs a value to be assigned a source")
        labels = table[columns].astype(str).apply(
            lambda row: ", ".join(f"{k}={v}" for k, v in row.items()), axis=1)
        table["source"] = table["source"].astype(str) + " [" + labels + "]"
        conventions = {}
        for new, old, label in zip(table["source"], self.table["source"], labels, strict=True):
            conventions[new] = dict(self.conventions.get(old, {})) | dict(
                part.split("=", 1) for part in label.split(", "))
        return replace(self, table=table, conventions=conventions,
                       notes=(*self.notes, f"sources split by {', '.join(columns)}"))

    def with_note(self, note: str) -> Runs:
        """Return these runs with one more provenance note."""
        return replace(self, notes=(*self.notes, note))

    def digest(self) -> str:
        """Return the sha256 of the fitted columns, to tie a fit to its exact data."""
        canonical = self.table[["N", "D", "loss", "source"]].to_csv(float_format="%.17g")
        return hashlib.sha256(canonical.encode()).hexdigest()


def as_runs(
    data: pd.DataFrame | Mapping | str | Path | Runs,
    *,
    columns: Mapping[str, str] | None = None,
    source_col: str | None = None,
    source: str | None = None,
    exclude: Callable[[pd.DataFrame], Sequence[bool]] | Sequence | None = None,
    exclude_reason: str | None = None,
    flops_rtol: float = 0.25,
    conventions: Mapping[str, str] | Mapping[str, Mapping[str, str]] | None = None,
    check_units: bool = True,
) -> Runs:
    """Validate training runs and return them in bayescale's one internal form.

    Parameters
    ----------
    data : DataFrame, dict of columns, path to a .csv or .parquet file, or Runs
        The runs. A :class:`Runs` is returned unchanged.
    columns : mapping, optional
        Your column names to bayescale's, e.g. ``{"Model Size": "N", "Training FLOP": "C"}``.
    source_col : str, optional
        The column that names each run's source. Default: ``source`` if present.
    source : str, optional
        One source name for every run (when the table has no source column).
        Default ``"runs"``.
    exclude : callable, boolean sequence or sequence of row labels, optional
        Rows to leave out of the fit. They are kept in ``Runs.excluded`` and reported with their
        count; nothing is ever dropped silently.
    exclude_reason : str, optional
        Why those rows are excluded (required with ``exclude``).
    flops_rtol : float, default 0.25
        Warn for rows whose ``C`` differs from ``6 N D`` by more than this relative amount.
    conventions : mapping, optional
        How the numbers were counted, e.g. ``{"N": "without embeddings", "flops": "6ND"}``, for
        every source of the table; or one such mapping per source name.
    check_units : bool, default True
        Refuse values that are probably in the wrong unit: ``N`` or ``D`` below 1e5 (thousands
        or millions given as counts), a median D/N above 1e4 or a ``C`` a power of 1000 away
        from 6 N D on every row (N in thousands), ``D < N`` on every row (swapped columns) or on
        rows whose N is no model size of the others and whose D is one (swapped rows), a loss
        outside 0.3-20 nats/token (a percentage, bits). ``False`` confirms unusual but real
        data.

    Returns
    -------
    Runs
        The validated table.

    Raises
    ------
    RunsError
        For a missing column, non-numeric, missing or infinite values, non-positive ``N``, ``D``
        or ``loss``, or counts that look like millions or billions; the message names the rows,
        the column and the fix.

    """
    if isinstance(data, Runs):
        return data
    frame = read_table(data)
    frame = _rename(frame, columns, source_col)
    _check_required(frame)
    frame, notes = _fill_source(frame, source), []

    excluded = pd.DataFrame()
    if exclude is not None:
        frame, excluded = _split_excluded(frame, exclude, exclude_reason)
        notes.append(f"excluded {len(excluded)} of {len(frame) + len(excluded)} rows: "
                     f"{exclude_reason}")
        log.info("bayescale: %s", notes[-1])

    for name in NUMERIC:
        if name in frame:
            frame[name] = _numeric_column(frame, name)
    _check_counts(frame, names=("N", "D", "U"))

    if "D" not in frame:
        frame["D"] = frame["C"] / (6.0 * frame["N"])
        notes.append("D computed as C / (6 N)")
        _check_counts(frame, names=("D",))
    elif "C" in frame:
        _warn_flops_mismatch(frame, flops_rtol)
    if check_units:
        _check_units(frame)
    if "C" not in frame:
        frame["C"] = 6.0 * frame["N"] * frame["D"]
        notes.append("C computed as 6 N D")

    _warn_duplicates(frame)
    ordered = ["N", "D", "loss", "C", "source"]
    frame = frame[ordered + [c for c in frame.columns if c not in ordered]]
    return Runs(table=frame, excluded=excluded, notes=tuple(notes),
                conventions=_per_source(conventions, list(pd.unique(frame["source"]))))


def unique_tokens(table: pd.DataFrame) -> np.ndarray | None:
    """Return each run's unique tokens U (D where a run gives none), or None without a U column.

    Runs of a joint fit may come from sources with and without a ``U`` column; a run without
    one saw each of its tokens once.
    """
    if "U" not in table:
        return None
    return table["U"].fillna(table["D"]).to_numpy(dtype=float)


def combine_runs(*parts: Runs) -> Runs:
    """Stack validated runs from several places (e.g. yours and published data sets) into one.

    Row labels become ``"<source>:<row>"`` so that every row keeps a unique, readable name.

    Parameters
    ----------
    *parts : Runs
        Validated runs; no source may appear in two of them.

    Returns
    -------
    Runs
        All rows, exclusions, notes (prefixed with their sources) and conventions.

    Raises
    ------
    RunsError
        If two parts share a source name (their offsets would silently merge).

    """
    if not parts:
        raise RunsError("combine_runs needs at least one Runs")
    seen: dict[str, int] = {}
    for number, part in enumerate(parts):
        for name in part.sources:
            if name in seen:
                raise RunsError(f"source '{name}' appears in runs #{seen[name]} and #{number}: "
                                "give your runs their own source name (source='my-runs', CLI "
                                "--source my-runs) so each source gets its own offsets")
            seen[name] = number
    if len(parts) == 1:
        return parts[0]

    def relabel(table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table
        labels = [f"{source}:{row}" for source, row in zip(table["source"], table.index,
                                                          strict=True)]
        return table.set_axis(pd.Index(labels, name="row"), axis=0)

    notes = []
    for part in parts:
        prefix = ", ".join(part.sources)
        notes.extend(f"{prefix}: {note}" for note in part.notes)
    excluded = [relabel(part.excluded) for part in parts if not part.excluded.empty]
    return Runs(
        table=pd.concat([relabel(part.table) for part in parts]),
        excluded=pd.concat(excluded) if excluded else pd.DataFrame(),
        notes=tuple(notes),
        conventions={k: v for part in parts for k, v in part.conventions.items()},
    )


def _per_source(conventions, sources) -> dict[str, dict[str, str]]:
    if not conventions:
        return {}
    values = list(conventions.values())
    if all(isinstance(value, Mapping) for value in values):
        unknown = set(conventions) - set(sources)
        if unknown:
            raise RunsError(f"conventions= names source(s) {sorted(unknown)} that are not in "
                            f"the runs table (its sources are {sources})")
        return {name: {k: str(v) for k, v in conventions[name].items()}
                for name in sources if name in conventions}
    if any(isinstance(value, Mapping) for value in values):
        raise RunsError("conventions= must map names to text (one set for every source) or "
                        "source names to such mappings, not a mixture")
    return {name: {k: str(v) for k, v in conventions.items()} for name in sources}


def read_table(data) -> pd.DataFrame:
    """Read a runs table as given (DataFrame, dict of columns, .csv or .parquet path), unchecked.

    Only the container is checked here: a readable table with rows and unique row labels.
    :func:`as_runs` checks the columns and values.
    """
    if isinstance(data, pd.DataFrame):
        if data.columns.nlevels > 1:
            raise RunsError("the runs table has multi-level column names: flatten them first, "
                            "e.g. table.columns = ['_'.join(map(str, c)) for c in table.columns]")
        frame = data.copy()
    elif isinstance(data, Mapping):
        frame = pd.DataFrame(dict(data))
    elif isinstance(data, str | Path):
        path = Path(data)
        if path.is_dir():
            raise RunsError(f"runs file '{path}' is a directory: give the path of a .csv or "
                            ".parquet file in it")
        if path.exists() and not path.is_file():
            raise RunsError(f"runs file '{path}' is not a regular file (a FIFO, device or "
                            "socket): save the runs to a .csv or .parquet file and give its path")
        if not path.is_file():
            raise RunsError(f"runs file '{path}' does not exist: give the path of a .csv or "
                            ".parquet file")
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt"):
            frame = _read_csv(path)
        else:
            raise RunsError(f"runs file '{path}' has suffix '{path.suffix}': bayescale reads "
                            ".csv and .parquet files; convert it or load it into a DataFrame")
    else:
        raise RunsError("runs must be a pandas DataFrame, a dict of columns, or the path of a "
                        f".csv or .parquet file; got {type(data).__name__}")
    repeated = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise RunsError(f"the runs table has more than one column named {repeated}: rename or "
                        "drop the extra ones")
    if frame.empty:
        raise RunsError("the runs table has no rows: give at least one training run")
    if frame.index.has_duplicates:
        raise RunsError("the runs table's index has duplicate labels, so rows cannot be named "
                        "in messages: call .reset_index(drop=True) on it first")
    frame.index.name = "row"
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV file, refusing what pandas would silently rename or garble."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        if header and header[0].strip().lower().startswith("sep="):
            raise RunsError(f"runs file '{path}' starts with a spreadsheet's '{','.join(header)}'"
                            " line: delete that first line, so that the header (N, D, loss) "
                            "comes first")
        frame = pd.read_csv(path)
    except UnicodeDecodeError:
        raise RunsError(f"runs file '{path}' is not UTF-8 text: save it as UTF-8 CSV (or give a "
                        ".parquet file)") from None
    except pd.errors.EmptyDataError:
        raise RunsError(f"runs file '{path}' is empty: it needs a header row (N, D, loss) and "
                        "one row per run") from None
    except pd.errors.ParserError as error:
        raise RunsError(f"runs file '{path}' is not a readable CSV table: "
                        f"{' '.join(str(error).split())}") from None
    repeated = sorted({str(c) for c in header if header.count(c) > 1})
    if repeated:
        raise RunsError(f"runs file '{path}' has more than one column named {repeated}: rename "
                        "or drop the extra ones")
    return frame


def _rename(frame, columns, source_col) -> pd.DataFrame:
    mapping = dict(columns or {})
    if source_col is not None:
        mapping[source_col] = "source"
    missing = [name for name in mapping if name not in frame.columns]
    if missing:
        raise RunsError(f"column(s) {missing} named in the column mapping are not in the runs "
                        f"table; its columns are {list(frame.columns)}")
    clashes = [new for old, new in mapping.items() if new in frame.columns and new != old]
    if clashes:
        raise RunsError(f"mapping onto column(s) {clashes} would overwrite the table's own "
                        "column of that name: rename or drop the table's column first")
    return frame.rename(columns=mapping)


def _fill_source(frame, source) -> pd.DataFrame:
    if "source" in frame:
        if source is not None:
            raise RunsError("the runs table has a 'source' column and source= was given too: "
                            "use one of them")
        bad = frame.index[frame["source"].isna()]
        if len(bad):
            raise RunsError(f"column 'source' is empty at rows {_rows(bad)}: name the source "
                            "of every run (e.g. the paper or data set)")
        frame["source"] = frame["source"].astype(str)
    else:
        frame["source"] = DEFAULT_SOURCE if source is None else str(source)
    reserved = frame["source"] == NEW_SOURCE
    blank = frame["source"].str.strip() == ""
    if reserved.any() or blank.any():
        rows = frame.index[reserved | blank]
        raise RunsError(f"column 'source': the source name "
                        f"{'is blank' if blank.any() else 'is ' + repr(NEW_SOURCE)} at rows "
                        f"{_rows(rows)}: '{NEW_SOURCE}' names the source a query asks for when it "
                        "is not in the fit, and a blank one names nothing; give your runs' "
                        "source a name of its own (e.g. --source my-lab)")
    return frame


def _split_excluded(frame, exclude, reason):
    if not reason:
        raise RunsError("exclude= needs exclude_reason= saying why those rows are left out")
    if callable(exclude):
        exclude = exclude(frame)
    labels = pd.Index(exclude) if not isinstance(exclude, pd.Series) else exclude
    if len(labels) == len(frame) and pd.api.types.is_bool_dtype(np.asarray(labels)):
        mask = np.asarray(labels, dtype=bool)
    else:
        unknown = labels.difference(frame.index)
        if len(unknown):
            raise RunsError(f"exclude= names rows {_rows(unknown)} that are not in the table")
        mask = frame.index.isin(labels)
    excluded = frame[mask].assign(excluded_because=reason)
    if mask.all():
        raise RunsError(f"exclude= leaves no rows to fit ({reason})")
    return frame[~mask].copy(), excluded


def _check_required(frame) -> None:
    missing = [name for name in REQUIRED if name not in frame]
    if "D" not in frame and "C" not in frame:
        missing.append("D")
    if not missing:
        return
    described = {name: DESCRIPTIONS[name] for name in missing}
    if "D" in described:
        described["D"] += "; or give 'C', training FLOPs, and D = C/(6N)"
    what = " and no column ".join(f"'{name}' ({text})" for name, text in described.items())
    guesses = _likely_columns(frame.columns, missing)
    if guesses:
        fix = (f"if these are yours, map them with columns={guesses} (CLI: "
               + " ".join(f"--column '{yours}={ours}'" for yours, ours in guesses.items()) + ")")
    else:
        fix = (f"add it, or map yours with columns={{'your name': '{missing[0]}'}} "
               f"(CLI: --column 'your name={missing[0]}')")
    raise RunsError(f"the runs table has no column {what}; its columns are "
                    f"{list(frame.columns)}: {fix}")


# Column names other tools and papers use, by bayescale's name (compared in lower case, with
# spaces and hyphens as underscores). Only suggested in the error, never applied silently.
LIKELY_NAMES = {
    "N": ("params", "parameters", "n_params", "num_params", "nparams", "model_size",
          "param_count", "parameter_count", "non_embedding_params", "n"),
    "D": ("tokens", "n_tokens", "num_tokens", "training_tokens", "train_tokens", "token_count",
          "data", "d"),
    "loss": ("loss", "final_loss", "eval_loss", "val_loss", "validation_loss", "test_loss",
             "loss_nats"),
    "C": ("flops", "compute", "training_flops", "training_flop", "train_flops", "c"),
}


def _likely_columns(columns, missing) -> dict[str, str]:
    """Guess which of the table's columns hold the missing ones, from their names."""
    guesses = {}
    for name in missing:
        for candidate in (name, "C") if name == "D" else (name,):  # D may come from C
            found = [column for column in columns if column not in guesses and
                     str(column).strip().lower().replace(" ", "_").replace("-", "_")
                     in LIKELY_NAMES[candidate]]
            if found:
                guesses[found[0]] = candidate
                break
    return guesses


def _numeric_column(frame, name) -> pd.Series:
    raw = frame[name]
    kind = raw.dtype.kind
    if kind in "bmM" or str(raw.dtype) == "boolean":
        what = {"b": "true/false values", "m": "durations", "M": "dates"}.get(kind, "booleans")
        raise RunsError(f"column '{name}' ({DESCRIPTIONS[name]}) holds {what} ({raw.dtype}), "
                        "not numbers: it would be read as "
                        f"{'1 and 0' if kind == 'b' or kind not in 'mM' else 'nanoseconds'}; "
                        "give the numbers themselves (or map another column onto it)")
    values = pd.to_numeric(raw, errors="coerce")
    garbled = raw.notna() & values.isna()
    if garbled.any():
        examples = ", ".join(f"{row} ({raw[row]!r})" for row in frame.index[garbled][:10])
        raise RunsError(f"column '{name}' ({DESCRIPTIONS[name]}) has non-numeric values at rows "
                        f"{examples}{_more(garbled.sum())}: give plain numbers, e.g. 7e9 "
                        "rather than '7B'")
    values = values.astype(float)
    broken = ~np.isfinite(values)
    if broken.any():
        raise RunsError(f"column '{name}' ({DESCRIPTIONS[name]}) has missing or infinite values "
                        f"at rows {_rows(frame.index[broken])}: fill them in, or pass those rows "
                        "to exclude= with a reason (nothing is dropped silently)")
    nonpositive = values <= 0
    if nonpositive.any():
        raise RunsError(f"column '{name}' ({DESCRIPTIONS[name]}) must be > 0, but is not at rows "
                        f"{_rows_with_values(values, nonpositive)}: fix those values or pass the "
                        "rows to exclude= with a reason")
    return values


def _check_counts(frame, names=("N", "D")) -> None:
    for name in names:
        if name not in frame:
            continue
        tiny = frame[name] < SMALLEST_COUNT
        if tiny.any():
            raise RunsError(
                f"column '{name}' ({DESCRIPTIONS[name]}) looks like it is in millions or "
                f"billions at rows {_rows_with_values(frame[name], tiny)}: give raw counts, "
                "e.g. 7e9 for a 7B model or 1.4e12 for 1.4T tokens")


def _check_units(frame) -> None:
    """Refuse values that are probably in the wrong unit (see ``as_runs(check_units=)``)."""
    for name in ("N", "D"):
        small = frame[name] < SMALLEST_PLAUSIBLE
        if small.any():
            raise RunsError(
                f"column '{name}' ({DESCRIPTIONS[name]}) is below {SMALLEST_PLAUSIBLE:.0e} at "
                f"rows {_rows_with_values(frame[name], small)}: probably thousands or millions "
                f"rather than a count (give 1.3e9 for 1.3B); {UNITS_FIX}")
    if len(frame) > 1 and (frame["D"] < frame["N"]).all():
        raise RunsError(
            "every run has fewer training tokens (D) than parameters (N), median D/N "
            f"{(frame['D'] / frame['N']).median():.3g}: the N and D columns look swapped; "
            f"{UNITS_FIX}")
    ratio = frame["D"] / frame["N"]
    if ratio.median() > LARGEST_TOKENS_PER_PARAMETER:
        raise RunsError(
            f"columns 'N' and 'D': the runs have a median of {ratio.median():.3g} training "
            f"tokens per parameter (D/N), beyond the {LARGEST_TOKENS_PER_PARAMETER:.0e} of any "
            "published run: N is probably in thousands or millions (give 1.25e8 for 125M), or "
            f"D in a smaller unit; {UNITS_FIX}")
    if "C" in frame:
        scale = frame["C"] / (6.0 * frame["N"] * frame["D"])
        power = np.round(np.log10(scale.median()) / 3) * 3
        if power != 0 and np.allclose(np.log10(scale), power, atol=0.3):
            raise RunsError(
                f"column 'C' is 10^{power:.0f} times 6 N D on every row: N or D is probably in "
                f"{'thousands' if abs(power) == 3 else 'millions or billions'} "
                f"{'(give raw counts)' if power > 0 else '(or C is)'}; {UNITS_FIX}")
    swapped = _swapped_rows(frame)
    if swapped.any():
        raise RunsError(
            f"columns 'N' and 'D' look swapped at rows {_rows(frame.index[swapped])}: each has "
            "fewer tokens than parameters, its N is no model size of the other runs, and its D "
            f"is one: swap the two values in those rows; {UNITS_FIX}")
    low, high = LOSS_RANGE
    odd = ~frame["loss"].between(low, high)
    if odd.any():
        raise RunsError(
            f"column 'loss' ({DESCRIPTIONS['loss']}) is outside {low}-{high:g} at rows "
            f"{_rows_with_values(frame['loss'], odd)}: a percentage, bits per token, a "
            f"perplexity or an accuracy rather than a loss in nats per token?; {UNITS_FIX}")


def _swapped_rows(frame) -> pd.Series:
    """Return which rows look like N and D swapped, in a ladder of repeated model sizes.

    A row is flagged when its D is below its N, its N is not the size of any run with D >= N,
    and its D is (within 1%): a model size written in the tokens column.
    """
    fewer = frame["D"] < frame["N"]
    sizes = np.unique(frame.loc[~fewer, "N"].to_numpy())
    if not fewer.any() or len(sizes) < 2:
        return pd.Series(False, index=frame.index)

    def is_size(values):
        values = values.to_numpy()[:, None]
        return pd.Series(np.any(np.abs(values / sizes[None, :] - 1) < 0.01, axis=1),
                         index=frame.index)

    return fewer & ~is_size(frame["N"]) & is_size(frame["D"])


def _warn_flops_mismatch(frame, rtol) -> None:
    ratio = frame["C"] / (6.0 * frame["N"] * frame["D"])
    off = (ratio - 1.0).abs() > rtol
    if off.any():
        warnings.warn(
            f"column 'C' differs from 6·N·D by more than {rtol:.0%} at rows "
            f"{_rows_with_values(ratio, off, fmt='C/6ND={:.3g}')}: bayescale fits N and D and "
            "keeps C as given; check the FLOP-counting convention (attention, embeddings) of "
            "those rows",
            RunsWarning,
            stacklevel=3,
        )


def _warn_duplicates(frame) -> None:
    duplicated = frame.duplicated(subset=["N", "D", "loss", "source"], keep=False)
    if duplicated.any():
        warnings.warn(
            f"rows {_rows(frame.index[duplicated])} repeat the same N, D, loss and source: "
            "each counts as a separate observation; pass the repeats to exclude= if they are "
            "copies of one run",
            RunsWarning,
            stacklevel=3,
        )


def _rows(labels) -> str:
    labels = list(labels)
    return ", ".join(str(label) for label in labels[:10]) + _more(len(labels))


def _rows_with_values(values, mask, fmt="{:.6g}") -> str:
    chosen = values[mask]
    shown = ", ".join(f"{row} ({fmt.format(value)})" for row, value in chosen[:10].items())
    return shown + _more(len(chosen))


def _more(count) -> str:
    return f" and {count - 10} more" if count > 10 else ""
