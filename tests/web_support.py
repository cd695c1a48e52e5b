"""Helpers for the web app tests: seed a database, run the server, talk to it.

Imported by ``test_web*.py`` and ``test_browser_review.py``; not a test module.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import urlencode

from argon2 import PasswordHasher
from sqlalchemy import insert

from introcoach.storage import (
    PracticeSession,
    configure_password_hasher,
    create_user,
    end_session,
    init_db,
    make_engine,
    record_score,
    start_session,
    transaction,
)
from introcoach.storage.transcripts import EVENTS, EVENTS_METADATA, event_row

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
JWT_KEY = "test-jwt-key-" + "k" * 32
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
SCRIPT = "<script>alert(1)</script>"
EMAIL = "tina.lee@example.org"
PHONE = "(555) 123-4567"
FORMULA = '=HYPERLINK("http://evil.example","x") thanks for the chat, bye!'

PITCH_CRITERIA = (
    "states_name",
    "states_role",
    "key_message",
    "spark_interest",
    "shared_passion",
    "conversation_hook",
    "pitch_length",
)
S4_CRITERIA = (
    "discovers_interests",
    "shares_own_interests",
    "names_common_ground",
    "builds_on_common_ground",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def report(
    overall: int,
    s6: int,
    s4: int,
    mode: str = "pitch",
    evidence: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """A ScoreReport.to_dict()-shaped report; criteria in ``evidence`` are met."""
    evidence = dict(evidence or {})

    def criteria(ids: Tuple[str, ...]) -> List[Dict[str, Any]]:
        return [
            {
                "id": cid,
                "met": cid in evidence,
                "score": 1.0 if cid in evidence else 0.0,
                "evidence": evidence.get(cid),
                "tip": None if cid in evidence else f"Try {cid.replace('_', ' ')}.",
            }
            for cid in ids
        ]

    return {
        "overall": overall,
        "mode": mode,
        "persona": "dana",
        "rubric_version": "2026.11-1",
        "word_count": 42,
        "estimated_seconds": 17.0,
        "strategies": [
            {
                "id": "introduce_and_converse",
                "number": 6,
                "title": "Practice How to Introduce Yourself and How to Maintain "
                "Casual Conversation",
                "score": s6,
                "criteria": criteria(PITCH_CRITERIA),
            },
            {
                "id": "common_interests",
                "number": 4,
                "title": "Look for Common Interests",
                "score": s4,
                "criteria": criteria(S4_CRITERIA),
            },
        ],
    }


def user_event(text: str, message_id: str) -> Dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "message_id": message_id,
        "parse_data": {"intent": {"name": "introduce", "confidence": 1.0}},
        "metadata": {},
    }


def bot_event(
    text: str, speaker: str, persona_id: Optional[str] = None, **extra: Any
) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {"speaker": speaker, **extra}
    if persona_id:
        metadata["persona_id"] = persona_id
    return {"event": "bot", "text": text, "data": {"custom": {}}, "metadata": metadata}


@dataclass
class Seeded:
    """Ids of what :func:`seed` wrote."""

    users: Dict[str, int] = field(default_factory=dict)
    sessions: Dict[str, int] = field(default_factory=dict)
    senders: Dict[str, str] = field(default_factory=dict)


def _add_events(
    engine: Any, sender_id: str, events: List[Dict[str, Any]], start: datetime
) -> None:
    rows = [
        event_row(sender_id, event, (start + timedelta(seconds=20 * i)).timestamp())
        for i, event in enumerate(events)
    ]
    # Rasa writes other event types too; the transcript must skip them.
    rows.insert(
        0,
        event_row(sender_id, {"event": "session_started"}, start.timestamp()),
    )
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), rows)


def _dates(engine: Any, session_id: int, started: datetime, minutes: int = 9) -> None:
    with transaction(engine) as session:
        practice = session.get(PracticeSession, session_id)
        practice.started_at = started
        practice.ended_at = started + timedelta(minutes=minutes, seconds=30)


def seed(url: str, extra_sessions: int = 22) -> Seeded:
    """Users, sessions, scores and Rasa events for the web tests."""
    configure_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    )
    engine = make_engine(url)
    try:
        init_db(engine)
        EVENTS_METADATA.create_all(engine)
        found = Seeded()
        sam = create_user(engine, "sam", PASSWORD, "supervisor", "Sam Rivera")
        alex = create_user(engine, "alex", PASSWORD, "supervisor", "Alex Morgan")
        tina = create_user(
            engine, "tina", PASSWORD, "trainee", "Tina Lee", supervisor=sam
        )
        theo = create_user(
            engine, "theo", PASSWORD, "trainee", "Theo Grant", supervisor=sam
        )
        uma = create_user(
            engine, "uma", PASSWORD, "trainee", "Uma Patel", supervisor=alex
        )
        for user in (sam, alex, tina, theo, uma):
            found.users[user.username] = user.id

        # Tina's pitch with Dana: contacts, a script tag, a formula, evidence.
        sender = "sender-tina-pitch"
        m1 = (
            "Hi, I'm Tina, a peer specialist at Harbor County. "
            f"Reach me at {EMAIL} or {PHONE}."
        )
        m2 = (
            f"{SCRIPT} I help people leaving the hospital find steady housing. "
            "Do you enjoy trail running?"
        )
        events = [
            bot_event(
                "Coffee break at the conference. Dana catches your eye.",
                "narrator",
                "dana",
                segment_start=True,
            ),
            bot_event(
                "Oh, sorry, am I hogging the coffee? I'm Dana.", "persona", "dana"
            ),
            user_event(m1, "m1"),
            bot_event(
                "Nice to meet you, Tina! What brings you here?", "persona", "dana"
            ),
            user_event(m2, "m2"),
            bot_event("(Coach) Nice pitch: it scored 72.", "coach"),
            user_event(FORMULA, "m3"),
            bot_event("It was lovely to meet you. Safe travels!", "persona", "dana"),
        ]
        start_session(engine, sender, "dana", "pitch", trainee_id=tina.id)
        record_score(
            engine,
            sender,
            "m2",
            "pitch",
            report(
                72,
                80,
                60,
                evidence={
                    "key_message": (
                        "I help people leaving the hospital find steady housing"
                    ),
                    "names_common_ground": "trail running",
                    "discovers_interests": "Do you enjoy trail running?",
                },
            ),
            "dana",
            "pitch",
        )
        record_score(
            engine,
            sender,
            "m3",
            "conversation",
            report(
                64,
                70,
                55,
                mode="conversation",
                evidence={
                    "states_name": "I'm Tina",
                    "states_role": "peer specialist at Harbor County",
                    "graceful_close": "thanks for the chat",
                },
            ),
            "dana",
            "pitch",
        )
        practice = end_session(engine, sender)
        assert practice is not None
        _add_events(engine, sender, events, T0)
        _dates(engine, practice.id, T0)
        found.sessions["tina_pitch"], found.senders["tina_pitch"] = practice.id, sender

        # Tina's small talk with Marcus (for persona / mode filters).
        sender = "sender-tina-talk"
        start_session(engine, sender, "marcus", "small_talk", trainee_id=tina.id)
        record_score(
            engine,
            sender,
            "t1",
            "conversation",
            report(41, 45, 35, mode="conversation"),
            "marcus",
            "small_talk",
        )
        _add_events(
            engine,
            sender,
            [
                bot_event(
                    "The poster session is crowded.",
                    "narrator",
                    "marcus",
                    segment_start=True,
                ),
                bot_event(
                    "Hey there. Interested in recovery housing?", "persona", "marcus"
                ),
                user_event("Yes! How long have you run Second Wind?", "t1"),
            ],
            T0 + timedelta(days=7),
        )
        practice = get_practice(engine, sender)
        _dates(engine, practice, T0 + timedelta(days=7))
        found.sessions["tina_talk"], found.senders["tina_talk"] = practice, sender

        # Theo: one searchable session and many more for pagination.
        sender = "sender-theo-bread"
        start_session(engine, sender, "dana", "small_talk", trainee_id=theo.id)
        record_score(
            engine,
            sender,
            "b1",
            "conversation",
            report(88, 90, 85, mode="conversation"),
            "dana",
            "small_talk",
        )
        _add_events(
            engine,
            sender,
            [
                bot_event("Coffee break.", "narrator", "dana", segment_start=True),
                user_event("I bake SOURDOUGH every weekend, 100%_real.", "b1"),
            ],
            T0 + timedelta(days=14),
        )
        practice = get_practice(engine, sender)
        _dates(engine, practice, T0 + timedelta(days=14))
        found.sessions["theo_bread"], found.senders["theo_bread"] = practice, sender
        for number in range(extra_sessions):
            sender = f"sender-theo-{number:02d}"
            score = 30 + (number * 3) % 60
            record_score(
                engine,
                sender,
                f"x{number}",
                "pitch",
                report(score, score, score),
                "kevin" if number % 2 else "dana",
                "pitch",
                trainee_id=theo.id,
            )
            _dates(
                engine, get_practice(engine, sender), T0 + timedelta(days=20 + number)
            )

        # Uma belongs to Alex: invisible to Sam and to the other trainees.
        sender = "sender-uma"
        start_session(engine, sender, "dana", "pitch", trainee_id=uma.id)
        record_score(engine, sender, "u1", "pitch", report(55, 60, 50), "dana", "pitch")
        _add_events(
            engine, sender, [user_event("Uma's private sourdough words", "u1")], T0
        )
        practice = get_practice(engine, sender)
        _dates(engine, practice, T0 + timedelta(days=1))
        found.sessions["uma"], found.senders["uma"] = practice, sender

        # An anonymous session (shell / REST): nobody sees it.
        start_session(engine, "sender-anon", "dana", "pitch")
        found.sessions["anon"] = get_practice(engine, "sender-anon")
        return found
    finally:
        engine.dispose()
        configure_password_hasher(None)


def get_practice(engine: Any, sender_id: str) -> int:
    from introcoach.storage import get_session

    practice = get_session(engine, sender_id)
    assert practice is not None
    return int(practice.id)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server(
    workdir: Path, url: str, extra_env: Optional[Mapping[str, str]] = None
) -> Iterator[Server]:
    """``python -m introcoach web`` on a free port; always stopped afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "INTROCOACH_DATABASE_URL": url,
        "INTROCOACH_SECRETS_DIR": str(workdir / "secrets"),
        "INTROCOACH_WEB_SECRET": "test-secret-" + "x" * 32,
        "INTROCOACH_JWT_KEY": JWT_KEY,
        "INTROCOACH_RASA_PORT": "5999",
        "PYTHONUNBUFFERED": "1",
        "SANIC_NO_UVLOOP": "true",
        **(extra_env or {}),
    }
    log = workdir / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "introcoach", "web", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"web server exited:\n{server.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"web server did not start:\n{server.log_text()}"
                    ) from error
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


class Client:
    """A tiny browser: keeps the session cookie, finds CSRF tokens, no redirects."""

    def __init__(self, port: int, forwarded_proto: Optional[str] = None) -> None:
        self.port = port
        self.cookies: Dict[str, str] = {}
        self.last_set_cookie: List[str] = []
        self.forwarded_proto = forwarded_proto

    def request(
        self,
        method: str,
        path: str,
        form: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(headers or {})
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.forwarded_proto:
            headers["X-Forwarded-Proto"] = self.forwarded_proto
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        finally:
            connection.close()
        self.last_set_cookie = response.headers.get_all("Set-Cookie") or []
        for line in self.last_set_cookie:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in line.lower() or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return response

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def get_json(self, path: str) -> Tuple[int, Any]:
        """GET as the chat widget does (``Accept: application/json``)."""
        response = self.request("GET", path, headers={"Accept": "application/json"})
        return response.status, json.loads(response.text or "null")

    def post(
        self, path: str, form: Mapping[str, Any], csrf_from: Optional[str] = None
    ) -> Response:
        data = dict(form)
        if "csrf_token" not in data:
            data["csrf_token"] = self.csrf(csrf_from or "/")
        return self.request("POST", path, data)

    def csrf(self, page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.get(page).text)
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def login(self, username: str, password: str = PASSWORD) -> Response:
        token = self.csrf("/login")
        return self.request(
            "POST",
            "/login",
            {
                "username": username,
                "password": password,
                "csrf_token": token,
                "next": "/",
            },
        )
