"""The ``introcoach`` command line.

Subcommands are registered in :data:`SUBCOMMANDS`: each has a function that
adds its arguments to a subparser and a function that runs it. Add more (for
example ``users add``) by writing those two functions and listing them.

``introcoach score`` reads an introduction from standard input, or a
conversation from ``--transcript FILE`` (a JSON list of
``{"speaker": "user"|"persona", "text": "..."}``), and prints the readable
report or, with ``--json``, one JSON document (``ScoreReport.to_dict()``).
Without ``--persona``/``--persona-file`` the first persona in the persona file
is used (Dana in the packaged file). Bad input prints one line on standard
error and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    List,
    NoReturn,
    Optional,
    Sequence,
    Tuple,
)

if TYPE_CHECKING:  # imported lazily at run time: keeps `--help` fast
    from introcoach.personas import Persona

EXIT_OK = 0
EXIT_USAGE = 2

logger = logging.getLogger(__name__)


class CliError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line."""

    def error(self, message: str) -> NoReturn:
        """Print ``introcoach: error: ...`` and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# -- score -----------------------------------------------------------------------


def _add_score(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--transcript",
        type=Path,
        metavar="FILE",
        help="score a conversation: JSON list of {speaker, text} turns",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--persona", metavar="ID", help="persona id (default: the first one)"
    )
    who.add_argument(
        "--persona-file",
        type=Path,
        metavar="PATH",
        help="YAML file with one persona (id, name, role, organization, interests)",
    )
    parser.add_argument(
        "--mode",
        choices=("intro", "pitch"),
        default="intro",
        help="what the text is (default: intro; ignored with --transcript)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _load_persona(args: argparse.Namespace) -> Persona:
    from introcoach.personas import (
        PersonaError,
        all_personas,
        get_persona,
        load_personas_file,
    )

    try:
        if args.persona_file is not None:
            personas = load_personas_file(args.persona_file)
            if len(personas) != 1:
                raise CliError(
                    f"persona file {args.persona_file} must hold exactly one persona "
                    f"(it has {len(personas)})"
                )
            return personas[0]
        if args.persona is not None:
            return get_persona(args.persona)
        return all_personas()[0]
    except PersonaError as exc:
        raise CliError(str(exc)) from None


def _read_transcript(path: Path) -> List[Tuple[str, str]]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"transcript file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(
            f"cannot read transcript {path}: {exc.__class__.__name__}"
        ) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"transcript {path} is not valid JSON (line {exc.lineno})"
        ) from None
    if not isinstance(data, list):
        raise CliError(f"transcript {path} must be a JSON list of turns")
    turns = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict) or set(item) - {"speaker", "text"}:
            raise CliError(
                f"transcript turn {number} must be an object with 'speaker' and 'text'"
            )
        speaker, text = item.get("speaker"), item.get("text")
        if speaker not in ("user", "persona"):
            raise CliError(
                f"transcript turn {number}: speaker must be 'user' or 'persona'"
            )
        if not isinstance(text, str):
            raise CliError(f"transcript turn {number}: text must be a string")
        turns.append((speaker, text))
    return turns


def _read_stdin() -> str:
    if sys.stdin is None:
        raise CliError("no text on standard input")
    try:
        return sys.stdin.read()
    except UnicodeDecodeError:
        raise CliError("standard input is not valid UTF-8 text") from None


def _run_score(args: argparse.Namespace) -> int:
    from introcoach.scoring import (
        ScoringInputError,
        Turn,
        format_report,
        score_conversation,
        score_text,
    )

    persona = _load_persona(args)
    try:
        if args.transcript is not None:
            turns = [Turn(s, t) for s, t in _read_transcript(args.transcript)]
            report = score_conversation(turns, persona)
        else:
            report = score_text(_read_stdin(), persona, args.mode)
    except ScoringInputError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK


# -- wiring ----------------------------------------------------------------------

Adder = Callable[[argparse.ArgumentParser], None]
Runner = Callable[[argparse.Namespace], int]

#: name -> (help, add arguments, run). Nested groups ("users add") can be a
#: subcommand whose adder creates its own subparsers.
SUBCOMMANDS: Dict[str, Tuple[str, Adder, Runner]] = {
    "score": (
        "score an introduction, a pitch or a conversation",
        _add_score,
        _run_score,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = _Parser(
        prog="introcoach",
        description="IntroCoach: practise networking introductions.",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    commands.required = True
    for name, (help_text, add, run) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``introcoach`` console script.

    Returns:
        0 on success, 2 on bad input (one line on standard error).

    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as exc:
        print(f"introcoach: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
