"""A tracker store that does not answer is reported, never papered over.

Rasa's own ``FailSafeTrackerStore`` would start a fresh conversation (on a
failed read) or keep events in memory (on a failed write); the strict store
raises, and the channels turn that into a clear note for the trainee.
"""

from __future__ import annotations

import logging
from typing import Any, List

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from introcoach.channels import HANDLING_FAILED, STORE_UNAVAILABLE, reporting
from introcoach.tracker_store import (
    ConversationStoreUnavailable,
    StrictTrackerStore,
    strict,
)

SECRET_TEXT = "my phone is 555-0100"


class BrokenStore(InMemoryTrackerStore):
    """Fails every read and write, as a database that has gone away does."""

    async def retrieve(self, sender_id: str) -> Any:
        raise ConnectionError("database is gone")

    async def retrieve_full_tracker(self, sender_id: str) -> Any:
        raise ConnectionError("database is gone")

    async def save(self, tracker: DialogueStateTracker) -> None:
        raise ConnectionError("database is gone")

    async def keys(self) -> Any:
        raise ConnectionError("database is gone")


@pytest.fixture
def store() -> StrictTrackerStore:
    return StrictTrackerStore(BrokenStore(Domain.empty()))


async def test_failed_read_raises_instead_of_starting_afresh(store, caplog) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(ConversationStoreUnavailable):
        await store.retrieve("web-123")
    with pytest.raises(ConversationStoreUnavailable):
        await store.retrieve_full_tracker("web-123")
    with pytest.raises(ConversationStoreUnavailable):
        await store.get_or_create_tracker("web-123")
    assert "web-123" in caplog.text and "ConnectionError" in caplog.text


async def test_failed_write_keeps_nothing_in_memory(store, caplog) -> None:
    tracker = DialogueStateTracker("web-123", slots=[])
    tracker.update(UserUttered(SECRET_TEXT))
    with caplog.at_level(logging.ERROR), pytest.raises(ConversationStoreUnavailable):
        await store.save(tracker)
    assert await store.fallback_tracker_store.retrieve("web-123") is None
    assert SECRET_TEXT not in caplog.text  # ids in logs, never message text


async def test_a_working_store_is_used_as_is() -> None:
    wrapped = strict(InMemoryTrackerStore(Domain.empty()), Domain.empty())
    tracker = DialogueStateTracker("web-9", slots=[])
    tracker.update(UserUttered("hello"))
    await wrapped.save(tracker)
    assert (await wrapped.retrieve("web-9")).latest_message.text == "hello"
    assert isinstance(strict(None, Domain.empty()), StrictTrackerStore)


def _message(output: CollectingOutputChannel) -> UserMessage:
    return UserMessage(SECRET_TEXT, output, "web-123", message_id="m-1")


@pytest.mark.parametrize(
    "error, note",
    [
        (ConversationStoreUnavailable("could not read"), STORE_UNAVAILABLE),
        (RuntimeError("a bug"), HANDLING_FAILED),
    ],
)
async def test_channels_answer_failures_with_a_note(error, note, caplog) -> None:
    async def failing(message: UserMessage) -> None:
        raise error

    output = CollectingOutputChannel()
    with caplog.at_level(logging.ERROR):
        await reporting(failing)(_message(output))
    assert [m["text"] for m in output.messages] == [note]
    assert SECRET_TEXT not in caplog.text


async def test_replies_already_sent_are_kept_before_the_note() -> None:
    async def replies_then_fails_to_save(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Hi!"})
        raise ConversationStoreUnavailable("could not save")

    output = CollectingOutputChannel()
    await reporting(replies_then_fails_to_save)(_message(output))
    assert [m["text"] for m in output.messages] == ["Hi!", STORE_UNAVAILABLE]


async def test_success_passes_through() -> None:
    seen: List[str] = []

    async def fine(message: UserMessage) -> None:
        seen.append(message.text)
        # Rasa sends every bot message through send_response.
        await message.output_channel.send_response(
            message.sender_id, {"text": "Hello!"}
        )

    output = CollectingOutputChannel()
    await reporting(fine)(_message(output))
    assert seen == [SECRET_TEXT]
    assert [m["text"] for m in output.messages] == ["Hello!"]


def test_rasa_server_installs_the_strict_store() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.agent import Agent

    from introcoach.rasa_server import install

    originals = (
        Agent.__dict__["_create_tracker_store"],
        RemoteAction.__dict__["_validate_action_result"],
    )
    try:
        install()
        made = Agent._create_tracker_store(None, Domain.empty())
        assert isinstance(made, StrictTrackerStore)
    finally:
        Agent._create_tracker_store = originals[0]
        RemoteAction._validate_action_result = originals[1]


# -- what the REST channel refuses before Rasa sees it ---------------------------


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"", "The body must be JSON"),
        (b"{not json", "The body must be JSON"),
        (b"\xff\xfe", "The body must be JSON"),
        (b'["a list"]', "The body must be JSON"),
        (b'{"message": "hi"}', '"sender" must be a non-empty string'),
        (b'{"sender": "  ", "message": "hi"}', '"sender" must be a non-empty string'),
        (b'{"sender": 7, "message": "hi"}', '"sender" must be a non-empty string'),
        (b'{"sender": "' + b"s" * 300 + b'", "message": "hi"}', "at most 255"),
        (b'{"sender": "a\\u0000b", "message": "hi"}', "printable"),
        (b'{"sender": "me"}', '"message" must be a string'),
        (b'{"sender": "me", "message": null}', '"message" must be a string'),
        (b'{"sender": "me", "message": "hi", "metadata": "x"}', '"metadata"'),
    ],
)
def test_malformed_rest_requests_get_400_with_the_reason(
    raw: bytes, error: str
) -> None:
    import json

    from introcoach.channels import check_rest_body

    answer = check_rest_body(raw)
    assert answer is not None and answer.status == 400
    assert error in json.loads(answer.body)["error"]


@pytest.mark.parametrize(
    "message, note",
    [
        ("", "EMPTY"),
        (" \n\t ", "EMPTY"),
        ("x" * 100_000, "TOO_LONG"),
        ("hi\x00there", "CONTROL"),
        ("bell\x07", "CONTROL"),
    ],
)
def test_unusable_messages_get_a_coach_note(message: str, note: str) -> None:
    import json

    from introcoach import channels

    raw = json.dumps({"sender": "me", "message": message}).encode()
    answer = channels.check_rest_body(raw)
    assert answer is not None and answer.status == 200
    assert json.loads(answer.body) == [
        {"recipient_id": "me", "text": getattr(channels, note)}
    ]


@pytest.mark.parametrize(
    "message",
    [
        "Hi, I'm Sam 👋🏽",
        "مرحبا، أنا سام",  # right-to-left
        "Zoë and Zoë (combining mark)",
        "<script>alert(1)</script>",
        "'; DROP TABLE events; --",
        "tab\tand\nnewline",
    ],
)
def test_ordinary_odd_messages_pass_through(message: str) -> None:
    import json

    from introcoach.channels import check_rest_body

    raw = json.dumps({"sender": "me", "message": message}).encode()
    assert check_rest_body(raw) is None


async def test_a_message_that_gets_no_reply_gets_a_note(caplog) -> None:
    from introcoach.channels import NO_REPLY

    async def silent(message: UserMessage) -> None:
        return None  # what Rasa does when the action server is down

    output = CollectingOutputChannel()
    with caplog.at_level(logging.WARNING):
        await reporting(silent)(_message(output))
    assert [m["text"] for m in output.messages] == [NO_REPLY]
    assert "got no reply" in caplog.text and SECRET_TEXT not in caplog.text

    quiet = CollectingOutputChannel()
    await reporting(silent)(UserMessage("/session_start", quiet, "web-1"))
    assert quiet.messages == []  # opening an open conversation says nothing


@pytest.mark.parametrize(
    "value, expected", [("", 15.0), ("4.5", 4.5), ("soon", 15.0), ("-1", 15.0)]
)
def test_action_timeout_setting(value: str, expected: float) -> None:
    from introcoach.rasa_server import action_timeout

    assert action_timeout({"INTROCOACH_ACTION_TIMEOUT": value}) == expected


async def test_the_sqlite_tracker_store_reuses_its_connections(
    tmp_path, monkeypatch
) -> None:
    """One SQLite connection serves many saves and reads (no reconnect each time)."""
    import sqlalchemy as sa

    from introcoach.tracker_store import ProjectSQLTrackerStore

    monkeypatch.setenv("INTROCOACH_DATABASE_URL", f"sqlite:///{tmp_path / 'rasa.db'}")
    store = ProjectSQLTrackerStore(Domain.empty())
    connects: List[Any] = []
    sa.event.listen(store.engine, "connect", lambda *_: connects.append(1))
    assert isinstance(store.engine.pool, sa.pool.QueuePool)
    tracker = DialogueStateTracker("web-pool", slots=[])
    for n in range(20):
        tracker.update(UserUttered(f"message {n}"))
        await store.save(tracker)
        stored = await store.retrieve("web-pool")
        assert stored is not None and stored.latest_message.text == f"message {n}"
    assert len(connects) <= 1
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.engine.dispose()
