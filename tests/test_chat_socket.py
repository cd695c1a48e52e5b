"""The widget's socket.io channel on the real Rasa server: tokens and sender binding.

Uses python-socketio's asyncio client, as the browser widget uses
socket.io-client: connect with ``auth={"token": ...}``, ``session_request``,
then ``user_uttered`` / ``bot_uttered``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pytest
import socketio
from sqlalchemy import func, select

from introcoach.channels import (
    CONTROL,
    EMPTY,
    MAX_METADATA_CHARS,
    METADATA_TOO_LARGE,
    NO_TEXT,
    SESSION_DELETED,
    TOO_LONG,
)
from introcoach.chat_auth import issue_chat_token
from introcoach.stack import Stack
from introcoach.storage import (
    create_user,
    delete_session,
    get_session,
    list_scores,
    make_engine,
    start_session,
    transaction,
)
from introcoach.storage.transcripts import EVENTS, delete_events

pytestmark = pytest.mark.model

QUIET_SECONDS = 1.5
MAX_WAIT_SECONDS = 60


@dataclass
class Practice:
    sender_id: str
    practice_id: int
    trainee_id: int


def new_practice(
    stack: Stack, persona: str = "dana", mode: str = "small_talk"
) -> Practice:
    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        trainee = create_user(
            engine,
            f"t-{uuid.uuid4().hex[:8]}",
            "a long enough password",
            "trainee",
            "Socket Trainee",
        )
        sender = f"web-{uuid.uuid4().hex[:12]}"
        practice = start_session(engine, sender, persona, mode, trainee_id=trainee.id)
        return Practice(sender, practice.id, trainee.id)
    finally:
        engine.dispose()


def token_for(stack: Stack, practice: Practice, key: Optional[str] = None) -> str:
    return issue_chat_token(
        key or stack.settings.jwt_key,
        practice.sender_id,
        practice.trainee_id,
        practice.practice_id,
    )


class Refused(Exception):
    """The server refused the socket (its ``connect_error`` message)."""


@dataclass
class SocketChat:
    """A socket.io client that collects what the server sends."""

    client: socketio.AsyncClient
    sender_id: str
    bot: asyncio.Queue[Dict[str, Any]] = field(default_factory=asyncio.Queue)
    errors: List[str] = field(default_factory=list)
    confirmed: List[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def open(cls, stack: Stack, token: Any, sender_id: str) -> SocketChat:
        """Connect with ``token``; raises :class:`Refused` when the server says no."""
        client = socketio.AsyncClient(reconnection=False)
        chat = cls(client, sender_id)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def connected() -> None:
            if not outcome.done():
                outcome.set_result(None)

        def refused(data: Any) -> None:
            if not outcome.done():
                outcome.set_exception(Refused(str(data)))

        client.on("connect", connected)
        client.on("connect_error", refused)
        client.on("bot_uttered", chat.bot.put_nowait)
        client.on("introcoach_error", lambda data: chat.errors.append(data["message"]))
        client.on("session_confirm", chat.confirmed.append)
        client.on("disconnect", lambda *_: chat.closed.set())
        await client.connect(
            stack.settings.rasa_url,
            socketio_path="/socket.io",
            # Rasa pins aiohttp 3.9, too old for python-socketio's websocket
            # client; the widget itself uses websockets (see the browser tests).
            transports=["polling"],
            auth={"token": token},
            wait=False,  # the client's own wait sits out 30 s on a refusal
        )
        try:
            await asyncio.wait_for(outcome, 15)
        except BaseException:
            await chat.close()
            raise
        return chat

    async def request_session(self, session_id: Optional[str] = None) -> None:
        await self.client.emit(
            "session_request", {"session_id": session_id or self.sender_id}
        )
        await asyncio.sleep(0.5)

    async def send(
        self,
        text: str,
        metadata: Optional[Dict[str, Any]] = None,
        session_id: Optional[str] = None,
    ) -> None:
        await self.client.emit(
            "user_uttered",
            {
                "message": text,
                "session_id": session_id or self.sender_id,
                "metadata": metadata or {},
            },
        )

    async def call(
        self,
        text: str,
        metadata: Optional[Dict[str, Any]] = None,
        timeout: float = MAX_WAIT_SECONDS,
    ) -> Any:
        """Send a message and return the server's acknowledgement."""
        return await self.client.call(
            "user_uttered",
            {"message": text, "session_id": self.sender_id, "metadata": metadata or {}},
            timeout=timeout,
        )

    async def wait_closed(self, seconds: float) -> float:
        """Wait until the server closes the socket; returns how long it took."""
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(self.closed.wait(), seconds)
        return asyncio.get_running_loop().time() - started

    async def replies(self) -> List[Dict[str, Any]]:
        """Bot messages until none has come for a moment (or the deadline)."""
        got = [await asyncio.wait_for(self.bot.get(), MAX_WAIT_SECONDS)]
        while True:
            try:
                got.append(await asyncio.wait_for(self.bot.get(), QUIET_SECONDS))
            except asyncio.TimeoutError:
                return got

    async def say(
        self, text: str, metadata: Optional[Dict[str, Any]] = None
    ) -> List[Dict[str, Any]]:
        await self.send(text, metadata)
        return await self.replies()

    async def close(self) -> None:
        # A polite disconnect over polling waits out the pending long poll.
        await self.client.eio.disconnect(abort=True)


def event_count(stack: Stack, sender_id: str) -> int:
    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).where(EVENTS.c.sender_id == sender_id)
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("token", [None, "", "garbage", "FORGED", "EXPIRED"])
async def test_sockets_without_a_valid_token_are_refused(stack: Stack, token) -> None:
    practice = new_practice(stack)
    if token == "FORGED":
        token = token_for(stack, practice, key="not-the-server-key-" + "q" * 32)
    elif token == "EXPIRED":
        token = issue_chat_token(
            stack.settings.jwt_key,
            practice.sender_id,
            practice.trainee_id,
            practice.practice_id,
            lifetime=1,
            now=1_700_000_000,
        )
    with pytest.raises(Refused, match="Unauthorized"):
        await SocketChat.open(stack, token, practice.sender_id)


async def test_conversation_over_the_socket(stack: Stack) -> None:
    practice = new_practice(stack, "dana")
    chat = await SocketChat.open(stack, token_for(stack, practice), practice.sender_id)
    try:
        await chat.request_session()
        assert chat.confirmed == [practice.sender_id]
        opening = await chat.say(
            "/session_start", {"persona_id": "dana", "mode": "small_talk"}
        )
        # One message each, whole: speaker, custom payload and text together.
        assert [m["speaker"] for m in opening] == ["narrator", "persona"]
        assert opening[0]["custom"]["persona"]["name"] == "Dana Whitfield"
        assert opening[0]["text"].startswith("(")
        # A second /session_start (after a reload) does not restart it.
        await chat.send("/session_start", {"persona_id": "dana"})
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(chat.bot.get(), 3)
        reply = await chat.say("Hi! I'm Sam, a peer support specialist at Hope Center.")
        assert reply and all(m["text"] for m in reply)
        assert "Sam" in " ".join(m["text"] for m in reply)
        assert reply[0]["speaker"] == "persona"
    finally:
        await chat.close()


async def test_pitch_feedback_card_over_the_socket(stack: Stack) -> None:
    practice = new_practice(stack, "marcus", "pitch")
    chat = await SocketChat.open(stack, token_for(stack, practice), practice.sender_id)
    try:
        await chat.request_session()
        asked = await chat.say(
            "/practice_pitch", {"persona_id": "marcus", "mode": "pitch"}
        )
        assert asked[0]["custom"]["persona"]["id"] == "marcus"
        feedback = await chat.say(
            "Hi, I'm Sam Ortiz, a certified peer support specialist at Hope Center. "
            "I walk with people leaving the hospital until they have a home and a "
            "plan; last year 40 of the folks I supported stayed housed. I'm curious "
            "how your team thinks about peer roles. Do you have peers on staff?"
        )
        cards = [
            m["custom"]
            for m in feedback
            if (m.get("custom") or {}).get("type") == "introcoach.feedback"
        ]
        assert len(cards) == 1
        card = cards[0]
        assert 0 <= card["overall"] <= 100
        assert {s["number"] for s in card["strategies"]} == {4, 6}
        assert all("label" in c for s in card["strategies"] for c in s["criteria"])
        buttons = [b["title"] for m in feedback for b in m["buttons"]]
        assert "Try again" in buttons
    finally:
        await chat.close()
    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        scores = list_scores(engine, practice.practice_id)
    finally:
        engine.dispose()
    assert len(scores) == 1 and scores[0].overall == card["overall"]


async def test_a_socket_cannot_use_another_trainees_conversation(stack: Stack) -> None:
    mine, theirs = new_practice(stack), new_practice(stack)
    victim = await SocketChat.open(stack, token_for(stack, theirs), theirs.sender_id)
    await victim.request_session()
    await victim.say("/session_start", {"persona_id": "dana"})
    before = event_count(stack, theirs.sender_id)

    chat = await SocketChat.open(stack, token_for(stack, mine), mine.sender_id)
    try:
        # Joining their room is refused, and so is writing to their conversation.
        await chat.request_session(theirs.sender_id)
        assert chat.confirmed == []
        await chat.send("I am not who I say I am", session_id=theirs.sender_id)
        await asyncio.sleep(2)
        assert chat.errors == [
            "This chat belongs to another practice session.",
            "This chat belongs to another practice session.",
        ]
        assert chat.bot.empty()
        assert victim.bot.empty()
        assert event_count(stack, theirs.sender_id) == before
        # Their token for my conversation is refused just the same.
        other = await SocketChat.open(stack, token_for(stack, theirs), mine.sender_id)
        await other.request_session(mine.sender_id)
        assert other.confirmed == [] and other.errors
        await other.close()
    finally:
        await chat.close()
        await victim.close()


async def test_malformed_socket_messages_get_a_clear_error(stack: Stack) -> None:
    practice = new_practice(stack)
    chat = await SocketChat.open(stack, token_for(stack, practice), practice.sender_id)
    try:
        await chat.request_session()
        await chat.client.emit("user_uttered", "just a string")
        await chat.client.emit("user_uttered", {"session_id": practice.sender_id})
        await chat.send("x" * 6_000)
        await chat.send("   ")
        await chat.send("hello\x00there")
        await chat.send("hi", {"padding": "x" * MAX_METADATA_CHARS})
        await asyncio.sleep(2)
        assert chat.errors == [
            "That message could not be read.",
            NO_TEXT,
            TOO_LONG,
            EMPTY,
            CONTROL,
            METADATA_TOO_LARGE,
        ]
        assert event_count(stack, practice.sender_id) == 0
    finally:
        await chat.close()


# -- how long a socket lives ------------------------------------------------------
# The stack's Rasa server sweeps its open sockets every second
# (INTROCOACH_SOCKET_SWEEP_SECONDS=1 in conftest.py); the default is 15.


def delete_practice(stack: Stack, sender_id: str) -> None:
    """What the web app's delete button does (routes.delete)."""
    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        with transaction(engine) as session:
            delete_events(session, [sender_id])
            delete_session(session, sender_id)
    finally:
        engine.dispose()


def practice_row_exists(stack: Stack, sender_id: str) -> bool:
    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        return get_session(engine, sender_id) is not None
    finally:
        engine.dispose()


async def test_messages_are_acknowledged(stack: Stack) -> None:
    practice = new_practice(stack)
    chat = await SocketChat.open(stack, token_for(stack, practice), practice.sender_id)
    try:
        await chat.request_session()
        assert await chat.call("/session_start", {"persona_id": "dana"}) == {
            "ok": True
        }
        assert await chat.call("   ") == {"ok": False}  # refused, with a reason
        assert chat.errors == [EMPTY]
    finally:
        await chat.close()


async def test_a_socket_is_closed_when_its_token_expires(stack: Stack) -> None:
    practice = new_practice(stack)
    issued = time.time()
    lifetime = 4
    token = issue_chat_token(
        stack.settings.jwt_key,
        practice.sender_id,
        practice.trainee_id,
        practice.practice_id,
        lifetime=lifetime,
        now=issued,
    )
    chat = await SocketChat.open(stack, token, practice.sender_id)
    try:
        await chat.request_session()
        assert chat.confirmed == [practice.sender_id]
        await chat.wait_closed(lifetime + 10)
        assert time.time() >= int(issued) + lifetime - 0.5  # not before expiry
        # Not announced: the widget reconnects with a fresh token and sends
        # again what was not acknowledged.
        assert chat.errors == []
    finally:
        await chat.close()
    with pytest.raises(Refused, match="expired"):
        await SocketChat.open(stack, token, practice.sender_id)


async def test_deleting_the_session_closes_its_socket_and_nothing_comes_back(
    stack: Stack,
) -> None:
    practice = new_practice(stack)
    token = token_for(stack, practice)
    chat = await SocketChat.open(stack, token, practice.sender_id)
    try:
        await chat.request_session()
        assert await chat.call("/session_start", {"persona_id": "dana"}) == {
            "ok": True
        }
        assert event_count(stack, practice.sender_id) > 0
        delete_practice(stack, practice.sender_id)
        try:
            ack: Any = await chat.call("Hello? Are you still there?", timeout=10)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.SocketIOError):
            ack = None  # the sweep closed it first
        assert ack in (None, {"ok": False, "retry": True})
        await chat.wait_closed(10)
        await asyncio.sleep(2)  # whatever Rasa or the actions wrote has landed
        assert SESSION_DELETED in chat.errors
        assert event_count(stack, practice.sender_id) == 0
        assert not practice_row_exists(stack, practice.sender_id)
    finally:
        await chat.close()
    with pytest.raises(Refused, match="deleted"):
        await SocketChat.open(stack, token, practice.sender_id)


async def test_signing_out_closes_the_trainees_sockets(stack: Stack) -> None:
    from web_support import PASSWORD, Client

    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        username = f"out-{uuid.uuid4().hex[:8]}"
        trainee = create_user(engine, username, PASSWORD, "trainee", "Out Trainee")
        sender = f"web-{uuid.uuid4().hex[:12]}"
        practice = start_session(engine, sender, "dana", "small_talk", trainee.id)
        token_url = f"/practice/{practice.id}/token"
    finally:
        engine.dispose()
    here, there = Client(stack.settings.web_port), Client(stack.settings.web_port)
    assert here.login(username).status == 303
    assert there.login(username).status == 303
    tokens = []
    for browser in (here, there):
        status, body = browser.get_json(token_url)
        assert status == 200, body
        tokens.append(body["token"])
    sockets = [await SocketChat.open(stack, token, sender) for token in tokens]
    try:
        for socket_chat in sockets:
            await socket_chat.request_session()
            assert socket_chat.confirmed == [sender]
        assert here.post("/logout", {}, csrf_from="/").status == 303
        for socket_chat in sockets:  # every token issued before the sign-out
            await socket_chat.wait_closed(10)
            assert socket_chat.errors == []
        with pytest.raises(Refused, match="signed out"):
            await SocketChat.open(stack, tokens[1], sender)
        # This browser is signed out; the other is not, and a fresh token works.
        assert here.get_json(token_url)[0] != 200
        status, body = there.get_json(token_url)
        assert status == 200
        again = await SocketChat.open(stack, body["token"], sender)
        try:
            await again.request_session()
            assert again.confirmed == [sender]
            assert await again.call("hello") == {"ok": True}
        finally:
            await again.close()
    finally:
        for socket_chat in sockets:
            await socket_chat.close()
