"""The ``introcoach`` command line.

Subcommands are registered in :data:`SUBCOMMANDS`: each has a function that
adds its arguments to a subparser and a function that runs it. Add more by
writing those two functions and listing them.

``introcoach users add|assign|list`` manages the web app's accounts (passwords
come from ``INTROCOACH_PASSWORD`` or a prompt, never from the command line);
``introcoach retention`` deletes old sessions with their Rasa events;
``introcoach web`` serves the supervisor review app.

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
from datetime import timedelta
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
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


# -- users -----------------------------------------------------------------------

PASSWORD_VARIABLE = "INTROCOACH_PASSWORD"
RETENTION_VARIABLE = "INTROCOACH_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 365


def _add_users(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(
        dest="users_command", metavar="ACTION", parser_class=_Parser
    )
    actions.required = True
    add = actions.add_parser(
        "add",
        help="create a supervisor or a trainee",
        description=(
            "Create a user. The password is read from INTROCOACH_PASSWORD, or "
            "asked for (twice) when that is unset; it is never taken from the "
            "command line."
        ),
    )
    add.add_argument("--role", choices=("supervisor", "trainee"), required=True)
    add.add_argument("--username", required=True, metavar="U")
    add.add_argument(
        "--display-name", metavar="N", help="name shown in the web app (default: U)"
    )
    add.add_argument(
        "--supervisor", metavar="S", help="for a trainee: the supervisor's username"
    )
    assign = actions.add_parser(
        "assign",
        help="assign a trainee to a supervisor",
        description="Assign a trainee to a supervisor (or unassign with --none).",
    )
    assign.add_argument("--trainee", required=True, metavar="U")
    who = assign.add_mutually_exclusive_group(required=True)
    who.add_argument("--supervisor", metavar="S", help="the supervisor's username")
    who.add_argument(
        "--none", action="store_true", help="leave the trainee without a supervisor"
    )
    actions.add_parser(
        "list", help="list users", description="List users and their supervisors."
    )


def _database() -> Any:
    from introcoach.storage import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    return engine


def _read_password() -> str:
    import getpass
    import os

    from introcoach.storage.users import MIN_PASSWORD_LENGTH

    password = os.environ.get(PASSWORD_VARIABLE, "")
    if password:
        return password
    if not sys.stdin or not sys.stdin.isatty():
        raise CliError(f"set {PASSWORD_VARIABLE} or run in a terminal to be asked")
    password = getpass.getpass("Password: ")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CliError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if getpass.getpass("Password again: ") != password:
        raise CliError("the passwords do not match")
    return password


def _user_named(engine: Any, username: str, role: str) -> Any:
    from sqlalchemy import select

    from introcoach.storage import User, transaction
    from introcoach.storage.users import normalise_username

    with transaction(engine) as session:
        user = session.execute(
            select(User).where(User.username == normalise_username(username))
        ).scalar_one_or_none()
    if user is None:
        raise CliError(f"no user named {username!r}")
    if user.role != role:
        raise CliError(f"{username!r} is not a {role}")
    return user


def _run_users(args: argparse.Namespace) -> int:
    from introcoach.storage import UsernameTaken, assign_trainee, create_user

    engine = _database()
    if args.users_command == "add":
        supervisor = None
        if args.supervisor:
            if args.role != "trainee":
                raise CliError("only trainees have a supervisor")
            supervisor = _user_named(engine, args.supervisor, "supervisor")
        password = _read_password()
        try:
            user = create_user(
                engine,
                args.username,
                password,
                args.role,
                args.display_name or args.username,
                supervisor=supervisor,
            )
        except UsernameTaken:
            raise CliError(f"username {args.username!r} is taken") from None
        except ValueError as exc:
            raise CliError(str(exc)) from None
        print(f"Created {user.role} {user.username} (id {user.id})")
        return EXIT_OK
    if args.users_command == "assign":
        trainee = _user_named(engine, args.trainee, "trainee")
        supervisor = (
            None if args.none else _user_named(engine, args.supervisor, "supervisor")
        )
        assign_trainee(engine, trainee, supervisor)
        if supervisor is None:
            print(f"{trainee.username} has no supervisor now")
        else:
            print(f"{trainee.username} is assigned to {supervisor.username}")
        return EXIT_OK
    return _list_users(engine)


def _list_users(engine: Any) -> int:
    from sqlalchemy import select

    from introcoach.storage import User, transaction

    with transaction(engine) as session:
        users = list(session.execute(select(User).order_by(User.id)).scalars())
    names = {u.id: u.username for u in users}
    rows = [("id", "username", "role", "display name", "supervisor")]
    rows += [
        (
            str(u.id),
            u.username,
            u.role,
            u.display_name,
            names.get(u.supervisor_id, "-") if u.supervisor_id else "-",
        )
        for u in users
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    return EXIT_OK


# -- retention -------------------------------------------------------------------


def _retention_default() -> float:
    import os

    raw = os.environ.get(RETENTION_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        return float(raw)
    except ValueError:
        raise CliError(f"{RETENTION_VARIABLE} must be a number of days") from None


def _add_retention(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days",
        type=float,
        metavar="N",
        help=(
            f"keep sessions started in the last N days (default: "
            f"{RETENTION_VARIABLE} or {DEFAULT_RETENTION_DAYS})"
        ),
    )


def _run_retention(args: argparse.Namespace) -> int:
    from introcoach.storage import delete_sessions_older_than, transaction
    from introcoach.storage.models import utcnow
    from introcoach.storage.transcripts import delete_events, orphan_sender_ids

    days = args.days if args.days is not None else _retention_default()
    if days < 0:
        raise CliError("--days must not be negative")
    engine = _database()
    # Sessions and their Rasa events go together, or not at all.
    now = utcnow()
    with transaction(engine) as session:
        sender_ids = delete_sessions_older_than(session, days, now=now)
        events = delete_events(session, sender_ids)
        orphans = orphan_sender_ids(session, now - timedelta(days=days))
        events += delete_events(session, orphans)
    print(
        f"Deleted {len(sender_ids)} practice sessions older than {days:g} days "
        f"and {events} tracker events ({len(orphans)} conversations had no "
        "practice session)"
    )
    return EXIT_OK


# -- web -------------------------------------------------------------------------


def _add_web(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, metavar="N", help="port (default: INTROCOACH_WEB_PORT)"
    )
    parser.add_argument(
        "--host", metavar="H", help="interface (default: INTROCOACH_HOST, 127.0.0.1)"
    )


def _run_web(args: argparse.Namespace) -> int:
    from introcoach.settings import load_settings
    from introcoach.web import create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.web_port
    if not 0 < port < 65536:
        raise CliError("--port must be between 1 and 65535")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(_database(), settings)
    logger.info("Review web app on http://%s:%d", host, port)
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)
    return EXIT_OK


# -- wiring ----------------------------------------------------------------------


def _add_personas(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="report each persona's missing or thin parts; exit 1 on schema errors",
        description="Validate a persona file and report what each persona lacks.",
    )
    check.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="persona YAML file (default: INTROCOACH_PERSONAS or the packaged one)",
    )


def _run_personas(args: argparse.Namespace) -> int:
    from introcoach.personas import (
        PersonaError,
        load_personas_file,
        personas_path,
        thin_parts,
    )

    path = args.file or personas_path()
    try:
        personas = load_personas_file(path)
    except PersonaError as exc:
        print(f"{path}: schema error: {exc}")
        return 1
    print(f"{path}: {len(personas)} persona(s), schema valid")
    for persona in personas:
        notes = thin_parts(persona)
        status = f"{len(notes)} thing(s) to look at" if notes else "complete"
        print(f"\n{persona.id} ({persona.name}): {status}")
        for note in notes:
            print(f"  - {note}")
    return 0


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
    "users": ("add, assign and list users of the web app", _add_users, _run_users),
    "retention": (
        "delete practice sessions (and their transcripts) past the retention period",
        _add_retention,
        _run_retention,
    ),
    "web": ("run the supervisor review web app", _add_web, _run_web),
    "personas": ("check a persona file", _add_personas, _run_personas),
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
