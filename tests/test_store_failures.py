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
        await message.output_channel.send_text_message(message.sender_id, "Hi!")
        raise ConversationStoreUnavailable("could not save")

    output = CollectingOutputChannel()
    await reporting(replies_then_fails_to_save)(_message(output))
    assert [m["text"] for m in output.messages] == ["Hi!", STORE_UNAVAILABLE]


async def test_success_passes_through() -> None:
    seen: List[str] = []

    async def fine(message: UserMessage) -> None:
        seen.append(message.text)

    output = CollectingOutputChannel()
    await reporting(fine)(_message(output))
    assert seen == [SECRET_TEXT] and output.messages == []


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
