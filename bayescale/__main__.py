"""``python -m bayescale``: the command line."""

import sys

from bayescale.cli.main import program

if __name__ == "__main__":
    sys.exit(program())
