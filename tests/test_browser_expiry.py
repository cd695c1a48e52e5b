"""The widget loses no message when its chat token expires, in a real browser.

Its own stack, with chat tokens that hold for a few seconds
(``INTROCOACH_CHAT_TOKEN_SECONDS``) and a sweep every second
(``INTROCOACH_SOCKET_SWEEP_SECONDS``): the Rasa server closes the widget's
socket soon after its token expires and the widget reconnects with a fresh
token from the web app. Three messages cross such a close, each answered by the
persona and stored exactly once (Rasa's tracker, the history endpoint): one
sent after the reconnect, one typed while the socket is down (the fresh token
held back), and one sent over the old socket that never reached the server
(dropped on the way by Playwright), so never acknowledged and sent again.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from typing import Any, Dict, Iterator, List

import browser_support
import pytest
from browser_support import CHROMIUM
from web_support import PASSWORD

from introcoach.stack import Stack
from introcoach.storage import create_user, make_engine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)",
    ),
]

TOKEN_SECONDS = 6
SWEEP_SECONDS = 1
REPLY_TIMEOUT_MS = 60_000
#: Expiry, one sweep, a token fetch and a history load, with room to spare.
RECONNECT_TIMEOUT_MS = (TOKEN_SECONDS + SWEEP_SECONDS + 15) * 1000
TOKEN_URL = re.compile(r"/practice/\d+/token$")
FIRST = "Hi Dana, I'm Tina, a peer support specialist. Do you like gardening?"
SECOND = "What do you enjoy outside work?"
THIRD = "Do you have any plans for the weekend?"
FOURTH = "Have you been to this conference before?"

#: Every value the widget's data-state takes, in order (the page's own record).
RECORD_STATES = """
window.__icStates = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.classList && r.target.classList.contains("ic-chat")) {
      window.__icStates.push(r.target.dataset.state);
    }
  }
}).observe(document, {
  subtree: true, attributes: true, attributeFilter: ["data-state"],
});
"""


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory) -> Iterator[Stack]:
    """The three servers, with tokens that expire within seconds."""
    from introcoach.model import model_path
    from introcoach.stack import ephemeral_settings

    model = model_path()
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make train` first")
    database = tmp_path_factory.mktemp("expiry-db") / "introcoach.db"
    running = Stack(
        ephemeral_settings(),
        model,
        log_dir=tmp_path_factory.mktemp("expiry-logs"),
        extra_env={
            "INTROCOACH_DATABASE_URL": f"sqlite:///{database}",
            "INTROCOACH_CHAT_TOKEN_SECONDS": str(TOKEN_SECONDS),
            "INTROCOACH_SOCKET_SWEEP_SECONDS": str(SWEEP_SECONDS),
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
def trainee(short_stack: Stack) -> str:
    engine = make_engine(short_stack.extra_env["INTROCOACH_DATABASE_URL"])
    name = f"tina-{uuid.uuid4().hex[:6]}"
    try:
        supervisor = create_user(
            engine, f"sue-{name}", PASSWORD, "supervisor", "Sue Visor"
        )
        create_user(
            engine, name, PASSWORD, "trainee", "Tina Expiry", supervisor=supervisor
        )
    finally:
        engine.dispose()
    return name


def wait_for_more(page: Any, selector: str, than: int, timeout: int) -> None:
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n",
        arg=[selector, than],
        timeout=timeout,
    )


def send(page: Any, text: str) -> None:
    box = page.locator(".ic-input")
    box.fill(text)
    box.press("Enter")


def readies(page: Any) -> int:
    return page.evaluate("window.__icStates.filter((s) => s === 'ready').length")


def user_texts(stack: Stack, sender_id: str) -> List[str]:
    """The text of every user event Rasa stored for the conversation."""
    url = (
        f"{stack.settings.rasa_url}/conversations/{sender_id}/tracker"
        f"?token={stack.settings.api_token}"
    )
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        tracker: Dict[str, Any] = json.loads(answer.read())
    return [e.get("text") for e in tracker["events"] if e.get("event") == "user"]


def test_a_message_after_the_token_expired_arrives_once(
    page: Any, short_stack: Stack, trainee: str
) -> None:
    started = time.monotonic()
    base = f"http://127.0.0.1:{short_stack.settings.web_port}"
    token_fetches: List[float] = []
    page.on(
        "request",
        lambda r: token_fetches.append(time.monotonic())
        if TOKEN_URL.search(r.url)
        else None,
    )
    page.add_init_script(RECORD_STATES)
    # The widget's socket goes through Playwright, which passes every frame on,
    # except the one user_uttered named in lost (once): sent but never answered.
    lost: Dict[str, Any] = {"text": None, "frames": 0}

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_server(frame: Any) -> None:
            text = lost["text"]
            if text and isinstance(frame, str) and "user_uttered" in frame:
                if text in frame:
                    lost["text"], lost["frames"] = None, lost["frames"] + 1
                    return
            server.send(frame)

        ws.on_message(to_server)

    page.route_web_socket(re.compile(r"/socket\.io/"), relay)
    browser_support.sign_in(page, base, trainee, PASSWORD)
    page.goto(f"{base}/practice")
    page.locator("label.persona-card", has_text="Dana Whitfield").click()
    page.locator("label.mode-card", has_text="Small talk").click()
    page.get_by_role("button", name="Start practising").click()
    page.wait_for_url(re.compile(r"/practice/\d+$"))
    practice_url = page.url

    # A first message, answered.
    wait_for_more(page, ".ic-msg-persona", 0, REPLY_TIMEOUT_MS)
    before = page.locator(".ic-msg-persona").count()
    send(page, FIRST)
    wait_for_more(page, ".ic-msg-persona", before, REPLY_TIMEOUT_MS)

    # The token expires; the server closes the socket; the widget fetches a
    # fresh token and is back ("ready" once more, after "connecting").
    fetched, ready = len(token_fetches), readies(page)
    seen = page.evaluate("window.__icStates.length")
    page.wait_for_function(
        "n => window.__icStates.filter((s) => s === 'ready').length > n",
        arg=ready,
        timeout=RECONNECT_TIMEOUT_MS,
    )
    states = page.evaluate("window.__icStates")
    assert "connecting" in states[seen:], states
    assert len(token_fetches) > fetched, "reconnected without a fresh token"
    closed = short_stack.log_tail("rasa", lines=400)
    assert re.search(r"Closing socket \S+: token_expired", closed), closed[-2000:]

    # A message over the new socket: answered, and stored once.
    before = page.locator(".ic-msg-persona").count()
    send(page, SECOND)
    wait_for_more(page, ".ic-msg-persona", before, REPLY_TIMEOUT_MS)
    assert page.locator(".ic-pending").count() == 0
    assert page.locator(".ic-notice-alert").count() == 0
    assert page.locator(".ic-msg-trainee", has_text=SECOND).count() == 1

    # A message typed while the socket is down (the next expiry closed it and
    # the fresh token is held back): kept, then sent once the widget is back.
    held: List[Any] = []
    page.route(TOKEN_URL, lambda route: held.append(route))
    deadline = time.monotonic() + RECONNECT_TIMEOUT_MS / 1000
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert held, "the socket was not closed when its token expired"
    assert page.locator(".ic-chat").get_attribute("data-state") == "connecting"
    send(page, THIRD)
    assert page.locator(".ic-pending").count() == 1  # "sending…", not lost
    before = page.locator(".ic-msg-persona").count()
    for route in held:
        route.continue_()
    page.unroute(TOKEN_URL)
    page.wait_for_function(
        "() => !document.querySelector('.ic-pending')", timeout=RECONNECT_TIMEOUT_MS
    )
    wait_for_more(page, ".ic-msg-persona", before, REPLY_TIMEOUT_MS)
    assert page.locator(".ic-msg-trainee", has_text=THIRD).count() == 1

    # A message sent over an open socket that never reaches the server (no
    # acknowledgement); the token expires and the server closes the socket:
    # the widget sends it again over the next one, once.
    page.wait_for_function(
        "() => document.querySelector('.ic-chat').dataset.state === 'ready'",
        timeout=RECONNECT_TIMEOUT_MS,
    )
    fetched = len(token_fetches)
    before = page.locator(".ic-msg-persona").count()
    lost["text"] = FOURTH
    send(page, FOURTH)
    assert page.locator(".ic-pending").count() == 0  # sent, as far as it knows
    wait_for_more(page, ".ic-msg-persona", before, RECONNECT_TIMEOUT_MS)
    assert lost["frames"] == 1, "the message never went over the socket"
    assert len(token_fetches) > fetched, "answered without a reconnect"
    assert page.locator(".ic-msg-trainee", has_text=FOURTH).count() == 1

    session = page.request.get(f"{practice_url}/token").json()
    stored = user_texts(short_stack, session["sender_id"])
    history = page.request.get(f"{practice_url}/history").json()["messages"]
    shown = [m["text"] for m in history if m.get("speaker") == "trainee"]
    for text in (FIRST, SECOND, THIRD, FOURTH):
        assert stored.count(text) == 1, stored
        assert shown.count(text) == 1, shown
        # The persona answered it: a persona line after it in the transcript.
        after = history[shown_index(history, text) + 1 :]
        assert any(m.get("speaker") == "persona" and m.get("text") for m in after)
    assert not page.problems
    assert time.monotonic() - started < 90


def shown_index(history: List[Dict[str, Any]], text: str) -> int:
    return next(i for i, m in enumerate(history) if m.get("text") == text)
