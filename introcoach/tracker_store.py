"""Rasa's SQL tracker store, pointed at the project's database URL, failing loudly.

Rasa's ``SQLTrackerStore`` takes a dialect, host and database name; this reads
the one ``INTROCOACH_DATABASE_URL`` the project's own tables use (default: the
SQLite file in ``var/``), so a single variable moves both to PostgreSQL.
Configured in ``endpoints.yml``:
``type: introcoach.tracker_store.ProjectSQLTrackerStore``.

Rasa 3.6 wraps every tracker store in ``FailSafeTrackerStore``: when the
database does not answer, a read returns nothing (so the trainee's
conversation silently starts afresh, and the fresh start may then be saved on
top of it) and a write goes to memory only (lost at the next restart).
:class:`StrictTrackerStore` replaces that wrapper (``introcoach.rasa_server``
installs it): a failed read or write raises :class:`ConversationStoreUnavailable`,
the channels (:mod:`introcoach.channels`) tell the trainee their message was
not read or saved, and nothing is written until the database answers again.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Optional

import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401 - sa.orm.session below
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    TrackerStore,
    create_engine_kwargs,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
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

            from introcoach.private_files import private_sqlite_file

            # Owner-only before SQLite first opens it (and so its WAL too).
            private_sqlite_file(Path(parsed.database))
        logger.info("tracker store on %s", parsed.get_backend_name())
        # SQLTrackerStore uses a host that contains "://" as the full URL.
        super().__init__(domain=domain, host=url, event_broker=event_broker)
        # The same engine, but checking a pooled connection before use: after a
        # database restart the first message then works, instead of failing on
        # a connection that died during the outage.
        initial: sa.engine.Engine = self.engine  # type: ignore[has-type]
        options = dict(create_engine_kwargs(initial.url))
        if initial.dialect.name == "sqlite" and initial.url.database:
            # SQLAlchemy 1.4 opens a new SQLite connection for every session
            # (NullPool) and runs the pragmas below each time: about a tenth
            # of a message's time. Keep a few open instead; a connection is
            # only ever used by one session at a time.
            options.update(
                poolclass=sa.pool.QueuePool,
                pool_size=4,
                max_overflow=4,
                connect_args={"check_same_thread": False},
            )
        self.engine = sa.create_engine(initial.url, pool_pre_ping=True, **options)
        initial.dispose()
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
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


class ConversationStoreUnavailable(Exception):
    """The tracker store did not answer; the message was not read or not saved."""


class StrictTrackerStore(FailSafeTrackerStore):
    """Rasa's fail-safe wrapper without its silent fallbacks.

    Every error of the wrapped store is logged (with the conversation id, never
    its text) and raised as :class:`ConversationStoreUnavailable`, instead of
    a fresh conversation (on read) or an in-memory copy (on write).
    """

    def _fail(self, what: str, sender_id: Optional[str], error: Exception) -> None:
        logger.error(
            "The tracker store could not %s conversation %s (%s): the trainee is "
            "told, and nothing is kept in memory instead",
            what,
            sender_id,
            error.__class__.__name__,
        )
        raise ConversationStoreUnavailable(
            f"could not {what} conversation {sender_id}"
        ) from error

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """Read a conversation; raises when the store does not answer."""
        try:
            return await self._tracker_store.retrieve(sender_id)
        except Exception as error:
            self._fail("read", sender_id, error)
            raise  # pragma: no cover - _fail always raises

    async def retrieve_full_tracker(
        self, sender_id: str
    ) -> Optional[DialogueStateTracker]:
        """Read every session of a conversation; raises when the store fails."""
        try:
            return await self._tracker_store.retrieve_full_tracker(sender_id)
        except Exception as error:
            self._fail("read", sender_id, error)
            raise  # pragma: no cover

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write a conversation; raises (keeping nothing in memory) on failure."""
        try:
            await self._tracker_store.save(tracker)
        except Exception as error:
            self._fail("save", tracker.sender_id, error)

    async def keys(self) -> Iterable[str]:
        """The stored conversation ids; raises when the store does not answer."""
        try:
            return await self._tracker_store.keys()
        except Exception as error:
            self._fail("list", None, error)
            raise  # pragma: no cover


def strict(store: Optional[TrackerStore], domain: Domain) -> TrackerStore:
    """Drop-in for ``Agent._create_tracker_store``: wrap in the strict store."""
    from rasa.core.tracker_store import InMemoryTrackerStore

    if store is not None:
        store.domain = domain
        return StrictTrackerStore(store)
    return StrictTrackerStore(InMemoryTrackerStore(domain))
