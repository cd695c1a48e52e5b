"""Run a command with the project's settings in its environment.

``python -m introcoach.envrun rasa test ...``: Rasa expands ``${...}`` in
``endpoints.yml`` and fails on a variable that is not set, so every Rasa
command the Makefile runs goes through here.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from introcoach.settings import load_settings


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exec the command with the settings' variables added."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m introcoach.envrun COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    for key, value in load_settings().child_env().items():
        env.setdefault(key, value)
    os.execvpe(args[0], args, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
