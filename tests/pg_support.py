"""Throwaway PostgreSQL databases for the tests (the server on 127.0.0.1:5432).

Each test run creates uniquely named databases and drops them at the end.
Where no server answers, the tests that need one are skipped with the reason.
Imported by test modules; not a test module.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Any, Dict, Iterator

import pytest
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "INTROCOACH_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)


def _admin_params() -> Dict[str, Any]:
    admin_url = make_url(PG_ADMIN_URL)
    params = {
        "host": admin_url.host,
        "port": admin_url.port or 5432,
        "user": admin_url.username,
        "password": admin_url.password,
        "dbname": admin_url.database or "postgres",
        "connect_timeout": 3,
    }
    return {k: v for k, v in params.items() if v is not None}


def admin_connection() -> Any:
    """An autocommit connection to the server's admin database, or a skip."""
    psycopg2 = pytest.importorskip("psycopg2")
    params = _admin_params()
    try:
        admin = psycopg2.connect(**params)
    except psycopg2.OperationalError as error:
        pytest.skip(
            f"PostgreSQL not reachable at {params.get('host')}:{params['port']} as "
            f"{params.get('user')} (set INTROCOACH_TEST_POSTGRES_URL): {error}".strip()
        )
    admin.autocommit = True
    return admin


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it afterwards."""
    from psycopg2 import sql

    admin = admin_connection()
    name = f"introcoach_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = make_url(PG_ADMIN_URL).set(
            drivername="postgresql+psycopg2", database=name
        )
        yield str(url)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
        admin.close()


def set_connections_allowed(database: str, allowed: bool) -> None:
    """Open or shut a database, as an outage does (shutting ends its sessions)."""
    from psycopg2 import sql

    admin = admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(database), sql.SQL("true" if allowed else "false")
                )
            )
            if not allowed:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
    finally:
        admin.close()
