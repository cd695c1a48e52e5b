"""Whether a chat token still holds: its practice session exists, no sign-out since.

A chat token (:mod:`introcoach.chat_auth`) is checked for its signature and
expiry by the Rasa server alone; what can change after it was issued lives in
the database the web app and the Rasa server share: a supervisor deletes the
practice session, or the trainee signs out (:func:`record_sign_out`, which
revokes every chat token of theirs issued before it, in every browser). The
socket channel (:mod:`introcoach.channels`) asks :func:`chat_refusals` when a
socket connects, before each message and in its periodic sweep of open sockets.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Dict, Mapping, Optional, TypeVar

from sqlalchemy import select, update

from introcoach.chat_auth import ChatClaims
from introcoach.storage.db import Bind, transaction
from introcoach.storage.models import PracticeSession, User, utcnow

logger = logging.getLogger(__name__)

#: Why a token no longer holds (values of :func:`chat_refusals`).
DELETED = "deleted"
SIGNED_OUT = "signed_out"

Key = TypeVar("Key")


def record_sign_out(bind: Bind, user_id: int, at: Optional[datetime] = None) -> None:
    """Note that ``user_id`` signed out: their earlier chat tokens stop working.

    Args:
        bind: Engine or session.
        user_id: Who signed out.
        at: When (default: now, UTC).
    """
    with transaction(bind) as session:
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(signed_out_at=at or utcnow())
            .execution_options(synchronize_session=False)
        )
    logger.info("Chat tokens of user %d issued until now are revoked", user_id)


def chat_refusals(bind: Bind, grants: Mapping[Key, ChatClaims]) -> Dict[Key, str]:
    """Which of these valid-looking tokens no longer hold, and why.

    One query for all of them (the channel's sweep passes every open socket).

    Args:
        bind: Engine or session.
        grants: Tokens' claims under any key (the channel uses socket ids).

    Returns:
        ``key -> DELETED`` when the practice session is gone (or no longer the
        token's: another sender or trainee), ``key -> SIGNED_OUT`` when its
        trainee signed out after the token was issued. Keys that hold are left
        out.
    """
    if not grants:
        return {}
    ids = sorted({claims.practice_id for claims in grants.values()})
    with transaction(bind) as session:
        rows = session.execute(
            select(
                PracticeSession.id,
                PracticeSession.sender_id,
                PracticeSession.trainee_id,
                User.signed_out_at,
            )
            .join(User, User.id == PracticeSession.trainee_id)
            .where(PracticeSession.id.in_(ids))
        ).all()
    found = {row.id: row for row in rows}
    refused: Dict[Key, str] = {}
    for key, claims in grants.items():
        row = found.get(claims.practice_id)
        if (
            row is None
            or row.sender_id != claims.sender_id
            or row.trainee_id != claims.trainee_id
        ):
            refused[key] = DELETED
        elif (
            row.signed_out_at is not None
            and row.signed_out_at.timestamp() >= claims.issued_at
        ):
            refused[key] = SIGNED_OUT
    return refused
