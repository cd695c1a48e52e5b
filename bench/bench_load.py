"""Load benchmark (issue "scale-out"): many simulated trainees practising at once.

Not part of the test suite. Simulated trainees (asyncio clients) hold scripted
practice conversations with the personas, some over the REST channel
(``POST /webhooks/rest/webhook``) and some over the browser widget's socket.io
channel (``introcoach_socketio``, signed in with a chat token minted by
:mod:`introcoach.chat_auth`, polling transport), in three configurations:

* ``sqlite-1``: :class:`introcoach.stack.Stack`, one Rasa server and one action
  server on a throwaway SQLite file, the conversation lock in memory;
* ``pg-1``: :class:`introcoach.scaled.ScaledStack` with one replica, on a
  throwaway PostgreSQL database and a throwaway Redis key prefix, reached
  through its balancer;
* ``pg-2``: the same with two replicas.

Each trainee runs ``--rounds`` conversations one after another (a new sender id
each). By default it sends the next message as soon as the last one is answered
(no think time), so the figures are what the servers sustain at most with that
many conversations open at once (capacity); with ``--think-seconds T`` each
trainee pauses 0.5 T to 1.5 T between a reply and its next message, as a person
reading and typing does. A conversation is ten messages: a greeting (with
``{"persona_id": ...}`` metadata), an introduction with name, role and
organisation, a question about the persona's work, a shared interest, two
questions, "how did I do?" (scored: a feedback card comes back), another
question, an exchange of contact details and a goodbye (scored too).

How each figure is taken:

* latency, per message: REST, from sending the request to reading the whole
  response; socket.io, from emitting ``user_uttered`` (with an acknowledgement
  callback) until the server's acknowledgement arrives. The channel's handler
  returns only after Rasa has handled the message and every ``bot_uttered``
  event for it was emitted, and python-socketio queues that acknowledgement
  behind them on the same socket, so it is a deterministic end-of-reply marker
  (no quiet-period guessing); the ``bot_uttered`` events received before it are
  the reply. Percentiles are over messages without an error.
* msg/s: messages answered without an error, divided by the wall-clock time
  from the first trainee's start to the last trainee's end.
* errors: a non-200 status, no answer within 60 s, an empty reply, a reply that
  is one of the channels' error notes (``STORE_UNAVAILABLE``,
  ``HANDLING_FAILED``, ``NO_REPLY``), a socket that would not connect or was
  disconnected (that conversation then stops).
* lost: after each run, Rasa's ``events`` table in that configuration's
  database is counted (``type_name = 'user'`` per sender) and compared with the
  messages each sender sent; a shortfall is lost.
* memory: RSS of each server process (and its children) from
  ``/proc/<pid>/status``, when the servers are ready and at the end.

A few warm-up conversations run before each measurement and are not counted.

Soak (``--soak-minutes N``, after the configurations): a steady
``--soak-rate`` messages per second, spread over the trainees, against
``--soak-config`` (fresh servers), sampling every server's RSS every 10 s; the
growth is the mean of the last minute against the mean of the first minute
(the soak starts after the warm-up).

Targets: 20 concurrent conversations with p95 <= 250 ms and no errors;
>= 40 messages per second with one replica; memory growth over the soak <= 5 %.
Writes ``bench/results/load.json`` and ``bench/results/load.md`` and prints the
table; progress goes to stderr. PostgreSQL and Redis are the local servers
(``INTROCOACH_TEST_POSTGRES_URL``, ``INTROCOACH_TEST_REDIS_URL``, as for the
tests); everything listens on 127.0.0.1.

Examples:
    .venv/bin/python bench/bench_load.py
    .venv/bin/python bench/bench_load.py --quick --configs sqlite-1,pg-2
    .venv/bin/python bench/bench_load.py --think-seconds 3
    .venv/bin/python bench/bench_load.py --configs sqlite-1 --soak-minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # when imported rather than run as a script
    sys.path.insert(0, str(BENCH_DIR))

import aiohttp  # noqa: E402
import socketio  # noqa: E402
from bench_rasa import BENCH_ENV, machine_info, percentile  # noqa: E402

# Before the project's modules import Rasa and SQLAlchemy (and warn).
os.environ.update(BENCH_ENV)

from introcoach.channels import HANDLING_FAILED, NO_REPLY, STORE_UNAVAILABLE  # noqa: E402
from introcoach.chat_auth import issue_chat_token  # noqa: E402
from introcoach.model import model_path  # noqa: E402
from introcoach.personas import Persona, all_personas  # noqa: E402
from introcoach.scaled import ScaledStack  # noqa: E402
from introcoach.settings import PROJECT_ROOT  # noqa: E402
from introcoach.stack import Stack, ephemeral_settings  # noqa: E402
from introcoach.storage.db import throwaway_postgres_database  # noqa: E402

CONFIGS: Dict[str, Tuple[str, int]] = {
    "sqlite-1": ("sqlite", 1),
    "pg-1": ("postgresql", 1),
    "pg-2": ("postgresql", 2),
}
DESCRIPTIONS: Dict[str, str] = {
    "sqlite-1": "1 Rasa replica, SQLite, lock in memory",
    "pg-1": "1 Rasa replica behind the balancer, PostgreSQL + Redis",
    "pg-2": "2 Rasa replicas behind the balancer, PostgreSQL + Redis",
}
TRANSPORTS: Tuple[str, ...] = ("rest", "socketio")

# Deadlines (seconds). Generous: the machine has 2 cores and may be shared.
REQUEST_TIMEOUT = 60.0
#: The trainees' pauses (seeded: every run pauses the same way).
THINKING = random.Random(20161101)
CONNECT_TIMEOUT = 15.0
READY_TIMEOUT = 480.0
STOP_TIMEOUT = 15.0
SAMPLE_SECONDS = 10.0
WINDOW_SECONDS = 60.0
#: At most this many processes are walked in one server's process tree.
MAX_TREE = 256

TARGET_CONVERSATIONS = 20
TARGET_P95_MS = 250.0
TARGET_RATE = 40.0
TARGET_GROWTH_PCT = 5.0

FEEDBACK_TYPE = "introcoach.feedback"
#: The channels' notes for a message that could not be handled: errors here.
ERROR_NOTES: Dict[str, str] = {
    STORE_UNAVAILABLE: "note_store_unavailable",
    HANDLING_FAILED: "note_handling_failed",
    NO_REPLY: "note_no_reply",
}
PASSWORD = "load bench password, long enough"
PG_ADMIN_URL = os.environ.get(
    "INTROCOACH_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)
REDIS_URL = os.environ.get("INTROCOACH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the result table."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench load {stamp}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    """What to run and how much of it."""

    configs: Tuple[str, ...] = tuple(CONFIGS)
    conversations: int = 20
    rounds: int = 3
    socketio_share: float = 0.5
    think_seconds: float = 0.0
    warmup: int = 4
    soak_minutes: float = 0.0
    soak_config: str = "sqlite-1"
    soak_rate: float = 5.0
    quick: bool = False
    model: Path = field(default_factory=model_path)
    results_dir: Path = PROJECT_ROOT / "bench" / "results"
    keep_temp: bool = False
    postgres_admin_url: str = PG_ADMIN_URL
    redis_url: str = REDIS_URL


def parse_args(argv: Optional[Sequence[str]] = None) -> Options:
    """The command line, as :class:`Options`."""
    parser = argparse.ArgumentParser(
        description="Load benchmark: simulated trainees over REST and socket.io."
    )
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated configurations (default all): {','.join(CONFIGS)}",
    )
    parser.add_argument(
        "--conversations",
        type=int,
        help="concurrent simulated trainees (default 20, quick 4)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="conversations each trainee holds one after another (default 3, quick 1)",
    )
    parser.add_argument(
        "--socketio-share",
        type=float,
        default=0.5,
        help="fraction of trainees on socket.io instead of REST (default 0.5)",
    )
    parser.add_argument(
        "--think-seconds",
        type=float,
        default=0.0,
        help="mean pause of a trainee between a reply and the next message, "
        "0.5x to 1.5x at random (default 0: answer at once, which measures "
        "capacity; about 3 is a fast typist)",
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=0.0,
        help="soak length after the configurations; 0 = no soak (quick: at most 1)",
    )
    parser.add_argument(
        "--soak-config",
        default="sqlite-1",
        help=f"configuration for the soak (default sqlite-1): {','.join(CONFIGS)}",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        default=5.0,
        help="steady messages per second during the soak (default 5)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 4 conversations, 1 round, soak (if asked) at most 1 minute",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="the trained model (default: the project's model for the current data)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=PROJECT_ROOT / "bench" / "results",
        help="where load.json and load.md go (default bench/results)",
    )
    parser.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep the temporary folder (server logs, the SQLite file)",
    )
    args = parser.parse_args(argv)
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip())
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"--configs takes {','.join(CONFIGS)}; got {args.configs!r}")
    if args.soak_config not in CONFIGS:
        parser.error(f"--soak-config takes one of {','.join(CONFIGS)}")
    if not configs and args.soak_minutes <= 0:
        parser.error("nothing to run: no --configs and no --soak-minutes")
    conversations = args.conversations or (4 if args.quick else 20)
    rounds = args.rounds or (1 if args.quick else 3)
    if conversations < 1 or rounds < 1:
        parser.error("--conversations and --rounds must be at least 1")
    if not 0.0 <= args.socketio_share <= 1.0:
        parser.error("--socketio-share must be between 0 and 1")
    if args.think_seconds < 0:
        parser.error("--think-seconds must be >= 0")
    if args.soak_minutes < 0 or args.soak_rate <= 0:
        parser.error("--soak-minutes must be >= 0 and --soak-rate > 0")
    soak_minutes = min(args.soak_minutes, 1.0) if args.quick else args.soak_minutes
    return Options(
        configs=configs,
        conversations=conversations,
        rounds=rounds,
        socketio_share=args.socketio_share,
        think_seconds=args.think_seconds,
        warmup=min(conversations, 2 if args.quick else 4),
        soak_minutes=soak_minutes,
        soak_config=args.soak_config,
        soak_rate=args.soak_rate,
        quick=args.quick,
        model=args.model or model_path(),
        results_dir=args.results_dir,
        keep_temp=args.keep_temp,
    )


def transports_for(count: int, share: float) -> List[str]:
    """Which transport each of ``count`` trainees uses, spread evenly."""
    return [
        "socketio" if math.floor((i + 1) * share) > math.floor(i * share) else "rest"
        for i in range(count)
    ]


def mix_label(transports: Sequence[str]) -> str:
    """``"10 REST + 10 socket.io"``."""
    counts = Counter(transports)
    return f"{counts['rest']} REST + {counts['socketio']} socket.io"


# -------------------------------------------------------------------------- script

#: Who the simulated trainee is: name, role, organisation.
VOICES: Tuple[Tuple[str, str, str], ...] = (
    ("Sam", "peer support specialist", "Hope Center"),
    ("Jordan Lee", "case manager", "County Reentry Services"),
    ("Alex", "recovery coach", "Bridgeway Clinic"),
    ("Taylor", "peer specialist", "Riverside Recovery"),
    ("Chris", "family peer support partner", "the Harbor County program"),
    ("Morgan", "peer services coordinator", "Lakeside Health"),
)
GREETINGS = ("Hi there!", "Hello!", "Good morning!", "Hey, nice to meet you.")
QUESTIONS = (
    "Have you been to any good sessions so far?",
    "How is the conference going for you?",
    "Is this your first time at this conference?",
)
FOLLOW_UPS = (
    "How did you get into this line of work?",
    "Do you have any hobbies outside of work?",
    "What are you most looking forward to this week?",
)
LATER_QUESTIONS = (
    "What sessions are you going to today?",
    "How long have you been in your role?",
    "Do you travel much for work?",
)
GOODBYES = (
    "It was great to meet you, I have to run to my next session. Bye!",
    "Thanks so much, enjoy the rest of the conference. Goodbye!",
    "Nice talking with you, see you around!",
)

#: One message of a conversation: its text and whether IntroCoach scores it.
Turn = Tuple[str, bool]


def conversation_script(persona: Persona, variant: int) -> List[Turn]:
    """The ten messages of one practice conversation with ``persona``."""
    name, role, organization = VOICES[variant % len(VOICES)]
    interest = persona.interests[variant % len(persona.interests)]
    article = "an" if role[0] in "aeiou" else "a"
    return [
        (GREETINGS[variant % len(GREETINGS)], False),
        (f"I'm {name}, I work as {article} {role} at {organization}.", False),
        (f"What do you do at {persona.organization}?", False),
        (f"I'm really into {interest} too, I make time for it most weekends.", False),
        (QUESTIONS[variant % len(QUESTIONS)], False),
        (FOLLOW_UPS[variant % len(FOLLOW_UPS)], False),
        ("how did I do?", True),
        (LATER_QUESTIONS[variant % len(LATER_QUESTIONS)], False),
        ("Could we exchange contact details?", False),
        (GOODBYES[variant % len(GOODBYES)], True),
    ]


# ------------------------------------------------------------------------- records


@dataclass
class Outcome:
    """One message's round trip."""

    latency_ms: float
    replies: List[Dict[str, Any]]
    error: Optional[str] = None
    detail: str = ""
    #: False when the message certainly never reached the server.
    delivered: bool = True


@dataclass
class Tally:
    """What the simulated trainees of one run saw."""

    latencies: Dict[str, List[float]] = field(
        default_factory=lambda: {t: [] for t in TRANSPORTS}
    )
    errors: Counter = field(default_factory=Counter)
    examples: Dict[str, str] = field(default_factory=dict)
    sent: Dict[str, int] = field(default_factory=dict)
    messages: int = 0
    conversations: int = 0
    scoring_turns: int = 0
    scored: int = 0
    stray_replies: int = 0

    def error(self, kind: str, detail: str = "") -> None:
        """Count one error (and keep the first example of each kind)."""
        self.errors[kind] += 1
        if detail and kind not in self.examples:
            self.examples[kind] = detail[:300]

    def all_latencies(self) -> List[float]:
        """Every error-free message's latency, both transports."""
        return [v for values in self.latencies.values() for v in values]


class ChatFailed(Exception):
    """A conversation could not start or go on (the socket would not connect...)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def reply_problem(replies: Any) -> Optional[str]:
    """The error a reply is (empty, or one of the error notes), or None."""
    if not isinstance(replies, list) or not replies:
        return "empty_reply"
    for reply in replies:
        text = reply.get("text") if isinstance(reply, dict) else None
        if text in ERROR_NOTES:
            return ERROR_NOTES[text]
    return None


def has_feedback(replies: List[Dict[str, Any]]) -> bool:
    """True when a reply carries IntroCoach's feedback card."""
    return any(
        isinstance(r, dict)
        and isinstance(r.get("custom"), dict)
        and r["custom"].get("type") == FEEDBACK_TYPE
        for r in replies
    )


# --------------------------------------------------------------------- the clients


@dataclass(frozen=True)
class Target:
    """Where the simulated trainees connect, and what signs their chat tokens."""

    rasa_url: str
    jwt_key: str
    database_url: str
    #: The REST channel's token (``Authorization: Bearer``).
    rest_token: str = ""


class Chat(Protocol):
    """One simulated trainee's connection, over either transport."""

    transport: str

    async def begin(self, persona_id: str) -> str:
        """Start a new conversation; returns its sender id."""

    async def say(self, text: str, metadata: Optional[Dict[str, Any]]) -> Outcome:
        """Send one message and wait for its whole reply."""

    async def end(self) -> None:
        """End the current conversation."""

    async def close(self) -> None:
        """Release everything (after the last conversation)."""


class RestChat:
    """A trainee on the REST channel, with its own keep-alive HTTP session."""

    transport = "rest"

    def __init__(self, target: Target, run_id: str, index: int) -> None:
        """Set up; the HTTP session opens with the first message."""
        self.url = f"{target.rasa_url}/webhooks/rest/webhook"
        self.target = target
        self.run_id = run_id
        self.index = index
        self.number = 0
        self.sender = ""
        self.session: Optional[aiohttp.ClientSession] = None

    async def begin(self, persona_id: str) -> str:
        """A new sender id: a new conversation."""
        if self.session is None:
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                headers={"Authorization": f"Bearer {self.target.rest_token}"},
            )
        self.number += 1
        self.sender = f"load-{self.run_id}-{self.index:03d}-{self.number:04d}"
        return self.sender

    async def say(self, text: str, metadata: Optional[Dict[str, Any]]) -> Outcome:
        """POST the message; the response holds the whole reply."""
        assert self.session is not None, "begin() first"
        body: Dict[str, Any] = {"sender": self.sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000.0

        try:
            async with self.session.post(self.url, json=body) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError:
            return Outcome(
                elapsed(), [], "timeout", f"no answer in {REQUEST_TIMEOUT:.0f} s"
            )
        except aiohttp.ClientConnectorError as exc:
            return Outcome(elapsed(), [], "connect_failed", str(exc), delivered=False)
        except aiohttp.ClientError as exc:
            return Outcome(elapsed(), [], "http_failed", f"{type(exc).__name__}: {exc}")
        took = elapsed()
        if status != 200:
            detail = raw[:200].decode(errors="replace")
            return Outcome(took, [], f"http_{status}", detail)
        try:
            replies = json.loads(raw.decode() or "null")
        except ValueError:
            return Outcome(took, [], "bad_json", raw[:200].decode(errors="replace"))
        problem = reply_problem(replies)
        return Outcome(
            took, replies if isinstance(replies, list) else [], problem, text
        )

    async def end(self) -> None:
        """Nothing to do: the next conversation uses a new sender id."""

    async def close(self) -> None:
        """Close the HTTP session."""
        if self.session is not None:
            await self.session.close()
            self.session = None


class Practices:
    """Trainee accounts and practice sessions, as the web app creates them.

    A socket.io chat token names a trainee and a practice session, so each
    socket.io trainee gets an account and each of its conversations a practice
    session row (created before the measurement where the number is known).
    """

    def __init__(self, database_url: str) -> None:
        """Connect to the configuration's database."""
        from argon2 import PasswordHasher

        from introcoach.storage import configure_password_hasher, make_engine

        # Cheap hashes: accounts are made in bulk and never signed in.
        configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=8192))
        self.engine = make_engine(database_url)
        self.lock = threading.Lock()
        self.prepared: Dict[Tuple[int, str], List[Tuple[str, int]]] = {}

    def trainee(self) -> int:
        """A new trainee account; returns its id."""
        from introcoach.storage import create_user

        with self.lock:
            user = create_user(
                self.engine,
                f"load-{uuid.uuid4().hex[:10]}",
                PASSWORD,
                "trainee",
                "Load Trainee",
            )
        return int(user.id)

    def create(self, trainee_id: int, persona_id: str) -> Tuple[str, int]:
        """A new practice session: ``(sender id, practice id)``."""
        from introcoach.storage import start_session

        sender = f"web-load-{uuid.uuid4().hex[:12]}"
        with self.lock:
            practice = start_session(
                self.engine, sender, persona_id, "small_talk", trainee_id=trainee_id
            )
        return sender, int(practice.id)

    def prepare(self, trainee_id: int, persona_id: str) -> None:
        """Create one practice session now, for :meth:`take` to hand out later."""
        key = (trainee_id, persona_id)
        self.prepared.setdefault(key, []).append(self.create(trainee_id, persona_id))

    async def take(self, trainee_id: int, persona_id: str) -> Tuple[str, int]:
        """A prepared practice session, or a new one (made off the event loop)."""
        ready = self.prepared.get((trainee_id, persona_id))
        if ready:
            return ready.pop(0)
        return await asyncio.to_thread(self.create, trainee_id, persona_id)

    def close(self) -> None:
        """Dispose of the engine."""
        self.engine.dispose()


class SocketChat:
    """A trainee on the socket.io channel: one signed-in socket per conversation."""

    transport = "socketio"

    def __init__(self, target: Target, practices: Practices, trainee_id: int) -> None:
        """Set up; a socket connects at each :meth:`begin`."""
        self.target = target
        self.practices = practices
        self.trainee_id = trainee_id
        self.client: Optional[socketio.AsyncClient] = None
        self.sender = ""
        self.inbox: List[Dict[str, Any]] = []
        self.refusals: List[str] = []
        self.closing = False
        self.pending: Optional[asyncio.Future] = None
        self.stray = 0

    async def begin(self, persona_id: str) -> str:
        """Connect with a fresh chat token, join the conversation's room.

        Raises:
            ChatFailed: The socket was refused, did not connect or was not
                confirmed in time.
        """
        sender, practice_id = await self.practices.take(self.trainee_id, persona_id)
        token = issue_chat_token(
            self.target.jwt_key, sender, self.trainee_id, practice_id
        )
        loop = asyncio.get_running_loop()
        connected: asyncio.Future = loop.create_future()
        confirmed: asyncio.Future = loop.create_future()
        client = socketio.AsyncClient(reconnection=False)
        self.client, self.sender, self.closing = client, sender, False
        self.inbox, self.refusals = [], []

        def on_connect() -> None:
            if not connected.done():
                connected.set_result(None)

        def on_refused(data: Any) -> None:
            if not connected.done():
                connected.set_exception(ChatFailed("socket_refused", str(data)))

        def on_confirm(data: Any) -> None:
            if not confirmed.done():
                confirmed.set_result(data)

        def on_disconnect(*_args: Any) -> None:
            if self.closing:
                return
            for future in (connected, confirmed, self.pending):
                if future is not None and not future.done():
                    future.set_exception(ChatFailed("disconnect", "socket closed"))

        client.on("connect", on_connect)
        client.on("connect_error", on_refused)
        client.on("disconnect", on_disconnect)
        client.on("session_confirm", on_confirm)
        client.on("bot_uttered", self.inbox_append)
        client.on("introcoach_error", self.refused_message)
        try:
            await client.connect(
                self.target.rasa_url,
                socketio_path="/socket.io",
                # Rasa pins aiohttp 3.9, too old for python-socketio's websocket
                # client (see tests/test_chat_socket.py): long polling.
                transports=["polling"],
                auth={"token": token},
                wait=False,
            )
            await asyncio.wait_for(connected, CONNECT_TIMEOUT)
            await client.emit("session_request", {"session_id": sender})
            await asyncio.wait_for(confirmed, CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            await self.end()
            raise ChatFailed(
                "connect_timeout", f"not connected in {CONNECT_TIMEOUT:.0f} s"
            ) from None
        except ChatFailed:
            await self.end()
            raise
        except Exception as exc:  # noqa: BLE001 - socketio.exceptions.ConnectionError...
            await self.end()
            raise ChatFailed("connect_failed", f"{type(exc).__name__}: {exc}") from None
        return sender

    def inbox_append(self, data: Any) -> None:
        """A ``bot_uttered`` event: part of the reply being awaited."""
        if self.pending is None or self.pending.done():
            self.stray += 1
            return
        self.inbox.append(data if isinstance(data, dict) else {"text": data})

    def refused_message(self, data: Any) -> None:
        """An ``introcoach_error`` event: the channel refused a message."""
        message = data.get("message") if isinstance(data, dict) else data
        self.refusals.append(str(message))

    async def say(self, text: str, metadata: Optional[Dict[str, Any]]) -> Outcome:
        """Emit ``user_uttered``; the reply is complete at the acknowledgement."""
        client = self.client
        assert client is not None, "begin() first"
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future = loop.create_future()
        self.inbox = []
        self.pending = acknowledged

        def on_ack(*_args: Any) -> None:
            if not acknowledged.done():
                acknowledged.set_result(None)

        payload = {
            "message": text,
            "session_id": self.sender,
            "metadata": metadata or {},
        }
        started = time.perf_counter()
        try:
            await client.emit("user_uttered", payload, callback=on_ack)
            await asyncio.wait_for(acknowledged, REQUEST_TIMEOUT)
        except asyncio.TimeoutError:
            took = (time.perf_counter() - started) * 1000.0
            return Outcome(
                took, [], "timeout", f"no acknowledgement in {REQUEST_TIMEOUT:.0f} s"
            )
        except ChatFailed as exc:
            took = (time.perf_counter() - started) * 1000.0
            return Outcome(took, [], exc.kind, exc.detail)
        except Exception as exc:  # noqa: BLE001 - socketio.exceptions.BadNamespaceError...
            took = (time.perf_counter() - started) * 1000.0
            return Outcome(took, [], "disconnect", f"{type(exc).__name__}: {exc}")
        finally:
            self.pending = None
        took = (time.perf_counter() - started) * 1000.0
        replies = list(self.inbox)
        if self.refusals:
            return Outcome(took, replies, "refused", self.refusals[-1])
        return Outcome(took, replies, reply_problem(replies), text)

    async def end(self) -> None:
        """Drop the socket at once (a polite close waits out the long poll)."""
        client, self.client = self.client, None
        self.closing = True
        if client is None:
            return
        try:
            await client.eio.disconnect(abort=True)
        except Exception as exc:  # noqa: BLE001 - closing anyway
            log(f"closing a socket failed: {type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Nothing beyond :meth:`end`."""
        await self.end()


# ------------------------------------------------------------------- the trainees


class Pacer:
    """Hands out send times at a steady rate, shared by every trainee."""

    def __init__(self, rate: float) -> None:
        """``rate`` messages per second, never more (no catching up in bursts)."""
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self, deadline: float) -> bool:
        """Sleep until this message's turn; False once past ``deadline``."""
        now = time.monotonic()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot >= deadline:
            return False
        await asyncio.sleep(slot - now)
        return True


@dataclass
class Plan:
    """How one run of simulated trainees goes."""

    transports: List[str]
    rounds: int
    personas: Tuple[Persona, ...]
    pacer: Optional[Pacer] = None
    deadline: Optional[float] = None
    think_seconds: float = 0.0

    def persona_for(self, trainee: int, round_no: int) -> Persona:
        """Personas rotate over every conversation of the run."""
        number = round_no * len(self.transports) + trainee
        return self.personas[number % len(self.personas)]


async def trainee_runs(chat: Chat, index: int, plan: Plan, tally: Tally) -> None:
    """One simulated trainee: ``plan.rounds`` conversations, one after another.

    With a pacer, each message waits for its turn and the trainee stops at
    the deadline (mid-conversation if need be).
    """
    for round_no in range(plan.rounds):
        if plan.deadline is not None and time.monotonic() >= plan.deadline:
            return
        persona = plan.persona_for(index, round_no)
        script = conversation_script(persona, round_no * len(plan.transports) + index)
        try:
            sender = await chat.begin(persona.id)
        except ChatFailed as exc:
            tally.error(exc.kind, exc.detail)
            continue
        tally.conversations += 1
        tally.sent.setdefault(sender, 0)
        try:
            for turn, (text, scored) in enumerate(script):
                if plan.pacer is not None and plan.deadline is not None:
                    if not await plan.pacer.wait(plan.deadline):
                        return
                metadata = {"persona_id": persona.id} if turn == 0 else None
                outcome = await chat.say(text, metadata)
                tally.messages += 1
                if outcome.delivered:
                    tally.sent[sender] += 1
                if outcome.error:
                    tally.error(outcome.error, f"{sender}: {outcome.detail}")
                    if outcome.error == "disconnect":
                        break
                    continue
                tally.latencies[chat.transport].append(outcome.latency_ms)
                if scored:
                    tally.scoring_turns += 1
                    tally.scored += has_feedback(outcome.replies)
                if plan.think_seconds > 0:  # reading the reply, typing the next
                    await asyncio.sleep(plan.think_seconds * THINKING.uniform(0.5, 1.5))
        finally:
            await chat.end()


async def simulate(
    target: Target,
    plan: Plan,
    practices: Optional[Practices],
    trainee_ids: Sequence[Optional[int]],
    run_id: str,
    budget: float,
) -> Tuple[Tally, float]:
    """Run every trainee of ``plan`` at once; returns the tally and wall seconds.

    Raises:
        asyncio.TimeoutError: When the whole run outlasts ``budget`` seconds
            (every message has its own 60 s deadline; this is a backstop).
    """
    tally = Tally()
    chats: List[Chat] = []
    for index, transport in enumerate(plan.transports):
        if transport == "socketio":
            assert practices is not None and trainee_ids[index] is not None
            chats.append(SocketChat(target, practices, int(trainee_ids[index] or 0)))
        else:
            chats.append(RestChat(target, run_id, index))
    started = time.monotonic()
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(trainee_runs(chat, i, plan, tally) for i, chat in enumerate(chats))
            ),
            budget,
        )
    finally:
        wall = time.monotonic() - started
        for chat in chats:
            await chat.close()
            if isinstance(chat, SocketChat):
                tally.stray_replies += chat.stray
    return tally, wall


def summarize(tally: Tally, wall: float) -> Dict[str, Any]:
    """The figures of one run, JSON-ready."""
    values = tally.all_latencies()
    ok = len(values)

    def pct(data: List[float], q: float) -> Optional[float]:
        return round(percentile(data, q), 1) if data else None

    by_transport = {
        t: {
            "messages_ok": len(v),
            "p50_ms": pct(v, 50),
            "p95_ms": pct(v, 95),
            "p99_ms": pct(v, 99),
        }
        for t, v in tally.latencies.items()
        if v
    }
    return {
        "conversations": tally.conversations,
        "messages": tally.messages,
        "messages_ok": ok,
        "wall_seconds": round(wall, 1),
        "messages_per_second": round(ok / wall, 2) if wall > 0 else None,
        "p50_ms": pct(values, 50),
        "p95_ms": pct(values, 95),
        "p99_ms": pct(values, 99),
        "mean_ms": round(statistics.fmean(values), 1) if values else None,
        "max_ms": round(max(values), 1) if values else None,
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors),
        "error_examples": tally.examples,
        "scoring_turns": tally.scoring_turns,
        "feedback_cards": tally.scored,
        "stray_socket_replies": tally.stray_replies,
        "by_transport": by_transport,
    }


# --------------------------------------------------------------------- the servers


def _children(pid: int) -> List[int]:
    """Direct children of ``pid`` (``/proc/<pid>/task/*/children``)."""
    found: List[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _rss_kb(pid: int) -> Optional[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_rss_mb(pid: int) -> Optional[float]:
    """RSS of a process and all its descendants in MB; None once it is gone."""
    own = _rss_kb(pid)
    if own is None:
        return None
    total, seen, queue = own, {pid}, _children(pid)
    while queue and len(seen) < MAX_TREE:
        child = queue.pop()
        if child in seen:
            continue
        seen.add(child)
        rss = _rss_kb(child)
        if rss is not None:
            total += rss
            queue += _children(child)
    return round(total / 1024.0, 1)


def memory_snapshot(stack: Stack) -> Dict[str, Optional[float]]:
    """RSS (MB) of every server process the stack started, with its children."""
    return {name: tree_rss_mb(p.pid) for name, p in stack.processes.items()}


@contextmanager
def throwaway_redis_prefix(url: str, result: Dict[str, Any]) -> Iterator[str]:
    """Yield a unique key prefix; afterwards count and delete its keys.

    ``result["redis_keys_left"]`` gets how many keys were left under it once
    the servers stopped (conversation locks should all be gone).
    """
    import redis

    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    client.ping()
    prefix = f"introcoach-load-{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        result["redis_keys_left"] = len(keys)
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class Running:
    """A started configuration."""

    name: str
    stack: Stack
    database_url: str

    @property
    def target(self) -> Target:
        """Where the trainees connect (the balancer for the scaled set-ups)."""
        s = self.stack.settings
        return Target(s.rasa_url, s.jwt_key, self.database_url, s.rest_token)


@contextmanager
def running_config(
    name: str, options: Options, work: Path, result: Dict[str, Any]
) -> Iterator[Running]:
    """Start one configuration on a throwaway database; always stop and clean up.

    Fills ``result`` with the ready time, the process names, and, when a
    server died during the run, its name and the end of its log.
    """
    kind, replicas = CONFIGS[name]
    log_dir = work / f"{name}-{uuid.uuid4().hex[:6]}"
    log_dir.mkdir(parents=True)
    result["log_dir"] = str(log_dir)
    with ExitStack() as resources:
        stack: Stack
        if kind == "sqlite":
            url = f"sqlite:///{log_dir / 'introcoach.db'}"
            env = {
                **BENCH_ENV,
                "INTROCOACH_DATABASE_URL": url,
                "INTROCOACH_REDIS_URL": "",  # the lock in memory, as `make run`
            }
            stack = Stack(
                ephemeral_settings(), options.model, log_dir=log_dir, extra_env=env
            )
        else:
            url = resources.enter_context(
                throwaway_postgres_database(
                    options.postgres_admin_url, "introcoach_load"
                )
            )
            prefix = resources.enter_context(
                throwaway_redis_prefix(options.redis_url, result)
            )
            env = {
                **BENCH_ENV,
                "INTROCOACH_DATABASE_URL": url,
                "INTROCOACH_REDIS_URL": options.redis_url,
                "INTROCOACH_LOCK_PREFIX": prefix,
            }
            stack = ScaledStack(
                ephemeral_settings(),
                options.model,
                log_dir=log_dir,
                extra_env=env,
                replicas=replicas,
                ephemeral_ports=True,
            )
        if kind == "sqlite":
            # The project's tables and Rasa's events table before the servers
            # start, as ScaledStack.start() does (socket.io trainees need them).
            from introcoach.scaled import prepare_database

            prepare_database(url)
        log(f"{name}: starting {DESCRIPTIONS[name]}...")
        try:
            stack.start()
            result["ready_seconds"] = round(stack.wait_ready(timeout=READY_TIMEOUT), 1)
            result["processes"] = list(stack.processes)
            log(f"{name}: ready in {result['ready_seconds']:.0f} s")
            yield Running(name, stack, url)
        finally:
            died = [n for n, p in stack.processes.items() if p.poll() is not None]
            if died:
                result["died"] = {n: stack.log_tail(n) for n in died}
                log(f"{name}: server(s) stopped during the run: {', '.join(died)}")
            stack.stop(STOP_TIMEOUT)


def stored_user_messages(database_url: str, senders: Sequence[str]) -> Dict[str, int]:
    """How many user messages Rasa stored per sender (its ``events`` table)."""
    from sqlalchemy import func, select

    from introcoach.storage import make_engine
    from introcoach.storage.transcripts import EVENTS

    counts: Dict[str, int] = {}
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            for start in range(0, len(senders), 500):
                chunk = list(senders[start : start + 500])
                rows = connection.execute(
                    select(EVENTS.c.sender_id, func.count())
                    .where(EVENTS.c.type_name == "user", EVENTS.c.sender_id.in_(chunk))
                    .group_by(EVENTS.c.sender_id)
                )
                counts.update({str(sender): int(n) for sender, n in rows})
    finally:
        engine.dispose()
    return counts


def check_lost(database_url: str, sent: Dict[str, int]) -> Dict[str, Any]:
    """Compare the messages sent with those stored, per sender."""
    stored = stored_user_messages(database_url, list(sent))
    lost = {s: n - stored.get(s, 0) for s, n in sent.items() if n > stored.get(s, 0)}
    extra = {s: stored[s] - n for s, n in sent.items() if stored.get(s, 0) > n}
    return {
        "senders": len(sent),
        "sent": sum(sent.values()),
        "stored": sum(stored.get(s, 0) for s in sent),
        "lost": sum(lost.values()),
        "extra": sum(extra.values()),
        "senders_with_loss": sorted(lost)[:10],
        "senders_with_extra": sorted(extra)[:10],
    }


# -------------------------------------------------------------------------- phases


def _budget(plan: Plan, minutes: float = 0.0) -> float:
    """A backstop for a whole run: every message may take its full deadline."""
    script = 10
    per_message = REQUEST_TIMEOUT + 5.0 + 1.5 * plan.think_seconds
    return plan.rounds * script * per_message + minutes * 60.0 + 120.0


def prepare_trainees(
    practices: Practices, plan: Plan, prepare_rounds: int
) -> List[Optional[int]]:
    """Accounts for the socket.io trainees, and their first practice sessions."""
    ids: List[Optional[int]] = []
    for index, transport in enumerate(plan.transports):
        if transport != "socketio":
            ids.append(None)
            continue
        trainee = practices.trainee()
        ids.append(trainee)
        for round_no in range(prepare_rounds):
            practices.prepare(trainee, plan.persona_for(index, round_no).id)
    return ids


def run_trainees(
    running: Running,
    plan: Plan,
    prepare_rounds: int,
    label: str,
    minutes: float = 0.0,
    during: Optional[Callable[[], Any]] = None,
) -> Tuple[Tally, float]:
    """Prepare the accounts, then run ``plan`` against ``running``.

    ``during`` (a coroutine function) runs alongside the trainees and is
    cancelled when they finish.
    """
    practices = Practices(running.database_url)
    try:
        trainee_ids = prepare_trainees(practices, plan, prepare_rounds)
        run_id = f"{label}-{uuid.uuid4().hex[:6]}"

        async def main() -> Tuple[Tally, float]:
            side = asyncio.ensure_future(during()) if during is not None else None
            try:
                return await simulate(
                    running.target,
                    plan,
                    practices,
                    trainee_ids,
                    run_id,
                    _budget(plan, minutes),
                )
            finally:
                if side is not None:
                    side.cancel()
                    await asyncio.gather(side, return_exceptions=True)

        return asyncio.run(main())
    finally:
        practices.close()


def warm_up(
    running: Running, options: Options, personas: Tuple[Persona, ...]
) -> Dict[str, Any]:
    """A few unmeasured conversations (both transports when both are used)."""
    transports = transports_for(options.warmup, options.socketio_share)
    if options.socketio_share > 0 and "socketio" not in transports:
        transports[-1] = "socketio"
    plan = Plan(transports, 1, personas)
    log(f"{running.name}: warm-up, {mix_label(transports)} conversation(s)...")
    tally, wall = run_trainees(running, plan, 1, f"warm-{running.name}")
    return {
        "conversations": tally.conversations,
        "messages": tally.messages,
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors),
        "seconds": round(wall, 1),
    }


def measure_config(
    name: str, options: Options, work: Path, personas: Tuple[Persona, ...]
) -> Dict[str, Any]:
    """Start one configuration, warm it up, run the trainees, check the store."""
    transports = transports_for(options.conversations, options.socketio_share)
    result: Dict[str, Any] = {
        "config": name,
        "description": DESCRIPTIONS[name],
        "trainees": options.conversations,
        "rounds": options.rounds,
        "transport_mix": mix_label(transports),
        "think_seconds": options.think_seconds,
    }
    with running_config(name, options, work, result) as running:
        result["rss_mb_ready"] = memory_snapshot(running.stack)
        result["warmup"] = warm_up(running, options, personas)
        result["rss_mb_after_warmup"] = memory_snapshot(running.stack)
        plan = Plan(
            transports, options.rounds, personas, think_seconds=options.think_seconds
        )
        log(
            f"{name}: {options.conversations} trainees ({mix_label(transports)}) x "
            f"{options.rounds} round(s)..."
        )
        tally, wall = run_trainees(running, plan, options.rounds, name)
        result.update(summarize(tally, wall))
        result["rss_mb_end"] = memory_snapshot(running.stack)
        result["store"] = check_lost(running.database_url, tally.sent)
        result["lost"] = result["store"]["lost"]
        log(
            f"{name}: {result['messages_per_second']} msg/s, p95 {result['p95_ms']} ms,"
            f" {result['errors']} errors, {result['lost']} lost"
        )
    return result


def memory_growth(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per process: mean RSS of the first and the last minute, and the growth."""
    if not samples:
        return {"processes": {}, "windows_overlap": True}
    duration = samples[-1]["t"]
    first = [s for s in samples if s["t"] < WINDOW_SECONDS]
    last = [s for s in samples if s["t"] >= duration - WINDOW_SECONDS]
    processes: Dict[str, Dict[str, Optional[float]]] = {}
    for name in samples[0]["rss_mb"]:
        a = [s["rss_mb"][name] for s in first if s["rss_mb"].get(name) is not None]
        b = [s["rss_mb"][name] for s in last if s["rss_mb"].get(name) is not None]
        mean_a = statistics.fmean(a) if a else None
        mean_b = statistics.fmean(b) if b else None
        growth = (
            round((mean_b - mean_a) / mean_a * 100.0, 2)
            if mean_a and mean_b is not None
            else None
        )
        processes[name] = {
            "first_minute_mb": None if mean_a is None else round(mean_a, 1),
            "last_minute_mb": None if mean_b is None else round(mean_b, 1),
            "growth_pct": growth,
        }
    return {
        "processes": processes,
        "duration_seconds": duration,
        "windows_overlap": duration < 2 * WINDOW_SECONDS,
    }


def soak(options: Options, work: Path, personas: Tuple[Persona, ...]) -> Dict[str, Any]:
    """A steady rate for ``soak_minutes`` on fresh servers, sampling memory."""
    name = options.soak_config
    transports = transports_for(options.conversations, options.socketio_share)
    seconds = options.soak_minutes * 60.0
    script = 10
    # Enough rounds that the deadline, not the rounds, ends every trainee.
    rounds = math.ceil(seconds * options.soak_rate / script / len(transports)) + 2
    result: Dict[str, Any] = {
        "config": name,
        "description": DESCRIPTIONS[name],
        "minutes": options.soak_minutes,
        "target_rate": options.soak_rate,
        "trainees": len(transports),
        "transport_mix": mix_label(transports),
        "sample_seconds": SAMPLE_SECONDS,
    }
    samples: List[Dict[str, Any]] = []
    with running_config(name, options, work, result) as running:
        result["rss_mb_ready"] = memory_snapshot(running.stack)
        result["warmup"] = warm_up(running, options, personas)
        started = time.monotonic()
        plan = Plan(
            transports,
            rounds,
            personas,
            pacer=Pacer(options.soak_rate),
            deadline=started + seconds,
        )

        async def sample() -> None:
            # Bounded: cancelled when the trainees finish (at the deadline).
            for _ in range(int(seconds / SAMPLE_SECONDS) + 1000):
                samples.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "rss_mb": memory_snapshot(running.stack),
                    }
                )
                await asyncio.sleep(SAMPLE_SECONDS)

        log(
            f"soak on {name}: {options.soak_rate:g} msg/s for "
            f"{options.soak_minutes:g} min, {len(transports)} trainees "
            f"({mix_label(transports)})..."
        )
        # Practice sessions for the first round now; the rest as they come.
        tally, wall = run_trainees(
            running, plan, 1, f"soak-{name}", options.soak_minutes, during=sample
        )
        samples.append(
            {
                "t": round(time.monotonic() - started, 1),
                "rss_mb": memory_snapshot(running.stack),
            }
        )
        result.update(summarize(tally, wall))
        result["store"] = check_lost(running.database_url, tally.sent)
        result["lost"] = result["store"]["lost"]
        result["samples"] = samples
        result["memory"] = memory_growth(samples)
        result["rss_mb_end"] = samples[-1]["rss_mb"]
        log(
            f"soak: {result['messages_per_second']} msg/s achieved, p95 "
            f"{result['p95_ms']} ms, {result['errors']} errors, {result['lost']} lost"
        )
    return result


# --------------------------------------------------------------------------- report


def _verdict(met: Optional[bool]) -> str:
    return "not measured" if met is None else ("met" if met else "**not met**")


def evaluate_targets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each target against each run it applies to."""
    verdicts: List[Dict[str, Any]] = []
    for name, run in results["configs"].items():
        if "p95_ms" not in run:
            continue
        trainees = run["trainees"]
        note = "" if trainees >= TARGET_CONVERSATIONS else f"ran {trainees}, not 20"
        p95, errors = run["p95_ms"], run["errors"]
        met = None if p95 is None else (p95 <= TARGET_P95_MS and errors == 0)
        verdicts.append(
            {
                "target": "20 concurrent conversations: p95 ≤ 250 ms, no errors",
                "config": name,
                "value": f"{trainees} conversations, p95 {p95} ms, {errors} errors",
                "met": met,
                "note": note,
            }
        )
        if CONFIGS[name][1] == 1:
            rate = run["messages_per_second"]
            verdicts.append(
                {
                    "target": "≥ 40 messages per second with one replica",
                    "config": name,
                    "value": f"{rate} msg/s",
                    "met": None if rate is None else rate >= TARGET_RATE,
                    "note": note,
                }
            )
    run = results.get("soak")
    if run and "memory" in run:
        growths = {
            n: p["growth_pct"]
            for n, p in run["memory"]["processes"].items()
            if p["growth_pct"] is not None
        }
        worst = max(growths, key=lambda n: growths[n]) if growths else None
        note = (
            "soak shorter than 2 minutes: the first and last minute overlap"
            if run["memory"]["windows_overlap"]
            else ""
        )
        verdicts.append(
            {
                "target": "memory growth over the soak ≤ 5 %",
                "config": f"soak {run['config']}",
                "value": f"max {growths[worst]:+.1f} % ({worst})" if worst else "–",
                "met": None if worst is None else growths[worst] <= TARGET_GROWTH_PCT,
                "note": note,
            }
        )
    return verdicts


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _rss_cell(
    start: Dict[str, Optional[float]], end: Dict[str, Optional[float]]
) -> str:
    parts = [f"{n} {_fmt(start.get(n), 0)}→{_fmt(end.get(n), 0)}" for n in start]
    return "<br>".join(parts)


def _think(seconds: Optional[float]) -> str:
    return f", think {seconds:g} s" if seconds else ", no think time"


def markdown_report(results: Dict[str, Any]) -> str:
    """The results as markdown: the table, the verdicts, the soak, the machine."""
    lines = [
        "| Config | Transport mix | Conversations | Messages | msg/s | p50 ms | p95 ms"
        " | p99 ms | Errors | Lost | RSS per process, ready → end (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, run in results["configs"].items():
        if "p95_ms" not in run:
            lines.append(f"| {name} | failed: see below | | | | | | | | | |")
            continue
        lines.append(
            f"| {name} ({run['description']}) | {run['transport_mix']}"
            f"{_think(run.get('think_seconds'))} "
            f"| {run['trainees']} × {run['rounds']} = {run['conversations']} "
            f"| {run['messages']} | {_fmt(run['messages_per_second'])} "
            f"| {_fmt(run['p50_ms'])} | {_fmt(run['p95_ms'])} | {_fmt(run['p99_ms'])} "
            f"| {run['errors']} | {run['lost']} "
            f"| {_rss_cell(run['rss_mb_ready'], run['rss_mb_end'])} |"
        )
    lines += ["", "| Target | Run | Value | Verdict |", "|---|---|---|---|"]
    for verdict in results["targets"]:
        note = f" ({verdict['note']})" if verdict["note"] else ""
        lines.append(
            f"| {verdict['target']} | {verdict['config']} | {verdict['value']} "
            f"| {_verdict(verdict['met'])}{note} |"
        )
    run = results.get("soak")
    if run and "memory" in run:
        lines += [
            "",
            f"Soak on {run['config']}: {run['minutes']:g} min at {run['target_rate']:g}"
            f" msg/s asked ({_fmt(run['messages_per_second'], 2)} achieved),"
            f" {run['transport_mix']}; p50 {_fmt(run['p50_ms'])} ms, p95"
            f" {_fmt(run['p95_ms'])} ms, p99 {_fmt(run['p99_ms'])} ms;"
            f" {run['errors']} errors, {run['lost']} lost; RSS every"
            f" {SAMPLE_SECONDS:.0f} s ({len(run['samples'])} samples).",
            "",
            "| Process | First minute (MB) | Last minute (MB) | Growth |",
            "|---|---:|---:|---:|",
        ]
        for name, figures in run["memory"]["processes"].items():
            growth = figures["growth_pct"]
            lines.append(
                f"| {name} | {_fmt(figures['first_minute_mb'])} "
                f"| {_fmt(figures['last_minute_mb'])} "
                f"| {'–' if growth is None else f'{growth:+.2f} %'} |"
            )
    lines.append("")
    for name, run in list(results["configs"].items()) + (
        [("soak", results["soak"])] if results.get("soak") else []
    ):
        if "by_transport" in run:
            parts = [
                f"{t} p50 {_fmt(v['p50_ms'])} / p95 {_fmt(v['p95_ms'])} ms"
                f" ({v['messages_ok']} msgs)"
                for t, v in run["by_transport"].items()
            ]
            extra = ""
            if run.get("errors_by_kind"):
                kinds = ", ".join(f"{k} {n}" for k, n in run["errors_by_kind"].items())
                extra += f"; errors: {kinds}"
            if run.get("redis_keys_left"):
                extra += f"; {run['redis_keys_left']} Redis keys left after stop"
            lines.append(
                f"- {name}: ready in {run.get('ready_seconds', '?')} s; "
                + "".join(f"{part}; " for part in parts)
                + f"feedback on {run['feedback_cards']} of {run['scoring_turns']}"
                f" scoring turns{extra}."
            )
    m = results["machine"]
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; {m['os']}; "
        f"Python {m['python']}, Rasa {m['rasa']}; {m['date']}; "
        f"load average {m['load_average_at_start'][0]} at start, "
        f"{m.get('load_average_at_end', ['?'])[0]} at end. The simulated trainees"
        " run on the same machine as the servers.",
    ]
    if results["options"]["quick"]:
        lines.append(
            "**Quick smoke run**: few conversations; not comparable with a full run."
        )
    if results.get("errors"):
        lines += ["", "Failed runs:"]
        for key, message in results["errors"].items():
            lines.append(f"- `{key}`: {message.splitlines()[0] if message else ''}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def _raise_interrupt(signum: int, _frame: Optional[FrameType]) -> None:
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops its servers (they
    # run in their own process groups and would outlive this process).
    raise KeyboardInterrupt(f"signal {signum}")


def _attempt(
    errors: Dict[str, str], key: str, step: Callable[[], Dict[str, Any]]
) -> Dict[str, Any]:
    """Run one configuration; on failure record the error and carry on."""
    try:
        return step()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one failed run must not lose the rest
        errors[key] = f"{type(exc).__name__}: {exc}"
        log(f"FAILED {key}: {exc}")
        traceback.print_exc(file=sys.stderr)
        return {"config": key, "failed": errors[key]}


def run(options: Options) -> Dict[str, Any]:
    """Every selected configuration, then the soak; a JSON-ready dict."""
    os.environ.update(BENCH_ENV)
    # The socket.io and engine.io clients log every dropped long poll.
    for name in ("socketio", "engineio", "socketio.client", "engineio.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    personas = all_personas()
    results: Dict[str, Any] = {
        "machine": machine_info(),
        "options": {
            "configs": list(options.configs),
            "conversations": options.conversations,
            "rounds": options.rounds,
            "socketio_share": options.socketio_share,
            "warmup_conversations": options.warmup,
            "soak_minutes": options.soak_minutes,
            "soak_config": options.soak_config,
            "soak_rate": options.soak_rate,
            "quick": options.quick,
            "model": str(options.model),
            "personas": [p.id for p in personas],
            "request_timeout_seconds": REQUEST_TIMEOUT,
        },
        "configs": {},
        "soak": None,
    }
    errors: Dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="introcoach-load-"))
    log(f"working folder (server logs): {work}")
    try:
        for name in options.configs:
            step = partial(measure_config, name, options, work, personas)
            results["configs"][name] = _attempt(errors, name, step)
        if options.soak_minutes > 0:
            results["soak"] = _attempt(
                errors, "soak", partial(soak, options, work, personas)
            )
    finally:
        troubled = errors or any(
            outcome.get("died") or outcome.get("errors")
            for outcome in list(results["configs"].values()) + [results["soak"] or {}]
        )
        if options.keep_temp or troubled:
            log(f"kept the working folder (server logs): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = evaluate_targets(results)
    results["errors"] = errors
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run, write ``load.json`` and ``load.md``, print the table."""
    options = parse_args(argv)
    if not options.model.exists():
        print(
            f"No trained model at {options.model}: run `make train` first.",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    results = run(options)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = options.results_dir / "load.json"
    md_path = options.results_dir / "load.md"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    report = markdown_report(results)
    md_path.write_text("# IntroCoach under load (simulated trainees)\n\n" + report)
    print(report, flush=True)
    log(f"wrote {json_path} and {md_path} ({results['total_seconds']:.0f} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
