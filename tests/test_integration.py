"""The real servers on free ports: a multi-turn conversation over REST.

Marked ``model``: these need the trained model, which ``make test`` trains (or
reuses) once before running them. The servers (the ``stack`` fixture in
``conftest.py``) start once per test run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest

from introcoach.dialogue import role_at
from introcoach.personas import all_personas
from introcoach.stack import Stack

pytestmark = pytest.mark.model


def http(
    method: str,
    url: str,
    body: Optional[Any] = None,
    headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, Dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read().decode()
            return (
                response.status,
                dict(response.headers),
                json.loads(raw) if raw else None,
            )
    except urllib.error.HTTPError as error:
        raw = error.read().decode()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return error.code, dict(error.headers), parsed


class Chat:
    def __init__(self, stack: Stack, persona_id: Optional[str] = None) -> None:
        self.url = f"{stack.settings.rasa_url}/webhooks/rest/webhook"
        self.headers = stack.settings.rest_headers
        self.sender = f"test-{uuid.uuid4().hex[:10]}"
        self.metadata = {"persona_id": persona_id} if persona_id else None

    def say(self, text: str) -> List[Dict[str, Any]]:
        body: Dict[str, Any] = {"sender": self.sender, "message": text}
        if self.metadata:
            body["metadata"] = self.metadata
            self.metadata = None
        status, _, replies = http("POST", self.url, body, headers=self.headers)
        assert status == 200, replies
        assert replies, f"no reply to {text!r}"
        assert all((r.get("text") or r.get("custom")) for r in replies)
        return replies


def custom(replies: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    """The structured payloads of one type (REST sends them as separate messages)."""
    return [r["custom"] for r in replies if (r.get("custom") or {}).get("type") == kind]


def texts(replies: List[Dict[str, Any]]) -> List[str]:
    return [r["text"] for r in replies if r.get("text")]


def joined(replies: List[Dict[str, Any]]) -> str:
    return " ".join(r.get("text") or "" for r in replies)


def test_multi_turn_conversation_over_rest(stack: Stack) -> None:
    chat = Chat(stack, "dana")
    opening = chat.say("Hi there!")
    said = texts(opening)
    assert said[0].startswith("(It is the mid-morning coffee break")
    assert (
        custom(opening, "introcoach.persona")[0]["persona"]["name"] == "Dana Whitfield"
    )
    assert said[1].startswith("Oh, sorry, am I hogging the coffee?")
    assert len(said) >= 3  # scene, opener, then the answer to "Hi there!"

    intro = chat.say("I'm Sam, I work as a peer support specialist at Hope Center.")
    assert "Sam" in joined(intro)

    work = chat.say("What do you do here?")
    assert "discharge planner" in joined(work)

    shared = chat.say("I love gardening, I grow tomatoes on my balcony.")
    assert "gardening" in joined(shared).lower()

    bye = chat.say("It was great meeting you, I have to run to my next session. Bye!")
    assert "Sam" in texts(bye)[0]
    (payload,) = custom(bye, "introcoach.feedback")
    assert payload["mode"] == "conversation" and payload["persona"] == "dana"
    criteria = {c["id"]: c for s in payload["strategies"] for c in s["criteria"]}
    assert criteria["states_name"]["met"]
    assert "Sam" in criteria["states_name"]["evidence"]
    assert criteria["names_common_ground"]["met"]

    # Stored: the transcript in Rasa's tracker store, the score in our tables.
    from sqlalchemy import text

    from introcoach.storage import get_session, list_scores, make_engine

    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            said_by_user = (
                connection.execute(
                    text(
                        "SELECT data FROM events "
                        "WHERE sender_id = :s AND type_name = 'user'"
                    ),
                    {"s": chat.sender},
                )
                .scalars()
                .all()
            )
        assert len(said_by_user) == 5
        practice = get_session(engine, chat.sender)
        (score,) = list_scores(engine, practice.id)
        assert score.kind == "conversation" and score.overall == payload["overall"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("persona", [p.id for p in all_personas()])
def test_every_persona_holds_a_conversation(stack: Stack, persona: str) -> None:
    chat = Chat(stack, persona)
    opening = chat.say("hello")
    assert custom(opening, "introcoach.persona")[0]["persona"]["id"] == persona
    found = next(p for p in all_personas() if p.id == persona)
    said = joined(chat.say("So what do you do?"))
    # The role as such, or with the organisation that already names most of
    # it ("a member of the State Peer Certification Board").
    assert found.role in said or role_at(found) in said, said
    assert joined(chat.say("how did I do?")).startswith("(Coach)")


def test_nonsense_gets_an_in_character_reply(stack: Stack) -> None:
    chat = Chat(stack, "walter")
    chat.say("hello")
    replies = chat.say("qwpoeiru zxmvn")
    assert texts(replies) and texts(replies)[-1].strip()


def test_pitch_rehearsal_twice(stack: Stack) -> None:
    chat = Chat(stack, "kevin")
    chat.say("hi")
    invite = chat.say("I'd like to practise my elevator pitch")
    assert "50-150 words" in joined(invite)
    first = chat.say("Hi, I'm Sam, a peer specialist at Hope Center.")
    (first_score,) = custom(first, "introcoach.feedback")
    assert first_score["mode"] == "pitch"
    chat.say("let me try again")
    second = chat.say(
        "Hi, I'm Sam, a peer specialist at Hope Center. I help people coming home from "
        "jail connect with housing and recovery groups in their first month, because "
        "that "
        "is when people fall through the cracks. This year I walked alongside forty "
        "people "
        "and most of them are still housed. I know Northstar is hiring peers, and I "
        "care "
        "about career ladders too. What do you look for in a peer specialist?"
    )
    (payload,) = custom(second, "introcoach.feedback")
    assert payload["comparison"]
    assert payload["overall"] > first_score["overall"]


def test_http_api_needs_the_token(stack: Stack) -> None:
    base = stack.settings.rasa_url
    status, _, _ = http("GET", f"{base}/status")
    assert status in (401, 403)
    status, _, body = http("GET", f"{base}/status?token={stack.settings.api_token}")
    assert status == 200 and body["model_file"]


def test_cors_allows_only_the_web_origin(stack: Stack) -> None:
    url = f"{stack.settings.rasa_url}/webhooks/rest/webhook"
    _, headers, _ = http(
        "OPTIONS",
        url,
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert headers.get("Access-Control-Allow-Origin") in (None, "")
    origin = stack.settings.web_origins[0]
    _, headers, _ = http(
        "OPTIONS",
        url,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert headers.get("Access-Control-Allow-Origin") == origin


def test_action_server_refuses_calls_without_the_token(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.settings.action_port}/webhook"
    call = {
        "next_action": "action_greet",
        "tracker": {"sender_id": "x", "events": [], "slots": {}, "latest_message": {}},
        "domain": {},
    }
    status, _, body = http("POST", url, call)
    assert status == 401 and "token" in body["error"]
    status, _, _ = http(
        "POST", url, call, headers={"X-IntroCoach-Action-Token": "wrong"}
    )
    assert status == 401
    status, _, body = http(
        "POST",
        url,
        call,
        headers={"X-IntroCoach-Action-Token": stack.settings.action_token},
    )
    assert status == 200 and body["responses"]


def test_action_server_skips_calls_rasa_stopped_waiting_for(stack: Stack) -> None:
    """A call whose deadline passed (the server was paused) is not run."""
    import time

    url = f"http://127.0.0.1:{stack.settings.action_port}/webhook"
    call = {
        "next_action": "action_greet",
        "tracker": {"sender_id": "x", "events": [], "slots": {}, "latest_message": {}},
        "domain": {},
    }
    token = {"X-IntroCoach-Action-Token": stack.settings.action_token}
    late = {**token, "X-IntroCoach-Deadline": f"{time.time() - 1:.3f}"}
    status, _, body = http("POST", url, call, headers=late)
    assert status == 503 and "stopped waiting" in body["error"]
    in_time = {**token, "X-IntroCoach-Deadline": f"{time.time() + 30:.3f}"}
    status, _, body = http("POST", url, call, headers=in_time)
    assert status == 200 and body["responses"]


def listening_addresses(port: int) -> List[str]:
    """Local addresses with a listening TCP socket on ``port``, from /proc/net/tcp*."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.append(address)
    return found


def test_servers_listen_on_loopback_only(stack: Stack) -> None:
    loopback_v4 = "0100007F"  # 127.0.0.1, little-endian hex as the kernel prints it
    for port in (stack.settings.rasa_port, stack.settings.action_port):
        addresses = listening_addresses(port)
        assert addresses and set(addresses) == {loopback_v4}, (port, addresses)


def test_rest_conversation_appears_in_the_review_app(stack: Stack, tmp_path) -> None:
    """A conversation held over REST shows up, scored, for the trainee's supervisor.

    Linking a conversation to a signed-in trainee is the browser widget's job
    (its socket carries the trainee's token); here the link is made directly in
    the database, as the widget's channel will.
    """
    from introcoach.storage import create_user, get_session, make_engine, transaction
    from introcoach.storage.models import PracticeSession
    from tests.web_support import PASSWORD, Client, running_server

    chat = Chat(stack, "priya")
    chat.say("hello")
    chat.say("Hi, I'm Ana, a peer mentor at Bridges. <b>bold</b> move, I know.")
    chat.say("I love hiking, I did a trail last weekend. Do you hike?")
    (payload,) = custom(chat.say("how did I do?"), "introcoach.feedback")

    url = stack.extra_env["INTROCOACH_DATABASE_URL"]
    engine = make_engine(url)
    try:
        supervisor = create_user(
            engine, "sup-it", PASSWORD, "supervisor", "Sue Pervisor"
        )
        trainee = create_user(
            engine, "ana-it", PASSWORD, "trainee", "Ana Trainee", supervisor=supervisor
        )
        practice_id = get_session(engine, chat.sender).id
        with transaction(engine) as session:
            session.get(PracticeSession, practice_id).trainee_id = trainee.id
    finally:
        engine.dispose()

    with running_server(tmp_path, url) as server:
        browser = Client(server.port)
        assert browser.login("sup-it").status == 303
        listing = browser.get("/sessions?persona=priya")
        assert listing.status == 200 and "Ana Trainee" in listing.text
        assert str(payload["overall"]) in listing.text
        page = browser.get(f"/sessions/{practice_id}")
        assert page.status == 200
        assert "I love hiking" in page.text
        assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
        assert "<mark" in page.text  # evidence highlighted


# -- bad input over REST -------------------------------------------------------------


def webhook(stack: Stack) -> str:
    return f"{stack.settings.rasa_url}/webhooks/rest/webhook"


def post_raw(
    stack: Stack, raw: bytes, headers: Optional[Dict[str, str]] = None
) -> Tuple[int, Any]:
    request = urllib.request.Request(
        webhook(stack),
        data=raw,
        headers=stack.settings.rest_headers if headers is None else headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read().decode())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())


def stored_user_texts(stack: Stack, sender: str) -> List[str]:
    from introcoach.storage import make_engine
    from introcoach.storage.transcripts import read_transcript

    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    try:
        return [
            t.text for t in read_transcript(engine, sender) if t.speaker == "trainee"
        ]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-the-token", "Basic dXNlcjpwYXNz", "TOKEN_ONLY"],
)
def test_rest_messages_without_the_token_get_401_and_reach_no_one(
    stack: Stack, authorization: Optional[str]
) -> None:
    from introcoach.channels import REST_UNAUTHORIZED

    if authorization == "TOKEN_ONLY":  # the token without "Bearer "
        authorization = stack.settings.rest_token
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    sender = f"no-token-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"sender": sender, "message": "hi"}).encode()
    status, answer = post_raw(stack, body, headers)
    assert status == 401 and answer == {"error": REST_UNAUTHORIZED}
    # Not the HTTP API's token either: the two are separate.
    headers["Authorization"] = f"Bearer {stack.settings.api_token}"
    assert post_raw(stack, body, headers)[0] == 401
    assert stored_user_texts(stack, sender) == []


def test_rest_metadata_is_capped(stack: Stack) -> None:
    from introcoach.channels import MAX_METADATA_CHARS, METADATA_TOO_LARGE

    sender = f"big-meta-{uuid.uuid4().hex[:8]}"
    metadata = {"persona_id": "dana", "padding": "x" * MAX_METADATA_CHARS}
    raw = json.dumps({"sender": sender, "message": "hi", "metadata": metadata})
    status, body = post_raw(stack, raw.encode())
    assert status == 400 and body == {"error": METADATA_TOO_LARGE}
    assert stored_user_texts(stack, sender) == []


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'["list"]', b'{"message": "hi"}', b'{"sender": "x"}', b""],
)
def test_malformed_rest_requests_get_a_clear_400(stack: Stack, raw: bytes) -> None:
    status, body = post_raw(stack, raw)
    assert status == 400 and body["error"]


def test_odd_messages_are_answered_and_stored_exactly(stack: Stack) -> None:
    from introcoach.channels import CONTROL, EMPTY, TOO_LONG

    chat = Chat(stack, "priya")
    chat.say("hello")
    kept = [
        "Hi 👋🏽 I'm Zoë",
        "مرحبا، أنا سام",
        "<script>alert('hi')</script>",
        "Robert'); DROP TABLE events;--",
    ]
    for text in kept:
        chat.say(text)
    for text, note in (("   ", EMPTY), ("x" * 100_000, TOO_LONG), ("a\x00b", CONTROL)):
        assert texts(chat.say(text)) == [note]
    assert stored_user_texts(stack, chat.sender) == ["hello", *kept]


def test_unknown_persona_is_explained(stack: Stack) -> None:
    replies = Chat(stack, "nobody-at-all").say("hi")
    assert "There is no persona called 'nobody-at-all'" in joined(replies)


def test_fuzzed_messages_always_get_a_reply_and_are_stored(stack: Stack) -> None:
    """Arbitrary text: a non-empty reply every time, and what is taken is stored.

    Rasa trims surrounding whitespace from every message before storing it.
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from introcoach.channels import HANDLING_FAILED, STORE_UNAVAILABLE, refusal

    chat = Chat(stack, "dana")
    chat.say("hello")
    accepted = ["hello"]

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.text(max_size=400))
    def one_message(text: str) -> None:
        status, replies = post_raw(
            stack, json.dumps({"sender": chat.sender, "message": text}).encode()
        )
        assert status == 200 and replies, repr(text)
        said = [r.get("text") for r in replies if r.get("text")]
        assert said and not {HANDLING_FAILED, STORE_UNAVAILABLE} & set(said)
        if refusal(text) is None:
            accepted.append(text.strip())

    one_message()
    assert stored_user_texts(stack, chat.sender) == accepted


def test_action_server_down_gets_a_note_and_the_conversation_goes_on(
    stack: Stack,
) -> None:
    """With the action server stopped, a short note comes at once, not silence."""
    import time

    from introcoach.channels import NO_REPLY

    chat = Chat(stack, "rosa")
    chat.say("hello")
    stack.stop_server("actions")
    try:
        started = time.monotonic()
        assert texts(chat.say("What do you do?")) == [NO_REPLY]
        assert time.monotonic() - started < 30
    finally:
        stack.start_server("actions")
        stack.wait_ready(timeout=120)
    again = texts(chat.say("What do you do for fun?"))
    assert again and NO_REPLY not in again
    assert "What do you do for fun?" in stored_user_texts(stack, chat.sender)
