"""The web app's building blocks, in process: highlighting, transcripts, sessions,
the rate limit, and the ``users`` / ``retention`` commands."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from web_support import bot_event, user_event

from introcoach import cli
from introcoach.storage import (
    configure_password_hasher,
    dispose_engines,
    init_db,
    make_engine,
    start_session,
    transaction,
    verify_password,
)
from introcoach.storage.models import PracticeSession
from introcoach.storage.transcripts import (
    EVENTS,
    EVENTS_METADATA,
    delete_events,
    event_row,
    read_transcript,
    search_sender_ids,
)
from introcoach.web.auth import (
    MAX_SESSIONS,
    LoginLimiter,
    SessionStore,
    client_address,
    parse_networks,
    web_secret,
)
from introcoach.web.csrf import token_is_valid
from introcoach.web.review import highlight

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'units.db'}")
    init_db(engine)
    EVENTS_METADATA.create_all(engine)
    yield engine
    engine.dispose()


def add(engine: Engine, sender: str, *events: dict) -> None:
    rows = [
        event_row(sender, event, (T0 + timedelta(seconds=i)).timestamp())
        for i, event in enumerate(events)
    ]
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), rows)


# -- highlight --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spans", "expected"),
    [
        ("I'm Sam", ["Sam"], "I&#39;m <mark>Sam</mark>"),
        ("<b>hi</b> Sam", ["Sam"], "&lt;b&gt;hi&lt;/b&gt; <mark>Sam</mark>"),
        ("a <i> b", ["<i>"], "a <mark>&lt;i&gt;</mark> b"),
        (
            "trail running, running",
            ["trail running", "running"],
            "<mark>trail running</mark>, <mark>running</mark>",
        ),
        ("abcdef", ["abc", "cde"], "<mark>abcde</mark>f"),
        ("nothing", ["absent", ""], "nothing"),
    ],
)
def test_highlight_escapes_every_piece(text: str, spans: list, expected: str) -> None:
    assert str(highlight(text, spans)) == expected


# -- transcripts -------------------------------------------------------------------


def test_read_transcript_orders_and_labels_turns(engine: Engine) -> None:
    add(
        engine,
        "s1",
        {"event": "action", "name": "action_listen"},
        bot_event("Scene.", "narrator", "dana", segment_start=True),
        bot_event("Hi, I'm Dana.", "persona", "dana"),
        user_event("<script>alert(1)</script>", "m1"),
        {"event": "bot", "text": "Help text", "data": {}, "metadata": {}},
        bot_event("(Coach) Well done.", "coach"),
    )
    add(engine, "s2", user_event("someone else", "z"))
    turns = read_transcript(engine, "s1")
    assert [(t.index, t.speaker) for t in turns] == [
        (0, "narrator"),
        (1, "persona"),
        (2, "trainee"),
        (3, "coach"),
        (4, "coach"),
    ]
    assert turns[2].text == "<script>alert(1)</script>"
    assert turns[2].message_id == "m1"
    assert turns[0].segment_start and turns[1].persona_id == "dana"
    assert turns[1].timestamp == T0 + timedelta(seconds=2)
    assert read_transcript(engine, "missing") == []


def test_search_is_case_insensitive_and_escapes_wildcards(engine: Engine) -> None:
    add(engine, "a", user_event("I love Sourdough baking", "1"))
    add(engine, "b", bot_event("50% of us run_fast", "persona"))
    add(engine, "c", {"event": "slot", "name": "x", "value": "sourdough"})
    assert search_sender_ids(engine, "SOURDOUGH") == ["a"]
    assert search_sender_ids(engine, "%") == ["b"]
    assert search_sender_ids(engine, "_") == ["b"]
    assert search_sender_ids(engine, "%_of") == []  # as wildcards: "50% of"
    assert search_sender_ids(engine, "event") == []  # JSON keys are not text
    assert search_sender_ids(engine, "  ") == []
    assert search_sender_ids(engine, "sourdough", within=["b"]) == []
    with pytest.raises(ValueError):
        search_sender_ids(engine, "x" * 201)


def test_functions_work_before_rasa_made_its_table(tmp_path: Path) -> None:
    bare = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        assert read_transcript(bare, "x") == []
        assert search_sender_ids(bare, "x") == []
        assert delete_events(bare, ["x"]) == 0
    finally:
        bare.dispose()


def test_delete_events_only_touches_given_senders(engine: Engine) -> None:
    add(engine, "a", user_event("one", "1"), user_event("two", "2"))
    add(engine, "b", user_event("three", "3"))
    assert delete_events(engine, ["a", "nobody"]) == 2
    assert delete_events(engine, []) == 0
    with engine.connect() as connection:
        left = connection.execute(select(EVENTS.c.sender_id)).scalars().all()
    assert left == ["b"]


# -- sessions, CSRF, rate limit ---------------------------------------------------


def test_session_cookies_are_signed_and_expire() -> None:
    now = [1000.0]
    store = SessionStore("secret", clock=lambda: now[0])
    session = store.create(7)
    cookie = store.cookie_value(session)
    assert store.get(cookie) is session
    assert store.get(cookie[:-2] + "xx") is None
    assert store.get(session.id) is None
    assert SessionStore("other secret").get(cookie) is None
    now[0] += 3 * 60 * 60  # idle too long
    assert store.get(cookie) is None
    assert token_is_valid(session, session.csrf_token)
    assert not token_is_valid(session, "x")
    assert not token_is_valid(None, session.csrf_token)


def test_login_limiter_window() -> None:
    now = [0.0]
    limiter = LoginLimiter(limit=5, window=300, clock=lambda: now[0])
    for _ in range(5):
        assert limiter.retry_after("Sam", "1.2.3.4") == 0
        limiter.failed("Sam", "1.2.3.4")
    assert limiter.retry_after("sam ", "1.2.3.4") > 0
    assert limiter.retry_after("sam", "5.6.7.8") == 0
    now[0] += 301
    assert limiter.retry_after("sam", "1.2.3.4") == 0


def test_login_backoff_grows_per_account_and_spares_others() -> None:
    now = [0.0]
    limiter = LoginLimiter(clock=lambda: now[0])  # 5 free, then 2 s doubling
    waits = []
    for _ in range(12):  # a bounded flood against one account from one address
        wait = limiter.retry_after("bob", "198.51.100.7")
        waits.append(wait)
        now[0] += wait  # the attacker waits exactly as long as told
        limiter.failed("bob", "198.51.100.7")
    assert waits == [0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128]
    assert limiter.retry_after("bob", "198.51.100.7") == 256
    for _ in range(3):  # ... and the back-off stops growing at five minutes
        now[0] += limiter.retry_after("bob", "198.51.100.7")
        limiter.failed("bob", "198.51.100.7")
    assert limiter.retry_after("bob", "198.51.100.7") == 300
    # Other accounts from that address, and bob from elsewhere, do not wait.
    assert limiter.retry_after("alice", "198.51.100.7") == 0
    assert limiter.retry_after("bob", "203.0.113.9") == 0
    # Guessing spread over many addresses slows that account down too.
    for i in range(25):
        limiter.failed("carol", f"203.0.113.{i}")
    assert limiter.retry_after("carol", "192.0.2.1") > 0
    assert limiter.retry_after("dave", "192.0.2.1") == 0
    # A correct password from an address clears that address's count.
    limiter.succeeded("bob", "198.51.100.7")
    assert limiter.retry_after("bob", "198.51.100.7") == 0


def test_client_address_trusts_only_configured_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8", "192.0.2.1"])
    forged = "203.0.113.66"
    assert client_address("198.51.100.7", forged, ()) == "198.51.100.7"
    assert client_address("198.51.100.7", forged, proxies) == "198.51.100.7"
    assert client_address("10.1.2.3", forged, proxies) == forged
    # The right-most address that is not a proxy; the client wrote the rest.
    chain = "1.1.1.1, 203.0.113.66, 192.0.2.1"
    assert client_address("10.1.2.3", chain, proxies) == forged
    assert client_address("10.1.2.3", "", proxies) == "10.1.2.3"
    assert client_address("10.1.2.3", "10.0.0.9", proxies) == "10.0.0.9"


def test_pre_login_sessions_are_not_stored_and_cannot_evict() -> None:
    store = SessionStore("secret")
    signed_in = store.create(7)
    pending = store.create(None)  # someone with the sign-in form open
    for _ in range(MAX_SESSIONS + 10):  # a bounded loop of GET /login
        store.create(None)
    assert len(store) == 1
    assert store.get(store.cookie_value(signed_in)) is signed_in
    again = store.get(store.cookie_value(pending))
    assert again is not None and again.csrf_token == pending.csrf_token
    assert not again.signed_in
    forged = store.cookie_value(pending).replace("p~", "p~x", 1)
    assert store.get(forged) is None


def test_pre_login_session_expires() -> None:
    now = [10_000.0]
    store = SessionStore("secret", clock=lambda: now[0])
    cookie = store.cookie_value(store.create(None))
    assert store.get(cookie) is not None
    now[0] += 31 * 60
    assert store.get(cookie) is None


def test_web_secret_is_generated_once(tmp_path: Path) -> None:
    first = web_secret({}, tmp_path)
    assert web_secret({}, tmp_path) == first and len(first) > 30
    assert (tmp_path / "web_secret").stat().st_mode & 0o077 == 0
    assert web_secret({"INTROCOACH_WEB_SECRET": "given"}, tmp_path) == "given"


# -- command line -------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("INTROCOACH_DATABASE_URL", url)
    monkeypatch.setenv("INTROCOACH_PASSWORD", "a long password")
    configure_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    )
    yield url
    configure_password_hasher(None)
    dispose_engines()


def test_users_commands(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            [
                "users",
                "add",
                "--role",
                "supervisor",
                "--username",
                "Sam",
                "--display-name",
                "Sam Rivera",
            ]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "users",
                "add",
                "--role",
                "trainee",
                "--username",
                "tina",
                "--supervisor",
                "sam",
            ]
        )
        == 0
    )
    assert cli.main(["users", "add", "--role", "trainee", "--username", "tina"]) == 2
    assert (
        cli.main(
            [
                "users",
                "add",
                "--role",
                "trainee",
                "--username",
                "x",
                "--supervisor",
                "tina",
            ]
        )
        == 2
    )
    assert cli.main(["users", "assign", "--trainee", "tina", "--none"]) == 0
    assert (
        cli.main(["users", "assign", "--trainee", "tina", "--supervisor", "sam"]) == 0
    )
    capsys.readouterr()
    assert cli.main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Sam Rivera" in listing and "a long password" not in listing
    assert listing.splitlines()[2].split()[-1] == "sam"
    engine = make_engine(cli_db)
    try:
        assert verify_password(engine, "tina", "a long password") is not None
    finally:
        engine.dispose()


def test_users_add_never_takes_password_from_argv() -> None:
    with pytest.raises(SystemExit):
        cli.main(
            [
                "users",
                "add",
                "--role",
                "trainee",
                "--username",
                "u",
                "--password",
                "secret123",
            ]
        )


def test_retention_deletes_old_sessions_and_their_events(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(cli_db)
    try:
        init_db(engine)
        EVENTS_METADATA.create_all(engine)
        for sender, age in (("old", 400), ("new", 10)):
            practice = start_session(engine, sender, "dana", "pitch")
            with transaction(engine) as session:
                session.get(PracticeSession, practice.id).started_at = datetime.now(
                    timezone.utc
                ) - timedelta(days=age)
            add(engine, sender, user_event(f"{sender} text", sender))
        # Conversations whose practice session was never recorded: the old one
        # goes with the old sessions, the recent one stays.
        add(engine, "orphan-old", user_event("old orphan", "o1"))
        recent = datetime.now(timezone.utc).timestamp()
        with engine.begin() as connection:
            connection.execute(
                insert(EVENTS),
                [event_row("orphan-new", user_event("new orphan", "o2"), recent)],
            )
        monkeypatch.setenv("INTROCOACH_RETENTION_DAYS", "365")
        assert cli.main(["retention"]) == 0
        out = capsys.readouterr().out
        assert "Deleted 1 practice sessions" in out
        assert "(1 conversations had no practice session)" in out
        with engine.connect() as connection:
            left = connection.execute(select(EVENTS.c.sender_id)).scalars().all()
            assert sorted(left) == ["new", "orphan-new"]
            count = select(func.count()).select_from(PracticeSession)
            assert connection.execute(count).scalar_one() == 1
        assert cli.main(["retention", "--days", "5"]) == 0
        assert "Deleted 1 practice sessions" in capsys.readouterr().out
        assert cli.main(["retention", "--days", "-1"]) == 2
    finally:
        engine.dispose()


def test_widget_history_shows_button_titles_and_hides_the_opening() -> None:
    from introcoach.storage.transcripts import Turn
    from introcoach.web.practice import widget_history

    def turn(speaker: str, text: str, buttons=()) -> Turn:
        return Turn(0, speaker, text, None, buttons=list(buttons))

    shown = widget_history(
        [
            turn("narrator", "(Coffee break.)"),
            turn("persona", "Hi, I'm Dana."),
            turn("trainee", "/session_start"),
            turn("trainee", "Hi Dana!"),
            turn(
                "coach",
                "Well done.",
                [{"title": "Start over", "payload": "/start_over"}],
            ),
            turn("trainee", "/start_over"),
            turn("trainee", "/ask_hint"),
            turn("trainee", "/session_start"),
            turn("trainee", "/made_up"),
        ]
    )
    assert [(m["speaker"], m["text"]) for m in shown] == [
        ("narrator", "(Coffee break.)"),
        ("persona", "Hi, I'm Dana."),
        ("trainee", "Hi Dana!"),
        ("coach", "Well done."),
        ("trainee", "Start over"),
        ("trainee", "Hint, please"),
    ]
