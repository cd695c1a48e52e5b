"""Shared fixtures: trackers built fresh for every test, and a minimal domain."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

TrackerFactory = Callable[..., Tracker]


def user_event(text: str, intent: str = "comment") -> Dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 1.0}, "entities": []},
    }


def bot_event(text: str, speaker: str = "persona", **metadata: Any) -> Dict[str, Any]:
    return {
        "event": "bot",
        "text": text,
        "data": {},
        "metadata": {"speaker": speaker, **metadata},
    }


@pytest.fixture(autouse=True, scope="session")
def _throwaway_database(tmp_path_factory) -> Iterator[Path]:
    """Actions store sessions and scores: point them at a temporary SQLite file."""
    path = tmp_path_factory.mktemp("db") / "introcoach.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INTROCOACH_DATABASE_URL", f"sqlite:///{path}")
        yield path


@pytest.fixture
def make_tracker() -> TrackerFactory:
    """Build a new tracker per call: never shared between tests."""

    def build(
        text: str = "",
        intent: str = "comment",
        entities: Optional[List[Dict[str, Any]]] = None,
        slots: Optional[Dict[str, Any]] = None,
        events: Optional[List[Dict[str, Any]]] = None,
        sender_id: str = "test-sender",
        active_loop: Optional[str] = None,
    ) -> Tracker:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
            "message_id": uuid.uuid4().hex,
        }
        all_slots = {"persona_id": "dana", "persona_memory": None, "user_name": None}
        all_slots.update(slots or {})
        history = list(events or [])
        if text:
            history.append(user_event(text, intent))
        return Tracker(
            sender_id=sender_id,
            slots=all_slots,
            latest_message=latest,
            events=history,
            paused=False,
            followup_action=None,
            active_loop={"name": active_loop} if active_loop else {},
            latest_action_name="action_listen",
        )

    return build


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def domain() -> Dict[str, Any]:
    return {"slots": {}, "intents": [], "entities": [], "responses": {}, "forms": {}}
