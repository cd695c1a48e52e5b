"""Rasa's SQL tracker store, pointed at the project's database URL.

Rasa's ``SQLTrackerStore`` takes a dialect, host and database name; this reads
the one ``INTROCOACH_DATABASE_URL`` the project's own tables use (default: the
SQLite file in ``var/``), so a single variable moves both to PostgreSQL.
Configured in ``endpoints.yml``:
``type: introcoach.tracker_store.ProjectSQLTrackerStore``.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy import event
from sqlalchemy.engine import make_url

from introcoach.storage.db import database_url

logger = logging.getLogger(__name__)


class ProjectSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` on ``INTROCOACH_DATABASE_URL``."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        url = database_url()
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        logger.info("tracker store on %s", parsed.get_backend_name())
        # SQLTrackerStore uses a host that contains "://" as the full URL.
        super().__init__(domain=domain, host=url, event_broker=event_broker)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL, one fsync less per commit, and waiting for a busy writer.

    The action server writes scores to the same file, so Rasa's connections
    wait for it (busy_timeout) instead of failing with "database is locked".
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
