"""``python -m bayescale``: the command line."""

import sys

from bayescale.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
