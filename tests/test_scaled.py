"""Two Rasa replicas and two action servers on the real PostgreSQL and Redis.

The scaled set-up of ``make run-scaled`` (:class:`introcoach.scaled.ScaledStack`)
on a throwaway PostgreSQL database and a throwaway Redis key prefix, both
removed afterwards. Consistency: a conversation whose messages alternate
between the replicas, 50 concurrent conversations through the balancer, and
several messages of one conversation sent at once. Faults: hung action
servers, and a replica killed with SIGKILL mid-conversation (last: the module
ends with one replica).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from typing import Any, Dict, Iterator, List, Tuple

import aiohttp
import pytest
from pg_support import throwaway_postgres
from redis_support import keys_under, throwaway_prefix
from sqlalchemy import select

from introcoach.model import model_path
from introcoach.scaled import ScaledStack
from introcoach.stack import ephemeral_settings
from introcoach.storage import get_session, list_scores, make_engine
from introcoach.storage.transcripts import EVENTS, read_transcript

pytestmark = pytest.mark.model

#: Seconds Rasa waits for the action servers here (the hung-server test).
ACTION_TIMEOUT = 4


@pytest.fixture(scope="module")
def scaled(tmp_path_factory) -> Iterator[Tuple[ScaledStack, str, str]]:
    with throwaway_postgres() as url, throwaway_prefix() as (redis_url, prefix):
        running = ScaledStack(
            ephemeral_settings(),
            model_path(),
            log_dir=tmp_path_factory.mktemp("scaled-logs"),
            extra_env={
                "INTROCOACH_DATABASE_URL": url,
                "INTROCOACH_REDIS_URL": redis_url,
                "INTROCOACH_LOCK_PREFIX": prefix,
                "INTROCOACH_LOCK_LEASE": "6",
                "INTROCOACH_ACTION_TIMEOUT": str(ACTION_TIMEOUT),
            },
            replicas=2,
            ephemeral_ports=True,
        )
        running.start()
        try:
            running.wait_ready(timeout=480)
            yield running, url, prefix
        finally:
            running.stop()
        assert keys_under(prefix) == [], "conversation locks were left in Redis"


async def post(
    client: aiohttp.ClientSession, base: str, sender: str, message: str, **extra: Any
) -> Tuple[List[Dict[str, Any]], str]:
    """Send one message over REST; returns the replies and which upstream answered."""
    body = {"sender": sender, "message": message, **extra}
    async with client.post(f"{base}/webhooks/rest/webhook", json=body) as response:
        assert response.status == 200, await response.text()
        replies = await response.json()
        return replies, response.headers.get("X-IntroCoach-Upstream", "")


def client(stack: ScaledStack, timeout: float = 180) -> aiohttp.ClientSession:
    """An HTTP session that sends the REST channel's token with every request."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"Authorization": f"Bearer {stack.settings.rest_token}"},
    )


def stored_events(url: str, sender: str) -> List[Dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(EVENTS.c.data)
                .where(EVENTS.c.sender_id == sender)
                .order_by(EVENTS.c.id)
            ).scalars()
            return [json.loads(row) for row in rows]
    finally:
        engine.dispose()


def assert_processed_one_at_a_time(events: List[Dict[str, Any]]) -> None:
    """Every user message is followed by the bot's turn, ending in action_listen,
    before the next user message: no two messages were processed at once.

    The widget's ``/session_start`` is the exception to "a bot reply follows":
    Rasa opens the conversation (with the persona's opening lines) before it
    logs that first message, which then needs no answer of its own.
    """
    # Index user events by position in ``events`` (kinds[i] is events[i]).
    kinds = [
        "user"
        if e["event"] == "user"
        else e.get("name")
        if e["event"] == "action"
        else e["event"]
        for e in events
    ]
    users = [i for i, k in enumerate(kinds) if k == "user"]
    for this, following in zip(users, users[1:] + [len(kinds)], strict=True):
        turn = kinds[this + 1 : following]
        assert turn and turn[-1] == "action_listen", f"interleaved turn: {turn}"
        if events[this].get("text") != "/session_start":
            assert "bot" in turn, f"a message got no reply: {turn}"


def assert_no_duplicates(events: List[Dict[str, Any]]) -> None:
    seen = Counter(json.dumps(e, sort_keys=True) for e in events)
    twice = [e for e, n in seen.items() if n > 1]
    assert not twice, f"stored twice: {twice[:3]}"


def test_replicas_and_balancers_are_up(scaled) -> None:
    stack, _, _ = scaled
    assert set(stack.processes) >= {"rasa-0", "rasa-1", "actions-0", "actions-1"}
    assert stack.running()


def test_messages_alternating_between_replicas_keep_every_event_in_order(
    scaled,
) -> None:
    stack, url, _ = scaled
    sender = f"alt-{uuid.uuid4().hex[:8]}"
    messages = [
        "Hello!",
        "I'm Sam, a peer support specialist at Hope Center.",
        "What do you do here?",
        "I love gardening, I grow tomatoes.",
        "How is the conference going for you?",
        "Do you travel much for work?",
        "how did I do?",
        "Great talking to you, bye!",
    ]

    async def converse() -> List[str]:
        received: List[str] = []
        async with client(stack) as session:
            for index, message in enumerate(messages):
                base = stack.replica_url(f"rasa-{index % 2}")
                extra = {"metadata": {"persona_id": "dana"}} if index == 0 else {}
                replies, _ = await post(session, base, sender, message, **extra)
                assert replies, f"no reply to {message!r}"
                received += [r["text"] for r in replies if r.get("text")]
        return received

    received = asyncio.run(converse())
    events = stored_events(url, sender)
    assert [e["text"] for e in events if e["event"] == "user"] == messages
    assert [
        e["text"] for e in events if e["event"] == "bot" and e.get("text")
    ] == received
    assert [e.get("name") for e in events].count("action_session_start") == 1
    assert_processed_one_at_a_time(events)
    assert_no_duplicates(events)
    # The persona remembered across replicas: it used the name given on the other one.
    assert "Sam" in " ".join(received[-3:])


def test_fifty_concurrent_conversations_lose_nothing(scaled) -> None:
    stack, url, _ = scaled
    script = [
        "Hi there!",
        "I'm Alex, I work as a peer support specialist at Harbor House.",
        "What do you do here?",
        "I love hiking, I did a trail last weekend.",
        "Do you have any hobbies?",
        "How did you get into this work?",
        "how did I do?",
        "What sessions are you going to today?",
        "Could we exchange contact details?",
        "It was great to meet you, bye!",
    ]
    personas = ["dana", "marcus", "priya", "walter", "kevin", "rosa"]
    senders = [f"load-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(50)]
    upstreams: Counter = Counter()

    async def conversation(index: int, sender: str) -> Tuple[List[str], int]:
        texts: List[str] = []
        feedback = 0
        async with client(stack, timeout=300) as session:
            for turn, message in enumerate(script):
                extra = (
                    {"metadata": {"persona_id": personas[index % len(personas)]}}
                    if turn == 0
                    else {}
                )
                replies, upstream = await post(
                    session, stack.settings.rasa_url, sender, message, **extra
                )
                upstreams[upstream] += 1
                assert replies, f"{sender}: no reply to {message!r}"
                texts += [r["text"] for r in replies if r.get("text")]
                feedback += sum(
                    1
                    for r in replies
                    if (r.get("custom") or {}).get("type") == "introcoach.feedback"
                )
        return texts, feedback

    async def all_of_them() -> List[Tuple[List[str], int]]:
        return await asyncio.gather(
            *(conversation(i, sender) for i, sender in enumerate(senders))
        )

    results = asyncio.run(all_of_them())
    assert set(upstreams) == {"0", "1"}, f"one replica took it all: {upstreams}"
    engine = make_engine(url)
    try:
        for sender, (received, feedback) in zip(senders, results, strict=True):
            events = stored_events(url, sender)
            said = [e["text"] for e in events if e["event"] == "user"]
            assert said == script, f"{sender}: user messages lost or reordered"
            bot = [e["text"] for e in events if e["event"] == "bot" and e.get("text")]
            assert bot == received, f"{sender}: bot replies lost or reordered"
            assert_processed_one_at_a_time(events)
            assert_no_duplicates(events)
            practice = get_session(engine, sender)
            assert practice is not None
            scores = list_scores(engine, practice.id)
            assert feedback >= 1 and len(scores) == feedback, (
                f"{sender}: {feedback} feedback cards, {len(scores)} scores stored"
            )
            turns = read_transcript(engine, sender)
            assert [t.text for t in turns if t.speaker == "trainee"] == script
    finally:
        engine.dispose()


def test_messages_sent_at_once_for_one_conversation_are_processed_one_at_a_time(
    scaled,
) -> None:
    stack, url, _ = scaled
    sender = f"burst-{uuid.uuid4().hex[:8]}"
    burst = [f"Message number {n}: do you like hiking?" for n in range(8)]

    async def send_all() -> None:
        async with client(stack) as session:
            await post(
                session,
                stack.replica_url("rasa-0"),
                sender,
                "hi",
                metadata={"persona_id": "marcus"},
            )
            await asyncio.gather(
                *(
                    post(session, stack.replica_url(f"rasa-{n % 2}"), sender, text)
                    for n, text in enumerate(burst)
                )
            )

    asyncio.run(send_all())
    events = stored_events(url, sender)
    said = [e["text"] for e in events if e["event"] == "user"]
    assert said[0] == "hi" and sorted(said[1:]) == sorted(burst)
    assert_processed_one_at_a_time(events)
    assert_no_duplicates(events)


async def test_widget_sockets_through_the_balancer_stay_with_their_replica(
    scaled,
) -> None:
    """Socket.io over polling: every request of a socket must reach the replica
    that holds its session; the balancer pins it, whichever replica that is."""
    from test_chat_socket import SocketChat, new_practice, token_for

    stack, url, _ = scaled
    personas = ["dana", "kevin", "priya", "walter"]
    practices = [new_practice(stack, persona) for persona in personas]

    async def converse(practice: Any, persona: str) -> List[str]:
        chat = await SocketChat.open(
            stack, token_for(stack, practice), practice.sender_id
        )
        try:
            await chat.request_session()
            assert chat.confirmed == [practice.sender_id]
            said = []
            for text, metadata in (
                ("/session_start", {"persona_id": persona, "mode": "small_talk"}),
                ("I'm Sam, a peer support specialist at Hope Center.", None),
                ("What do you do here?", None),
            ):
                replies = await chat.say(text, metadata)
                assert replies and all(
                    r.get("text") or r.get("custom") for r in replies
                )
                said.append(text)
            assert not chat.errors
            return said
        finally:
            await chat.close()

    results = await asyncio.gather(
        *(converse(p, who) for p, who in zip(practices, personas, strict=True))
    )
    for practice, said in zip(practices, results, strict=True):
        events = stored_events(url, practice.sender_id)
        stored = [e["text"] for e in events if e["event"] == "user"]
        assert stored == said, stored
        assert_processed_one_at_a_time(events)


def test_hung_action_servers_get_an_apology_and_the_conversation_goes_on(
    scaled,
) -> None:
    """Both action servers stop answering (SIGSTOP: connections hang, as on an
    overloaded machine): the persona apologises within the action timeout; once
    they answer again the conversation goes on, and no score is stored for the
    turn Rasa gave up on."""
    from introcoach.channels import NO_REPLY

    stack, url, _ = scaled
    sender = f"hung-{uuid.uuid4().hex[:8]}"

    async def converse() -> Tuple[float, List[Dict[str, Any]], List[Dict[str, Any]]]:
        async with client(stack) as session:
            base = stack.settings.rasa_url
            await post(session, base, sender, "hello", metadata={"persona_id": "priya"})
            await post(session, base, sender, "I'm Sam, a peer mentor at Bridges.")
            for name in stack.replica_names("actions"):
                os.killpg(stack.processes[name].pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                during, _ = await post(session, base, sender, "how did I do?")
                took = time.monotonic() - started
            finally:
                for name in stack.replica_names("actions"):
                    os.killpg(stack.processes[name].pid, signal.SIGCONT)
            await asyncio.sleep(3)  # the resumed servers work through what they got
            after, _ = await post(session, base, sender, "how did I do?")
            return took, during, after

    took, during, after = asyncio.run(converse())
    texts = [r.get("text") for r in during if r.get("text")]
    assert texts == [NO_REPLY]
    assert took < ACTION_TIMEOUT * 3 + 10
    assert any(
        (r.get("custom") or {}).get("type") == "introcoach.feedback" for r in after
    )
    engine = make_engine(url)
    try:
        practice = get_session(engine, sender)
        assert practice is not None
        assert (
            len(list_scores(engine, practice.id)) == 1
        ), "a score of the abandoned turn was stored"
    finally:
        engine.dispose()


def test_a_replica_killed_mid_conversation_leaves_it_to_the_other(scaled) -> None:
    stack, url, _ = scaled
    sender = f"kill-{uuid.uuid4().hex[:8]}"

    async def converse() -> List[str]:
        received: List[str] = []
        async with client(stack) as session:
            base = stack.settings.rasa_url
            for message in (
                "hello",
                "I'm Sam, a peer support specialist at Hope Center.",
            ):
                extra = (
                    {"metadata": {"persona_id": "dana"}} if message == "hello" else {}
                )
                replies, _ = await post(session, base, sender, message, **extra)
                received += [r["text"] for r in replies if r.get("text")]
            stack.kill("rasa-0")
            for message in (
                "What do you do here?",
                "I love gardening.",
                "Bye for now!",
            ):
                replies, upstream = await post(session, base, sender, message)
                assert upstream == "1"
                assert replies and any(r.get("text") for r in replies)
                received += [r["text"] for r in replies if r.get("text")]
        return received

    received = asyncio.run(converse())
    events = stored_events(url, sender)
    assert [e["text"] for e in events if e["event"] == "user"] == [
        "hello",
        "I'm Sam, a peer support specialist at Hope Center.",
        "What do you do here?",
        "I love gardening.",
        "Bye for now!",
    ]
    assert [e.get("name") for e in events].count("action_session_start") == 1
    assert "Sam" in " ".join(received[-2:]), "the other replica lost the history"
    assert_processed_one_at_a_time(events)
