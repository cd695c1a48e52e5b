"""Engines, the database URL, migrations and transactions.

Nothing here runs at import time: the engine is made from configuration the first
time :func:`get_engine` is called, and the schema is created or upgraded only by
:func:`init_db`.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Union

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from introcoach.private_files import private_sqlite_file
from introcoach.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

URL_VARIABLE = "INTROCOACH_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary key for the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK = 0x1C0AC4

Bind = Union[Engine, Session]

_engines: Dict[str, Engine] = {}
_engines_lock = threading.Lock()


def default_url() -> str:
    """Return the local SQLite file URL used when none is configured."""
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'introcoach.db'}"


def database_url(env: Optional[Mapping[str, str]] = None) -> str:
    """Read the database URL from ``INTROCOACH_DATABASE_URL`` (or the default).

    Args:
        env: Variables to read; ``os.environ`` when omitted.

    Returns:
        An SQLAlchemy URL.

    """
    env = os.environ if env is None else env
    return env.get(URL_VARIABLE, "").strip() or default_url()


def _sqlite_file(url: str) -> Optional[Path]:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _prepare_sqlite(engine: Engine, in_memory: bool) -> None:
    """Foreign keys, WAL, and transactions SQLAlchemy controls.

    pysqlite opens transactions lazily and commits before DDL on its own; the
    recipe from the SQLAlchemy docs turns that off and emits ``BEGIN`` itself, so
    ``session.begin_nested()`` and transactional migrations behave. ``IMMEDIATE``
    takes the write lock at the start: a transaction that read first and writes
    later would otherwise fail at once (SQLITE_BUSY) when another writer got in
    between, instead of waiting for it.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # Wait for a busy writer instead of failing at once.
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # Safe with WAL (no corruption); saves an fsync per commit.
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Make a new, uncached engine for ``url``, set up for this project.

    For a SQLite file the folder is created when missing, and the file is
    created owner-only before SQLite opens it (:mod:`introcoach.private_files`).

    Args:
        url: An SQLAlchemy URL.

    Returns:
        The engine (the caller disposes of it).

    """
    backend = make_url(url).get_backend_name()
    kwargs: Dict[str, Any] = {"future": True}
    if backend == "sqlite":
        path = _sqlite_file(url)
        in_memory = path is None
        if path is not None:
            private_sqlite_file(path)
        else:
            # One shared connection, or every checkout would see an empty database.
            kwargs.update(
                poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        engine = create_engine(url, **kwargs)
        _prepare_sqlite(engine, in_memory)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def get_engine(url: Optional[str] = None) -> Engine:
    """Return the engine for ``url`` (default: :func:`database_url`), made once.

    Args:
        url: An SQLAlchemy URL; the configured one when omitted.

    Returns:
        A cached engine.

    """
    url = url or database_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
            logger.debug("Created engine for backend %s", engine.dialect.name)
        return engine


def psycopg2_params(url: str, database: Optional[str] = None) -> Dict[str, Any]:
    """psycopg2 connection keywords for a SQLAlchemy PostgreSQL URL.

    Args:
        url: E.g. ``postgresql+psycopg2://postgres@127.0.0.1:5432/introcoach``.
        database: Connect to this database instead of the URL's (e.g. the
            server's ``postgres`` database, to create or drop another).
    """
    parsed = make_url(url)
    params = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": database or parsed.database or "postgres",
        "connect_timeout": 3,
    }
    return {k: v for k, v in params.items() if v is not None}


@contextmanager
def throwaway_postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it afterwards.

    For tests and benchmarks. ``admin_url`` names a server and a user that may
    create databases; the new one is dropped even while sessions are open.
    """
    import uuid

    import psycopg2
    from psycopg2 import sql

    admin = psycopg2.connect(**psycopg2_params(admin_url))
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = make_url(admin_url).set(drivername="postgresql+psycopg2", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
        admin.close()


def dispose_engines() -> None:
    """Dispose of and forget every cached engine (tests, forked workers)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped in this package."""
    config = Config()
    # ConfigParser interpolation: a literal '%' in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def init_db(engine: Optional[Engine] = None, revision: str = "head") -> None:
    """Create or upgrade the schema by running the Alembic migrations.

    Args:
        engine: Where to migrate; :func:`get_engine` when omitted.
        revision: Target revision.

    """
    engine = engine or get_engine()
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Services starting together migrate one after the other; SQLite
            # gets the same from BEGIN IMMEDIATE.
            connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("Database schema at revision %s (%s)", revision, engine.dialect.name)


@contextmanager
def transaction(bind: Bind) -> Iterator[Session]:
    """Give a session inside a transaction: all of a write lands, or none of it.

    With an engine, a new session is opened and committed at the end (objects
    stay readable afterwards). With a session already in a transaction, that
    transaction is used and the caller commits; otherwise one is begun and
    committed here.

    Args:
        bind: An engine or a session.

    Yields:
        The session to work in.

    """
    if isinstance(bind, Session):
        if bind.in_transaction():
            yield bind
        else:
            with bind.begin():
                yield bind
        return
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session


def insert_ignoring_conflict(
    session: Session, model: Any, values: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``; True when a row was written.

    The database decides which writer wins, so two concurrent callers cannot
    both insert, and the loser's transaction stays usable (no IntegrityError).

    Args:
        session: The session whose transaction to use.
        model: A mapped class.
        values: Column values.
        keys: Columns of the unique constraint or index that may conflict.

    Returns:
        Whether this call inserted the row.

    """
    statement = _insert(session, model).values(**values)
    result = session.execute(statement.on_conflict_do_nothing(index_elements=keys))
    return bool(result.rowcount == 1)


def upsert(
    session: Session,
    model: Any,
    values: Mapping[str, Any],
    keys: Sequence[str],
    update: Mapping[str, Any],
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET update``, atomically.

    Args:
        session: The session whose transaction to use.
        model: A mapped class.
        values: Column values for a new row.
        keys: Columns of the unique constraint that may conflict.
        update: Column values to set on an existing row.

    """
    statement = _insert(session, model).values(**values)
    session.execute(
        statement.on_conflict_do_update(index_elements=keys, set_=dict(update))
    )


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(model)
    if dialect == "sqlite":
        return sqlite_insert(model)
    raise NotImplementedError(f"Unsupported database backend: {dialect}")
