"""The ``bayescale`` command line: fit runs, then query the saved fit.

Every subcommand prints a table readable in a terminal, or JSON with ``--json``. Bad input exits
with status 2 and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from bayescale.cli import catalog, checks, decisions, fitting, plotting, queries
from bayescale.cli.common import one_line_warning
from bayescale.errors import BayescaleError
from bayescale.inference.interrupts import interrupts_as_keyboard_interrupt


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbosity)
    warnings.formatwarning = one_line_warning
    try:
        with interrupts_as_keyboard_interrupt():
            return args.run(args)
    except KeyboardInterrupt:
        print("bayescale: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except (BayescaleError, ImportError, ValueError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"bayescale: error: {message}", file=sys.stderr)
        return 2


class _StderrHandler(logging.StreamHandler):
    """Write to whatever ``sys.stderr`` is at the time of each message."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _configure_logging(verbosity: int) -> None:
    """Print bayescale's messages on stderr: notes and progress unless --quiet."""
    log = logging.getLogger("bayescale")
    if not any(isinstance(handler, _StderrHandler) for handler in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def _parser() -> argparse.ArgumentParser:
    from bayescale import __version__

    parser = argparse.ArgumentParser(
        prog="bayescale",
        description="Bayesian inference of neural scaling laws: fit training runs, then query "
                    "the compute-optimal frontier and the loss of planned runs.")
    parser.add_argument("--version", action="version", version=f"bayescale {__version__}")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                       default=0, help="print only warnings and errors on stderr")
    noise.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       help="also print debugging messages")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (fitting, queries, decisions, plotting, checks, catalog):
        group.register(commands)
    return parser
