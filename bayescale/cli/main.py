"""The ``bayescale`` command line: fit runs, then query the saved fit.

Every subcommand prints a table readable in a terminal, or JSON with ``--json``. Bad input exits
with status 2 and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import sys
import warnings

from bayescale.cli import catalog, checks, decisions, fitting, plotting, queries
from bayescale.cli.common import one_line_warning
from bayescale.errors import BayescaleError
from bayescale.inference.interrupts import interrupts_as_keyboard_interrupt

# Commands that do one thing and exit: all but the checks, which run many fits. In their process
# - Dask is hidden. Where Dask is installed, xarray imports it (and SciPy with it: about a
#   second) at its first operation, only to check whether an array is a Dask array, and again
#   to write a file.
# - Python's cycle collector is off. The libraries a fit imports create about 300,000 objects,
#   which the collector scanned in full five times during a fit (0.4 s); the few reference
#   cycles one command leaves (a model's graph) are freed when the process ends.
ONE_SHOT = ("fit", "optimal", "predict", "optimality", "rule", "summary", "plan", "forecast",
            "plot", "models", "datasets")
# Of those, the ones that draw nothing: in their process ArviZ's plotting package is a stand-in
# with its version and no names. nutpie imports ArviZ, which imports arviz_plots, which imports
# matplotlib.pyplot (0.6 s of a 5 s warm fit); none of these commands plots.
NO_FIGURES = tuple(name for name in ONE_SHOT if name != "plot")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    return _run(args)


def program() -> int:
    """Run the ``bayescale`` program (its console script and ``python -m bayescale``).

    As :func:`main` on ``sys.argv``, in a process of its own: a command in :data:`ONE_SHOT`
    hides Dask and runs without the cycle collector, one in :data:`NO_FIGURES` without ArviZ's
    plotting. Every command freezes what is left when it
    ends, so that the interpreter's exit does not scan it all again (0.5 s after a fit).
    """
    args = _parser().parse_args()
    if args.command in ONE_SHOT:
        if "dask" not in sys.modules:
            sys.modules["dask"] = None  # `import dask` raises ImportError, as if not installed
        gc.disable()
    if args.command in NO_FIGURES and "arviz_plots" not in sys.modules:
        sys.modules["arviz_plots"] = _no_plots()
    try:
        return _run(args)
    finally:
        gc.freeze()


def _no_plots():
    """Return a stand-in for arviz_plots: its version (ArviZ checks it) and no names."""
    import types
    from importlib.metadata import PackageNotFoundError, version

    module = types.ModuleType("arviz_plots", "stand-in: this command draws no figures")
    try:
        module.__version__ = version("arviz-plots")
    except PackageNotFoundError:
        module.__version__ = version("arviz")
    module.__all__ = []
    return module


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; return the exit status."""
    _configure_logging(args.verbosity)
    warnings.formatwarning = one_line_warning
    try:
        with interrupts_as_keyboard_interrupt():
            return args.run(args)
    except KeyboardInterrupt:
        from bayescale.data.outputs import written

        done = written()
        print("bayescale: interrupted; " + (
            "nothing was written" if not done else
            f"{', '.join(map(str, done))} had been written in full before that "
            f"({'it is' if len(done) == 1 else 'they are'} complete); the rest of the command "
            "did not run"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except Warning as warning:  # a warning turned into an error (PYTHONWARNINGS=error)
        message = " ".join(str(warning).split())
        print(f"bayescale: error: {type(warning).__name__} raised as an error (the warnings "
              f"filter says so): {message}", file=sys.stderr)
        return 2
    except (BayescaleError, ImportError, ValueError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"bayescale: error: {message}", file=sys.stderr)
        return 2


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Show each option's default after its help, unless the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default == []
                or default == argparse.SUPPRESS or not action.option_strings
                or action.nargs == 0):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {shown})"


class _StderrHandler(logging.StreamHandler):
    """Write to whatever ``sys.stderr`` is at the time of each message."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _configure_logging(verbosity: int) -> None:
    """Print bayescale's messages on stderr: notes and progress unless --quiet.

    PyMC's own notes ("Sampling: [log_loss]") show only with --verbose: the command line says
    what it does itself. (Given a handler before it is imported, PyMC adds none of its own.)
    """
    levels = {"bayescale": {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG),
              "pymc": logging.WARNING if verbosity < 1 else logging.DEBUG}
    for name, level in levels.items():
        log = logging.getLogger(name)
        handler = next((h for h in log.handlers if isinstance(h, _StderrHandler)), None)
        if handler is None:
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
        handler.setLevel(level)
        if name == "bayescale":
            log.setLevel(level)


def _parser() -> argparse.ArgumentParser:
    from bayescale import __version__

    parser = argparse.ArgumentParser(
        prog="bayescale",
        description="Bayesian inference of neural scaling laws: fit training runs, then query "
                    "the compute-optimal frontier and the loss of planned runs.")
    parser.add_argument("--version", action="version", version=f"bayescale {__version__}")
    _verbosity_arguments(parser, default=0)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (fitting, queries, decisions, plotting, checks, catalog):
        group.register(commands)
    _format(parser)
    return parser


def _verbosity_arguments(parser: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    """Add -q/--quiet and -v/--verbose (a command's own take them after its name too)."""
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                       default=default, help="print only warnings and errors on stderr")
    noise.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       default=default, help="also print debugging messages")


# Shown at the end of 'bayescale --help' and of each command's --help.
EXAMPLES = {
    None: """examples:
  bayescale fit runs.csv -o fit.nc                  # your runs: columns N, D (or C), loss
  bayescale fit epoch-chinchilla -o epoch.nc        # a registered published data set
  bayescale optimal fit.nc --flops 1e23 1e24        # compute-optimal N, D, loss
  bayescale predict fit.nc --params 7e10 --tokens 1.4e12 --noise
  bayescale plan fit.nc --flops 1e24                # the run to train at a budget""",
    "fit": """examples:
  bayescale fit runs.csv -o fit.nc --column "Model Size=N" --source my-lab
  bayescale fit mine.csv -o mine.nc --with all       # under the literature prior
  bayescale fit epoch-chinchilla -o epoch.nc --model kaplan --draws 2000""",
    "optimal": """examples:
  bayescale optimal fit.nc --flops 1e22 1e23 1e24 --prob 0.9
  bayescale optimal fit.nc --flops 1e24 --json""",
    "predict": """examples:
  bayescale predict fit.nc --params 7e10 --tokens 1.4e12 --noise
  bayescale predict fit.nc --params 1e9 3e9 --tokens 2e10 6e10 --json""",
    "plan": """examples:
  bayescale plan fit.nc --flops 1e24 --risk 0.9
  bayescale plan fit.nc --flops 5.88e23 --compare 70e9:1.4e12 35e9:2.8e12
  bayescale plan fit.nc --flops 1e22 --next-run 1e8:2e9 1e9:2e10""",
    "forecast": """examples:
  bayescale forecast fit.nc --target-loss 1.9 --growth 4 --growth-sd 0.25""",
    "plot": """examples:
  bayescale plot fit.nc frontier -o frontier.png
  bayescale plot fit.nc isoflop -o isoflop.pdf --flops 1e19 1e21""",
    "optimality": """examples:
  bayescale optimality fit.nc --famous gpt-3 chinchilla llama-3-70b
  bayescale optimality --list                        # the famous models known""",
    "rule": """examples:
  bayescale rule fit.nc --flops 1e24 1e25             # Kaplan's N ~ C^0.73 against the fit
  bayescale rule fit.nc --flops 1e24 --exponent 0.5 --anchor-flops 1e21 --anchor-params 1e9""",
    "summary": """examples:
  bayescale summary fit.nc
  bayescale summary fit.nc --prob 0.9 --json""",
    "compare": """examples:
  bayescale compare runs.csv --models chinchilla kaplan --plot heldout.png
  bayescale compare epoch-chinchilla --no-extrapolation   # PSIS-LOO only""",
    "approaches": """examples:
  bayescale approaches gemstones --budget budget --group run_name
  bayescale approaches epoch-chinchilla --flops 1e24 --json""",
    "sensitivity": """examples:
  bayescale sensitivity fit.nc --no-refit             # power scaling, no refits (seconds)
  bayescale sensitivity fit.nc --flops 1e24 --factors 0.5 2""",
    "metrics": """examples:
  bayescale metrics evals.csv --metrics val_loss c4_loss -o metrics.nc""",
    "validate": """examples:
  bayescale validate sbc --sims 50 --plot ranks.png
  bayescale validate heldout --datasets epoch-chinchilla gadre2024 -o heldout.csv
  bayescale validate transfer --sets gadre2024/rpj --regimes few-8 --methods alone with""",
    "sbc": """examples:
  bayescale validate sbc --sims 50 --plot ranks.png -o ranks.nc""",
    "heldout": """examples:
  bayescale validate heldout --datasets epoch-chinchilla -o heldout.csv""",
    "transfer": """examples:
  bayescale validate transfer --sets gadre2024/rpj --regimes few-8 --methods alone with""",
    "models": """examples:
  bayescale models                                    # the named models
  bayescale models chinchilla                         # one model's priors, with why""",
    "datasets": """examples:
  bayescale datasets                                  # the registered data sets
  bayescale datasets epoch-chinchilla                 # one card: paper, file, commit, sha256""",
}


# What argparse takes for a negative number rather than an option: also -1e5, -inf, -nan (its
# own pattern knows only -5 and -0.5, and answers "--flops -1e5" with "expected one argument"),
# so that the option's type can say what is wrong with the number.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)


def _format(parser: argparse.ArgumentParser, name: str | None = None) -> None:
    """Give a parser and its subcommands' parsers the help format, examples, number pattern."""
    parser.formatter_class = _HelpFormatter
    parser._negative_number_matcher = NEGATIVE_NUMBER
    if name is not None and not parser._subparsers:  # a command: -q/-v after its name too
        _verbosity_arguments(parser)
    if name in EXAMPLES:
        parser.epilog = EXAMPLES[name]
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for command, subparser in action.choices.items():
            _format(subparser, command)
