"""What the dialogue stores: practice sessions and their scores.

The actions call these two functions. They prepare the database on first use
(migrations to head, once per process), write in one transaction, and never
raise: a failure is logged (ids only) and reported back as ``False`` so the
action can tell the trainee their score was not saved, instead of losing it
quietly or crashing the conversation.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, Optional

from sqlalchemy.engine import Engine

from introcoach import deadline
from introcoach.storage.db import get_engine, init_db
from introcoach.storage.practice import end_session, record_score, start_session

logger = logging.getLogger(__name__)

_ready: set = set()
_ready_lock = threading.Lock()

# What the dialogue calls the two modes, and what the storage layer stores.
MODES = {"pitch": "pitch", "conversation": "small_talk", "small_talk": "small_talk"}


def ready_engine() -> Engine:
    """The configured engine, with the schema migrated once per process."""
    engine = get_engine()
    key = str(engine.url)
    if key not in _ready:
        with _ready_lock:
            if key not in _ready:
                init_db(engine)
                _ready.add(key)
    return engine


def record_session_start(
    sender_id: str, persona_id: str, mode: str = "small_talk"
) -> bool:
    """Create the practice session for a Rasa sender id (idempotent).

    Returns:
        True when stored, False when the database could not be reached.
    """
    try:
        start_session(
            ready_engine(), sender_id, persona_id, MODES.get(mode, "small_talk")
        )
    except Exception:  # noqa: BLE001 - reported to the caller, logged with ids only
        logger.exception("could not store the start of session %s", sender_id)
        return False
    return True


def record_report(
    sender_id: str,
    message_id: Optional[str],
    report: Mapping[str, Any],
    persona_id: str,
) -> bool:
    """Store one score exactly once per (session, user message id).

    Args:
        sender_id: The Rasa conversation id.
        message_id: The id of the user message that was scored; retries of the
            same action carry the same id, so the score is written once.
        report: ``ScoreReport.to_dict()``.
        persona_id: Who the trainee was talking to.

    Returns:
        True when the score is stored (now or by an earlier try).
    """
    mode = str(report.get("mode", "conversation"))
    kind = "pitch" if mode == "pitch" else "conversation"
    if not message_id:
        logger.error("score for session %s has no message id; not stored", sender_id)
        return False
    if deadline.passed():
        # Rasa gave up on this action and told the trainee: a score stored now
        # would be one they never saw (see introcoach.deadline).
        logger.warning("score for session %s came too late; not stored", sender_id)
        return False
    try:
        engine = ready_engine()
        record_score(
            engine,
            sender_id,
            message_id,
            kind,
            report,
            persona_id,
            MODES.get(mode, "small_talk"),
        )
        if kind == "conversation":
            end_session(engine, sender_id)
    except Exception:  # noqa: BLE001 - reported to the caller, logged with ids only
        logger.exception("could not store a %s score for session %s", kind, sender_id)
        return False
    return True
