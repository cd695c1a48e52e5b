"""``python -m introcoach``: the same as the ``introcoach`` command."""

import sys

from introcoach.cli import main

if __name__ == "__main__":
    sys.exit(main())
