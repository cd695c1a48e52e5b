"""Reading (and deleting) conversations in Rasa's SQL tracker store.

Rasa's ``SQLTrackerStore`` keeps every event of every conversation in one table,
``events``, in the same database as the project's tables. Rasa creates that
table, not our migrations; :data:`EVENTS` describes it (same columns as
``rasa.core.tracker_store.SQLTrackerStore.SQLEvent``) so it can be queried with
SQLAlchemy Core, and so tests can create it with ``EVENTS_METADATA``.

A transcript is the ``user`` and ``bot`` events that carry text, in the order
Rasa wrote them. Bot messages say who is speaking in their metadata
(``persona``, ``narrator`` or ``coach``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Collection, Dict, List, Mapping, Optional

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    cast,
    delete,
    func,
    inspect,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from introcoach.storage.db import Bind, transaction

logger = logging.getLogger(__name__)

#: Metadata of Rasa's table only; never passed to our migrations.
EVENTS_METADATA = MetaData()

EVENTS = Table(
    "events",
    EVENTS_METADATA,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

SPEAKERS = ("trainee", "persona", "narrator", "coach")
MAX_QUERY_LENGTH = 200
_TEXT_EVENTS = ("user", "bot")
_DELETE_CHUNK = 500


@dataclass(frozen=True)
class Turn:
    """One message of a transcript.

    Attributes:
        index: Position among the transcript's messages, from 0 (comments on a
            turn refer to it).
        speaker: ``trainee``, ``persona``, ``narrator`` or ``coach``.
        text: The message exactly as typed or sent.
        timestamp: When Rasa recorded it (UTC), or None.
        message_id: Rasa's id of a trainee message (what scores refer to).
        persona_id: The persona speaking or being spoken about, when known.
        segment_start: A narration that opens a conversation with a persona.
        custom: The bot message's custom payload (``data.custom``), if any.
        buttons: The quick replies a bot message offered (title and payload).

    """

    index: int
    speaker: str
    text: str
    timestamp: Optional[datetime]
    message_id: Optional[str] = None
    persona_id: Optional[str] = None
    segment_start: bool = False
    custom: Dict[str, Any] = field(default_factory=dict)
    buttons: List[Dict[str, str]] = field(default_factory=list)


def has_events_table(session: Session) -> bool:
    """Whether Rasa has created its ``events`` table in this database yet."""
    return bool(inspect(session.connection()).has_table("events"))


def _as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _timestamp(value: Optional[float]) -> Optional[datetime]:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _turn(index: int, type_name: str, stamp: Optional[float], raw: str) -> Turn:
    try:
        data = _as_dict(json.loads(raw or "{}"))
    except json.JSONDecodeError:
        data = {}
    text = data.get("text")
    metadata = _as_dict(data.get("metadata"))
    when = _timestamp(stamp if stamp is not None else data.get("timestamp"))
    if type_name == "user":
        message_id = data.get("message_id")
        return Turn(
            index=index,
            speaker="trainee",
            text=str(text),
            timestamp=when,
            message_id=str(message_id) if message_id else None,
        )
    payload = _as_dict(data.get("data"))
    custom = _as_dict(payload.get("custom"))
    speaker = metadata.get("speaker") or custom.get("speaker")
    persona_id = metadata.get("persona_id") or custom.get("persona_id")
    return Turn(
        index=index,
        # Responses without a speaker are the assistant's own (help, errors).
        speaker=speaker if speaker in SPEAKERS[1:] else "coach",
        text=str(text),
        timestamp=when,
        persona_id=str(persona_id) if persona_id else None,
        segment_start=bool(metadata.get("segment_start")),
        custom=custom,
        buttons=[
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in payload.get("buttons") or []
            if isinstance(b, dict)
        ],
    )


def read_transcript(bind: Bind, sender_id: str) -> List[Turn]:
    """The conversation's messages in the order Rasa stored them.

    Args:
        bind: Engine or session.
        sender_id: The Rasa conversation id.

    Returns:
        Trainee and bot messages with text, numbered from 0; empty when the
        conversation (or Rasa's table) does not exist.

    """
    with transaction(bind) as session:
        if not has_events_table(session):
            return []
        rows = session.execute(
            select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
            .where(
                EVENTS.c.sender_id == sender_id,
                EVENTS.c.type_name.in_(_TEXT_EVENTS),
            )
            .order_by(EVENTS.c.id)
        ).all()
    turns: List[Turn] = []
    for type_name, stamp, raw in rows:
        turn = _turn(len(turns), type_name, stamp, raw)
        if turn.text and turn.text != "None":
            turns.append(turn)
    return turns


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_of(session: Session) -> Any:
    """The ``text`` member of the event's JSON, as SQL for this backend."""
    if session.get_bind().dialect.name == "postgresql":
        document = cast(EVENTS.c.data, JSON)
    else:
        # SQLite's JSON functions read the text column as it is.
        document = type_coerce(EVENTS.c.data, JSON)
    return document["text"].as_string()


def search_sender_ids(
    bind: Bind, query: str, within: Optional[Collection[str]] = None
) -> List[str]:
    """Conversations in which the trainee or the bot wrote ``query``.

    Matching is a case-insensitive substring match on the message text (SQLite
    folds ASCII letters only). The query is a bound parameter with the LIKE
    wildcards escaped, so ``%`` and ``_`` match themselves.

    Args:
        bind: Engine or session.
        query: The text to look for (surrounding spaces are ignored).
        within: Look only in these conversations.

    Returns:
        Matching sender ids, sorted; empty for an empty query.

    Raises:
        ValueError: The query is longer than :data:`MAX_QUERY_LENGTH`.

    """
    needle = query.strip()
    if not needle:
        return []
    if len(needle) > MAX_QUERY_LENGTH:
        raise ValueError(f"search text is longer than {MAX_QUERY_LENGTH} characters")
    with transaction(bind) as session:
        if not has_events_table(session):
            return []
        statement = (
            select(EVENTS.c.sender_id)
            .where(
                EVENTS.c.type_name.in_(_TEXT_EVENTS),
                _text_of(session).ilike(f"%{_escape_like(needle)}%", escape="\\"),
            )
            .distinct()
            .order_by(EVENTS.c.sender_id)
        )
        if within is not None:
            ids = list(within)
            if not ids:
                return []
            statement = statement.where(
                or_(
                    *(
                        EVENTS.c.sender_id.in_(ids[start : start + _DELETE_CHUNK])
                        for start in range(0, len(ids), _DELETE_CHUNK)
                    )
                )
            )
        return list(session.execute(statement).scalars())


def delete_events(bind: Bind, sender_ids: Collection[str]) -> int:
    """Delete every tracker event of these conversations.

    Args:
        bind: Engine or session (use the caller's session to delete the
            practice session and its events in one transaction).
        sender_ids: Rasa conversation ids.

    Returns:
        How many event rows were deleted.

    """
    ids = sorted(set(sender_ids))
    if not ids:
        return 0
    deleted = 0
    with transaction(bind) as session:
        if not has_events_table(session):
            return 0
        for start in range(0, len(ids), _DELETE_CHUNK):
            result = session.execute(
                delete(EVENTS).where(
                    EVENTS.c.sender_id.in_(ids[start : start + _DELETE_CHUNK])
                )
            )
            deleted += int(result.rowcount or 0)
    logger.info("Deleted %d tracker events of %d conversations", deleted, len(ids))
    return deleted


def orphan_sender_ids(bind: Bind, before: datetime) -> List[str]:
    """Conversations with no practice session whose last event is before ``before``.

    Rasa stores a conversation even when its practice session could not be
    recorded (the database was away for a moment, or the conversation came in
    over a channel that records none); retention deletes these too, once they
    are as old as the sessions it deletes.

    Args:
        bind: Engine or session.
        before: Only conversations quiet since before this time.

    Returns:
        Their sender ids.

    """
    from introcoach.storage.models import PracticeSession

    with transaction(bind) as session:
        if not has_events_table(session):
            return []
        return list(
            session.execute(
                select(EVENTS.c.sender_id)
                .where(EVENTS.c.sender_id.not_in(select(PracticeSession.sender_id)))
                .group_by(EVENTS.c.sender_id)
                .having(func.max(EVENTS.c.timestamp) < before.timestamp())
                .order_by(EVENTS.c.sender_id)
            ).scalars()
        )


def event_row(
    sender_id: str, event: Mapping[str, Any], timestamp: float
) -> Dict[str, Any]:
    """A row for :data:`EVENTS` as Rasa would write it (seeding and tests).

    Args:
        sender_id: The Rasa conversation id.
        event: The event's dict (``{"event": "user", "text": ...}``).
        timestamp: Unix time.

    Returns:
        Column values for an insert.

    """
    stored = {**event, "timestamp": timestamp}
    parse_data = _as_dict(stored.get("parse_data"))
    return {
        "sender_id": sender_id,
        "type_name": str(stored.get("event")),
        "timestamp": timestamp,
        "intent_name": _as_dict(parse_data.get("intent")).get("name"),
        "action_name": stored.get("name") if stored.get("event") == "action" else None,
        "data": json.dumps(stored),
    }
