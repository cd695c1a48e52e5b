"""Alembic environment for IntroCoach's own tables.

Run programmatically by :func:`introcoach.storage.db.init_db`, which passes its
connection in ``config.attributes["connection"]``. From the command line
(``alembic -c introcoach/storage/migrations/alembic.ini upgrade head``) the URL
comes from ``INTROCOACH_DATABASE_URL`` or the local default.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from introcoach.storage.db import database_url, get_engine
from introcoach.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    _configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the given connection, or a connection from the engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    with get_engine().begin() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
