"""A trainee practises in a real browser, with the real Rasa and action servers.

Headless Chromium (Debian's package, driven by Playwright) against the
``stack`` fixture: the web app, the Rasa server (with the widget's socket.io
channel) and the action server, on free ports and a throwaway database.
Screenshots of the practice page and the feedback card, at desktop and phone
widths, go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Dict, Iterator

import browser_support
import pytest
from browser_support import ARTIFACTS, CHROMIUM
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

REPLY_TIMEOUT_MS = 60_000
PITCH = (
    "Hi, I'm Tina Lee, a peer support specialist at Harbor County Recovery. "
    "I walk alongside people leaving the hospital until they have a home and a plan."
)
BETTER_PITCH = (
    "Hi, I'm Tina Lee, a certified peer support specialist at Harbor County "
    "Recovery. I help people leaving the hospital find steady housing, because a "
    "safe home is where recovery sticks; last year 40 of the people I supported "
    "stayed housed for a full year. I'm curious how your team brings peers into "
    "hiring. Do you have peer specialists on staff?"
)


@pytest.fixture(scope="module")
def people(stack: Stack) -> Iterator[Dict[str, str]]:
    engine = make_engine(stack.extra_env["INTROCOACH_DATABASE_URL"])
    suffix = uuid.uuid4().hex[:6]
    try:
        supervisor = create_user(
            engine, f"sue-{suffix}", PASSWORD, "supervisor", "Sue Visor"
        )
        create_user(
            engine,
            f"tina-{suffix}",
            PASSWORD,
            "trainee",
            "Tina Practice",
            supervisor=supervisor,
        )
    finally:
        engine.dispose()
    yield {"supervisor": f"sue-{suffix}", "trainee": f"tina-{suffix}"}


def base(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.settings.web_port}"


def sign_in(page: Any, stack: Stack, username: str) -> None:
    browser_support.sign_in(page, base(stack), username, PASSWORD)


def choose(page: Any, stack: Stack, persona_name: str, mode: str) -> None:
    page.goto(f"{base(stack)}/practice")
    page.locator("label.persona-card", has_text=persona_name).click()
    page.locator("label.mode-card", has_text=mode).click()
    page.get_by_role("button", name="Start practising").click()
    page.wait_for_url(re.compile(r"/practice/\d+$"))


def persona_lines(page: Any) -> Any:
    return page.locator(".ic-msg-persona")


def persona_bubbles(page: Any) -> Any:
    return page.locator(".ic-msg-persona .ic-bubble")


def send(page: Any, text: str) -> None:
    box = page.locator(".ic-input")
    box.fill(text)
    box.press("Enter")


def wait_for_more(page: Any, selector: str, than: int) -> None:
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n",
        arg=[selector, than],
        timeout=REPLY_TIMEOUT_MS,
    )


def show_top_of(card: Any) -> None:
    """Scroll the chat log (not the page) so the card's top is in view."""
    card.evaluate(
        """card => {
            const log = card.closest("[role=log]");
            log.scrollTop += card.getBoundingClientRect().top
                - log.getBoundingClientRect().top - 8;
        }"""
    )


def test_trainee_practises_and_supervisor_reviews(
    page: Any, browser: Any, stack: Stack, people: Dict[str, str]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, stack, people["trainee"])
    page.get_by_role("link", name="Practise").first.click()
    assert page.get_by_text(
        "Your supervisor can read your practice sessions"
    ).is_visible()
    assert page.get_by_role("heading", name="What counts").is_visible()
    page.screenshot(path=str(ARTIFACTS / "practice-picker.png"), full_page=True)

    # Small talk with Dana: she opens, and answers in character.
    choose(page, stack, "Dana Whitfield", "Small talk")
    wait_for_more(page, ".ic-msg-persona", 0)
    assert page.locator(".ic-persona-name").inner_text() == "Dana Whitfield"
    assert page.locator(".ic-msg-narrator").count() == 1
    before = persona_lines(page).count()
    send(page, "Hi Dana, I'm Tina, a peer support specialist. Do you like gardening?")
    wait_for_more(page, ".ic-msg-persona", before)
    assert page.locator(".ic-msg-trainee", has_text="I'm Tina").count() == 1
    page.screenshot(path=str(ARTIFACTS / "practice-chat-desktop.png"))

    # High contrast (forced colours): bubbles keep a visible border.
    page.emulate_media(forced_colors="active")
    border = page.locator(".ic-msg-persona .ic-bubble").first.evaluate(
        "el => { const s = getComputedStyle(el);"
        " return s.borderTopStyle + ' ' + s.borderTopWidth; }"
    )
    assert border.startswith("solid") and not border.endswith(" 0px"), border
    page.screenshot(path=str(ARTIFACTS / "practice-chat-forced-colors.png"))
    page.emulate_media(forced_colors="none")

    # A reload keeps the conversation.
    shown = page.locator(".ic-msg").count()
    page.reload()
    wait_for_more(page, ".ic-msg", shown - 1)
    assert page.locator(".ic-msg-trainee", has_text="I'm Tina").count() == 1
    assert page.locator(".ic-msg-narrator").count() == 1  # not opened twice
    before = persona_lines(page).count()
    send(page, "What do you enjoy outside work?")
    wait_for_more(page, ".ic-msg-persona", before)

    # The elevator pitch with Marcus, twice, with a comparison.
    choose(page, stack, "Marcus", "Elevator pitch")
    wait_for_more(page, ".ic-msg-persona, .ic-msg-coach", 1)
    box = page.locator(".ic-input")
    box.fill(PITCH)
    assert re.search(r"\d+ words", page.locator(".ic-count").inner_text())
    box.press("Enter")
    page.locator(".ic-card").first.wait_for(timeout=REPLY_TIMEOUT_MS)
    card = page.locator(".ic-card").first
    assert "Strategy 6" in card.inner_text() and "Strategy 4" in card.inner_text()
    show_top_of(card)
    page.screenshot(path=str(ARTIFACTS / "feedback-card-desktop.png"))
    asked = page.locator(".ic-msg-persona, .ic-msg-coach").count()
    card.get_by_role("button", name="Try again").click()
    wait_for_more(page, ".ic-msg-persona, .ic-msg-coach", asked)
    send(page, BETTER_PITCH)
    wait_for_more(page, ".ic-card", 1)
    second = page.locator(".ic-card").nth(1).inner_text()
    assert re.search(r"since your last try|same score as last time", second, re.I)
    pitch_url = page.url

    # The same session at phone width: history (with its cards) after a reload.
    phone = browser.new_context(viewport={"width": 375, "height": 812})
    try:
        mobile = phone.new_page()
        sign_in(mobile, stack, people["trainee"])
        mobile.goto(pitch_url)
        mobile.locator(".ic-card").nth(1).wait_for(timeout=REPLY_TIMEOUT_MS)
        assert mobile.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
        show_top_of(mobile.locator(".ic-card").nth(1))
        mobile.locator(".ic-chat").screenshot(
            path=str(ARTIFACTS / "feedback-card-phone.png")
        )
        mobile.goto(f"{base(stack)}/practice")
        mobile.screenshot(
            path=str(ARTIFACTS / "practice-picker-phone.png"), full_page=True
        )
    finally:
        phone.close()

    # The supervisor finds both sessions, the pitch with its scores.
    page.context.clear_cookies()
    sign_in(page, stack, people["supervisor"])
    assert page.url.endswith("/sessions")
    rows = page.locator("a.row-link")
    assert rows.count() >= 2
    assert page.locator("table").get_by_text("Tina Practice").first.is_visible()
    page.goto(pitch_url.replace("/practice/", "/sessions/"))
    assert page.get_by_text("Hi, I'm Tina Lee").first.is_visible()
    assert page.locator("mark").count() >= 1
    assert not page.problems


def test_keyboard_only(page: Any, stack: Stack, people: Dict[str, str]) -> None:
    sign_in(page, stack, people["trainee"])
    page.goto(f"{base(stack)}/practice")
    # Tab to the first persona radio, choose the next one with the arrow key.
    radio = page.locator("input[name=persona]").first
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "persona":
            break
    assert page.evaluate("document.activeElement.name") == "persona"
    page.keyboard.press("ArrowDown")
    assert not radio.is_checked()
    for _ in range(30):
        page.keyboard.press("Tab")
        if (
            page.evaluate("document.activeElement.textContent.trim()")
            == "Start practising"
        ):
            break
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/practice/\d+$"))
    wait_for_more(page, ".ic-msg-persona", 0)

    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('ic-input')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('ic-input')")
    before = persona_lines(page).count()
    page.keyboard.type("Hello! How is the conference going for you?")
    page.keyboard.press("Enter")
    wait_for_more(page, ".ic-msg-persona", before)

    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('ic-hint')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('ic-hint')")
    coach_before = page.locator(".ic-msg-coach").count()
    page.keyboard.press("Enter")
    wait_for_more(page, ".ic-msg-coach", coach_before)
    assert not page.problems


MESSY_CHAT = [
    "hi!! sorry im kinda out of it, long drive this morning",
    "im ash, i do peer support at a drop in center, mostly young adults",
    "whats the crisis team like, do u go out with the cops?",
    "thats intense. how do you not burn out",
    "i hike too when i can, any trails you love",
    "ok i gotta find my coworker, this was really nice",
]
_FALLBACK = re.compile(r"didn't catch|not sure I follow|don't understand", re.I)


def test_a_messy_conversation_reads_like_a_person(
    page: Any, stack: Stack, people: Dict[str, str]
) -> None:
    """Typos, feelings and questions about the persona's life, in the widget.

    Every message gets a reply in character (no fallback, at most one question,
    no sentence twice); the transcript goes to test-artifacts/ for people to read.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, stack, people["trainee"])
    choose(page, stack, "Priya Raman", "Small talk")
    wait_for_more(page, ".ic-msg-persona", 0)
    transcript = [f"**Priya:** {persona_bubbles(page).first.inner_text()}"]
    said: set = set()
    for message in MESSY_CHAT:
        before = persona_lines(page).count()
        send(page, message)
        wait_for_more(page, ".ic-msg-persona", before)
        page.wait_for_timeout(500)  # a reply may come in more than one bubble
        reply = " ".join(
            persona_bubbles(page).nth(i).inner_text()
            for i in range(before, persona_bubbles(page).count())
        ).strip()
        transcript += [f"**Trainee:** {message}", f"**Priya:** {reply}"]
        assert reply, message
        assert not _FALLBACK.search(reply), reply
        sentences = [
            s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", reply) if s.strip()
        ]
        assert sum(s.endswith("?") for s in sentences) <= 1, reply
        assert not said & set(sentences), reply
        said |= set(sentences)
    (ARTIFACTS / "messy-conversation.md").write_text(
        "\n\n".join(transcript) + "\n", encoding="utf-8"
    )
