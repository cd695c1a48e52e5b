"""The database goes away mid-conversation, then comes back (real PostgreSQL).

The servers run on a throwaway PostgreSQL database. While it refuses
connections, a message gets a clear note (not an empty reply, not a fresh
conversation); once it is back, the same conversation carries on with its
history, and the stored transcript has one session start and nothing twice.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from pg_support import set_connections_allowed, throwaway_postgres
from sqlalchemy import select
from sqlalchemy.engine import make_url

from introcoach.channels import STORE_UNAVAILABLE
from introcoach.model import model_path
from introcoach.stack import Stack, ephemeral_settings
from introcoach.storage import make_engine
from introcoach.storage.transcripts import EVENTS, read_transcript

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory) -> Iterator[Tuple[Stack, str]]:
    with throwaway_postgres() as url:
        running = Stack(
            ephemeral_settings(),
            model_path(),
            log_dir=tmp_path_factory.mktemp("pg-logs"),
            extra_env={"INTROCOACH_DATABASE_URL": url},
        )
        running.start()
        try:
            running.wait_ready(timeout=300)
            yield running, url
        finally:
            running.stop()
            # Let the drop go through even if a test left the database shut.
            set_connections_allowed(make_url(url).database, True)


def say(stack: Stack, sender: str, text: str, **extra: Any) -> List[Dict[str, Any]]:
    body = json.dumps({"sender": sender, "message": text, **extra}).encode()
    request = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers=stack.settings.rest_headers,
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        assert response.status == 200
        return json.loads(response.read().decode())


def test_database_outage_is_reported_and_recovered(pg_stack) -> None:
    stack, url = pg_stack
    database = make_url(url).database
    sender = f"outage-{uuid.uuid4().hex[:8]}"
    opening = say(stack, sender, "Hi!", metadata={"persona_id": "dana"})
    assert opening and opening[0]["text"].startswith("(")
    say(stack, sender, "I'm Sam, a peer support specialist at Hope Center.")

    set_connections_allowed(database, False)
    try:
        during = say(stack, sender, "Do you like gardening?")
    finally:
        set_connections_allowed(database, True)
    assert [m.get("text") for m in during] == [STORE_UNAVAILABLE]

    after = say(stack, sender, "What do you do at the hospital?")
    texts = [m.get("text") or "" for m in after]
    assert texts and all(texts)
    assert not any(t.startswith("(It is") for t in texts), "conversation restarted"

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            kinds = connection.execute(
                select(EVENTS.c.type_name).where(EVENTS.c.sender_id == sender)
            ).scalars()
            assert list(kinds).count("session_started") == 1
        said = [
            t.text for t in read_transcript(engine, sender) if t.speaker == "trainee"
        ]
    finally:
        engine.dispose()
    assert said == [
        "Hi!",
        "I'm Sam, a peer support specialist at Hope Center.",
        "What do you do at the hospital?",
    ]
