"""Everything restarted, politely and by a crash: nothing stored is lost (SQLite).

The servers of ``make run`` on a throwaway SQLite file hold three scored
conversations; then they are stopped and started again, and later killed with
SIGKILL while messages are in flight and started again. Each time every
transcript and score is still there, unchanged, SQLite's ``PRAGMA
integrity_check`` says ``ok``, and the conversations carry on with their
history.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from sqlalchemy import func, select
from test_integration import Chat, custom, joined

from introcoach.model import model_path
from introcoach.stack import Stack, ephemeral_settings
from introcoach.storage import get_session, list_scores, make_engine
from introcoach.storage.transcripts import EVENTS, read_transcript

pytestmark = pytest.mark.model

Snapshot = Dict[str, Tuple[List[Tuple[str, str]], List[Tuple[str, float]]]]


@pytest.fixture(scope="module")
def sqlite_stack(tmp_path_factory) -> Iterator[Tuple[Stack, Path]]:
    database = tmp_path_factory.mktemp("restart-db") / "introcoach.db"
    running = Stack(
        ephemeral_settings(),
        model_path(),
        log_dir=tmp_path_factory.mktemp("restart-logs"),
        extra_env={"INTROCOACH_DATABASE_URL": f"sqlite:///{database}"},
    )
    running.start()
    try:
        running.wait_ready(timeout=300)
        yield running, database
    finally:
        running.stop()


def snapshot(database: Path, senders: List[str]) -> Snapshot:
    """Every stored turn and score of these conversations."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        taken: Snapshot = {}
        for sender in senders:
            turns = [(t.speaker, t.text) for t in read_transcript(engine, sender)]
            practice = get_session(engine, sender)
            assert practice is not None
            scores = [(s.kind, s.overall) for s in list_scores(engine, practice.id)]
            taken[sender] = (turns, scores)
        return taken
    finally:
        engine.dispose()


def integrity(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def restart(stack: Stack) -> None:
    stack.start()
    stack.wait_ready(timeout=300)


def test_a_restart_and_a_crash_lose_nothing(sqlite_stack) -> None:
    stack, database = sqlite_stack
    chats: List[Chat] = []
    for persona, name in (("dana", "Sam"), ("marcus", "Lee"), ("priya", "Ana")):
        chat = Chat(stack, persona)
        chat.say("Hello!")
        chat.say(f"I'm {name}, a peer support specialist at Hope Center.")
        chat.say("I love gardening, do you garden?")
        assert custom(chat.say("how did I do?"), "introcoach.feedback")
        chats.append(chat)
    senders = [chat.sender for chat in chats]
    before = snapshot(database, senders)
    assert all(len(scores) == 1 for _, scores in before.values())

    # 1. Stopped and started again.
    stack.stop()
    assert integrity(database) == "ok"
    restart(stack)
    assert snapshot(database, senders) == before
    reply = joined(chats[0].say("Where were we?"))
    assert reply and not reply.startswith("(It is"), "the conversation started over"

    # 2. Killed (SIGKILL, every process) while messages are on their way.
    before = snapshot(database, senders)
    in_flight: List[Any] = []

    def talk(chat: Chat) -> None:
        try:
            chat.say("Tell me more about your work.")
        except Exception as error:  # noqa: BLE001 - the servers die under it
            in_flight.append(error)

    talkers = [threading.Thread(target=talk, args=(chat,)) for chat in chats[1:]]
    for thread in talkers:
        thread.start()
    for process in stack.processes.values():
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    for thread in talkers:
        thread.join(timeout=120)
    assert integrity(database) == "ok"
    restart(stack)
    assert integrity(database) == "ok"
    after = snapshot(database, senders)
    for sender in senders:
        turns, scores = after[sender]
        old_turns, old_scores = before[sender]
        assert turns[: len(old_turns)] == old_turns, f"{sender}: history changed"
        assert scores == old_scores, f"{sender}: scores changed"
    for chat in chats:
        replies = chat.say("So, how did I do?")
        assert custom(replies, "introcoach.feedback"), "no score after the crash"
    final = snapshot(database, senders)
    assert all(len(scores) == 2 for _, scores in final.values())
    assert session_starts(database, senders) == {sender: 1 for sender in senders}


def session_starts(database: Path, senders: List[str]) -> Dict[str, int]:
    """How many times each conversation started (1: never started over)."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(EVENTS.c.sender_id, func.count())
                .where(EVENTS.c.sender_id.in_(senders))
                .where(EVENTS.c.type_name == "session_started")
                .group_by(EVENTS.c.sender_id)
            ).all()
        return {sender: count for sender, count in rows}
    finally:
        engine.dispose()
