"""Rasa and action-server replicas on PostgreSQL and Redis (``make run-scaled``).

What runs, all on ``INTROCOACH_HOST`` (127.0.0.1 by default)::

    browser / REST client
          |
    rasa balancer  :INTROCOACH_RASA_PORT (5005)        web app :INTROCOACH_WEB_PORT
      |          |
    rasa-0      rasa-1     :5105, :5106     (Rasa servers; tracker store on
      |          |                          PostgreSQL, conversation lock on Redis)
    actions balancer :INTROCOACH_ACTION_PORT (5055)
      |          |
    actions-0  actions-1   :5155, :5156     (action servers; scores on PostgreSQL)

The balancers are :mod:`introcoach.balancer` (why not nginx is explained
there). Every message of one conversation, whichever replica receives it, is
processed one at a time under the Redis lock (:mod:`introcoach.lock_store`),
and every replica reads and writes the same PostgreSQL tracker store.

Settings (besides the usual ones, see the README):
``INTROCOACH_DATABASE_URL`` (default: PostgreSQL database ``introcoach`` on
127.0.0.1:5432 as ``postgres``, created when missing), ``INTROCOACH_REDIS_URL``
(default ``redis://127.0.0.1:6379/0``), ``INTROCOACH_REPLICAS`` (default 2),
``INTROCOACH_REPLICA_PORT_OFFSET`` (default 100: replica ``i`` of a server on
port ``p`` listens on ``p + offset + i``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from introcoach.settings import load_settings, url_without_password
from introcoach.stack import Stack, free_port, listening, serve

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/introcoach"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class ScaledStack(Stack):
    """Rasa and action-server replicas, each kind behind a balancer.

    ``extra_env`` must carry ``INTROCOACH_DATABASE_URL`` and
    ``INTROCOACH_REDIS_URL`` (see :func:`scaled_env`). With
    ``ephemeral_ports`` every replica gets a free port (tests, benchmarks).
    """

    replicas: int = 2
    ephemeral_ports: bool = False
    port_offset: int = 100
    replica_ports: Dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        for i in range(self.replicas):
            for kind, base in (("rasa", s.rasa_port), ("actions", s.action_port)):
                name = f"{kind}-{i}"
                if name not in self.replica_ports:
                    self.replica_ports[name] = (
                        free_port()
                        if self.ephemeral_ports
                        else base + self.port_offset + i
                    )

    def replica_names(self, kind: str) -> List[str]:
        """``rasa-0``, ``rasa-1``... or ``actions-0``..."""
        return [f"{kind}-{i}" for i in range(self.replicas)]

    def replica_url(self, name: str) -> str:
        """Base URL of one replica, e.g. ``replica_url("rasa-1")``."""
        return f"http://{self.settings.host}:{self.replica_ports[name]}"

    def _balancer_command(self, kind: str, port: int) -> List[str]:
        command = [
            sys.executable,
            "-m",
            "introcoach.balancer",
            "--name",
            kind,
            "--host",
            self.settings.host,
            "--port",
            str(port),
        ]
        for name in self.replica_names(kind):
            command += ["--upstream", self.replica_url(name)]
        if kind == "rasa":  # clients reach the chat channels, not Rasa's HTTP API
            command += ["--paths", "rasa-clients"]
        return command

    def commands(self) -> Dict[str, List[str]]:
        """Every replica, both balancers and (optionally) the web app."""
        s = self.settings
        commands: Dict[str, List[str]] = {}
        for name in self.replica_names("actions"):
            commands[name] = self.action_command(self.replica_ports[name])
        commands["actions-lb"] = self._balancer_command("actions", s.action_port)
        for name in self.replica_names("rasa"):
            commands[name] = self.rasa_command(self.replica_ports[name])
        commands["rasa-lb"] = self._balancer_command("rasa", s.rasa_port)
        if self.with_web:
            commands["web"] = self.web_command()
        return commands

    def checks(self) -> Dict[str, Tuple[str, str]]:
        """Each replica answers on its own port, each balancer on its health page."""
        s = self.settings
        checks: Dict[str, Tuple[str, str]] = {}
        for name in self.replica_names("actions"):
            checks[name] = (f"{self.replica_url(name)}/health", "json")
        for name in self.replica_names("rasa"):
            checks[name] = (self.rasa_status_url(self.replica_ports[name]), "rasa")
        for kind, port in (("actions-lb", s.action_port), ("rasa-lb", s.rasa_port)):
            checks[kind] = (f"http://{s.host}:{port}/_balancer/health", "json")
        if self.with_web:
            checks["web"] = (f"http://{s.host}:{s.web_port}/login", "page")
        return checks

    def start(self) -> None:
        """Create the tables first, then start every server.

        Replicas starting together would otherwise all create Rasa's
        ``events`` table at once, and on PostgreSQL all but one fail.
        """
        prepare_database(self.extra_env["INTROCOACH_DATABASE_URL"])
        super().start()

    def kill(self, name: str) -> None:
        """SIGKILL one server, as a crash would (fault tests)."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def scaled_env(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The database and Redis URLs of the scaled set-up, with their defaults."""
    env = os.environ if env is None else env
    return {
        "INTROCOACH_DATABASE_URL": env.get("INTROCOACH_DATABASE_URL", "").strip()
        or DEFAULT_DATABASE_URL,
        "INTROCOACH_REDIS_URL": env.get("INTROCOACH_REDIS_URL", "").strip()
        or DEFAULT_REDIS_URL,
    }


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def check_services(env: Mapping[str, str]) -> List[str]:
    """Problems reaching PostgreSQL and Redis (creating the database if missing)."""
    problems = []
    database = env["INTROCOACH_DATABASE_URL"]
    if database.startswith("postgresql"):
        problem = ensure_postgres_database(database)
        if problem:
            problems.append(problem)
    try:
        import redis

        client = redis.Redis.from_url(
            env["INTROCOACH_REDIS_URL"], socket_connect_timeout=3, socket_timeout=3
        )
        client.ping()
        client.close()
    except Exception as error:  # noqa: BLE001 - reported, not raised
        problems.append(
            "Redis does not answer at INTROCOACH_REDIS_URL "
            f"({url_without_password(env['INTROCOACH_REDIS_URL'])}): {error}"
        )
    return problems


def ensure_postgres_database(url: str) -> Optional[str]:
    """Create the database ``url`` names when it does not exist yet.

    Returns:
        None when the database is there (or was created); otherwise a
        one-line description of the problem.
    """
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    from introcoach.storage.db import psycopg2_params

    parsed = make_url(url)
    name = parsed.database or "introcoach"
    try:
        admin = psycopg2.connect(**psycopg2_params(url, database="postgres"))
    except psycopg2.Error as error:
        return (
            "PostgreSQL does not answer at INTROCOACH_DATABASE_URL "
            f"({parsed.render_as_string(hide_password=True)}): {str(error).strip()}"
        )
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                )
                print(f"Created the PostgreSQL database {name!r}.", flush=True)
    except psycopg2.Error as error:
        return (
            f"Could not create the PostgreSQL database {name!r}: {str(error).strip()}"
        )
    finally:
        admin.close()
    return None


def prepare_database(url: str) -> None:
    """Migrate the project's tables and create Rasa's ``events`` table."""
    from rasa.core.tracker_store import SQLTrackerStore

    from introcoach.storage.db import init_db, make_engine

    engine = make_engine(url)
    try:
        init_db(engine)
        SQLTrackerStore.Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Check PostgreSQL and Redis, train if needed, start every replica."""
    from introcoach.model import ensure_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    env = dict(os.environ)
    services = scaled_env(env)
    try:
        replicas = _positive(env, "INTROCOACH_REPLICAS", 2)
        offset = _positive(env, "INTROCOACH_REPLICA_PORT_OFFSET", 100)
        settings = load_settings()
    except ValueError as error:
        print(f"IntroCoach could not start: {error}", file=sys.stderr)
        return 1
    problems = check_services(services)
    if problems:
        print("IntroCoach (scaled) needs PostgreSQL and Redis:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    model = ensure_model()
    stack = ScaledStack(
        settings,
        model,
        extra_env=services,
        with_web=True,
        replicas=replicas,
        port_offset=offset,
    )
    busy = [
        f"{port} ({name})"
        for name, port in _ports(stack).items()
        if listening(settings.host, port)
    ]
    if busy:
        print(
            f"Port {', '.join(busy)} is already in use on {settings.host}: is "
            "IntroCoach already running? Stop it, or choose other ports "
            "(INTROCOACH_RASA_PORT, INTROCOACH_ACTION_PORT, INTROCOACH_WEB_PORT, "
            "INTROCOACH_REPLICA_PORT_OFFSET).",
            file=sys.stderr,
        )
        return 1
    starting = (
        f"Starting {replicas} Rasa servers and {replicas} action servers behind "
        f"two balancers, and the web app, on {settings.host}..."
    )
    ready = (
        READY_MESSAGE.replace("{replicas}", str(replicas))
        .replace("{database}", _database_label(services["INTROCOACH_DATABASE_URL"]))
        .replace("{redis}", url_without_password(services["INTROCOACH_REDIS_URL"]))
    )
    return serve(stack, starting, ready)


def _ports(stack: ScaledStack) -> Dict[str, int]:
    s = stack.settings
    ports = {"rasa balancer": s.rasa_port, "actions balancer": s.action_port}
    ports["web app"] = s.web_port
    ports.update(stack.replica_ports)
    return ports


def _database_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


READY_MESSAGE = """
IntroCoach (scaled) is ready ({seconds:.0f} s).
  Rasa servers, action servers:  {replicas} of each
  conversations and scores:      {database}
  conversation lock:             {redis}
  logs:                          var/log/ (one file per process)

Practise in the browser, and review sessions: http://{s.host}:{s.web_port}/
  users live in that database too, so name it when adding them:
    INTROCOACH_DATABASE_URL={database} \\
      make users ARGS="add --role supervisor --username sam"
The Rasa servers, behind one address:   http://{s.host}:{s.rasa_port}
  balancer status:                      http://{s.host}:{s.rasa_port}/_balancer/health
  make chat                             a terminal chat through the balancer

Press Ctrl-C here to stop everything.
"""


if __name__ == "__main__":
    sys.exit(main())
