"""Model specifications as data: a law, its priors, its likelihood and its pooling.

Named specifications live in the ``models/`` folder as TOML files (``models/chinchilla.toml``).
A user's overrides are merged over the defaults (``defaults | user``); nothing is mutated.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas

from bayescale.data.resources import data_folder
from bayescale.errors import SpecError
from bayescale.spec.laws import LAWS, Law, get_law

LIKELIHOODS = ("student_t", "normal", "laplace")
POSITIVE_ARGUMENTS = {"Gamma": ("alpha", "beta", "mu"), "InverseGamma": ("alpha", "beta"),
                      "StudentT": ("nu",), "HalfStudentT": ("nu",)}
EXPONENT_POOLING = ("shared", "pooled")
PARAMETERIZATIONS = ("noncentered", "centered")


@dataclass(frozen=True)
class ModelSpec:
    """A law with its priors, likelihood and pooling; immutable.

    Attributes
    ----------
    name : str
        The specification's name (e.g. ``"chinchilla"``).
    law : str
        The scaling law, a key of :data:`bayescale.spec.laws.LAWS`.
    likelihood : {"student_t", "normal", "laplace"}
        Noise distribution of log loss. ``"laplace"`` (scale ``sigma``) is the Bayesian
        counterpart of a fit by absolute or small-delta Huber loss, as in Muennighoff et al.
    priors : dict
        Parameter name -> ``{"dist": <PyMC distribution>, <its parameters>, "why": str}``.
    pooling : dict
        ``offsets`` (parameters with per-source offsets), ``exponents`` ("shared" or "pooled"),
        ``parameterization`` ("noncentered" or "centered") and ``scales`` (priors on the spreads).
    description : str
        One line saying what the specification is.
    fixed : dict
        Parameter name -> a value in raw units at which the parameter is held, not sampled
        (the same for every source), e.g. a published fit's base constants; ``why`` says where
        the values come from. Fixing A or B needs its exponent fixed too.
    correlation : dict
        Correlations between the priors of LogNormal parameters, which are then sampled
        jointly: ``parameters`` (their names), ``matrix`` (the correlation matrix of their
        logs, in that order) and ``why``. Each prior's own entry keeps its marginal (mu and
        sigma of the log). Empty (the default): the priors are independent.

    """

    name: str
    law: str
    likelihood: str
    priors: Mapping[str, Mapping[str, Any]]
    pooling: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    correlation: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self, check_distributions=not _TRUSTED.get())

    def with_overrides(
        self,
        priors: Mapping[str, Mapping[str, Any]] | None = None,
        likelihood: str | None = None,
        pooling: Mapping[str, Any] | None = None,
        correlation: Mapping[str, Any] | None = None,
    ) -> ModelSpec:
        """Return a copy with the given priors, likelihood or pooling settings replaced.

        Parameters
        ----------
        priors : mapping, optional
            Parameter name -> a prior entry, e.g.
            ``{"alpha": {"dist": "TruncatedNormal", "mu": 0.35, "sigma": 0.05, "lower": 0}}``.
            An entry with the model's distribution (or no ``dist``) changes only the arguments
            it names, e.g. ``{"alpha": {"sigma": 0.2}}`` keeps the model's ``mu``; another
            distribution replaces the entry.
        likelihood : {"student_t", "normal", "laplace"}, optional
            Noise distribution of log loss.
        pooling : mapping, optional
            Pooling settings to replace (e.g. ``{"exponents": "pooled"}``).
        correlation : mapping, optional
            Correlations between LogNormal priors (see the class's ``correlation``); replaces
            the current ones. Without it, a prior replaced here leaves the correlations.

        Returns
        -------
        ModelSpec
            The new specification; this one is unchanged.

        """
        merged_priors = dict(self.priors)
        for name, entry in (priors or {}).items():
            if not isinstance(entry, Mapping):
                merged_priors[name] = entry  # refused by validation, with the right message
                continue
            base = merged_priors.get(name, {})
            same = "dist" not in entry or entry["dist"] == base.get("dist")
            merged = (dict(base) | dict(entry)) if same and base else dict(entry)
            merged_priors[name] = merged | {"why": entry.get("why", "set by the user")}
        merged_pooling = dict(self.pooling) | dict(pooling or {})
        kept = self.correlation if correlation is None else correlation
        if correlation is None and kept:
            kept = restrict_correlation(kept, [name for name in kept["parameters"]
                                               if name not in (priors or {})])
        return replace(
            self,
            priors=merged_priors,
            likelihood=likelihood or self.likelihood,
            pooling=merged_pooling,
            correlation=dict(kept),
        )

    @property
    def law_object(self) -> Law:
        """The :class:`bayescale.spec.laws.Law` this specification fits."""
        return get_law(self.law)

    @property
    def pooled_parameters(self) -> list[str]:
        """Parameters that get per-source values when there are several sources."""
        pooled = list(self.pooling.get("offsets", []))
        if self.pooling.get("exponents") == "pooled":
            pooled += list(self.law_object.exponents)
        return [name for name in pooled if name not in self.fixed_values]

    @property
    def fixed_values(self) -> dict[str, float]:
        """Parameters held fixed (raw units), without the ``why`` entry."""
        return {k: float(v) for k, v in self.fixed.items() if k != "why"}

    def to_json(self) -> str:
        """Serialise to JSON (stored in a saved fit's attributes)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Rebuild a specification from :meth:`to_json`'s output.

        It was checked in full when it was fitted; the check that each prior names a PyMC
        distribution (which loads PyMC) is not repeated, so reading a fit stays fast.
        """
        with _trusted():
            return cls(**json.loads(text))

    def prior_table(self) -> pandas.DataFrame:
        """Return one row per prior: parameter, distribution, its parameters, and why."""
        rows = []
        entries = [(name, entry) for name, entry in self.priors.items()
                   if name != "nu" or self.likelihood == "student_t"]
        fixed = self.fixed_values
        entries += [(f"spread of {name} across sources", entry)
                    for name, entry in self.pooling.get("scales", {}).items()
                    if name not in fixed]
        for name, entry in entries:
            if name in fixed:
                rows.append({"parameter": name, "prior": f"fixed at {fixed[name]:g}",
                             "why": " ".join(self.fixed.get("why", "").split())})
                continue
            params = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("dist", "why"))
            rows.append({"parameter": name, "prior": f"{entry['dist']}({params})",
                         "why": " ".join(entry.get("why", "").split())})
        if self.correlation:
            names, matrix = self.correlation["parameters"], self.correlation["matrix"]
            pairs = ", ".join(f"{a}-{b} {matrix[i][j]:+.2f}" for i, a in enumerate(names)
                              for j, b in enumerate(names) if j > i)
            rows.append({"parameter": "correlation of the logs of " + ", ".join(names),
                         "prior": pairs,
                         "why": " ".join(self.correlation.get("why", "").split())})
        import pandas as pd

        return pd.DataFrame(rows)


def restrict_correlation(correlation: Mapping[str, Any], names) -> dict:
    """Return ``correlation`` over ``names`` only (empty if fewer than two are left)."""
    names = set(names)
    keep = [i for i, name in enumerate(correlation["parameters"]) if name in names]
    if len(keep) < 2:
        return {}
    matrix = [[correlation["matrix"][i][j] for j in keep] for i in keep]
    return dict(correlation) | {"parameters": [correlation["parameters"][i] for i in keep],
                                "matrix": matrix}


def available_specs() -> list[str]:
    """List the names of the model specifications shipped in ``models/``."""
    return sorted(path.stem for path in data_folder("models").glob("*.toml"))


def load_spec(
    model: str | Path | ModelSpec = "chinchilla",
    *,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    likelihood: str | None = None,
    pooling: Mapping[str, Any] | None = None,
) -> ModelSpec:
    """Load a named or file-based model specification, with optional overrides.

    Parameters
    ----------
    model : str, path or ModelSpec, default "chinchilla"
        A name from :func:`available_specs`, the path of a TOML file in the same format, or a
        specification to override.
    priors, likelihood, pooling
        Overrides, see :meth:`ModelSpec.with_overrides`.

    Returns
    -------
    ModelSpec
        The specification.

    """
    if isinstance(model, ModelSpec):
        spec = model
    else:
        path = Path(model)
        if path.suffix != ".toml":
            path = data_folder("models") / f"{model}.toml"
            if not path.is_file():
                raise SpecError(f"unknown model '{model}': the named models are "
                                f"{available_specs()}; or give the path of a .toml file")
        elif not path.is_file():
            raise SpecError(f"model file '{path}' does not exist")
        shipped = path.parent == data_folder("models")
        try:
            with _trusted() if shipped else contextlib.nullcontext():
                spec = ModelSpec(**_read_toml(path))
        except (TypeError, tomllib.TOMLDecodeError) as error:
            raise SpecError(f"model file '{path}' is malformed: {error}") from None
        except UnicodeDecodeError:
            raise SpecError(f"model file '{path}' is not UTF-8 text: save it as UTF-8 (TOML "
                            "files are)") from None
    if priors or likelihood or pooling:
        spec = spec.with_overrides(priors=priors, likelihood=likelihood, pooling=pooling)
    return spec


def _read_toml(path: Path) -> dict:
    """Read a model file; ``extends = "name"`` starts from that named model's entries.

    The file's priors, pooling entries and pooling scales replace the base's one by one, and
    the base's priors on parameters the file's law does not have are dropped.
    """
    with path.open("rb") as handle:
        entries = tomllib.load(handle)
    base_name = entries.pop("extends", None)
    if base_name is None:
        return entries
    chain = _EXTENDING.get()
    if path.resolve() in chain:
        names = " -> ".join(str(item.name) for item in (*chain, path.resolve()))
        raise SpecError(f"model file '{path}' extends itself ({names}): name a model that does "
                        "not lead back to it")
    token = _EXTENDING.set((*chain, path.resolve()))
    try:
        base = asdict(load_spec(base_name))
    finally:
        _EXTENDING.reset(token)
    law = get_law(entries.get("law", base["law"]))
    keep = {*law.parameters, "sigma", "nu"}
    priors = {k: v for k, v in base["priors"].items() if k in keep} | entries.get("priors", {})
    pooling = base["pooling"] | entries.get("pooling", {})
    pooling["scales"] = {k: v for k, v in base["pooling"].get("scales", {}).items()
                         if k in law.parameters} | entries.get("pooling", {}).get("scales", {})
    return base | entries | {"priors": priors, "pooling": pooling}


# The model files being read, outermost first, while one extends another (a loop is an error)
_EXTENDING: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "bayescale_extending", default=())
# Prior arguments: priors are on log scales and exponents, where nothing needs a number beyond
# this or a scale below the smallest (PyMC crashes on 1e300 and 1e-300)
LARGEST_PRIOR_ARGUMENT = 1e6
SMALLEST_PRIOR_SCALE = 1e-6


# Set while a specification that was checked before is rebuilt (a saved fit's, a shipped one,
# which the tests check): its priors are not looked up in PyMC again.
_TRUSTED = contextvars.ContextVar("bayescale_trusted_spec", default=False)


@contextlib.contextmanager
def _trusted():
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def _validate(spec: ModelSpec, check_distributions: bool = True) -> None:
    if spec.law not in LAWS:
        raise SpecError(f"model '{spec.name}': unknown law '{spec.law}'; "
                        f"known laws: {sorted(LAWS)}")
    law = LAWS[spec.law]
    if spec.likelihood not in LIKELIHOODS:
        raise SpecError(f"model '{spec.name}': likelihood must be one of {LIKELIHOODS}, "
                        f"not '{spec.likelihood}'")
    needed = [*law.parameters, "sigma"] + (["nu"] if spec.likelihood == "student_t"
                                                     else [])
    missing = [name for name in needed if name not in spec.priors]
    if missing:
        raise SpecError(f"model '{spec.name}' has no prior for {missing}")
    allowed = [*law.parameters, "sigma", "nu"]
    unknown = [name for name in spec.priors if name not in allowed]
    if unknown:
        raise SpecError(f"model '{spec.name}': {unknown} is not a parameter of the {spec.law} "
                        f"law; priors can be set on {allowed}")
    for name, entry in spec.priors.items():
        _check_prior(spec.name, name, entry, check_distributions)
    for name in law.log_scale:
        if name in spec.priors and spec.priors[name]["dist"] != "LogNormal":
            raise SpecError(f"model '{spec.name}': the prior on {name} must be LogNormal (the "
                            f"model samples log {name}); got {spec.priors[name]['dist']}")
        if name in spec.priors and set(spec.priors[name]) - {"why"} != {"dist", "mu", "sigma"}:
            given = sorted(set(spec.priors[name]) - {"dist", "why"})
            raise SpecError(f"model '{spec.name}': the LogNormal prior on {name} takes exactly "
                            f"mu and sigma (the model samples log {name} as Normal(mu, "
                            f"sigma)); got {given}")
    _check_fixed(spec, law)
    _check_correlation(spec)
    pooling = spec.pooling
    if pooling.get("exponents", "shared") not in EXPONENT_POOLING:
        raise SpecError(f"model '{spec.name}': pooling.exponents must be one of "
                        f"{EXPONENT_POOLING}, not '{pooling['exponents']}'")
    if pooling.get("parameterization", "noncentered") not in PARAMETERIZATIONS:
        raise SpecError(f"model '{spec.name}': pooling.parameterization must be one of "
                        f"{PARAMETERIZATIONS}, not '{pooling['parameterization']}'")
    unknown = [name for name in pooling.get("offsets", []) if name not in law.parameters]
    if unknown:
        raise SpecError(f"model '{spec.name}': pooling.offsets names {unknown}, which are not "
                        f"parameters of the {spec.law} law {law.parameters}")
    for name in spec.pooled_parameters:
        if name not in pooling.get("scales", {}):
            raise SpecError(f"model '{spec.name}': pooling needs a prior on the spread of "
                            f"{name} across sources (pooling.scales.{name})")
        _check_prior(spec.name, f"pooling.scales.{name}", pooling["scales"][name],
                     check_distributions)


def _check_correlation(spec: ModelSpec) -> None:
    correlation = spec.correlation
    if not correlation:
        return
    unknown = sorted(set(correlation) - {"parameters", "matrix", "why"})
    if unknown or "parameters" not in correlation or "matrix" not in correlation:
        raise SpecError(f"model '{spec.name}': correlation takes 'parameters', 'matrix' and "
                        f"'why'; got {sorted(correlation)}")
    names = list(correlation["parameters"])
    lognormal = [name for name in spec.law_object.parameters
                 if spec.priors[name]["dist"] == "LogNormal" and name not in spec.fixed_values]
    wrong = [name for name in names if name not in lognormal]
    if wrong or len(set(names)) != len(names) or len(names) < 2:
        raise SpecError(f"model '{spec.name}': correlation.parameters must be two or more "
                        f"distinct parameters with LogNormal priors {lognormal}; got {names}")
    matrix = np.asarray(correlation["matrix"], dtype=float)
    if matrix.shape != (len(names), len(names)) or not np.allclose(matrix, matrix.T) \
            or not np.allclose(np.diag(matrix), 1.0) or np.linalg.eigvalsh(matrix).min() <= 0:
        raise SpecError(f"model '{spec.name}': correlation.matrix must be a symmetric, positive "
                        f"definite {len(names)} x {len(names)} matrix with ones on the "
                        "diagonal")


def _check_fixed(spec: ModelSpec, law: Law) -> None:
    fixed = {k: v for k, v in spec.fixed.items() if k != "why"}
    unknown = sorted(set(fixed) - set(law.parameters))
    if unknown:
        raise SpecError(f"model '{spec.name}': fixed names {unknown}, which are not parameters "
                        f"of the {spec.law} law {law.parameters}")
    for name, value in fixed.items():
        if (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
                or not math.isfinite(value)):
            raise SpecError(f"model '{spec.name}': fixed.{name} = {value!r} must be a positive "
                            "finite number (raw units)")
        exponent = law.shifts.get(name, (None, {}))[0]
        if exponent is not None and exponent not in fixed:
            raise SpecError(f"model '{spec.name}': fixing {name} (raw units) needs its exponent "
                            f"{exponent} fixed too (add fixed.{exponent})")


def _check_prior(model: str, name: str, entry: Mapping[str, Any],
                 check_distributions: bool = True) -> None:
    if not isinstance(entry, Mapping) or "dist" not in entry:
        raise SpecError(f"model '{model}': prior '{name}' must be a table with a 'dist' key "
                        "naming a PyMC distribution, e.g. {dist = 'HalfNormal', sigma = 0.05}")
    for key, value in entry.items():
        if key not in ("dist", "why") and (isinstance(value, bool)
                                           or not isinstance(value, int | float)):
            raise SpecError(f"model '{model}': prior '{name}' parameter {key} = {value!r} must "
                            "be a number")
        if key not in ("dist", "why") and not (math.isfinite(value)
                                               and abs(value) <= LARGEST_PRIOR_ARGUMENT):
            raise SpecError(f"model '{model}': prior '{name}' parameter {key} = {value!r} must "
                            f"be a finite number of at most {LARGEST_PRIOR_ARGUMENT:.0e} in size "
                            "(priors are on log scales and exponents)")
    if check_distributions:
        _check_distribution(model, name, entry)
    for key in (*POSITIVE_ARGUMENTS.get(entry["dist"], ()), "sigma", "tau", "lam", "scale"):
        if key in entry and not entry[key] >= SMALLEST_PRIOR_SCALE:
            raise SpecError(f"model '{model}': prior '{name}': {key} = {entry[key]!r} must be "
                            f"positive, at least {SMALLEST_PRIOR_SCALE:.0e} (fix the parameter "
                            "in [fixed] rather than give it a point-like prior)")


def _check_distribution(model: str, name: str, entry: Mapping[str, Any]) -> None:
    """Check that ``entry`` names a PyMC distribution and only arguments it takes."""
    import pymc as pm  # heavy: loaded only when a new prior is checked

    dist = getattr(pm, str(entry["dist"]), None)
    if not (isinstance(dist, type) and issubclass(dist, pm.Distribution)
            and getattr(dist, "rv_op", None) is not None):  # not a base class (Distribution)
        raise SpecError(f"model '{model}': prior '{name}' names '{entry['dist']}', which is not "
                        "a PyMC distribution")
    accepted = [p.name for p in inspect.signature(dist.dist).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [key for key in entry if key not in ("dist", "why", *accepted)]
    if unknown:
        raise SpecError(f"model '{model}': prior '{name}': {entry['dist']} has no argument(s) "
                        f"{unknown}; its arguments are {accepted}")
