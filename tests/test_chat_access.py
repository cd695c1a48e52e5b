"""Whether a chat token still holds, by the database the web app shares."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from argon2 import PasswordHasher

from introcoach.chat_auth import ChatClaims, issue_chat_token, read_chat_token
from introcoach.storage import (
    configure_password_hasher,
    create_user,
    delete_session,
    init_db,
    make_engine,
    start_session,
)
from introcoach.storage.chat_access import (
    DELETED,
    SIGNED_OUT,
    chat_refusals,
    record_sign_out,
)

KEY = "k" * 40
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[Any]:
    configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=8192))
    made = make_engine(f"sqlite:///{tmp_path / 'access.db'}")
    try:
        init_db(made)
        yield made
    finally:
        made.dispose()
        configure_password_hasher(None)


def claims_at(engine: Any, name: str, issued: datetime) -> ChatClaims:
    trainee = create_user(engine, name, "a long enough password", "trainee", name)
    practice = start_session(engine, f"web-{name}", "dana", "small_talk", trainee.id)
    return ChatClaims(
        f"web-{name}", trainee.id, practice.id, 2_000_000_000, issued.timestamp()
    )


def test_tokens_hold_until_the_session_goes_or_the_trainee_signs_out(
    engine: Any,
) -> None:
    fine = claims_at(engine, "fine", T0)
    gone = claims_at(engine, "gone", T0)
    out = claims_at(engine, "out", T0)
    after = claims_at(engine, "after", T0 + timedelta(seconds=2))
    assert chat_refusals(engine, {"a": fine, "b": gone, "c": out}) == {}
    delete_session(engine, gone.sender_id)
    record_sign_out(engine, out.trainee_id, at=T0 + timedelta(microseconds=1))
    # Signed out in the same second as a later token was issued: it holds.
    record_sign_out(engine, after.trainee_id, at=T0 + timedelta(seconds=1.999999))
    assert chat_refusals(
        engine, {"a": fine, "b": gone, "c": out, "d": after}
    ) == {"b": DELETED, "c": SIGNED_OUT}
    assert chat_refusals(engine, {}) == {}


def test_a_token_naming_someone_elses_session_does_not_hold(engine: Any) -> None:
    mine = claims_at(engine, "mine", T0)
    theirs = claims_at(engine, "theirs", T0)
    forged = [
        ChatClaims(theirs.sender_id, mine.trainee_id, theirs.practice_id, 0, 0.0),
        ChatClaims(mine.sender_id, mine.trainee_id, theirs.practice_id, 0, 0.0),
        ChatClaims(mine.sender_id, mine.trainee_id, 999_999, 0, 0.0),
    ]
    assert chat_refusals(engine, dict(enumerate(forged))) == {
        0: DELETED,
        1: DELETED,
        2: DELETED,
    }


def test_the_issue_time_survives_the_token_to_the_microsecond() -> None:
    issued = int(time.time()) - 10 + 0.123456
    claims = read_chat_token(KEY, issue_chat_token(KEY, "web-x", 1, 2, now=issued))
    assert claims.issued_at == issued
    assert claims.expires_at == int(issued) + 15 * 60
