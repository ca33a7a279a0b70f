"""The ``bayescale`` command line."""

from bayescale.cli.main import main

__all__ = ["main"]
