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


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Any]:
    """The action server, the Rasa server and the web app on free ports.

    Started once per test run, on a throwaway SQLite database, with fresh
    tokens; always stopped. Needs the trained model (``make train``).
    """
    from introcoach.model import model_path
    from introcoach.stack import Stack, ephemeral_settings

    model = model_path()
    if not model.exists():
        pytest.fail(
            f"no trained model at {model}: run `make train` first (make test does)"
        )
    database = tmp_path_factory.mktemp("stack-db") / "introcoach.db"
    running = Stack(
        ephemeral_settings(),
        model,
        log_dir=tmp_path_factory.mktemp("logs"),
        extra_env={
            "INTROCOACH_DATABASE_URL": f"sqlite:///{database}",
            # Closing sockets whose token ran out is tested in seconds, not 15.
            "INTROCOACH_SOCKET_SWEEP_SECONDS": "1",
        },
        with_web=True,
    )
    running.start()
    try:
        running.wait_ready(timeout=240)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, making no outside connections."""
    from browser_support import CHROMIUM, LAUNCH_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    problems: List[str] = []
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.on(
        "console",
        lambda message: problems.append(message.text)
        if "Content Security Policy" in message.text
        else None,
    )
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.problems = problems
    try:
        yield page
    finally:
        context.close()


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
