"""Throwaway PostgreSQL databases for the tests (the server on 127.0.0.1:5432).

Each test run creates uniquely named databases and drops them at the end.
Where no server answers, the tests that need one are skipped with the reason.
Imported by test modules; not a test module.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from introcoach.storage.db import psycopg2_params, throwaway_postgres_database

PG_ADMIN_URL = os.environ.get(
    "INTROCOACH_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)


def admin_connection() -> Any:
    """An autocommit connection to the server's admin database, or a skip."""
    psycopg2 = pytest.importorskip("psycopg2")
    params = psycopg2_params(PG_ADMIN_URL)
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
    admin_connection().close()  # skips the test when no server answers
    with throwaway_postgres_database(PG_ADMIN_URL, "introcoach_test") as url:
        yield url


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
