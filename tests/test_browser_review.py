"""The review app in a real browser: headless Chromium driven by Playwright.

Needs Chromium at /usr/bin/chromium (``apt-get install chromium``); Playwright's
own browser download is not used. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Tuple

import browser_support
import pytest
from browser_support import ARTIFACTS, CHROMIUM
from web_support import (
    EMAIL,
    PASSWORD,
    SCRIPT,
    Seeded,
    Server,
    running_server,
    seed,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Server, Seeded]]:
    workdir = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{workdir / 'introcoach.db'}"
    seeded = seed(url)
    with running_server(workdir, url) as server:
        yield server, seeded


def sign_in(page: Any, server: Server, username: str) -> None:
    browser_support.sign_in(page, server.base, username, PASSWORD)


def test_supervisor_reviews_a_session(page: Any, app: Tuple[Server, Seeded]) -> None:
    server, ids = app
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, server, "sam")
    assert page.url.endswith("/sessions")
    assert page.get_by_role("heading", name="Practice sessions").is_visible()
    page.screenshot(path=str(ARTIFACTS / "session-list.png"), full_page=True)

    page.get_by_label("Persona").select_option("marcus")
    page.get_by_role("button", name="Apply filters").click()
    assert page.locator("a.row-link").count() == 1
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Search transcripts").fill("hogging the coffee")
    page.get_by_role("button", name="Apply filters").click()
    assert page.locator("a.row-link").count() == 1

    page.locator("a.row-link").first.click()
    assert page.url.endswith(f"/sessions/{ids.sessions['tina_pitch']}")
    # What the trainee typed is shown as text, and never runs.
    assert page.locator(".turn-text", has_text=SCRIPT).count() == 1
    assert page.locator("mark", has_text="trail running").count() >= 1
    assert EMAIL not in page.content()

    page.get_by_label("Add a comment").fill("Lovely warm opening, Tina.")
    page.get_by_role("button", name="Add comment").last.click()
    assert page.get_by_text("Comment added.").is_visible()
    assert page.locator(".comment-body", has_text="Lovely warm opening").is_visible()

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    content = Path(download.path()).read_text(encoding="utf-8")
    assert (
        download.suggested_filename
        == f"introcoach-session-{ids.sessions['tina_pitch']}.csv"
    )
    assert "t***@example.org" in content and EMAIL not in content
    assert "'=HYPERLINK" in content

    page.get_by_role("link", name="Reveal contact details").click()
    assert page.get_by_text(EMAIL).count() >= 1
    page.goto(f"{server.base}/sessions/{ids.sessions['tina_pitch']}")
    page.screenshot(path=str(ARTIFACTS / "session-page.png"), full_page=True)
    assert page.problems == []


def test_access_control_in_the_browser(page: Any, app: Tuple[Server, Seeded]) -> None:
    server, ids = app
    page.goto(f"{server.base}/sessions/{ids.sessions['tina_pitch']}")
    assert "/login" in page.url
    sign_in(page, server, "tina")
    assert page.get_by_text("can read your practice sessions").is_visible()
    response = page.goto(f"{server.base}/sessions/{ids.sessions['uma']}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert (
        page.goto(f"{server.base}/sessions/{ids.sessions['theo_bread']}").status == 404
    )
    assert page.goto(f"{server.base}/sessions").status == 403
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "sam")
    assert page.goto(f"{server.base}/sessions/{ids.sessions['uma']}").status == 404
    assert page.goto(f"{server.base}/trainees/{ids.users['uma']}").status == 404
    assert page.problems == []
